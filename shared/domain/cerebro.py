"""Cerebro: size one signal for one account and check it against the risk limits.

Pure: every input arrives as an argument (including ``now``), and the returned
``Decision`` records those inputs and each check's outcome, so any decision can be
explained later from the signal's record alone. Sizing uses the broker's reference
price; the alert's own price is only checked against it (the collar).

Whatever the trading state, stale data or missing prices, the part of an order that
reduces the strategy's position always passes: only new risk is refused. The one exception
is a size past the plausibility bounds (``risk.implausible``), refused whatever it reduces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from .models import (
    Account,
    Action,
    CancelRequest,
    Check,
    Decision,
    DecisionInputs,
    Instrument,
    Order,
    OrderType,
    Quote,
    RiskLimits,
    Side,
    SizingKind,
    StandardizedSignal,
    Strategy,
    TradingState,
    client_order_id,
)
from .risk import Exposure, apply_caps, implausible, reducing_part, round_quantity


@dataclass(frozen=True)
class WorkingOrder:
    """One of the strategy's orders still working at the broker (an entry or a protective leg)."""

    client_order_id: str
    instrument_key: str
    remaining: float  # signed
    protective: bool = False  # a stop loss or take profit resting for a filled entry


@dataclass(frozen=True)
class AccountContext:
    """Everything cerebro knows about one account when it decides."""

    account: Account
    allocation_weight: float
    # The strategy's own net positions in this account, by instrument key.
    strategy_positions: dict[str, float] = field(default_factory=dict)
    # Instruments of those positions (flatten needs them to build orders).
    position_instruments: dict[str, Instrument] = field(default_factory=dict)
    # Every strategy's filled position in the signal's instrument in this account, and the
    # risk-adding orders still working there (magnitudes: buys, sells). The cap takes the worst case.
    account_position: float = 0.0
    account_working: tuple[float, float] = (0.0, 0.0)
    strategy_working: tuple[WorkingOrder, ...] = ()
    trading_state: TradingState = TradingState.ACTIVE
    state_reason: str = ""  # who put it there: "kill switch", "strategy paused", ...
    recent_orders: tuple[int, int] = (0, 0)  # this second: (the strategy's adding signals, the account's orders)
    broker_exposure: float | None = None  # fund currency
    fund_equity: float | None = None  # fund currency
    to_fund_currency: float = 1.0


@dataclass(frozen=True)
class MarketContext:
    quote: Quote | None
    fx_rate: float | None  # instrument currency -> the account's base currency


