"""The risk checks cerebro applies to the risk-adding part of an order. Pure.

Each check shrinks the order's size or refuses it, and records a ``Check`` whose detail
names the limit, the value and the cap. The part of an order that reduces the
strategy's position is never cut: limits stop new exposure, they never trap the fund
in an old one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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


def apply_caps(instrument: Instrument, delta: float, exposure: Exposure, limits: RiskLimits,
               checks: list[Check]) -> Sized:
    """Shrink the order until every cap holds; ``delta`` is signed, the caps bind its adding part."""
    symbol = instrument.symbol
    sign = 1.0 if delta > 0 else -1.0
    floor = reducing_part(exposure.strategy_position, delta)
    size = abs(delta)
    unit = exposure.unit_value

    def cap(name: str, room: float, why: str) -> bool:
        """Bind ``size`` to ``room`` (in quantity, at least the reducing floor); False if nothing adds."""
        nonlocal size
        room = max(round_quantity(max(room, 0.0), instrument), floor)
        if size <= room:
            checks.append(Check(name=name, outcome="pass", detail=f"{size:g} {symbol}: {why}"))
            return True
        if room <= floor:
            checks.append(Check(name=name, outcome="fail", detail=f"{name}: no room to add to {symbol}: {why}"))
            size = floor
            return False
        checks.append(Check(name=name, outcome="capped", detail=f"{name}: {size:g} cut to {room:g} {symbol}: {why}"))
        size = room
        return True

    adds = size - floor
    notional_room = floor + limits.max_order_notional / unit
    if not cap("max_order_notional", notional_room,
               f"order notional {adds * unit:,.0f} for the adding part, cap {limits.max_order_notional:,.0f}"):
        return Sized(sign * size, "max_order_notional")

    held = exposure.account_position
    cap_quantity = limits.max_position_size_pct / 100 * exposure.equity / unit
    moving_away = held == 0 or (held > 0) == (sign > 0)
    # Toward zero the order may go through flat to the cap on the other side.
    position_room = max(cap_quantity - abs(held), 0.0) if moving_away else abs(held) + cap_quantity
    after = held + sign * size
    if not cap("max_position_size", position_room,
               f"account position would be {abs(after) * unit / exposure.equity:.1%} of equity "
               f"({after:+g} {symbol}; holds {held:+g} with working orders, every strategy), "
               f"cap {limits.max_position_size_pct:g}% = {round_quantity(cap_quantity, instrument):g} {symbol}"):
        return Sized(sign * size, "max_position_size")

    if exposure.broker_exposure is not None and exposure.fund_equity:
        limit_value = limits.max_broker_allocation_pct / 100 * exposure.fund_equity
        unit_fund = unit * exposure.to_fund_currency
        room = floor + (limit_value - exposure.broker_exposure) / unit_fund
        share = (exposure.broker_exposure + (size - floor) * unit_fund) / exposure.fund_equity
        if not cap("max_broker_allocation", room,
                   f"broker exposure would be {share:.1%} of fund equity, cap {limits.max_broker_allocation_pct:g}%"):
            return Sized(sign * size, "max_broker_allocation")

    rate = limits.margin_rates.get(instrument.asset_class, 1.0)
    margin_room = floor + exposure.margin_available / (unit * rate)
    if not cap("margin", margin_room, f"needs {(size - floor) * unit * rate:,.0f} margin, "
                                      f"available {exposure.margin_available:,.0f} at {rate:g} of notional"):
        return Sized(sign * size, "margin")
    return Sized(sign * size)


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
