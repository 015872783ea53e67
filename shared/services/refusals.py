"""The audit trail of refused deliveries.

TradingView never shows anyone the answer's body, so a misconfigured alert (a wrong
passphrase, an unknown ticker, a staging alert sent to production) was invisible: a 4xx
wrote nothing. Every webhook or API delivery refused with a 4xx is now kept in
``refused_deliveries`` - when, from where, for which strategy, the status, field and
reason, and a short excerpt of the body - and journey-logged under a ``ref_...`` id.

Never a passphrase, not even a wrong one: passphrase-like fields are dropped from a JSON
body, ``key: value`` / ``key=value`` pairs are blanked in any other text, and every value
found that way (or in the query string) is blanked wherever else it appears.

Bounded: the excerpt is cut to EXCERPT_CHARS; each process records at most
MAX_RECORDS_PER_MINUTE (a flood is summed up in one journey line); the fund's tick keeps
the newest REFUSALS_KEPT and drops what is past ``expires_at``, which Firestore's TTL
policy (infra/terraform) also deletes by itself.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from shared.auth.throttle import prune_auth_failures
from shared.domain.errors import RequestRejected
from shared.domain.models import Collections
from shared.entrypoints.http import http_status  # the status the refused delivery was answered with
from shared.journey import Journey, escape
from shared.ports.store import Document, Store

log = logging.getLogger(__name__)

REFUSALS_KEPT = 500
RETENTION = timedelta(days=14)
EXCERPT_CHARS = 400
HEAD_BYTES = 4096  # how much of a body is looked at: enough for any real alert's excerpt
MAX_RECORDS_PER_MINUTE = 60
PRUNE_BATCH = 200
REDACTED = "[redacted]"

_SECRET_NAME = re.compile(r"pass|secret|token|api_?key|authori[sz]ation", re.IGNORECASE)
# A secret-named key and its value in text that is not a JSON object: quoted, single-quoted
# (either possibly cut short) or bare up to a separator.
_SECRET_PAIR = re.compile(
    r"""(?P<key>["']?[\w.-]*(?:pass|secret|token|api_?key|authori[sz]ation)[\w.-]*["']?\s*[:=]\s*)"""
    r"""(?P<value>"(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?|[^\s,&;}\]]*)""",
    re.IGNORECASE,
)
_STRATEGY_IN_TEXT = re.compile(r'"strategy_id"\s*:\s*"(?P<id>[A-Za-z0-9_.:\-]{1,100})"')
_QUERY_KEYS = 10
_SHORT_FIELD = 100


class RefusalLog:
    """Records refusals for the webhook and the HTTP API; shared by every thread of a process."""

    def __init__(self, store: Store, clock: Callable[[], datetime]):
        self._store = store
        self._clock = clock
        self._journey = Journey("WEBHOOK")
        self._lock = threading.Lock()
        self._minute: datetime | None = None
        self._recorded = 0
        self._dropped = 0

    def record(self, rejection: RequestRejected, *, body: bytes, query: Mapping[str, str], source: str,
               channel: str, content_type: str = "", strategy_id: str | None = None,
               body_bytes: int | None = None) -> str | None:
        """Keep one refusal and journey-log it; its ``ref_...`` id, or None when this minute's
        quota is spent. Never raises: the sender gets its 4xx whatever happens here."""
        now = self._clock()
        if not self._admit(now):
            return None
        refusal_id = f"ref_{secrets.token_hex(8)}"
        try:
            document = refusal_document(refusal_id, rejection, now, body=body, query=query, source=source,
                                        channel=channel, content_type=content_type, strategy_id=strategy_id,
                                        body_bytes=len(body) if body_bytes is None else body_bytes)
            document["expires_at"] = _timestamp_for(self._store, now + RETENTION)
            self._journey.step(refusal_id, f"refused {document['status']} {document['error']}: "
                                           f"{document['field']} {document['reason']} "
                                           f"(strategy {document['strategy_id'] or '?'}, from "
                                           f"{document['source'] or '?'})")
            self._store.create(Collections.REFUSED_DELIVERIES, refusal_id, document)
        except Exception:  # the audit trail must never turn a 4xx into a 500
            log.exception("could not record refusal %s", refusal_id)
            return None
        return refusal_id

    def _admit(self, now: datetime) -> bool:
        """At most MAX_RECORDS_PER_MINUTE per process: an unauthenticated flood must not
        turn into as many writes. The first refusal after a flood says how many were dropped."""
        minute = now.replace(second=0, microsecond=0)
        with self._lock:
            if minute != self._minute:
                if self._dropped:
                    self._journey.step("ref_dropped", f"{self._dropped} more refusals in the minute from "
                                                      f"{self._minute:%H:%M} were not recorded")
                self._minute, self._recorded, self._dropped = minute, 0, 0
            if self._recorded >= MAX_RECORDS_PER_MINUTE:
                self._dropped += 1
                return False
            self._recorded += 1
            return True


def refusal_document(refusal_id: str, rejection: RequestRejected, now: datetime, *, body: bytes,
                     query: Mapping[str, str], source: str, channel: str, content_type: str,
                     strategy_id: str | None, body_bytes: int) -> Document:
    """The stored record, with every passphrase-like value blanked in every field."""
    head = body[:HEAD_BYTES].decode("utf-8", errors="replace")
    document = _json_object(head)
    hidden = set(_secret_values(query.items()))
    if document is not None:
        hidden |= set(_secret_values(_walk(document)))
        head = json.dumps(_without_secrets(document), ensure_ascii=False, separators=(",", ":"))
    hidden |= {_unquoted(m["value"]) for m in _SECRET_PAIR.finditer(head)}
    head = _SECRET_PAIR.sub(_blank_pair, head)
    if strategy_id is None:
        named = query.get("strategy_id") or (document.get("strategy_id") if isinstance(document, dict) else None)
        if named is None and (found := _STRATEGY_IN_TEXT.search(head)):
            named = found["id"]  # a body cut short or malformed still names its strategy
        strategy_id = named if isinstance(named, str) else None
    scrub = _scrubber(hidden)

    def text(value: str | None, limit: int = _SHORT_FIELD) -> str:
        """Scrubbed and cut short; escaped when shown (the journey, the dashboard)."""
        return _short(scrub(value), limit)

    return {
        "refusal_id": refusal_id, "at": now.isoformat(timespec="microseconds"), "channel": channel,
        "source": text(source), "strategy_id": text(strategy_id) or None, "status": http_status(rejection),
        "error": rejection.code, "field": text(rejection.field), "reason": text(rejection.reason, EXCERPT_CHARS),
        "content_type": text(content_type), "body_bytes": body_bytes,
        "excerpt": _short(escape(scrub(head)), EXCERPT_CHARS),  # any bytes at all: kept on one readable line
        "query": {text(k, 40): text(v) for k, v in list(query.items())[:_QUERY_KEYS] if not _SECRET_NAME.search(k)},
    }


def recent_refusals(store: Store, limit: int = 50) -> list[Document]:
    """The newest refusals first, every value plain JSON (Firestore hands back timestamps)."""
    found = store.query(Collections.REFUSED_DELIVERIES, order_by="at", descending=True, limit=limit)
    return [{k: v.isoformat(timespec="microseconds") if isinstance(v, datetime) else v for k, v in d.items()}
            for d in found]


def prune_refusals(store: Store, now: datetime) -> int:
    """The tick's clean-up: drop refusals past ``expires_at`` and all but the newest
    REFUSALS_KEPT. Reads at most REFUSALS_KEPT + 2 x PRUNE_BATCH small documents, and only
    as many as exist: a healthy fund has few refusals."""
    newest = store.query(Collections.REFUSED_DELIVERIES, order_by="at", descending=True,
                         limit=REFUSALS_KEPT + PRUNE_BATCH)
    oldest = store.query(Collections.REFUSED_DELIVERIES, order_by="at", limit=PRUNE_BATCH)
    beyond = {d["refusal_id"] for d in newest[REFUSALS_KEPT:]}
    expired = {d["refusal_id"] for d in [*newest, *oldest] if _expired(d, now)}
    for refusal_id in beyond | expired:
        store.delete(Collections.REFUSED_DELIVERIES, refusal_id)
    prune_auth_failures(store, now)  # the failed-authentication counters: refusals' own bookkeeping
    return len(beyond | expired)


def _expired(document: Document, now: datetime) -> bool:
    expires = document.get("expires_at")
    if isinstance(expires, str):
        expires = datetime.fromisoformat(expires)
    return isinstance(expires, datetime) and expires <= now


def _timestamp_for(store: Store, when: datetime) -> datetime | str:
    """Firestore's TTL policy deletes only by a Timestamp field; the other stores hold JSON."""
    return when if store.native_timestamps else when.isoformat(timespec="microseconds")


def _json_object(text: str) -> dict[str, Any] | list[Any] | None:
    try:
        document = json.loads(text)
    except ValueError:
        return None
    return document if isinstance(document, dict | list) else None


def _walk(document: Any) -> Iterable[tuple[str, Any]]:
    """Every (key, value) pair in a JSON document, however deep."""
    if isinstance(document, dict):
        for key, value in document.items():
            yield str(key), value
            yield from _walk(value)
    elif isinstance(document, list):
        for item in document:
            yield from _walk(item)


def _without_secrets(document: Any) -> Any:
    if isinstance(document, dict):
        return {k: REDACTED if _SECRET_NAME.search(str(k)) else _without_secrets(v) for k, v in document.items()}
    if isinstance(document, list):
        return [_without_secrets(item) for item in document]
    return document


def _secret_values(pairs: Iterable[tuple[str, Any]]) -> Iterable[str]:
    for key, value in pairs:
        if _SECRET_NAME.search(key) and value is not None and not isinstance(value, bool | dict | list):
            yield str(value)


def _blank_pair(match: re.Match[str]) -> str:
    """The key kept, its value blanked inside the same quotes."""
    quote = match["value"][:1] if match["value"][:1] in ("'", '"') else ""
    return f"{match['key']}{quote}{REDACTED}{quote}"


def _unquoted(value: str) -> str:
    return value.strip("\"'")


def _scrubber(hidden: set[str]) -> Callable[[str | None], str]:
    """Blanks each hidden value, and its JSON-escaped spelling, wherever it appears."""
    spellings = {s for value in hidden if value for s in (value, json.dumps(value, ensure_ascii=False)[1:-1])}
    ordered = sorted((s for s in spellings if s), key=len, reverse=True)

    def scrub(text: str | None) -> str:
        text = text or ""
        for secret in ordered:
            text = text.replace(secret, REDACTED)
        return text

    return scrub


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