def decide(
    signal: StandardizedSignal,
    strategy: Strategy,
    context: AccountContext,
    market: MarketContext,
    limits: RiskLimits,
    now: datetime,
) -> Decision:
    account = context.account
    snapshot = account.snapshot
    equity = snapshot.equity if snapshot else None
    weight = context.allocation_weight
    instrument = signal.instrument
    current = context.strategy_positions.get(instrument.key, 0.0)
    age = (now - snapshot.as_of).total_seconds() if snapshot else None
    quote = market.quote
    inputs = DecisionInputs(
        equity=equity, allocation_weight=weight, allocated_capital=equity * weight if equity is not None else None,
        reference_capital=strategy.reference_capital, price=quote.price if quote else None,
        price_source=quote.source if quote else "", alert_price=signal.price, fx_rate=market.fx_rate,
        current_position=current, account_position=context.account_position, account_data_age_seconds=age,
        trading_state=context.trading_state, limits=limits,
    )
    checks: list[Check] = []

    def finish(status: str, reason: str, orders: list[Order] | None = None,
               cancels: list[CancelRequest] | None = None) -> Decision:
        absurd = next((why for why in map(implausible, orders or []) if why), "")
        if absurd:  # whatever sized it, exits and flattens too: never a number no real order comes near
            checks.append(Check(name="plausibility", outcome="fail", detail=absurd))
            status, reason, orders = "rejected", absurd, []
        return Decision(signal_id=signal.signal_id, account_id=account.account_id, strategy_id=signal.strategy_id,
                        status=status, reason=reason, inputs=inputs, checks=checks,  # type: ignore[arg-type]
                        orders=orders or [], cancels=cancels or [])

    # What may add risk here: each reason below turns the decision into reduce-only.
    blockers: list[str] = []
    if context.trading_state is not TradingState.ACTIVE:
        blockers.append(f"trading state {context.trading_state.value.upper()} ({context.state_reason})")
    checks.append(Check(name="trading_state", outcome="pass" if not blockers else "fail",
                        detail=f"{context.trading_state.value}{': ' + context.state_reason if blockers else ''}"))
    if snapshot is None or age is None:
        blockers.append("no account data")
        checks.append(Check(name="account_data", outcome="fail", detail="no account snapshot"))
    elif age > limits.max_account_data_age_seconds:
        blockers.append(f"account data is {age:.0f}s old, limit {limits.max_account_data_age_seconds:.0f}s")
        checks.append(Check(name="account_data", outcome="fail", detail=blockers[-1]))
    else:
        checks.append(Check(name="account_data", outcome="pass", detail=f"snapshot {age:.0f}s old"))

    cancels = _resting_entries(signal, account, context, current)

    if signal.action is Action.FLATTEN:
        orders = [_order(signal, account, context.position_instruments[key], -qty, None, qty)
                  for key, qty in sorted(context.strategy_positions.items())
                  if qty != 0 and key in context.position_instruments]
        cancels += [_cancel(signal, account, w) for w in context.strategy_working if w.protective]
        if not orders and not cancels:
            return finish("skipped", "strategy holds no positions or working orders in this account")
        return finish("approved", f"flatten {len(orders)} position(s), cancel {len(cancels)} working order(s)",
                      orders, cancels)

    if weight <= 0 and not (signal.action is Action.EXIT and (current or cancels)):
        checks.append(Check(name="allocation", outcome="fail", detail="no capital allocated"))
        return finish("skipped", "account does not allocate to this strategy")
    checks.append(Check(name="allocation", outcome="pass",
                        detail=f"weight {weight:g}" if weight > 0 else "withdrawn: the exit closes the position"))
    if weight <= 0:  # an exit after the allocation was withdrawn closes everything
        orders = [_order(signal, account, instrument, -current, quote, current)] if current else []
        cancels += _stale_protection(signal, account, context, current, -current, cancels)
        return finish("approved", f"close {abs(current):g} {instrument.symbol}", orders, cancels)

    price_problem = _price_problem(signal, quote, now, limits)
    checks.append(Check(name="price", outcome="fail" if price_problem else "pass",
                        detail=price_problem or f"{quote.price:g} from {quote.source}"))  # type: ignore[union-attr]
    if price_problem:
        blockers.append(price_problem)
    if market.fx_rate is None or not math.isfinite(market.fx_rate) or market.fx_rate <= 0:
        blockers.append(f"no {instrument.currency}/{account.base_currency} rate")
        checks.append(Check(name="fx", outcome="fail", detail=blockers[-1]))

    # Sizing scales by equity; without it only a full or percent exit can be sized.
    sized_by_equity = signal.action is not Action.EXIT or (signal.sizing and signal.sizing.kind is not
                                                           SizingKind.PERCENT)
    if (equity is None or equity <= 0) and sized_by_equity:
        why = "no account data" if equity is None else f"equity {equity:,.0f} is not positive"
        return finish("rejected", f"cannot size against the account: {why}", cancels=cancels)
    scale = equity * weight / strategy.reference_capital if equity and equity > 0 else 0.0
    unit_value = (quote.price * instrument.multiplier * market.fx_rate
                  if quote and not price_problem and market.fx_rate and market.fx_rate > 0 else None)
    try:
        delta = _desired_delta(signal, current, scale, equity * weight if equity and equity > 0 else 0.0, unit_value)
    except (OverflowError, ValueError):  # an infinite or NaN size cannot be rounded to lots
        asked = f"{signal.sizing.kind.value} {signal.sizing.value:g}" if signal.sizing else "the position"
        return finish("rejected", f"plausibility: sizing {asked} is not a finite number of units", cancels=cancels)
    if delta is None:
        why = price_problem or f"no {instrument.currency}/{account.base_currency} rate"
        return finish("rejected", f"cannot size without a trusted price: {why}", cancels=cancels)
    if delta == 0:
        reason = "position already at target" if not cancels else f"cancel {len(cancels)} working order(s)"
        return finish("skipped" if not cancels else "approved", reason, cancels=cancels)

    floor = reducing_part(current, delta)
    adds = abs(delta) > floor
    if adds and blockers:
        if not floor:
            return finish("rejected", f"only risk-reducing orders pass: {'; '.join(blockers)}", cancels=cancels)
        checks.append(Check(name="reduce_only", outcome="capped",
                            detail=f"cut to the reducing {floor:g}: {'; '.join(blockers)}"))
        delta = math.copysign(floor, delta)
        adds = False
    if adds:
        delta = _throttled(delta, floor, context, limits, checks)
        if delta == 0:
            return finish("rejected", checks[-1].detail, cancels=cancels)
    if adds and abs(delta) > floor:
        assert quote is not None and market.fx_rate is not None and snapshot is not None
        exposure = Exposure(
            equity=snapshot.equity, margin_available=snapshot.margin_available,
            unit_value=quote.price * instrument.multiplier * market.fx_rate, strategy_position=current,
            account_position=context.account_position + (
                context.account_working[0] if delta > 0 else -context.account_working[1]),
            broker_exposure=context.broker_exposure,
            fund_equity=context.fund_equity, to_fund_currency=context.to_fund_currency)
        try:
            sized = apply_caps(instrument, delta, exposure, limits, checks)
        except (OverflowError, ValueError):  # a reference price so small that a cap's room is infinite
            return finish("rejected", f"plausibility: the caps' room at {quote.price:g} {instrument.currency} is "
                                      "not a finite number of units", cancels=cancels)
        if sized.delta == 0:
            return finish("rejected", next(c.detail for c in reversed(checks) if c.outcome == "fail"), cancels=cancels)
        delta = sized.delta
    order = _order(signal, account, instrument, delta, quote, current)
    cancels += _stale_protection(signal, account, context, current, delta, cancels)
    clips = [c.detail for c in checks if c.outcome in ("capped", "fail")]
    reason = f"{order.side.value} {order.quantity:g} {instrument.symbol}" + (f" ({'; '.join(clips)})" if clips else "")
    return finish("approved", reason, [order], cancels)


