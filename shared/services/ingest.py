"""Ingest: validate, authenticate, store, dedupe and publish one incoming signal.

The answer to the sender is decided here. A 2xx is given only once the signal is
stored; a duplicate (TradingView resends on 5xx, up to 4 deliveries) gets the
first delivery's signal id and creates nothing new.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.domain.models import (
    Action,
    Collections,
    Environment,
    Instrument,
    OrderType,
    RiskLimits,
    SignalSource,
    StandardizedSignal,
    Strategy,
    Topics,
)
from shared.domain.signal_parsing import InstrumentClaim, ParsedSignal, SignalRejected, parse_request
from shared.journey import Journey
from shared.ports.bus import Bus
from shared.ports.store import Store, Transaction
from shared.services.instruments import InstrumentCatalog
from shared.services.prices import PriceBook

# A paused or retired strategy's signals still arrive: cerebro lets through only what reduces risk.
TRADEABLE_STATUSES = ("live", "paused", "retired")


@dataclass(frozen=True)
class IngestResult:
    status: int
    body: dict[str, Any]


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

    def ingest(self, body: bytes, content_type: str, query: Mapping[str, str], source_ip: str = "") -> IngestResult:
        """A webhook delivery, authenticated by the strategy's passphrase."""
        try:
            parsed = parse_request(body, content_type, query)
            strategy = self._strategy(parsed.strategy_id)
            if not passphrase_matches(strategy, parsed.passphrase):
                raise SignalRejected("passphrase", "missing or wrong for this strategy", 401, "unauthorized")
            self._check_tradeable(strategy, parsed)
            instrument = self._canonical(parsed)
        except SignalRejected as rejection:
            return IngestResult(rejection.status, rejection.as_json())
        return self._accept(parsed, instrument, source_ip)

    def ingest_from_api(self, body: bytes, content_type: str, role: str, subject: str) -> IngestResult:
        """An HTTP API signal, authenticated by the caller's API key: a developer may
        signal only for strategies they own; an admin for any."""
        try:
            if content_type.split(";")[0].strip() != "application/json":
                raise SignalRejected("content_type", "must be application/json", 415, "unsupported_media_type")
            parsed = parse_request(body, content_type, {})
            if parsed.passphrase is not None:
                raise SignalRejected("passphrase", "not used with an API key; leave it out")
            strategy = self._strategy(parsed.strategy_id)
            if role != "admin" and not (role == "developer" and strategy.owner == subject):
                raise SignalRejected("strategy_id", "you may only send signals for your own strategies", 403,
                                     "forbidden")
            self._check_tradeable(strategy, parsed)
            instrument = self._canonical(parsed)
        except SignalRejected as rejection:
            return IngestResult(rejection.status, rejection.as_json())
        return self._accept(parsed, instrument, f"api:{subject}")

    def submit_flatten(self, strategy_id: str, instrument: Instrument, requested_by: str,
                       account_ids: list[str] | None = None) -> IngestResult:
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
                                  "accounts": account_ids}),
            accounts=account_ids,
        )
        return self._accept(parsed, instrument, "")

    def _accept(self, parsed: ParsedSignal, instrument: Instrument, source_ip: str) -> IngestResult:
        now = self._clock()
        signal_id, is_new, published = self._store_once(parsed, instrument, now, source_ip)
        if not is_new and published:
            self._journey.step(signal_id, "duplicate delivery ignored")
            return IngestResult(200, {"status": "duplicate", "signal_id": signal_id})
        record = self._store.get(Collections.SIGNALS, signal_id)
        assert record is not None
        try:
            self._bus.publish(Topics.SIGNALS, {"signal": record["signal"]}, {"signal_id": signal_id})
        except Exception as error:  # noqa: BLE001 - any bus failure: the sender must retry
            self._journey.step(signal_id, f"stored but not yet published ({type(error).__name__}); awaiting resend")
            return IngestResult(503, {"error": "bus_unavailable", "field": "body",
                                      "reason": "signal stored; publishing failed, please retry",
                                      "signal_id": signal_id})
        self._store.update(Collections.SIGNALS, signal_id, {"status": "published"})
        self._journey.step(signal_id, f"accepted from {parsed.source.value}: {parsed.action.value} "
                                      f"{instrument.key} for {parsed.strategy_id}")
        return IngestResult(202, {"status": "accepted", "signal_id": signal_id})

    def _strategy(self, strategy_id: str) -> Strategy:
        document = self._store.get(Collections.STRATEGIES, strategy_id)
        if document is None:
            raise SignalRejected("strategy_id", f"unknown strategy {strategy_id!r}", 404, "unknown_strategy")
        return Strategy.model_validate(document)

    def _canonical(self, parsed: ParsedSignal) -> Instrument:
        """The instrument master's record for the alert's ticker, checked against what the
        alert claims; the alert's price must sit inside the collar around the broker's."""
        claim = parsed.instrument
        spec = self._instruments.resolve(claim.ticker, claim.exchange)
        if spec is None:
            spelled = f"{claim.exchange}:{claim.ticker}" if claim.exchange else claim.ticker
            raise SignalRejected("ticker", f"unknown instrument {spelled!r}: not in the instrument master",
                                 422, "unknown_instrument")
        if (disagreement := claim.disagreement(spec.instrument)) is not None:
            raise SignalRejected(*disagreement)
        if parsed.price is not None and parsed.action in (Action.BUY, Action.SELL):
            reference = self._prices.reference(spec)
            if reference is not None:
                gap = abs(parsed.price - reference.price) / reference.price * 100
                if gap > self._limits.price_collar_pct:
                    raise SignalRejected("price", f"{parsed.price:g} is {gap:.1f}% from the reference price "
                                                  f"{reference.price:g} ({reference.source}); the collar is "
                                                  f"{self._limits.price_collar_pct:g}%", 422, "outside_price_collar")
        return spec.instrument

    def _check_tradeable(self, strategy: Strategy, parsed: ParsedSignal) -> None:
        if strategy.status not in TRADEABLE_STATUSES:
            raise SignalRejected("strategy_id", f"strategy is {strategy.status}, not live", 409, "strategy_not_live")
        if parsed.environment is not None and parsed.environment != self._environment:
            raise SignalRejected("environment", f"this deployment serves {self._environment.value}")

    def _store_once(self, parsed: ParsedSignal, instrument: Instrument, now: datetime,
                    source_ip: str) -> tuple[str, bool, bool]:
        """Create the dedupe, raw and signal records together, or find the earlier ones.

        A signal with its own id or time is the same signal forever; a bare text
        alert is only a duplicate inside the dedupe window (it has nothing else to
        tell a resend from a new trade).
        """
        key = hashlib.sha256(f"{parsed.strategy_id}|{parsed.client_signal_id or parsed.canonical}".encode()).hexdigest()
        permanent = parsed.client_signal_id is not None or parsed.signal_time is not None

        def work(tx: Transaction) -> tuple[str, bool, bool]:
            seen = tx.get(Collections.SIGNAL_DEDUPE, key)
            if seen is not None:
                age = (now - datetime.fromisoformat(seen["first_seen"])).total_seconds()
                if permanent or age < self._dedupe_window:
                    signal = tx.get(Collections.SIGNALS, seen["signal_id"])
                    return seen["signal_id"], False, bool(signal and signal["status"] != "received")
            signal_id = "sig_" + hashlib.sha256(f"{key}|{now.isoformat()}".encode()).hexdigest()[:24]
            signal = StandardizedSignal(
                signal_id=signal_id,
                strategy_id=parsed.strategy_id,
                instrument=instrument,
                action=parsed.action,
                sizing=parsed.sizing,
                order_type=parsed.order_type,
                price=parsed.price,
                limit_price=parsed.limit_price,
                stop_price=parsed.stop_price,
                stop_loss=parsed.stop_loss,
                take_profit=parsed.take_profit,
                signal_time=parsed.signal_time,
                received_at=now,
                environment=parsed.environment or self._environment,
                source=parsed.source,
                accounts=parsed.accounts,
            )
            stamp = now.isoformat()
            tx.set(Collections.SIGNAL_DEDUPE, key, {"signal_id": signal_id, "first_seen": stamp})
            tx.set(Collections.RAW_SIGNALS, signal_id, {
                "signal_id": signal_id, "strategy_id": parsed.strategy_id, "received_at": stamp,
                "source": parsed.source.value, "source_ip": source_ip, "content": parsed.canonical,
            })
            tx.set(Collections.OPEN_SIGNALS, signal_id, {"signal_id": signal_id, "open_orders": None,
                                                         "since": stamp})
            tx.set(Collections.SIGNALS, signal_id, {
                "signal_id": signal_id, "strategy_id": parsed.strategy_id, "status": "received",
                "received_at": stamp, "signal": signal.model_dump(mode="json"),
            })
            return signal_id, True, False

        return self._store.transaction(work)
