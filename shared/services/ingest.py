"""Ingest: validate, authenticate, store, dedupe and publish one incoming signal.

The answer to the sender is decided here. A 2xx is given only once the signal is
stored; a duplicate (TradingView resends on a 5xx within seconds, up to 4
deliveries) gets the first delivery's signal id and creates nothing new.

No read-modify-write transaction: deliveries of one alert arrive together, and on
Firestore each transaction locks what it reads, so concurrent ones queued for up to
~51 s while TradingView waits 3 s. Instead every contender derives the same signal id,
writes that signal's documents create-if-absent, and one atomic ``create`` /
``replace_if`` on the dedupe document decides who publishes. A process that dies
between those steps leaves documents the next delivery (or the sweep) finishes:
nothing is lost, and downstream stages dedupe by signal id and client order id.

What counts as a duplicate: a signal with its own id or time is the same signal
forever. A bare alert has nothing to tell a resend from a new trade but its timing,
so it is a duplicate only within DEDUPE_WINDOW_SECONDS (10 s by default: resends come
within seconds, and TradingView's default text alert for a re-entry - buy, sell, buy -
repeats an earlier text, which a 300 s window dropped, leaving the fund flat while
the strategy was long). A target alert (every TradingView text alert) whose target
differs from the strategy's current target in that instrument is never a duplicate.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from shared.auth.throttle import AuthThrottle
from shared.domain.errors import Refusal, RequestRejected
from shared.domain.models import (
    Action,
    Collections,
    Environment,
    Instrument,
    OrderType,
    RiskLimits,
    SignalSource,
    SignalStatus,
    SizingKind,
    StandardizedSignal,
    Strategy,
    StrategyStatus,
    book_key,
)
from shared.domain.signal_parsing import InstrumentClaim, ParsedSignal, SignalRejected, parse_request
from shared.entrypoints.http import http_status  # the webhook answer ingest builds, and the audit record of it
from shared.journey import Journey
from shared.ports.bus import Bus
from shared.ports.store import Document, Store
from shared.services.book_waits import publish_signal
from shared.services.instruments import InstrumentCatalog
from shared.services.prices import PriceBook
from shared.services.refusals import RefusalLog

# A paused or retired strategy's signals still arrive: cerebro lets through only what reduces risk.
TRADEABLE_STATUSES = (StrategyStatus.LIVE, StrategyStatus.PAUSED, StrategyStatus.RETIRED)
# Each strategy's current target per instrument ({target, signal_id, at}), by book key.
STRATEGY_TARGETS = Collections.STRATEGY_TARGETS
# A claimed signal still unpublished after this long is published by the next delivery: its claimer died.
PUBLISH_GRACE_SECONDS = 2.0


@dataclass(frozen=True)
class IngestResult:
    status: int
    body: dict[str, Any]
    retry_after: float | None = None  # a 429's wait, sent as the Retry-After header


@dataclass(frozen=True)
class _Stored:
    """What storing a delivery found: the occurrence it repeats ("seen", claimed at
    ``claimed_at``), or a new one this delivery claimed ("won") or another claimed ("lost")."""

    signal_id: str
    outcome: Literal["won", "lost", "seen"]
    claimed_at: datetime | None = None


def hash_passphrase(passphrase: str, salt: str | None = None) -> tuple[str, str]:
    """Salted SHA-256: passphrases are long random tokens, so a fast hash is safe and cheap."""
    salt = salt if salt is not None else secrets.token_hex(16)
    return hashlib.sha256(f"{salt}:{passphrase}".encode()).hexdigest(), salt


def passphrase_matches(strategy: Strategy, passphrase: str | None) -> bool:
    if not passphrase or not strategy.passphrase_hash:
        return False
    candidate, _ = hash_passphrase(passphrase, strategy.passphrase_salt)
    return hmac.compare_digest(candidate, strategy.passphrase_hash)


class IngestService:
    def __init__(self, store: Store, bus: Bus, clock: Callable[[], datetime],
                 environment: Environment, dedupe_window_seconds: float,
                 instruments: InstrumentCatalog, prices: PriceBook, limits: RiskLimits):
        self._store = store
        self._bus = bus
        self._clock = clock
        self._environment = environment
        self._dedupe_window = dedupe_window_seconds
        self._instruments = instruments
        self._prices = prices
        self._limits = limits
        self._journey = Journey("WEBHOOK")
        self.refusals = RefusalLog(store, clock)  # the webhook's own early refusals (413, 403) are recorded here too
        self.throttle = AuthThrottle(store, bus, clock)  # wrong passphrases back off (shared/auth/throttle.py)

    def ingest(self, body: bytes, content_type: str, query: Mapping[str, str], source_ip: str = "") -> IngestResult:
        """A webhook delivery, authenticated by the strategy's passphrase."""
        parsed: ParsedSignal | None = None
        try:
            parsed = parse_request(body, content_type, query)
            strategy = self._strategy(parsed.strategy_id)
            lock = self.throttle.check("webhook", source_ip, strategy.strategy_id, "passphrase")
            if not passphrase_matches(strategy, parsed.passphrase):
                raise self.throttle.failed(lock, SignalRejected(
                    "passphrase", "missing or wrong for this strategy",
                        Refusal.UNAUTHENTICATED, "unauthorized"), strategy.strategy_id)
            self.throttle.succeeded(lock)
            self._check_tradeable(strategy, parsed)
            instrument = self._canonical(parsed)
        except RequestRejected as rejection:  # SignalRejected, and the throttle's 429
            self.refusals.record(rejection, body=body, query=query, source=source_ip, channel="webhook",
                                 content_type=content_type, strategy_id=parsed.strategy_id if parsed else None)
            return IngestResult(http_status(rejection), rejection.as_json(), rejection.retry_after)
        return self._accept(parsed, instrument, source_ip)

    def ingest_from_api(self, body: bytes, content_type: str, role: str, subject: str) -> IngestResult:
        """An HTTP API signal, authenticated by the caller's API key: a developer may
        signal only for strategies they own; an admin for any."""
        parsed: ParsedSignal | None = None
        try:
            if content_type.split(";")[0].strip() != "application/json":
                raise SignalRejected("content_type", "must be application/json",
                                     Refusal.UNSUPPORTED, "unsupported_media_type")
            parsed = parse_request(body, content_type, {})
            if parsed.passphrase is not None:
                raise SignalRejected("passphrase", "not used with an API key; leave it out")
            strategy = self._strategy(parsed.strategy_id)
            if role != "admin" and not (role == "developer" and strategy.owner == subject):
                raise SignalRejected("strategy_id", "you may only send signals for your own strategies",
                                     Refusal.FORBIDDEN,
                                     "forbidden")
            self._check_tradeable(strategy, parsed)
            instrument = self._canonical(parsed)
        except SignalRejected as rejection:
            self.refusals.record(rejection, body=body, query={}, source=f"api:{subject}", channel="api",
                                 content_type=content_type, strategy_id=parsed.strategy_id if parsed else None)
            return IngestResult(http_status(rejection), rejection.as_json())
        return self._accept(parsed, instrument, f"api:{subject}")

    def submit_flatten(self, strategy_id: str, instrument: Instrument, requested_by: str,
                       account_ids: list[str] | None = None, reason: str = "") -> IngestResult:
        """The admin's flatten: a signal like any other (stored, journeyed, deduplicated), for
        every account or the chosen ones. It only reduces risk, so every trading state lets it through."""
        now = self._clock()
        scope = f"-{'-'.join(sorted(account_ids))}" if account_ids else ""
        signal_key = f"flatten-{strategy_id}{scope}-{now:%Y%m%dT%H%M%S}"[:100]
        parsed = ParsedSignal(
            strategy_id=strategy_id, passphrase=None, client_signal_id=signal_key,
            instrument=InstrumentClaim(ticker=instrument.key), action=Action.FLATTEN, sizing=None,
            order_type=OrderType.MARKET, price=None,
            limit_price=None, stop_price=None, stop_loss=None, take_profit=None, signal_time=now, environment=None,
            source=SignalSource.ADMIN,
            canonical=json.dumps({"action": "flatten", "strategy_id": strategy_id, "requested_by": requested_by,
                                  "accounts": account_ids, "reason": reason}),
            accounts=account_ids,
        )
        return self._accept(parsed, instrument, "")

    # --- Raw documents from trusted writers (shared/services/raw_ingest.py) ---------------
    def ingest_trusted(self, parsed: ParsedSignal, origin: str) -> IngestResult:
        """A signal a writer with database access put in the raw collection: no passphrase
        (database access is its credential), every other check a webhook delivery gets."""
        try:
            strategy = self._strategy(parsed.strategy_id)
            self._check_tradeable(strategy, parsed)
            instrument = self._canonical(parsed)
        except SignalRejected as rejection:
            return IngestResult(http_status(rejection), rejection.as_json())
        return self._accept(parsed, instrument, origin)
    # --- end raw documents ------------------------------------------------------------------

    def _accept(self, parsed: ParsedSignal, instrument: Instrument, source_ip: str) -> IngestResult:
        now = self._clock()
        stored = self._store_once(parsed, instrument, now, source_ip)
        record = None if stored.outcome == "lost" else self._store.get(Collections.SIGNALS, stored.signal_id)
        if record is None or (stored.outcome == "seen" and not self._unpublished(record, stored, now)):
            self._journey.step(stored.signal_id, "duplicate delivery ignored")
            return IngestResult(200, {"status": "duplicate", "signal_id": stored.signal_id})
        signal_id = stored.signal_id
        try:
            publish_signal(self._bus, record)
        except Exception as error:  # noqa: BLE001 - any bus failure: the sender must retry
            self._store.replace_if(Collections.SIGNALS, signal_id, {"status": SignalStatus.RECEIVED},
                                   {**record, "publish_failed_at": now.isoformat()})
            self._journey.step(signal_id, f"stored but not yet published ({type(error).__name__}); awaiting resend")
            return IngestResult(503, {"error": "bus_unavailable", "field": "body",
                                      "reason": "signal stored; publishing failed, please retry",
                                      "signal_id": signal_id})
        # Conditional: cerebro may already have decided it, and its status must not go back.
        self._store.replace_if(Collections.SIGNALS, signal_id, {"status": SignalStatus.RECEIVED},
                               {**record, "status": SignalStatus.PUBLISHED})
        self._journey.step(signal_id, f"accepted from {parsed.source.value}: {parsed.action.value} "
                                      f"{instrument.key} for {parsed.strategy_id}")
        return IngestResult(202, {"status": "accepted", "signal_id": signal_id})

    @staticmethod
    def _unpublished(record: Document, stored: _Stored, now: datetime) -> bool:
        """Whether a resend must publish the stored signal itself: its publishing failed, or its
        claimer has had the grace period and still not published it (it died)."""
        if record["status"] != SignalStatus.RECEIVED:
            return False
        waited = (now - stored.claimed_at).total_seconds() if stored.claimed_at else PUBLISH_GRACE_SECONDS
        return "publish_failed_at" in record or waited >= PUBLISH_GRACE_SECONDS

    def _strategy(self, strategy_id: str) -> Strategy:
        document = self._store.get(Collections.STRATEGIES, strategy_id)
        if document is None:
            raise SignalRejected("strategy_id", f"unknown strategy {strategy_id!r}",
                                 Refusal.NOT_FOUND, "unknown_strategy")
        return Strategy.model_validate(document)

    def _canonical(self, parsed: ParsedSignal) -> Instrument:
        """The instrument master's record for the alert's ticker, checked against what the
        alert claims; the alert's price must sit inside the collar around the broker's."""
        claim = parsed.instrument
        spec = self._instruments.resolve(claim.ticker, claim.exchange)
        if spec is None:
            spelled = f"{claim.exchange}:{claim.ticker}" if claim.exchange else claim.ticker
            raise SignalRejected("ticker", f"unknown instrument {spelled!r}: not in the instrument master",
                                 Refusal.INVALID, "unknown_instrument")
        if (disagreement := claim.disagreement(spec.instrument)) is not None:
            raise SignalRejected(*disagreement)
        if parsed.price is not None and parsed.action in (Action.BUY, Action.SELL):
            reference = self._prices.reference(spec)
            if reference is not None:
                gap = abs(parsed.price - reference.price) / reference.price * 100
                if gap > self._limits.price_collar_pct:
                    raise SignalRejected("price", f"{parsed.price:g} is {gap:.1f}% from the reference price "
                                                  f"{reference.price:g} ({reference.source}); the collar is "
                                                  f"{self._limits.price_collar_pct:g}%",
                                                      Refusal.INVALID, "outside_price_collar")
        return spec.instrument

    def _check_tradeable(self, strategy: Strategy, parsed: ParsedSignal) -> None:
        if strategy.status not in TRADEABLE_STATUSES:
            raise SignalRejected("strategy_id", f"strategy is {strategy.status}, not live",
                                 Refusal.CONFLICT, "strategy_not_live")
        if parsed.environment is not None and parsed.environment != self._environment:
            raise SignalRejected("environment", f"this deployment serves {self._environment.value}")

    def _store_once(self, parsed: ParsedSignal, instrument: Instrument, now: datetime, source_ip: str) -> _Stored:
        """Find the occurrence this delivery repeats, or store a new one and race to claim it.

        Reads the dedupe document before the target: a contender claims only after moving
        the target, so a delivery that finds the claim also finds the target it set.
        """
        key = hashlib.sha256(f"{parsed.strategy_id}|{parsed.client_signal_id or parsed.canonical}".encode()).hexdigest()
        permanent = parsed.client_signal_id is not None or parsed.signal_time is not None
        target = parsed.sizing.value if parsed.sizing and parsed.sizing.kind is SizingKind.TARGET_POSITION else None
        book = book_key(parsed.strategy_id, instrument.key)
        seen = self._store.get(Collections.SIGNAL_DEDUPE, key)
        current = self._store.get(STRATEGY_TARGETS, book) if target is not None else None
        if seen is not None and self._repeats(seen, key, permanent, target, current, now):
            return _Stored(seen["signal_id"], "seen", datetime.fromisoformat(seen["first_seen"]))
        signal_id = _signal_id(key, seen["signal_id"] if seen else "first")
        self._write_documents(signal_id, parsed, instrument, book, now, source_ip)
        if target is not None:
            self._move_target(book, current, target, signal_id, now)
        claim = {"signal_id": signal_id, "first_seen": now.isoformat()}
        if seen is None:
            won = self._store.create(Collections.SIGNAL_DEDUPE, key, claim)
        else:
            won = self._store.replace_if(Collections.SIGNAL_DEDUPE, key, {"signal_id": seen["signal_id"]}, claim)
        return _Stored(signal_id, "won" if won else "lost")

    def _repeats(self, seen: Document, key: str, permanent: bool, target: float | None, current: Document | None,
                 now: datetime) -> bool:
        """Whether this delivery is the occurrence the dedupe document records, not a new one."""
        if permanent:
            return True
        if target is not None:
            if current is None or current["target"] != target:
                return False  # the strategy's position changes: a new trade, whatever its text
            if current["signal_id"] == _signal_id(key, seen["signal_id"]):
                return False  # a delivery of the next occurrence moved the target, then died: finish it
        return (now - datetime.fromisoformat(seen["first_seen"])).total_seconds() < self._dedupe_window

    def _write_documents(self, signal_id: str, parsed: ParsedSignal, instrument: Instrument, book: str,
                         now: datetime, source_ip: str) -> None:
        """The raw record, the signal record and its open_signals entry, before anyone claims the signal.

        Create-if-absent rather than put: a contender or a crashed earlier delivery may have
        written them already, and a record cerebro has since decided must never be reset.
        The entry copies the stored record's ``received_at``: cerebro orders a book by it.
        """
        stamp = now.isoformat()
        signal = StandardizedSignal(
            signal_id=signal_id, strategy_id=parsed.strategy_id, instrument=instrument, action=parsed.action,
            sizing=parsed.sizing, order_type=parsed.order_type, price=parsed.price, limit_price=parsed.limit_price,
            stop_price=parsed.stop_price, stop_loss=parsed.stop_loss, take_profit=parsed.take_profit,
            signal_time=parsed.signal_time, received_at=now, environment=parsed.environment or self._environment,
            source=parsed.source, accounts=parsed.accounts,
        )
        self._store.create(Collections.RAW_SIGNALS, signal_id, {
            "signal_id": signal_id, "strategy_id": parsed.strategy_id, "received_at": stamp,
            "source": parsed.source.value, "source_ip": source_ip, "content": parsed.canonical,
        })
        fresh: Document = {"signal_id": signal_id, "strategy_id": parsed.strategy_id,
                           "status": SignalStatus.RECEIVED,
                           "received_at": stamp, "signal": signal.model_dump(mode="json")}
        record: Document | None = fresh
        if not self._store.create(Collections.SIGNALS, signal_id, fresh):
            record = self._store.get(Collections.SIGNALS, signal_id)
        if record is None or record["status"] != SignalStatus.RECEIVED:
            return  # published already: the entry is cerebro's now
        received_at = record["received_at"]
        # arrival_ns: the wall clock's nanoseconds order alerts stamped with the same time (cerebro's tiebreak).
        if self._store.create(Collections.OPEN_SIGNALS, signal_id, {
                "signal_id": signal_id, "open_orders": None, "since": received_at, "book": book,
                "received_at": received_at, "arrival_ns": time.time_ns()}):
            self._drop_if_stale(signal_id)

    def _drop_if_stale(self, signal_id: str) -> None:
        """Remove an entry this delivery created after cerebro had settled the signal.

        A delivery that stalls between its writes can create the entry after another
        published the signal and cerebro removed it; left there, it would hold up the book.
        Cerebro records decisions and settles the entry in one transaction, so decisions
        beside an entry it never touched mean the entry came later.
        """
        record = self._store.get(Collections.SIGNALS, signal_id)
        if record is None or record.get("decisions") is None:
            return
        entry = self._store.get(Collections.OPEN_SIGNALS, signal_id)
        if entry is not None and entry.get("open_orders") is None and not entry.get("decided"):
            self._store.delete(Collections.OPEN_SIGNALS, signal_id)

    def _move_target(self, book: str, current: Document | None, target: float, signal_id: str,
                     now: datetime) -> None:
        """Record the strategy's new target, conditional on the one read before: a delivery
        working from a stale read never moves it back."""
        document = {"target": target, "signal_id": signal_id, "at": now.isoformat()}
        if current is None:
            self._store.create(STRATEGY_TARGETS, book, document)
        elif current["signal_id"] != signal_id:
            self._store.replace_if(STRATEGY_TARGETS, book, {"signal_id": current["signal_id"]}, document)


def _signal_id(key: str, previous: str) -> str:
    """Deterministic, so every contender for one occurrence writes and claims the same signal."""
    return "sig_" + hashlib.sha256(f"{key}|{previous}".encode()).hexdigest()[:24]