def _price_problem(signal: StandardizedSignal, quote: Quote | None, now: datetime, limits: RiskLimits) -> str:
    """Why the reference price cannot be trusted for new risk ('' when it can)."""
    if quote is None:
        return "no reference price from the broker"
    if not math.isfinite(quote.price) or quote.price <= 0:
        return f"reference price {quote.price} from {quote.source} is not a positive number"
    age = (now - quote.as_of).total_seconds()
    if age > limits.max_price_age_seconds:
        return f"reference price from {quote.source} is {age:.0f}s old, limit {limits.max_price_age_seconds:.0f}s"
    if signal.price is not None:
        gap = abs(signal.price - quote.price) / quote.price * 100
        if gap > limits.price_collar_pct:
            return (f"price_collar: alert price {signal.price:g} is {gap:.1f}% from the reference {quote.price:g} "
                    f"({quote.source}), collar {limits.price_collar_pct:g}%")
    return ""


def _throttled(delta: float, floor: float, context: AccountContext, limits: RiskLimits,
               checks: list[Check]) -> float:
    by_strategy, by_account = context.recent_orders
    for name, count, cap, what in (
            ("max_signals_per_second_per_strategy", by_strategy, limits.max_signals_per_second_per_strategy,
             "risk-adding signals from the strategy"),
            ("max_orders_per_second_per_account", by_account, limits.max_orders_per_second_per_account,
             "risk-adding orders in the account")):
        if count >= cap:
            checks.append(Check(name=name, outcome="fail", detail=f"{name}: {count} {what} this second, cap {cap:g}"))
            return math.copysign(floor, delta)
    checks.append(Check(name="order_rate", outcome="pass",
                        detail=f"{by_strategy} adding signals by the strategy, {by_account} adding orders in the "
                               "account this second"))
    return delta


