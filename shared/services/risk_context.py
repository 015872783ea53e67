"""Gather what cerebro's pure core needs about the fund, read once per signal.

Trading states (fund, account, strategy), every strategy's position and working orders
in the signal's instrument, the order-rate counters, and the fund's exposure per broker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.domain.cerebro import WorkingOrder
from shared.domain.models import (
    KILL_SWITCH_DOC,
    RISK_LIMITS_DOC,
    Account,
    Collections,
    Instrument,
    OrderStatus,
    RiskLimits,
    Strategy,
    StrategyStatus,
    TradingState,
)
from shared.ports.store import Store, Transaction
from shared.services.order_claims import ClaimState
from shared.services.prices import PriceBook

FUND_CURRENCY = "USD"
WORKING_STATUSES = (ClaimState.DECIDED, ClaimState.SUBMITTING, OrderStatus.SUBMITTED, OrderStatus.WORKING,
                    OrderStatus.PARTIALLY_FILLED)


def trading_state_doc_id(scope: str, scope_id: str = "") -> str:
    """'fund', 'account:ID' or 'strategy:ID'."""
    return scope if scope == "fund" else f"{scope}:{scope_id}"


def counter_doc_id(scope: str, scope_id: str, now: datetime) -> str:
    return f"{scope}:{scope_id}|{now:%Y%m%dT%H%M%S}"


def fund_limits(store: Store, configured: RiskLimits) -> RiskLimits:
    """The environment's limits, with the fund's own settings (``system_settings/risk_limits``) over them."""
    overrides = store.get(Collections.SETTINGS, RISK_LIMITS_DOC) or {}
    known = {name: value for name, value in overrides.items() if name in RiskLimits.model_fields}
    return configured.model_copy(update=known) if known else configured


def loss_limit_breached(account: Account, limits: RiskLimits, now: datetime) -> bool:
    """Today's equity is below its start-of-day by more than the daily loss limit."""
    if account.loss_limit_breached_on == f"{now:%Y-%m-%d}":
        return True
    start, snapshot = account.day_start, account.snapshot
    if start is None or snapshot is None or start.date != f"{now:%Y-%m-%d}" or start.equity <= 0:
        return False
    return snapshot.equity < start.equity * (1 - limits.daily_loss_limit_pct / 100)


@dataclass
class FundView:
    """The fund as one signal sees it."""

    fund_state: tuple[TradingState, str]
    strategy_state: tuple[TradingState, str]
    account_states: dict[str, tuple[TradingState, str]]
    instrument_positions: dict[str, float]  # account -> every strategy's filled position in the instrument
    instrument_working: dict[str, tuple[float, float]]  # account -> risk-adding orders working there (buys, sells)
    strategy_working: dict[str, list[WorkingOrder]]  # account -> this strategy's working orders
    order_counts: dict[str, tuple[int, int]]  # account -> (strategy's adding signals, account's adding orders)
    broker_exposure: dict[str, float] = field(default_factory=dict)  # broker -> gross exposure, fund currency
    fund_equity: float = 0.0
    to_fund_currency: dict[str, float] = field(default_factory=dict)  # account -> rate


def _strictest(*states: tuple[TradingState, str]) -> tuple[TradingState, str]:
    worst = max(states, key=lambda state: state[0].severity)
    reasons = [reason for state, reason in states if state is worst[0] and reason]
    return worst[0], "; ".join(reasons)


