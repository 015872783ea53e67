"""Trading costs, a rebalancing policy, and the one day-by-day simulation every backtest uses.

Mechanics (a test recomputes them independently, so they are exact, not illustrative):

* Weights ``w`` are fractions of current equity and may sum to anything (1.5 when levered);
  the rest, ``1 - sum(w)``, is cash earning 0 (negative when borrowed).
* Before the first day the position moves from ``start`` (zero weights when entering from
  cash, or the previous walk-forward window's drifted end weights) to ``target``.
* Day t: the gross portfolio return is ``g_t = sum_i w_i r_{t,i}`` with ``w`` the weights held
  at the start of day t. Then the holdings drift: ``w_i <- w_i (1 + r_{t,i}) / (1 + g_t)``.
* At the close of a rebalance day the drifted weights move back to ``target``. Rebalance days:
  ``daily`` every day; ``weekly``/``monthly``/``quarterly`` the last trading day in the data
  of each calendar week (Monday to Sunday)/month/quarter; ``threshold`` any day whose drifted
  weights have some ``|w_i - target_i| > band`` (strictly); ``none`` never. The last day of the
  period never trades: the period ends holding its drifted weights (``end_weights``), and the
  next trade is the next walk-forward window's entry.
* A trade (entry or rebalance) has turnover ``sum_i |target_i - w_i|`` and costs the fraction
  ``c = sum_i cost_i |target_i - w_i|`` of equity (``cost_i`` = basis points / 1e4; moving cash
  is free). Equity is multiplied by ``(1 - c)`` at that moment and the weights are then exactly
  ``target``.
* Net day-t return: ``(1 + g_t)(1 - c_t) - 1``, where ``c_t`` is the cost of the rebalance at
  day t's close (0 if none); on the first day it is also multiplied by ``(1 - c_entry)``.
* Gross day-t return: ``g_t``. Both series follow the *same* weight path (costs shrink
  equity, not the weights), so every net return is at most its gross one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np
import pandas as pd

from .errors import PortfolioDataError

Policy = Literal["daily", "weekly", "monthly", "quarterly", "threshold", "none"]
MAX_BP = 1000.0  # 10% of the traded amount: anything above is a typo, not a market
_PERIODS = {"weekly": "W-SUN", "monthly": "M", "quarterly": "Q"}


def _check_bp(field_name: str, value: float, label: str = "") -> None:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 <= value <= MAX_BP:
        raise PortfolioDataError(field_name, f"{label}{value!r} bp must be a number from 0 to {MAX_BP:g}")


@dataclass(frozen=True)
class Costs:
    """Cost per unit of weight traded, in basis points of equity; overrides per strategy."""

    bp: float = 0.0
    per_strategy_bp: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_bp("costs.bp", self.bp)
        for name, value in self.per_strategy_bp.items():
            _check_bp("costs.per_strategy_bp", value, f"{name}: ")
        object.__setattr__(self, "per_strategy_bp", dict(self.per_strategy_bp))

    def fractions(self, names: list[str]) -> np.ndarray:
        """Each strategy's cost as a fraction of the weight traded, in ``names`` order."""
        unknown = sorted(set(self.per_strategy_bp) - set(names))
        if unknown:
            raise PortfolioDataError("costs.per_strategy_bp", f"no strategy named {', '.join(unknown)}")
        return np.array([self.per_strategy_bp.get(name, self.bp) for name in names], dtype=float) / 1e4


@dataclass(frozen=True)
class Rebalancing:
    """When the drifted weights go back to target (see the module docstring)."""

    policy: Policy = "daily"
    band: float = 0.05  # absolute weight; used by the threshold policy only

    def __post_init__(self) -> None:
        if self.policy not in get_args(Policy):
            raise PortfolioDataError("rebalancing.policy", f"{self.policy!r} is not one of "
                                                           f"{', '.join(get_args(Policy))}")
        if self.policy == "threshold" and not (isinstance(self.band, (int, float)) and 0 < self.band <= 1):
            raise PortfolioDataError("rebalancing.band", f"{self.band!r} must be above 0 and at most 1")

    def scheduled(self, index: pd.Index) -> np.ndarray:
        """Days closing with a calendar rebalance (threshold days depend on the path instead)."""
        days = len(index)
        if self.policy == "daily":
            due = np.ones(days, dtype=bool)
        elif self.policy in _PERIODS:
            if not isinstance(index, pd.DatetimeIndex):
                raise PortfolioDataError("returns", f"{self.policy} rebalancing needs returns indexed by dates")
            naive = index.tz_localize(None) if index.tz is not None else index
            periods = naive.to_period(_PERIODS[self.policy]).to_numpy()
            due = np.append(periods[:-1] != periods[1:], True)
        else:
            due = np.zeros(days, dtype=bool)
        if days:
            due[-1] = False  # the period ends holding drifted weights; the next trade is the next entry
        return due


@dataclass(frozen=True)
class Simulation:
    gross: np.ndarray  # daily gross returns
    net: np.ndarray  # daily returns after costs
    turnover: float  # sum of every trade's sum |delta w|, entry included
    costs: float  # sum of every trade's cost fraction, entry included
    end_weights: np.ndarray  # drifted weights after the last day


def simulate(values: np.ndarray, index: pd.Index, target: np.ndarray, start: np.ndarray,
             rebalancing: Rebalancing, cost: np.ndarray) -> Simulation:
    """Run the mechanics of the module docstring over ``values`` (days x strategies)."""
    days = len(values)
    due = rebalancing.scheduled(index)
    band = rebalancing.band if rebalancing.policy == "threshold" else None
    gross, net = np.empty(days), np.empty(days)

    def trade(held: np.ndarray) -> tuple[float, float]:
        delta = np.abs(target - held)
        paid = float(delta @ cost)
        if paid >= 1:
            raise PortfolioDataError("costs", f"one rebalance would cost {paid:.0%} of equity")
        return float(delta.sum()), paid

    turnover, paid = trade(start)
    carried = 1 - paid  # the entry's cost lands on the first day
    held = target.copy()
    for day in range(days):
        row = values[day]
        growth = 1 + float(held @ row)
        if growth <= 0:
            raise PortfolioDataError("weights", f"the portfolio loses everything on {index[day]}: "
                                                f"{growth - 1:.1%} in a day")
        held = held * (1 + row) / growth
        cost_today = 0.0
        if due[day] or (band is not None and day < days - 1 and np.max(np.abs(held - target)) > band):
            traded, cost_today = trade(held)
            turnover += traded
            paid += cost_today
            held = target.copy()
        gross[day] = growth - 1
        net[day] = carried * growth * (1 - cost_today) - 1
        carried = 1.0
    return Simulation(gross, net, turnover, paid, held)