def _desired_delta(signal: StandardizedSignal, current: float, scale: float, allocated: float,
                   unit_value: float | None) -> float | None:
    """The order the signal asks for; None when that needs a price we do not trust.

    ``unit_value`` is one unit of quantity in the account's currency (price x multiplier x FX)."""
    instrument = signal.instrument
    sizing = signal.sizing
    if signal.action is Action.EXIT:
        if sizing is None:
            return -current
        if sizing.kind is SizingKind.PERCENT:
            reduce_by = abs(current) * sizing.value / 100
        elif sizing.kind is SizingKind.TARGET_POSITION:
            target = round_quantity(sizing.value * scale, instrument)
            # An exit never flips or grows the position: clamp the target toward zero.
            target = max(0.0, min(target, current)) if current > 0 else min(0.0, max(target, current))
            return target - current
        else:
            reduce_by = sizing.value * scale
        reduce_by = min(round_quantity(reduce_by, instrument), abs(current))
        return -math.copysign(reduce_by, current) if current else 0.0
    assert sizing is not None  # buy/sell always carry sizing (enforced by the parser)
    if sizing.kind is SizingKind.TARGET_POSITION:
        return round_quantity(sizing.value * scale, instrument) - current
    side = 1 if signal.action is Action.BUY else -1
    if sizing.kind is SizingKind.QUANTITY:
        return side * round_quantity(sizing.value * scale, instrument)
    if unit_value is None:
        return None
    notional = allocated * sizing.value / 100
    return side * round_quantity(notional / unit_value, instrument)


def _resting_entries(signal: StandardizedSignal, account: Account, context: AccountContext,
                     current: float) -> list[CancelRequest]:
    """An exit cancels the strategy's resting entries in its instrument (a flatten: in every
    instrument), so nothing it closes can be reopened by an older order filling later; with
    nothing held, protective orders have nothing left to protect and go too."""
    if signal.action not in (Action.EXIT, Action.FLATTEN):
        return []
    return [_cancel(signal, account, w) for w in context.strategy_working
            if (not w.protective or (current == 0 and signal.action is Action.EXIT))
            and (signal.action is Action.FLATTEN or w.instrument_key == signal.instrument.key)]


def _stale_protection(signal: StandardizedSignal, account: Account, context: AccountContext, current: float,
                      delta: float, already: list[CancelRequest]) -> list[CancelRequest]:
    """Protective orders are sized to the entry they protect: once the position shrinks by any other
    order, they would oversell it, so they are cancelled (the journey says so)."""
    if not reducing_part(current, delta):
        return []
    cancelled = {c.client_order_id for c in already}
    return [_cancel(signal, account, w) for w in context.strategy_working
            if w.protective and w.instrument_key == signal.instrument.key and w.client_order_id not in cancelled]


def _cancel(signal: StandardizedSignal, account: Account, working: WorkingOrder) -> CancelRequest:
    kind = "protective order" if working.protective else "resting order"
    return CancelRequest(client_order_id=working.client_order_id, signal_id=signal.signal_id,
                         account_id=account.account_id, broker=account.broker,
                         reason=f"{signal.action.value} of {working.instrument_key} cancels its {kind}")


def _order(signal: StandardizedSignal, account: Account, instrument: Instrument, delta: float,
           quote: Quote | None, current: float = 0.0) -> Order:
    """``current`` is the strategy's position before it: an order that only reduces it is reduce-only
    (it passes every trading state) and carries no protective levels."""
    same = instrument == signal.instrument and signal.action is not Action.FLATTEN  # a flatten goes at market
    reduce_only = reducing_part(current, delta) >= abs(delta)
    adds_protection = same and not reduce_only
    return Order(
        client_order_id=client_order_id(signal.signal_id, account.account_id, instrument.key),
        signal_id=signal.signal_id,
        strategy_id=signal.strategy_id,
        account_id=account.account_id,
        broker=account.broker,
        instrument=instrument,
        side=Side.BUY if delta > 0 else Side.SELL,
        quantity=abs(delta),
        order_type=signal.order_type if same else OrderType.MARKET,
        reference_price=quote.price if quote and same and quote.price > 0 and math.isfinite(quote.price) else None,
        limit_price=signal.limit_price if same else None,
        stop_price=signal.stop_price if same else None,
        reduce_only=reduce_only,
        stop_loss=signal.stop_loss if adds_protection else None,
        take_profit=signal.take_profit if adds_protection else None,
    )
