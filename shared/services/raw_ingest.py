"""Signals from documents other writers put straight into ``trading_signals_raw``.

Writers with database access (the email collector, scripts, other systems) insert a raw
document; a watcher (SQLite poll, Firestore trigger, MongoDB change stream) hands it to
``RawSignalIngest``, which turns it into a signal through the webhook's own checks and
marks the document, so each raw document becomes at most one signal however often it is
seen: its id is the signal's client id, and ingest deduplicates by that forever.

Accepted raw shape (any one of):
- ``content``: the alert body as the webhook takes it, a JSON text or object, or
  TradingView's default text alert;
- ``signal``: the alert's fields as an object (``ticker``, ``action``, ``quantity``...),
  with the strategy at top level as ``strategy_name`` and optionally ``signalID`` and
  ``environment`` (the shape the original raw writers used);
- the alert's fields at top level.
``strategy_id`` (or ``strategy_name``) at top level names the strategy when the alert does
not (a text alert). A ``passphrase`` is ignored: the writer is trusted by its database
access. Everything else is validated as a webhook body is.

Markers written back: ``status`` "ingested" with ``signal_id``, or "refused" with
``reason`` (never retried). A document that already has ``signal_id`` (the webhook's own
raw record) or ``status`` is skipped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.domain.models import Collections
from shared.domain.signal_parsing import ParsedSignal, SignalRejected, parse_request
from shared.ports.store import Document, Store
from shared.services.ingest import IngestService

log = logging.getLogger(__name__)

INGESTED = "ingested"
REFUSED = "refused"
# Fields about the document, never part of the alert.
_METADATA = frozenset({"_id", "source", "source_ip", "received_at", "status", "reason", "processed_at",
                       "email", "signal_sent_EPOCH", "timestamp", "strategy_name", "signalID"})
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,96}$")


class RawIngestRetry(RuntimeError):
    """The signal could not be published yet (bus down): leave the document unmarked, retry."""


@dataclass(frozen=True)
class RawOutcome:
    doc_id: str
    status: str  # "ingested", "refused" or "skipped" (already processed, or the webhook's own record)
    signal_id: str | None = None
    reason: str | None = None


def already_processed(document: Document) -> bool:
    return "signal_id" in document or "status" in document


def parse_raw(doc_id: str, document: Document) -> ParsedSignal:
    """The raw document as a validated signal whose client id is the document's (unless the
    alert names its own id, which then dedupes it against the same alert from any route)."""
    query = {}
    strategy = document.get("strategy_id") or document.get("strategy_name")
    if strategy is not None:
        query["strategy_id"] = str(strategy)
    content = document.get("content")
    if isinstance(content, str):
        parsed = parse_request(content.encode(), "text/plain", query)
    else:
        fields = _alert_fields(document, content)
        parsed = parse_request(json.dumps(fields, default=str).encode(), "application/json", query)
    client_id = parsed.client_signal_id or raw_client_id(doc_id)
    return parsed.model_copy(update={"client_signal_id": client_id, "passphrase": None})


def _alert_fields(document: Document, content: Any) -> dict[str, Any]:
    if isinstance(content, dict):
        fields = dict(content)
    elif isinstance(document.get("signal"), dict):
        fields = dict(document["signal"])
        for name in ("environment",):
            if name in document and name not in fields:
                fields[name] = document[name]
    elif content is None and ("ticker" in document or "symbol" in document):
        fields = {k: v for k, v in document.items() if k not in _METADATA and k != "content"}
    else:
        raise SignalRejected("content", "a raw document needs `content` (the alert body), `signal` "
                                        "(the alert's fields) or the alert's fields at top level")
    if "signalID" in document and "signal_id" not in fields:
        fields["signal_id"] = str(document["signalID"])
    return fields


def raw_client_id(doc_id: str) -> str:
    """A client signal id derived from the document id, within the webhook's id alphabet."""
    candidate = f"raw-{doc_id}"
    if _CLIENT_ID.match(candidate):
        return candidate
    return "raw-" + hashlib.sha256(doc_id.encode()).hexdigest()[:40]


class RawSignalIngest:
    """Raw document -> signal, exactly once, with the outcome recorded on the document."""

    def __init__(self, store: Store, ingest: IngestService, clock: Callable[[], datetime]):
        self._store = store
        self._ingest = ingest
        self._clock = clock

    def process(self, doc_id: str, document: Document | None = None,
                mark: Callable[[str, Document], None] | None = None) -> RawOutcome:
        """Ingest one raw document (read from the store when not given); ``mark`` writes the
        outcome back where the store cannot address the document (a MongoDB ObjectId)."""
        if document is None:
            document = self._store.get(Collections.RAW_SIGNALS, doc_id)
        if document is None or already_processed(document):
            return RawOutcome(doc_id, "skipped", (document or {}).get("signal_id"))
        mark = mark or (lambda key, fields: self._store.update(Collections.RAW_SIGNALS, key, fields))
        try:
            parsed = parse_raw(doc_id, document)
        except SignalRejected as rejection:
            return self._refuse(doc_id, rejection.as_json(), mark)
        origin = f"raw:{document.get('source') or 'external'}"
        result = self._ingest.ingest_trusted(parsed, origin)
        if result.status >= 500:
            raise RawIngestRetry(f"raw document {doc_id}: {result.body}")
        if result.status >= 400:
            return self._refuse(doc_id, result.body, mark)
        signal_id = result.body["signal_id"]
        mark(doc_id, {
            "status": INGESTED, "signal_id": signal_id, "processed_at": self._clock().isoformat()})
        log.info("raw document %s ingested as %s (%s)", doc_id, signal_id, result.body["status"])
        return RawOutcome(doc_id, INGESTED, signal_id)

    def _refuse(self, doc_id: str, body: dict[str, Any], mark: Callable[[str, Document], None]) -> RawOutcome:
        reason = f"{body.get('field', 'body')}: {body.get('reason', body.get('error', 'refused'))}"
        mark(doc_id, {
            "status": REFUSED, "reason": reason, "error": body.get("error"),
            "processed_at": self._clock().isoformat()})
        log.warning("raw document %s refused: %s", doc_id, reason)
        return RawOutcome(doc_id, REFUSED, reason=reason)
