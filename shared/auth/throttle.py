"""Failed-authentication throttle: exponential backoff on wrong passphrases and API keys.

Keys. A lockout is kept per (channel, source address, credential): the strategy id for a
webhook passphrase, the key id (``mt_<key_id>.``, or ``malformed``) for an API key. A
guesser is locked out only from their own address and only for what they guess at, so
someone else's failures never lock out a legitimate sender at another address, and a
developer's typo never locks out the strategy's TradingView alerts.

TradingView sends every customer's alerts from the same four addresses (SHARED_SENDERS),
so an attacker with their own TradingView alerts shares the fund's address. From those
addresses a lock does not stop a correct credential: it is still checked, a right one is
accepted and a wrong one gets the 429. Guessing through them is bounded by TradingView's
own alert rate limits, and it still raises the admin alert. From any other address a
locked credential is refused with 429 before it is checked, so guessing there is slow.

Beside each lock, a per-strategy counter over every address (fixed windows of
ALERT_WINDOW_SECONDS opened by the first failure) only raises the alert: once per window,
at ALERT_FAILURES failures, a ``passphrase_guessing`` notification (strategy, count,
a few source addresses; never what was guessed) goes to the admin's Telegram.

Backoff: the first FREE_FAILURES failures cost nothing (typos, a rotated passphrase not
yet pasted everywhere); failure n after them locks for
``min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2 ** (n - FREE_FAILURES - 1))``, so 1, 2, 4 ...
seconds up to 15 minutes. A lock quiet for FORGET_AFTER_SECONDS starts over.

Cost: the counters live in the store (functions scale out, so process memory would not
hold them): one read per attempt, one transaction per failure, a delete on the first
success after failures, nothing else. Documents carry ``expires_at`` (a Timestamp on
Firestore, for a TTL policy); ``prune_auth_failures`` drops expired ones on the tick.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.config import TRADINGVIEW_IPS
from shared.domain.errors import Refusal, RequestRejected
from shared.domain.messages import NotificationMessage
from shared.domain.models import Topics
from shared.domain.schema import Collections
from shared.ports.bus import Bus
from shared.ports.store import Document, Store, Transaction

log = logging.getLogger(__name__)

AUTH_FAILURES = Collections.AUTH_FAILURES
FREE_FAILURES = 5
BASE_DELAY_SECONDS = 1.0
MAX_DELAY_SECONDS = 900.0
FORGET_AFTER_SECONDS = 3600.0
ALERT_FAILURES = 10
ALERT_WINDOW_SECONDS = 600.0
ALERT_SOURCES_SHOWN = 5
PASSPHRASE_GUESSING = "passphrase_guessing"
SHARED_SENDERS = frozenset(TRADINGVIEW_IPS)
PRUNE_BATCH = 200


def backoff_seconds(failures: int) -> float:
    """How long the ``failures``-th failure in a row locks its key."""
    if failures <= FREE_FAILURES:
        return 0.0
    return min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2 ** min(failures - FREE_FAILURES - 1, 32))


def _doc_id(*parts: str) -> str:
    """Hashed: an address or a client-chosen id may hold characters a document id may not."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:40]


@dataclass(frozen=True)
class Lock:
    """What the store said about one (channel, source, credential) before the attempt."""

    doc_id: str
    channel: str
    source: str
    credential: str
    failures: int
    locked_until: datetime | None

    @property
    def shared(self) -> bool:
        return self.source in SHARED_SENDERS

    def wait(self, now: datetime) -> float:
        return max(0.0, (self.locked_until - now).total_seconds()) if self.locked_until else 0.0


