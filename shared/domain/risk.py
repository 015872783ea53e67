"""The risk checks cerebro applies to the risk-adding part of an order. Pure.

Each check shrinks the order's size or refuses it, and records a ``Check`` whose detail
names the limit, the value and the cap. The part of an order that reduces the
strategy's position is never cut: limits stop new exposure, they never trap the fund
in an old one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from .models import AssetClass, Check, Instrument, Order, RiskLimits

# Plausibility bounds (README, "Risk limits"): far beyond any real order of the fund, so a number
# past one is a bug, bad data or an attack, refused whatever the tunable limits say. They are not
# settings: the webhook refuses an alert past them (422 naming the field), cerebro refuses to size
# past them, and execution checks every order against them just before the broker call.
MAX_ORDER_UNITS = 1e9  # an alert's quantity or |target_position|, and any order's quantity (shares, contracts, lots)
MAX_PRICE = 1e9  # any price or level an alert names, in the instrument's currency
MAX_ORDER_NOTIONAL = 1e11  # one order's quantity x price x multiplier, in the instrument's currency


@dataclass(frozen=True)
class Exposure:
    """What the caps measure, all in the account's base currency unless named otherwise."""

    equity: float
    margin_available: float
    unit_value: float  # one unit of quantity: price x multiplier x FX to base
    strategy_position: float  # this strategy's position (the reducing part is measured from it)
    account_position: float  # every strategy's position in this instrument, with working orders the same way
    broker_exposure: float | None = None  # gross exposure at this broker, fund currency
    fund_equity: float | None = None  # every account's equity, fund currency
    to_fund_currency: float = 1.0  # account base -> fund currency


@dataclass(frozen=True)
class Sized:
    delta: float  # signed order quantity after the caps (0: refused)
    refused_by: str = ""  # the check that left no room


def reducing_part(current: float, delta: float) -> float:
    """How much of ``delta`` moves the strategy's position toward zero (a magnitude)."""
    if current == 0 or (current > 0) == (delta > 0):
        return 0.0
    return min(abs(delta), abs(current))


def round_quantity(quantity: float, instrument: Instrument) -> float:
    """Toward zero to whole lots (crypto: to 1e-6 of a lot)."""
    lots = quantity / instrument.lot_size
    if instrument.asset_class is AssetClass.CRYPTO:
        return math.trunc(lots * 1e6) / 1e6 * instrument.lot_size
    return float(math.trunc(lots + math.copysign(1e-9, lots))) * instrument.lot_size


@dataclass(frozen=True)
class Adding:
    """The order as each cap sees it: ``size`` is what the caps before it left."""

    instrument: Instrument
    sign: float  # +1 buys, -1 sells
    size: float  # magnitude so far
    floor: float  # the reducing part, which no cap cuts
    exposure: Exposure
    limits: RiskLimits


Room = tuple[float, str]  # how large the order may be (a magnitude, in units), and why, for the Check
Cap = Callable[[Adding], Room | None]  # None: the cap does not apply to this order


def max_order_notional(order: Adding) -> Room:
    unit, limit = order.exposure.unit_value, order.limits.max_order_notional
    return (order.floor + limit / unit,
            f"order notional {(order.size - order.floor) * unit:,.0f} for the adding part, cap {limit:,.0f}")


def max_position_size(order: Adding) -> Room:
    exposure, limits, symbol = order.exposure, order.limits, order.instrument.symbol
    held = exposure.account_position
    cap_quantity = limits.max_position_size_pct / 100 * exposure.equity / exposure.unit_value
    moving_away = held == 0 or (held > 0) == (order.sign > 0)
    # Toward zero the order may go through flat to the cap on the other side.
    room = max(cap_quantity - abs(held), 0.0) if moving_away else abs(held) + cap_quantity
    after = held + order.sign * order.size
    capped = round_quantity(cap_quantity, order.instrument)
    return room, (f"account position would be {abs(after) * exposure.unit_value / exposure.equity:.1%} of equity "
                  f"({after:+g} {symbol}; holds {held:+g} with working orders, every strategy), "
                  f"cap {limits.max_position_size_pct:g}% = {capped:g} {symbol}")


