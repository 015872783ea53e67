"""Cerebro service: gather each account's inputs, decide, record, publish orders.

Idempotent under redelivery: the first complete set of decisions is stored on
the signal's record and every later delivery republishes those same orders
(execution drops the repeats by client order id) instead of deciding again on
positions that may since have moved.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from shared.domain.cerebro import AccountContext, decide
from shared.domain.models import (
    KILL_SWITCH_DOC,
    Account,
    Action,
    Allocation,
    Collections,
    Decision,
    Instrument,
    RiskLimits,
    StandardizedSignal,
    Strategy,
    Topics,
)
from shared.journey import Journey
from shared.ports.broker import BrokerClient
from shared.ports.bus import Bus
from shared.ports.store import Store, Transaction

CURRENT_ALLOCATION_DOC = "current"


def position_doc_id(account_id: str, strategy_id: str, instrument_key: str) -> str:
    return f"{account_id}|{strategy_id}|{instrument_key}".replace("/", "_")


class CerebroService:
    def __init__(self, store: Store, bus: Bus, brokers: Mapping[str, BrokerClient],
                 limits: RiskLimits, clock: Callable[[], datetime]):
        self._store = store
        self._bus = bus
        self._brokers = brokers
        self._limits = limits
        self._clock = clock
        self._journey = Journey("CEREBRO")

    def handle(self, signal: StandardizedSignal) -> list[Decision]:
        record = self._store.get(Collections.SIGNALS, signal.signal_id)
        if record and record.get("decisions") is not None:
            decisions = [Decision.model_validate(d) for d in record["decisions"]]
            self._journey.step(signal.signal_id, "redelivered: republishing the recorded decisions")
        else:
            decisions = self._record(signal, self._decide_all(signal))
        for decision in decisions:
            for order in decision.orders:
                self._bus.publish(Topics.ORDERS, {"order": order.model_dump(mode="json")},
                                  {"signal_id": signal.signal_id, "client_order_id": order.client_order_id})
        return decisions

    def _decide_all(self, signal: StandardizedSignal) -> list[Decision]:
        strategy_doc = self._store.get(Collections.STRATEGIES, signal.strategy_id)
        if strategy_doc is None:
            raise LookupError(f"strategy {signal.strategy_id} vanished after ingest")
        strategy = Strategy.model_validate(strategy_doc)
        now = self._clock()
        allocation_doc = self._store.get(Collections.ALLOCATION, CURRENT_ALLOCATION_DOC)
        allocation = (Allocation.model_validate(allocation_doc) if allocation_doc else Allocation()).in_effect(now)
        settings = self._store.get(Collections.SETTINGS, KILL_SWITCH_DOC) or {}
        kill_switch = bool(settings.get("enabled"))

        positions: dict[str, dict[str, float]] = {}
        instruments: dict[str, dict[str, Instrument]] = {}
        for doc in self._store.query(Collections.POSITIONS, where={"strategy_id": signal.strategy_id}):
            if doc["quantity"]:
                key = doc["instrument_key"]
                positions.setdefault(doc["account_id"], {})[key] = doc["quantity"]
                instruments.setdefault(doc["account_id"], {})[key] = Instrument.model_validate(doc["instrument"])

        # Accounts that allocate now, and any still holding this strategy's positions:
        # an exit must close a position even after its allocation was withdrawn.
        account_ids = sorted(set(allocation.accounts_for(signal.strategy_id)) | set(positions))
        decisions = []
        for account_id in account_ids:
            account_doc = self._store.get(Collections.ACCOUNTS, account_id)
            if account_doc is None:
                continue
            account = Account.model_validate(account_doc)
            context = AccountContext(
                account=account,
                allocation_weight=allocation.weight(account_id, signal.strategy_id),
                strategy_positions=positions.get(account_id, {}),
                position_instruments=instruments.get(account_id, {}),
            )
            price = signal.price or self._quote(account, signal)
            decision = decide(signal, strategy, context, price, self._limits, kill_switch, now)
            decisions.append(decision)
            self._journey.step(signal.signal_id, f"{account_id}: {decision.status} - {decision.reason}")
        if not decisions:
            self._journey.step(signal.signal_id, "no account allocates to this strategy")
        return decisions

    def _quote(self, account: Account, signal: StandardizedSignal) -> float | None:
        if signal.action is Action.EXIT or signal.action is Action.FLATTEN:
            return None
        broker = self._brokers.get(account.broker.value)
        return broker.last_price(signal.instrument) if broker else None

    def _record(self, signal: StandardizedSignal, decisions: list[Decision]) -> list[Decision]:
        """Store the decisions unless a concurrent delivery already did; return the winner."""
        dumped = [d.model_dump(mode="json") for d in decisions]

        def work(tx: Transaction) -> list[Decision]:
            record = tx.get(Collections.SIGNALS, signal.signal_id) or {
                "signal_id": signal.signal_id, "strategy_id": signal.strategy_id,
                "signal": signal.model_dump(mode="json"),
            }
            if record.get("decisions") is not None:
                return [Decision.model_validate(d) for d in record["decisions"]]
            approved = sum(1 for d in decisions if d.status == "approved")
            tx.set(Collections.SIGNALS, signal.signal_id, {
                **record, "decisions": dumped, "status": "decided",
                "decided_at": self._clock().isoformat(), "approved_accounts": approved,
            })
            open_orders = [order.client_order_id for d in decisions for order in d.orders]
            if open_orders:
                tx.set(Collections.OPEN_SIGNALS, signal.signal_id, {"signal_id": signal.signal_id,
                                                                   "open_orders": open_orders})
            else:
                tx.delete(Collections.OPEN_SIGNALS, signal.signal_id)
            return decisions

        return self._store.transaction(work)
