"""The risk checks cerebro applies to the risk-adding part of an order. Pure.

Each check shrinks the order's size or refuses it, and records a ``Check`` whose detail
names the limit, the value and the cap. The part of an order that reduces the
strategy's position is never cut: limits stop new exposure, they never trap the fund
in an old one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .models import AssetClass, Check, Instrument, RiskLimits


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