def max_broker_allocation(order: Adding) -> Room | None:
    exposure, cap_pct = order.exposure, order.limits.max_broker_allocation_pct
    if exposure.broker_exposure is None or not exposure.fund_equity:
        return None
    unit_fund = exposure.unit_value * exposure.to_fund_currency
    room = order.floor + (cap_pct / 100 * exposure.fund_equity - exposure.broker_exposure) / unit_fund
    share = (exposure.broker_exposure + (order.size - order.floor) * unit_fund) / exposure.fund_equity
    return room, f"broker exposure would be {share:.1%} of fund equity, cap {cap_pct:g}%"


def margin(order: Adding) -> Room:
    exposure = order.exposure
    rate = order.limits.margin_rates.get(order.instrument.asset_class, 1.0)
    return (order.floor + exposure.margin_available / (exposure.unit_value * rate),
            f"needs {(order.size - order.floor) * exposure.unit_value * rate:,.0f} margin, "
            f"available {exposure.margin_available:,.0f} at {rate:g} of notional")


# The caps, in the order they bind; each records a Check named after its function.
CAPS: tuple[Cap, ...] = (max_order_notional, max_position_size, max_broker_allocation, margin)


def apply_caps(instrument: Instrument, delta: float, exposure: Exposure, limits: RiskLimits,
               checks: list[Check]) -> Sized:
    """Shrink the order until every cap holds; ``delta`` is signed, the caps bind its adding part.
    Each cap's room is rounded to whole lots and never below the reducing part; a cap that
    leaves nothing to add refuses the rest (the reducing part still goes)."""
    sign = 1.0 if delta > 0 else -1.0
    order = Adding(instrument, sign, abs(delta), reducing_part(exposure.strategy_position, delta), exposure, limits)
    for cap in CAPS:
        room_and_why = cap(order)
        if room_and_why is None:
            continue
        room, why = max(round_quantity(max(room_and_why[0], 0.0), instrument), order.floor), room_and_why[1]
        name, symbol = cap.__name__, instrument.symbol
        if order.size <= room:
            checks.append(Check(name=name, outcome="pass", detail=f"{order.size:g} {symbol}: {why}"))
        elif room <= order.floor:
            checks.append(Check(name=name, outcome="fail", detail=f"{name}: no room to add to {symbol}: {why}"))
            return Sized(sign * order.floor, name)
        else:
            checks.append(Check(name=name, outcome="capped", detail=f"{name}: {order.size:g} cut to {room:g} "
                                                                     f"{symbol}: {why}"))
            order = replace(order, size=room)
    return Sized(sign * order.size)


def broker_allocation_breaches(placed: dict[str, float], fund_equity: float, cap_pct: float) -> list[str]:
    """Brokers whose allocated capital would exceed ``cap_pct`` of the fund's equity, with the figures."""
    if fund_equity <= 0:
        return [f"fund equity is {fund_equity:,.0f}: nothing can be allocated"] if placed else []
    return [f"{broker} would hold {capital / fund_equity:.1%} of fund equity ({capital:,.0f} of "
            f"{fund_equity:,.0f}), cap {cap_pct:g}%"
            for broker, capital in sorted(placed.items()) if capital / fund_equity * 100 > cap_pct + 1e-9]


def implausible(order: Order) -> str:
    """Why ``order`` must never reach a broker ('' when it may): a quantity or notional that is not finite
    or is past the plausibility bounds. Exits and flattens too: this judges the number, not the risk it
    adds. The notional is taken at the highest price the order carries; without one, only the quantity."""
    what = f"{order.side.value} {order.quantity:g} {order.instrument.key}"
    if not math.isfinite(order.quantity) or order.quantity > MAX_ORDER_UNITS:
        return f"plausibility: {what}: quantity is past the hard ceiling of {MAX_ORDER_UNITS:g} units"
    prices = [p for p in (order.limit_price, order.stop_price, order.reference_price, order.stop_loss,
                          order.take_profit) if p is not None]
    if not prices:
        return ""
    notional = order.quantity * max(prices) * order.instrument.multiplier
    if not math.isfinite(notional) or notional > MAX_ORDER_NOTIONAL:
        return (f"plausibility: {what}: notional {notional:g} {order.instrument.currency} is past the hard "
                f"ceiling of {MAX_ORDER_NOTIONAL:g}")
    return ""