class RiskContextReader:
    def __init__(self, store: Store, prices: PriceBook):
        self._store = store
        self._prices = prices

    def fund_accounts(self) -> dict[str, Account]:
        """Every account of the fund by id, read and validated once per signal: the broker
        exposure needs them all, and the signal's own accounts are among them."""
        accounts = (Account.model_validate(doc) for doc in self._store.query(Collections.ACCOUNTS))
        return {account.account_id: account for account in accounts}

    def read(self, strategy: Strategy, instrument: Instrument, accounts: list[Account], now: datetime,
             limits: RiskLimits, fund_accounts: dict[str, Account]) -> FundView:
        """``fund_accounts``: ``fund_accounts()``, which the caller reads once per signal."""
        states = {doc["scope_id"]: doc for doc in self._store.query(Collections.TRADING_STATES)}
        kill = self._store.get(Collections.SETTINGS, KILL_SWITCH_DOC) or {}
        fund = _strictest(
            (TradingState.HALTED, f"kill switch: {kill.get('reason') or 'on'}") if kill.get("enabled")
            else (TradingState.ACTIVE, ""), _admin_state(states.get("fund"), "fund"))
        by_status = {StrategyStatus.PAUSED: (TradingState.REDUCING, "strategy paused"),
                     StrategyStatus.RETIRED: (TradingState.HALTED, "strategy retired")}
        strategy_state = _strictest(by_status.get(strategy.status, (TradingState.ACTIVE, "")),
                                    _admin_state(states.get(f"strategy:{strategy.strategy_id}"), "strategy"))
        account_states = {}
        for account in accounts:
            loss = ((TradingState.REDUCING, _loss_reason(account, limits))
                    if loss_limit_breached(account, limits, now) else (TradingState.ACTIVE, ""))
            account_states[account.account_id] = _strictest(
                loss, _admin_state(states.get(f"account:{account.account_id}"), "account"))

        positions: dict[str, float] = {}
        for doc in self._store.query(Collections.POSITIONS, where={"instrument_key": instrument.key}):
            positions[doc["account_id"]] = positions.get(doc["account_id"], 0.0) + doc["quantity"]
        working: dict[str, list[WorkingOrder]] = {}
        pending: dict[str, tuple[float, float]] = {}
        for record in self._store.query(Collections.ORDERS, where={"open": True}):
            if record.get("status") not in WORKING_STATUSES:
                continue
            order = record["order"]
            remaining = (order["quantity"] - record.get("filled_quantity", 0.0)) * (1 if order["side"] == "buy" else -1)
            key = record.get("instrument_key") or Instrument.model_validate(order["instrument"]).key
            if key == instrument.key and not order.get("reduce_only"):
                # Only orders that may add count: a resting stop loss makes no room under the cap.
                buys, sells = pending.get(record["account_id"], (0.0, 0.0))
                pending[record["account_id"]] = (buys + max(remaining, 0.0), sells + max(-remaining, 0.0))
            if record["strategy_id"] == strategy.strategy_id:
                working.setdefault(record["account_id"], []).append(
                    WorkingOrder(record["client_order_id"], key, remaining, bool(record.get("parent_order_id"))))

        by_strategy = self._count(counter_doc_id("strategy", strategy.strategy_id, now))
        second_counts = {account.account_id: (by_strategy, self._count(counter_doc_id("account", account.account_id,
                                                                                      now)))
                         for account in accounts}

        view = FundView(fund, strategy_state, account_states, positions, pending, working, second_counts)
        self._add_broker_exposure(view, fund_accounts)
        return view

    def _count(self, doc_id: str) -> int:
        return int((self._store.get(Collections.RISK_COUNTERS, doc_id) or {}).get("count", 0))

    def _add_broker_exposure(self, view: FundView, fund_accounts: dict[str, Account]) -> None:
        """Every account's gross exposure and equity, in the fund's currency, per broker."""
        for account in fund_accounts.values():
            if account.snapshot is None:
                continue
            rate = self._prices.fx_rate(account.broker, account.base_currency, FUND_CURRENCY)
            if rate is None:
                continue
            view.to_fund_currency[account.account_id] = rate
            view.fund_equity += account.snapshot.equity * rate
            view.broker_exposure[account.broker] = (view.broker_exposure.get(account.broker, 0.0)
                                                          + account.snapshot.gross_exposure * rate)

    def count_orders(self, tx: Transaction, strategy_id: str, account_ids: list[str], now: datetime) -> None:
        """Count this signal once for its strategy and each risk-adding order for its account, in this
        second's throttle counters (inside the transaction that records the decisions, so a
        redelivery never counts twice)."""
        doc_ids = [counter_doc_id("strategy", strategy_id, now)] + [
            counter_doc_id("account", account_id, now) for account_id in account_ids]
        counts: dict[str, int] = {}
        for doc_id in doc_ids:
            counts[doc_id] = counts.get(doc_id, 0) + 1
        current = {doc_id: tx.get(Collections.RISK_COUNTERS, doc_id) or {} for doc_id in counts}
        for doc_id, added in counts.items():
            scope, second = doc_id.rsplit("|", 1)
            tx.set(Collections.RISK_COUNTERS, doc_id, {"count": int(current[doc_id].get("count", 0)) + added,
                                                       "scope": scope, "second": second})


def _loss_reason(account: Account, limits: RiskLimits) -> str:
    start, snapshot = account.day_start, account.snapshot
    if start is None or snapshot is None or start.equity <= 0:
        return f"daily_loss_limit: breached earlier today, cap {limits.daily_loss_limit_pct:g}%"
    loss = 1 - snapshot.equity / start.equity
    return (f"daily_loss_limit: equity {snapshot.equity:,.0f} is {loss:.1%} below the day's start "
            f"{start.equity:,.0f}, cap {limits.daily_loss_limit_pct:g}%")


def prune_counters(store: Store, now: datetime) -> int:
    """Drop throttle counters of seconds long gone (the fund's tick calls this)."""
    cutoff = f"{now:%Y%m%dT%H%M%S}"
    stale = [doc_id for doc_id, document in ((f"{d['scope']}|{d['second']}", d) for d in
                                             store.query(Collections.RISK_COUNTERS)) if document["second"] < cutoff]
    for doc_id in stale:
        store.delete(Collections.RISK_COUNTERS, doc_id)
    return len(stale)


def _admin_state(document: dict[str, Any] | None, scope: str) -> tuple[TradingState, str]:
    if not document:
        return TradingState.ACTIVE, ""
    state = TradingState(document["state"])
    return state, f"{scope} set {state.value} by {document.get('changed_by', '?')}: {document.get('reason', '')}"
