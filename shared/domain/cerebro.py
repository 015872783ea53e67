"""Cerebro: size one signal for one account and check it against the risk limits.

Pure: every input arrives as an argument (including ``now``), and the returned
``Decision`` records those inputs and each check's outcome, so any decision can
be explained later from the signal's record alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from .models import (
    Account,
    AccountSnapshot,
    Action,
    AssetClass,
    Check,
    Decision,
    DecisionInputs,
    Instrument,
    Order,
    OrderType,
    RiskLimits,
    Side,
    SignalSource,
    SizingKind,
    StandardizedSignal,
    Strategy,
    client_order_id,
)


@dataclass(frozen=True)
class AccountContext:
    """Everything cerebro knows about one account when it decides."""

    account: Account
    allocation_weight: float
    # The strategy's own net positions in this account, by instrument key.
    strategy_positions: dict[str, float] = field(default_factory=dict)
    # Instruments of those positions (flatten needs them to build orders).
    position_instruments: dict[str, Instrument] = field(default_factory=dict)


def decide(
    signal: StandardizedSignal,
    strategy: Strategy,
    context: AccountContext,
    price: float | None,
    limits: RiskLimits,
    kill_switch: bool,
    now: datetime,
) -> Decision:
    account = context.account
    snapshot = account.snapshot
    equity = snapshot.equity if snapshot else None
    weight = context.allocation_weight
    current = context.strategy_positions.get(signal.instrument.key, 0.0)
    age = (now - snapshot.as_of).total_seconds() if snapshot else None
    inputs = DecisionInputs(
        equity=equity,
        allocation_weight=weight,
        allocated_capital=equity * weight if equity is not None else None,
        reference_capital=strategy.reference_capital,
        price=price,
        current_position=current,
        account_data_age_seconds=age,
        limits=limits,
    )
    checks: list[Check] = []

    def finish(status: str, reason: str, orders: list[Order] | None = None) -> Decision:
        return Decision(
            signal_id=signal.signal_id,
            account_id=account.account_id,
            strategy_id=signal.strategy_id,
            status=status,  # type: ignore[arg-type]
            reason=reason,
            inputs=inputs,
            checks=checks,
            orders=orders or [],
        )

    admin_flatten = signal.action is Action.FLATTEN and signal.source is SignalSource.ADMIN
    if kill_switch and not admin_flatten:
        checks.append(Check(name="kill_switch", outcome="fail", detail="global kill switch is on"))
        return finish("rejected", "kill switch is on")
    checks.append(Check(name="kill_switch", outcome="pass",
                        detail="on, but an admin flatten only reduces risk" if kill_switch else "off"))

    if snapshot is None or age is None:
        checks.append(Check(name="account_data", outcome="fail", detail="no account snapshot"))
        return finish("rejected", "no account data")
    if age > limits.max_account_data_age_seconds:
        checks.append(
            Check(
                name="account_data",
                outcome="fail",
                detail=f"snapshot is {age:.0f}s old, limit {limits.max_account_data_age_seconds:.0f}s",
            )
        )
        return finish("rejected", "account data is stale")
    checks.append(Check(name="account_data", outcome="pass", detail=f"snapshot {age:.0f}s old"))

    if signal.action is Action.FLATTEN:
        orders = [
            _order(signal, account, context.position_instruments[key], -qty,
                   price if key == signal.instrument.key else None)
            for key, qty in sorted(context.strategy_positions.items())
            if qty != 0 and key in context.position_instruments
        ]
        if not orders:
            return finish("skipped", "strategy holds no positions in this account")
        return finish("approved", f"flatten {len(orders)} position(s)", orders)

    if weight <= 0 and signal.action is Action.EXIT and current:
        checks.append(Check(name="allocation", outcome="pass", detail="withdrawn: the exit closes the whole position"))
        order = _order(signal, account, signal.instrument, -current, price)
        return finish("approved", f"close {abs(current):g} {signal.instrument.symbol}", [order])
    if weight <= 0:
        checks.append(Check(name="allocation", outcome="fail", detail="no capital allocated"))
        return finish("skipped", "account does not allocate to this strategy")
    checks.append(Check(name="allocation", outcome="pass", detail=f"weight {weight:g}"))

    allocated = equity * weight  # type: ignore[operator]
    scale = allocated / strategy.reference_capital
    if price is None and signal.action is not Action.EXIT:
        checks.append(Check(name="price", outcome="fail", detail="no reference price available"))
        return finish("rejected", "no price to size against")

    delta = _desired_delta(signal, current, scale, allocated, price)
    if delta == 0:
        return finish("skipped", "position already at target")

    if abs(current + delta) > abs(current) and price is not None:
        delta = _apply_caps(signal.instrument, current, delta, price, snapshot, limits, checks)
        if delta == 0:
            return finish("rejected", "risk limits leave no room for this order")

    order = _order(signal, account, signal.instrument, delta, price)
    return finish("approved", f"{order.side.value} {order.quantity:g} {signal.instrument.symbol}", [order])


def _desired_delta(
    signal: StandardizedSignal, current: float, scale: float, allocated: float, price: float | None
) -> float:
    instrument = signal.instrument
    sizing = signal.sizing
    if signal.action is Action.EXIT:
        if sizing is None:
            return -current
        if sizing.kind is SizingKind.PERCENT:
            reduce_by = abs(current) * sizing.value / 100
        elif sizing.kind is SizingKind.TARGET_POSITION:
            target = _round_quantity(sizing.value * scale, instrument)
            # An exit never flips or grows the position: clamp the target toward zero.
            target = max(0.0, min(target, current)) if current > 0 else min(0.0, max(target, current))
            return target - current
        else:
            reduce_by = sizing.value * scale
        reduce_by = min(_round_quantity(reduce_by, instrument), abs(current))
        return -math.copysign(reduce_by, current) if current else 0.0
    assert sizing is not None  # buy/sell always carry sizing (enforced by the parser)
    if sizing.kind is SizingKind.TARGET_POSITION:
        return _round_quantity(sizing.value * scale, instrument) - current
    side = 1 if signal.action is Action.BUY else -1
    if sizing.kind is SizingKind.QUANTITY:
        return side * _round_quantity(sizing.value * scale, instrument)
    assert price is not None
    notional = allocated * sizing.value / 100
    return side * _round_quantity(notional / (price * instrument.multiplier), instrument)


def _apply_caps(
    instrument: Instrument,
    current: float,
    delta: float,
    price: float,
    snapshot: AccountSnapshot,
    limits: RiskLimits,
    checks: list[Check],
) -> float:
    """Shrink the risk-increasing part of an order until every limit holds.

    The part that reduces the current position is always allowed: limits exist to
    stop new exposure, never to trap the fund in an old one.
    """
    unit = price * instrument.multiplier
    wanted = current + delta
    same_side = current == 0 or (current > 0) == (wanted > 0)
    floor = abs(current) if same_side else 0.0
    equity = snapshot.equity
    other_gross = snapshot.gross_exposure - abs(current) * unit
    rate = limits.margin_rates.get(instrument.asset_class, 1.0)
    caps = (
        (
            "max_position_size",
            _round_quantity(limits.max_position_size_pct / 100 * equity / unit, instrument),
            f"{limits.max_position_size_pct:g}% of equity",
        ),
        (
            "max_broker_allocation",
            _round_quantity(max(limits.max_broker_allocation_pct / 100 * equity - other_gross, 0) / unit, instrument),
            f"{limits.max_broker_allocation_pct:g}% of equity in gross exposure",
        ),
        (
            "margin",
            floor + _round_quantity(max(snapshot.margin_available, 0) / (unit * rate), instrument),
            f"margin available {snapshot.margin_available:,.2f} at {rate:g} per unit of notional",
        ),
    )
    size = abs(wanted)
    for name, cap, why in caps:
        if size <= cap:
            checks.append(Check(name=name, outcome="pass", detail=f"{size:g} within {cap:g} ({why})"))
            continue
        size = max(cap, floor)
        if size <= floor:
            checks.append(Check(name=name, outcome="fail", detail=f"no room for new exposure: cap {cap:g} ({why})"))
            return 0.0 if same_side else -current
        checks.append(Check(name=name, outcome="capped", detail=f"reduced to {size:g} ({why})"))
    return math.copysign(size, wanted) - current


def _round_quantity(quantity: float, instrument: Instrument) -> float:
    """Round toward zero to a tradable unit: whole units, or 1e-6 for crypto."""
    if instrument.asset_class is AssetClass.CRYPTO:
        return math.trunc(quantity * 1e6) / 1e6
    return float(math.trunc(quantity + math.copysign(1e-9, quantity)))


def _order(
    signal: StandardizedSignal, account: Account, instrument: Instrument, delta: float, price: float | None
) -> Order:
    return Order(
        client_order_id=client_order_id(signal.signal_id, account.account_id, instrument.key),
        signal_id=signal.signal_id,
        strategy_id=signal.strategy_id,
        account_id=account.account_id,
        broker=account.broker,
        instrument=instrument,
        side=Side.BUY if delta > 0 else Side.SELL,
        quantity=abs(delta),
        order_type=signal.order_type if instrument == signal.instrument else OrderType.MARKET,
        reference_price=price,
        limit_price=signal.limit_price if instrument == signal.instrument else None,
        stop_price=signal.stop_price if instrument == signal.instrument else None,
        reduce_only=signal.action in (Action.EXIT, Action.FLATTEN),
    )