def throttled(field: str, wait: float) -> RequestRejected:
    """The 429: the same answer whether or not the last guess was right, so it tells nothing."""
    seconds = max(1, int(-(-wait // 1)))
    return RequestRejected(field, f"too many failed attempts; retry in {seconds} s", Refusal.TOO_MANY, "throttled",
                           retry_after=wait)


class AuthThrottle:
    def __init__(self, store: Store, bus: Bus, clock: Callable[[], datetime]):
        self._store = store
        self._bus = bus
        self._clock = clock

    def check(self, channel: str, source: str, credential: str, field: str) -> Lock:
        """One read; raises the 429 when this key is locked and its source is not shared."""
        doc_id = _doc_id(channel, source, credential)
        now = self._clock()
        document = self._store.get(AUTH_FAILURES, doc_id) or {}
        failures, until = _current(document, now)
        lock = Lock(doc_id, channel, source, credential, failures, until)
        if not lock.shared and lock.wait(now) > 0:
            raise throttled(field, lock.wait(now))
        return lock

    def failed(self, lock: Lock, rejection: RequestRejected, strategy_id: str | None = None) -> RequestRejected:
        """Count a failure (one transaction); the error to answer: the 429 once a lock applies,
        else ``rejection``. A webhook failure also counts toward its strategy's alert."""
        now = self._clock()
        strategy_doc = _doc_id("strategy", strategy_id) if strategy_id else None

        def work(tx: Transaction) -> tuple[float, Document | None]:
            document = tx.get(AUTH_FAILURES, lock.doc_id) or {}
            counter = tx.get(AUTH_FAILURES, strategy_doc) if strategy_doc else None
            failures = _current(document, now)[0] + 1
            wait = backoff_seconds(failures)
            forget = now + timedelta(seconds=max(wait, FORGET_AFTER_SECONDS))
            tx.set(AUTH_FAILURES, lock.doc_id, {
                "scope": lock.channel, "source": lock.source, "credential": lock.credential,
                "failures": failures, "last_at": now.isoformat(),
                "locked_until": (now + timedelta(seconds=wait)).isoformat() if wait else None,
                "expires_at": self._timestamp(forget)})
            alert = None
            if strategy_doc and strategy_id:
                counter, alert = _counted(counter, strategy_id, lock.source, now)
                counter["expires_at"] = self._timestamp(now + timedelta(seconds=ALERT_WINDOW_SECONDS * 2))
                tx.set(AUTH_FAILURES, strategy_doc, counter)
            return wait, alert

        wait, alert = self._store.transaction(work)
        if alert is not None:
            self._alert(alert)
        return throttled(rejection.field, wait) if wait > 0 else rejection

    def succeeded(self, lock: Lock) -> None:
        """A right credential from an address of its own clears that address's failures. Not at
        a shared address: there the failures may be someone else's guessing."""
        if lock.failures and not lock.shared:
            self._store.delete(AUTH_FAILURES, lock.doc_id)

    def _alert(self, alert: Document) -> None:
        try:
            self._bus.publish(Topics.NOTIFICATIONS, NotificationMessage.model_validate(alert).model_dump(mode="json"))
        except Exception:  # the sender's answer must not depend on the alert
            log.exception("could not publish the %s alert for %s", PASSPHRASE_GUESSING, alert.get("strategy_id"))

    def _timestamp(self, when: datetime) -> datetime | str:
        """Firestore's TTL policy deletes only by a Timestamp field; the other stores hold JSON."""
        return when if self._store.native_timestamps else when.isoformat()


def _current(document: Document, now: datetime) -> tuple[int, datetime | None]:
    """The failures still remembered and the lock's end."""
    if not document:
        return 0, None
    last = datetime.fromisoformat(document["last_at"])
    until = datetime.fromisoformat(document["locked_until"]) if document.get("locked_until") else None
    if (now - last).total_seconds() >= FORGET_AFTER_SECONDS and (until is None or until <= now):
        return 0, None
    return int(document.get("failures", 0)), until


def _counted(counter: Document | None, strategy_id: str, source: str,
             now: datetime) -> tuple[Document, Document | None]:
    """The strategy's window with this failure added; the alert when it just crossed the line."""
    opened = datetime.fromisoformat(counter["window_start"]) if counter else None
    if counter is None or opened is None or (now - opened).total_seconds() >= ALERT_WINDOW_SECONDS:
        counter = {"scope": "strategy", "strategy_id": strategy_id, "window_start": now.isoformat(),
                   "failures": 0, "alerted": False, "sources": []}
    counter = {**counter, "failures": int(counter["failures"]) + 1}
    if source not in counter["sources"] and len(counter["sources"]) < ALERT_SOURCES_SHOWN:
        counter["sources"] = [*counter["sources"], source]
    if counter["alerted"] or counter["failures"] < ALERT_FAILURES:
        return counter, None
    counter["alerted"] = True
    alert: dict[str, Any] = {"kind": PASSPHRASE_GUESSING, "strategy_id": strategy_id,
                             "failures": counter["failures"], "window_seconds": int(ALERT_WINDOW_SECONDS),
                             "since": counter["window_start"], "sources": counter["sources"]}
    return counter, alert


def prune_auth_failures(store: Store, now: datetime) -> int:
    """Drop counters past ``expires_at``: the oldest PRUNE_BATCH a tick, so a flood of
    addresses is cleared over a few ticks without one long read."""
    oldest = store.query(AUTH_FAILURES, order_by="expires_at", limit=PRUNE_BATCH)
    dropped = 0
    for document in oldest:
        expires = document.get("expires_at")
        if isinstance(expires, str):
            expires = datetime.fromisoformat(expires)
        if isinstance(expires, datetime) and expires <= now:
            doc_id = (_doc_id("strategy", document["strategy_id"]) if document.get("scope") == "strategy"
                      else _doc_id(document["scope"], document["source"], document["credential"]))
            store.delete(AUTH_FAILURES, doc_id)
            dropped += 1
    return dropped
