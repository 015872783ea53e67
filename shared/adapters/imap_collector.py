"""Email alerts: TradingView's "Alert: ..." emails, from an IMAP mailbox, into the raw collection.

Each UNSEEN message whose subject starts with the alert prefix becomes one raw document
keyed by its Message-ID, written create-if-absent, and only then flagged \\Seen: a crash
between the two leaves the message unseen, and the next run finds its document already
there and just flags it, so a message never becomes two documents. The raw watchers
(SQLite poll, Firestore trigger, MongoDB change stream) turn the documents into signals.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import html
import imaplib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from html.parser import HTMLParser
from typing import Any

from shared.domain.models import Collections
from shared.ports.store import Store

log = logging.getLogger(__name__)

_TEXT_ALERT = re.compile(r"order\s+(?:buy|sell)\s+@\s+\S+\s+filled on\s+\S+?\.\s+New strategy position is\s+\S+",
                         re.IGNORECASE)


@dataclass(frozen=True)
class ImapSettings:
    host: str
    user: str
    password: str
    port: int = 993
    folder: str = "INBOX"
    ssl: bool = True
    subject_prefix: str = "Alert"
    strategy_id: str | None = None  # names the strategy of text alerts, which carry none


class _TextOf(HTMLParser):
    """The visible text of an HTML body (TradingView's emails may come as HTML only)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head"):
            self._hidden += 1
        elif tag in ("br", "p", "div", "tr"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head"):
            self._hidden = max(0, self._hidden - 1)

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def html_text(markup: str) -> str:
    parser = _TextOf()
    parser.feed(markup)
    return html.unescape("".join(parser.parts))


def message_body(message: EmailMessage) -> str:
    """The text/plain part, else the HTML part's text; transfer encodings and charsets decoded."""
    plain = message.get_body(preferencelist=("plain",))
    if plain is not None:
        return str(plain.get_content())
    rich = message.get_body(preferencelist=("html",))
    if rich is not None:
        return html_text(str(rich.get_content()))
    return ""


def alert_content(body: str) -> str:
    """The alert message inside the email: the JSON object it carries, else TradingView's
    default text alert, else the whole body (which ingest then validates, or refuses)."""
    start, end = body.find("{"), body.rfind("}")
    if 0 <= start < end:
        candidate = body[start:end + 1]
        try:
            json.loads(candidate)
            return candidate
        except ValueError:
            pass
    if match := _TEXT_ALERT.search(" ".join(body.split())):
        return match.group(0)
    return body.strip()


def raw_document_id(message: EmailMessage, raw: bytes) -> str:
    """Deterministic per message: its Message-ID, or (rarely absent) the message's own bytes."""
    message_id = (message.get("Message-ID") or "").strip()
    basis = message_id.encode() if message_id else raw
    return "email-" + hashlib.sha256(basis).hexdigest()[:40]


def raw_document(message: EmailMessage, settings: ImapSettings, now: datetime) -> dict[str, Any]:
    document: dict[str, Any] = {
        "source": "email",
        "content": alert_content(message_body(message)),
        "received_at": now.isoformat(),
        "email": {"message_id": str(message.get("Message-ID", "")), "subject": str(message.get("Subject", "")),
                  "from": str(message.get("From", "")), "date": str(message.get("Date", ""))},
    }
    if settings.strategy_id:
        document["strategy_id"] = settings.strategy_id
    return document


class ImapCollector:
    def __init__(self, settings: ImapSettings, store: Store, clock: Callable[[], datetime],
                 connect: Callable[[ImapSettings], imaplib.IMAP4] | None = None):
        self._settings = settings
        self._store = store
        self._clock = clock
        self._connect = connect or _connect

    def collect_once(self) -> list[str]:
        """Write a raw document for each unseen alert email and flag it \\Seen; returns
        the ids of the documents this run created."""
        created = []
        connection = self._connect(self._settings)
        try:
            connection.login(self._settings.user, self._settings.password)
            _ok(connection.select(_quoted(self._settings.folder)), "SELECT")
            query = f'UNSEEN SUBJECT {_quoted(self._settings.subject_prefix)}'
            uids = _ok(connection.uid("SEARCH", None, query), "SEARCH")[0].split()
            for uid in uids:
                if self._collect(connection, uid.decode()):
                    created.append(uid.decode())
        finally:
            try:
                connection.logout()
            except (imaplib.IMAP4.error, OSError):
                log.warning("IMAP logout failed; the session is dropped")
        return created

    def _collect(self, connection: imaplib.IMAP4, uid: str) -> bool:
        fetched = _ok(connection.uid("FETCH", uid, "(BODY.PEEK[])"), "FETCH")
        raw = next(part[1] for part in fetched if isinstance(part, tuple))
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        subject = str(message.get("Subject", ""))
        if not subject.strip().lower().startswith(self._settings.subject_prefix.lower()):
            return False  # the server's SUBJECT search matches anywhere in the subject: not an alert
        doc_id = raw_document_id(message, raw)
        created = self._store.create(Collections.RAW_SIGNALS, doc_id,
                                     raw_document(message, self._settings, self._clock()))
        _ok(connection.uid("STORE", uid, "+FLAGS", "(\\Seen)"), "STORE")
        log.info("email %s (%s): raw document %s %s", uid, subject, doc_id,
                 "written" if created else "already there")
        return created


def _connect(settings: ImapSettings) -> imaplib.IMAP4:
    if settings.ssl:
        return imaplib.IMAP4_SSL(settings.host, settings.port, timeout=30)
    return imaplib.IMAP4(settings.host, settings.port, timeout=30)


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ok(answer: tuple[str, list[Any]], command: str) -> list[Any]:
    status, data = answer
    if status != "OK":
        raise imaplib.IMAP4.error(f"{command} failed: {data!r}")
    return data
