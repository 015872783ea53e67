"""Cerebro service: gather each account's inputs, decide, record, publish orders.

Idempotent under redelivery: the first complete set of decisions is stored on the
signal's record and every later delivery republishes those same orders
(execution drops the repeats by client order id) instead of deciding again on
positions that may since have moved. A signal outside its instrument's session is
held for the open (or refused, per strategy) before anything is decided.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from shared.domain.cerebro import AccountContext, MarketContext, decide
from shared.domain.instruments import InstrumentSpec
from shared.domain.messages import NotificationKind, NotificationMessage, OrderMessage
from shared.domain.models import (
    Account,
    Action,
    Allocation,
    Collections,
    Decision,
    DecisionStatus,
    Instrument,
    Order,
    RiskLimits,
    SessionPolicy,
    SignalSource,
    SignalStatus,
    StandardizedSignal,
    Strategy,
    Topics,
    book_key,
)
from shared.domain.risk import reducing_part
from shared.domain.schema import CURRENT_ALLOCATION_DOC
from shared.domain.sessions import SessionStatus, session_status
from shared.journey import Journey
from shared.ports.broker import BrokerClient
from shared.ports.bus import Bus
from shared.ports.store import Store, Transaction
from shared.services.book_waits import (
    RESTING,
    UNACKNOWLEDGED,
    Blocker,
    open_order,
    park,
    unacknowledged_order,
    undecided_signal,
    unsettled_order,
    wake,
)
from shared.services.instruments import InstrumentCatalog
from shared.services.order_claims import ClaimState, decided_order
from shared.services.prices import PriceBook
from shared.services.risk_context import FundView, RiskContextReader, fund_limits

NUDGE_SECONDS = 5.0  # how long an order a book waits on may sit untouched before it is published again


def arrival(entry: dict[str, Any]) -> tuple[str, int, str]:
    """A signal's place in its book: when it arrived (the wall clock's nanoseconds break ties
    between alerts stamped with the same time), then its id."""
    return entry.get("received_at", ""), entry.get("arrival_ns", 0), entry["signal_id"]


def _session_refusal(spec: InstrumentSpec, session: SessionStatus) -> str:
    return (f"market_hours: {spec.key} is outside its {spec.calendar} session "
            f"(next open {session.next_open:%Y-%m-%d %H:%M} UTC); this strategy refuses such signals")


def position_doc_id(account_id: str, strategy_id: str, instrument_key: str) -> str:
    return f"{account_id}|{strategy_id}|{instrument_key}".replace("/", "_")


class CerebroService:
    def __init__(self, store: Store, bus: Bus, brokers: Mapping[str, BrokerClient],
                 limits: RiskLimits, clock: Callable[[], datetime]):
        self._store = store
        self._bus = bus
        self._limits = limits
        self._clock = clock
        self._prices = PriceBook(store, brokers, clock)
        self._catalog = InstrumentCatalog(store, clock)
        self._risk = RiskContextReader(store, self._prices)
        self._journey = Journey("CEREBRO")

    def handle(self, signal: StandardizedSignal) -> list[Decision]:
        """Decide the signal for every account, or park it behind whatever its book waits for
        (returning no decisions: it is published again when that moves)."""
        record = self._store.get(Collections.SIGNALS, signal.signal_id)
        if record and record.get("decisions") is not None:
            documents: list[dict[str, Any]] = record["decisions"]
            decisions = [Decision.model_validate(d) for d in documents]
            self._journey.step(signal.signal_id, "redelivered: republishing the recorded decisions")
        else:
            strategy = self._strategy(signal)
            closed = self._closed_session(signal, strategy)
            if closed is not None and self._hold(signal, strategy, *closed):
                return []
            while True:  # a blocker that moves while it is being parked on is looked past at once
                blocker = self._book_blocker(signal)
                if blocker is None:
                    decisions = self._decide_all(signal, strategy, _session_refusal(*closed) if closed else "")
                    blocker = self._cancel_first(signal, decisions)
                    if blocker is None:
                        break
                if park(self._store, signal.signal_id, blocker, self._clock()):
                    self._journey.step(signal.signal_id, f"waits: {blocker.reason}")
                    return []
            decisions, documents = self._record(signal, decisions)
        for decision, document in zip(decisions, documents, strict=True):
            for order, dumped in zip(decision.orders, document["orders"], strict=True):
                self._publish_order(order, dumped)
        return decisions

    def _publish_order(self, order: Order, dumped: dict[str, Any]) -> None:
        """``dumped`` is the order's JSON already in hand (its decision's record, or its booked
        document): the message ``{"order": dumped}`` is what ``OrderMessage(order=order)`` dumps to
        (only the set key is on the wire), without building and dumping the order again."""
        self._bus.publish(Topics.ORDERS, {"order": dumped},
                          {"signal_id": order.signal_id, "client_order_id": order.client_order_id},
                          ordering_key=f"{book_key(order.strategy_id, order.instrument.key)}|{order.account_id}")

    def _book_blocker(self, signal: StandardizedSignal) -> Blocker | None:
        """What this signal must wait for, if anything. Signals of one book (strategy and
        instrument) are decided in arrival order, each against what the one before it filled:
        the undecided signal just ahead of it, or else an order of a decided one that is neither
        resting at its broker nor settled in our books, blocks it; so does any unanswered order
        of the strategy in the instrument (in every instrument, for a flatten)."""
        book = book_key(signal.strategy_id, signal.instrument.key)
        me = self._store.get(Collections.OPEN_SIGNALS, signal.signal_id)
        others = sorted((other for other in self._store.query(Collections.OPEN_SIGNALS, where={"book": book})
                         if other["signal_id"] != signal.signal_id), key=arrival)
        ahead = [other for other in others
                 if not other.get("decided") and me is not None and arrival(other) < arrival(me)]
        if ahead:  # queue behind the one just ahead: each decision then wakes one signal, not the whole queue
            return undecided_signal(ahead[-1]["signal_id"], f"{ahead[-1]['signal_id']} arrived just before ({book})")
        for other in (other for other in others if other.get("decided")):
            orders = [self._store.get(Collections.ORDERS, cid) for cid in other.get("open_orders") or ()]
            unsettled = [order for order in orders if order and order["status"] not in RESTING]
            if unsettled:
                self._nudge(unsettled)
                order_id = unsettled[0]["client_order_id"]
                return unsettled_order(order_id, other["signal_id"],
                                       f"order {order_id} of {other['signal_id']} ({unsettled[0]['status']})")
        where = {"strategy_id": signal.strategy_id, "open": True}
        if signal.action is not Action.FLATTEN:
            where["instrument_key"] = signal.instrument.key
        for order in self._store.query(Collections.ORDERS, where=where):
            if order["status"] in UNACKNOWLEDGED:
                return unacknowledged_order(order["client_order_id"],
                                            f"order {order['client_order_id']} ({order['status']}) of {book}")
        return None

    def _nudge(self, orders: list[dict[str, Any]]) -> None:
        """Orders a waiting signal depends on that nobody seems to be working on (unplaced, or
        final but not settled: their message or confirmation was lost in a crash) are published
        again, at most every NUDGE_SECONDS; execution repeats only what was lost."""
        now = self._clock()
        for order in orders:
            stamp = order.get("nudged_at") or order.get("decided_at") or order.get("claimed_at")
            if order["status"] == ClaimState.SUBMITTING or (
                    stamp and (now - datetime.fromisoformat(stamp)).total_seconds() < NUDGE_SECONDS):
                continue
            self._store.update(Collections.ORDERS, order["client_order_id"], {"nudged_at": now.isoformat()})
            self._publish_order(Order.model_validate(order["order"]), order["order"])

    def _cancel_first(self, signal: StandardizedSignal, decisions: list[Decision]) -> Blocker | None:
        """An exit or flatten that finds working orders cancels them and decides again once they
        are final, against what they filled: a cancel that loses to a fill can never leave the
        position open, and a stop that fills during the exit can never sell twice. Returns the
        first order it waits for."""
        cancels = [cancel for decision in decisions for cancel in decision.cancels]
        if not cancels:
            return None
        book = book_key(signal.strategy_id, signal.instrument.key)
        for cancel in cancels:
            self._bus.publish(Topics.ORDERS, OrderMessage(cancel=cancel).model_dump(mode="json"),
                              {"signal_id": signal.signal_id, "client_order_id": cancel.client_order_id},
                              ordering_key=f"{book}|{cancel.account_id}")
        return open_order(cancels[0].client_order_id,
                          f"cancels {len(cancels)} working order(s) before it decides ({book})")

    def _strategy(self, signal: StandardizedSignal) -> Strategy:
        strategy_doc = self._store.get(Collections.STRATEGIES, signal.strategy_id)
        if strategy_doc is None:
            raise LookupError(f"strategy {signal.strategy_id} vanished after ingest")
        return Strategy.model_validate(strategy_doc)

    def _closed_session(self, signal: StandardizedSignal,
                        strategy: Strategy) -> tuple[InstrumentSpec, SessionStatus] | None:
        """The instrument and its session when the calendar applies and the session is closed."""
        if strategy.session_policy is SessionPolicy.ANY_TIME and signal.source is not SignalSource.ADMIN:
            return None
        spec = self._catalog.get(signal.instrument.key)
        if spec is None:
            return None  # decided below, where every account refuses it by name
        session = session_status(spec.calendar, self._clock())
        return None if session.open else (spec, session)

    def _hold(self, signal: StandardizedSignal, strategy: Strategy, spec: InstrumentSpec,
              session: SessionStatus) -> bool:
        """Hold for the open (True), unless the strategy refuses such signals (an admin flatten never is)."""
        if strategy.session_policy is SessionPolicy.REFUSE and signal.source is not SignalSource.ADMIN:
            return False
        assert session.next_open is not None
        self._store.update(Collections.SIGNALS, signal.signal_id, {
            "status": SignalStatus.HELD, "hold_until": session.next_open.isoformat()})
        self._journey.step(signal.signal_id, f"held: {spec.key} is outside its {spec.calendar} session; "
                                             f"decided at the next open {session.next_open:%Y-%m-%d %H:%M} UTC")
        return True

    def _decide_all(self, signal: StandardizedSignal, strategy: Strategy, refusal: str) -> list[Decision]:
        now = self._clock()
        allocation_doc = self._store.get(Collections.ALLOCATION, CURRENT_ALLOCATION_DOC)
        allocation = (Allocation.model_validate(allocation_doc) if allocation_doc else Allocation()).in_effect(now)

        positions: dict[str, dict[str, float]] = {}
        instruments: dict[str, dict[str, Instrument]] = {}
        for doc in self._store.query(Collections.POSITIONS, where={"strategy_id": signal.strategy_id}):
            if doc["quantity"]:
                key = doc["instrument_key"]
                positions.setdefault(doc["account_id"], {})[key] = doc["quantity"]
                instruments.setdefault(doc["account_id"], {})[key] = Instrument.model_validate(doc["instrument"])

        # Accounts that allocate now, and any still holding this strategy's positions:
        # an exit must close a position even after its allocation was withdrawn.
        closing = signal.action in (Action.EXIT, Action.FLATTEN)
        working = {o["account_id"] for o in self._store.query(
            Collections.ORDERS, where={"strategy_id": signal.strategy_id, "open": True})} if closing else set()
        account_ids = sorted(set(allocation.accounts_for(signal.strategy_id)) | set(positions) | working)
        if signal.accounts is not None:
            account_ids = [account_id for account_id in account_ids if account_id in signal.accounts]
        fund_accounts = self._risk.fund_accounts()  # one read serves the decisions and the broker exposure
        accounts = [fund_accounts[account_id] for account_id in account_ids if account_id in fund_accounts]
        limits = fund_limits(self._store, self._limits)
        view = self._risk.read(strategy, signal.instrument, accounts, now, limits, fund_accounts)
        decisions = []
        quotes: dict[str, MarketContext] = {}
        for account in accounts:
            context = self._context(account, allocation, positions, instruments, view, signal.strategy_id)
            market = quotes.get(account.broker + account.base_currency) or self._market(account, signal)
            quotes[account.broker + account.base_currency] = market
            decision = decide(signal, strategy, context, market, limits, now)
            if refusal and decision.status != DecisionStatus.SKIPPED:
                decision = decision.model_copy(update={"status": DecisionStatus.REJECTED, "reason": refusal,
                                                       "orders": [], "cancels": []})
            decisions.append(decision)
            self._use_broker_room(view, account, context, market, decision)
        return decisions

    def _context(self, account: Account, allocation: Allocation, positions: dict[str, dict[str, float]],
                 instruments: dict[str, dict[str, Instrument]], view: FundView, strategy_id: str) -> AccountContext:
        account_id = account.account_id
        states = [view.fund_state, view.strategy_state, view.account_states[account_id]]
        worst = max(states, key=lambda s: s[0].severity)
        return AccountContext(
            account=account,
            allocation_weight=allocation.weight(account_id, strategy_id),
            strategy_positions=positions.get(account_id, {}),
            position_instruments=instruments.get(account_id, {}),
            account_position=view.instrument_positions.get(account_id, 0.0),
            account_working=view.instrument_working.get(account_id, (0.0, 0.0)),
            strategy_working=tuple(view.strategy_working.get(account_id, [])),
            trading_state=worst[0],
            state_reason="; ".join(reason for state, reason in states if state is worst[0] and reason),
            recent_orders=view.order_counts.get(account_id, (0, 0)),
            broker_exposure=view.broker_exposure.get(account.broker),
            fund_equity=view.fund_equity or None,
            to_fund_currency=view.to_fund_currency.get(account_id, 1.0),
        )

    @staticmethod
    def _use_broker_room(view: FundView, account: Account, context: AccountContext, market: MarketContext,
                         decision: Decision) -> None:
        """The next account's decision sees this one's new exposure at the same broker."""
        quote, rate = market.quote, market.fx_rate
        for order in decision.orders:
            adds = order.quantity - reducing_part(context.strategy_positions.get(order.instrument.key, 0.0),
                                                  order.quantity * order.side.sign)
            if adds > 0 and quote is not None and rate:
                broker = account.broker
                view.broker_exposure[broker] = view.broker_exposure.get(broker, 0.0) + (
                    adds * quote.price * order.instrument.multiplier * rate * context.to_fund_currency)

    def _market(self, account: Account, signal: StandardizedSignal) -> MarketContext:
        broker = account.broker
        return MarketContext(quote=self._prices.quote(broker, signal.instrument),
                             fx_rate=self._prices.fx_rate(broker, signal.instrument.currency, account.base_currency))

    def _record(self, signal: StandardizedSignal,
                decisions: list[Decision]) -> tuple[list[Decision], list[dict[str, Any]]]:
        """Store the decisions unless a concurrent delivery already did; return the winner, as
        models and as their stored JSON."""
        dumped = [d.model_dump(mode="json") for d in decisions]
        now = self._clock()
        adding = [d.account_id for d in decisions for o in d.orders
                  if reducing_part(d.inputs.current_position, o.quantity * o.side.sign) < o.quantity]

        orders = [order for d in decisions for order in d.orders]

        def work(tx: Transaction) -> tuple[list[Decision], list[dict[str, Any]]]:
            record = tx.get(Collections.SIGNALS, signal.signal_id) or {
                "signal_id": signal.signal_id, "strategy_id": signal.strategy_id,
                "signal": signal.model_dump(mode="json"),
            }
            if record.get("decisions") is not None:
                return [Decision.model_validate(d) for d in record["decisions"]], record["decisions"]
            in_flight = tx.get(Collections.OPEN_SIGNALS, signal.signal_id) or {"signal_id": signal.signal_id}
            if adding:
                self._risk.count_orders(tx, signal.strategy_id, adding, now)
            approved = sum(1 for d in decisions if d.status == DecisionStatus.APPROVED)
            tx.set(Collections.SIGNALS, signal.signal_id, {
                **record, "decisions": dumped, "status": SignalStatus.DECIDED,
                "decided_at": now.isoformat(), "approved_accounts": approved,
            })
            for order in orders:  # booked now, so the book's next signal sees them before execution does
                tx.set(Collections.ORDERS, order.client_order_id, decided_order(order, now))
            if orders:
                tx.set(Collections.OPEN_SIGNALS, signal.signal_id, {
                    **in_flight, "decided": True, "open_orders": [order.client_order_id for order in orders]})
            else:
                tx.delete(Collections.OPEN_SIGNALS, signal.signal_id)
            return decisions, dumped

        recorded, documents = self._store.transaction(work)
        wake(self._store, self._bus, Collections.OPEN_SIGNALS, signal.signal_id)  # the book's next signals
        if recorded is decisions:
            for decision in decisions:
                self._journey.step(signal.signal_id, f"{decision.account_id}: {decision.status} - {decision.reason}")
            if not decisions:
                self._journey.step(signal.signal_id, "no account allocates to this strategy")
            self._announce_refusals(signal, decisions)
        return recorded, documents

    def _announce_refusals(self, signal: StandardizedSignal, decisions: list[Decision]) -> None:
        refusals = [{"account_id": d.account_id,
                     "status": "rejected" if d.status == DecisionStatus.REJECTED else "capped",
                     "reason": d.reason}
                    for d in decisions
                    if d.status == DecisionStatus.REJECTED
                    or (d.status == DecisionStatus.APPROVED and any(c.outcome in ("capped", "fail") for c in d.checks))]
        if refusals:
            self._bus.publish(Topics.NOTIFICATIONS, NotificationMessage.of(
                NotificationKind.RISK_REFUSAL, signal_id=signal.signal_id, strategy_id=signal.strategy_id,
                symbol=signal.instrument.key, at=self._clock().isoformat(), refusals=refusals,
            ).model_dump(mode="json"))
