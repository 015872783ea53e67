"""Costs, rebalancing policies and turnover: hand-computed paths, and a walk-forward recomputed
independently from its stored window weights with a plain-Python day loop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shared.portfolio import (
    Constraints,
    Costs,
    PortfolioDataError,
    Rebalancing,
    backtest,
    walk_forward,
)
from tests.portfolio.test_optimisers import synthetic

EXACT = 1e-12


def frame(rows: list[tuple[float, float]], start: str = "2024-01-02") -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["a", "b"], index=pd.bdate_range(start, periods=len(rows)))


def test_daily_rebalancing_pays_for_each_day_s_drift():
    returns = frame([(0.10, -0.05), (-0.02, 0.03), (0.01, 0.02)])
    result = backtest(returns, {"a": 0.6, "b": 0.4}, Rebalancing("daily"), Costs(bp=10))
    # entry from cash: turnover 1, cost 0.001. Day 1: g = 0.04, drift to 0.66/1.04 and 0.38/1.04,
    # back to target: turnover 0.072/1.04. Day 2: g = 0, drift to 0.588/0.412: turnover 0.024.
    # Day 3 is the last: g = 0.014, no trade.
    assert result.gross_returns.to_list() == pytest.approx([0.04, 0.0, 0.014], abs=EXACT)
    assert result.returns.to_list() == pytest.approx([0.999 * (1.04 - 0.001 * 0.072) - 1, -0.000024, 0.014],
                                                     abs=EXACT)
    assert result.turnover == pytest.approx(1 + 0.072 / 1.04 + 0.024, abs=EXACT)
    assert result.costs == pytest.approx(0.001 * result.turnover, abs=EXACT)
    assert result.annual_turnover == pytest.approx(result.turnover * 252 / 3, abs=EXACT)
    assert result.end_weights == pytest.approx({"a": 0.6 * 1.01 / 1.014, "b": 0.4 * 1.02 / 1.014}, abs=EXACT)
    assert result.equity.iloc[-1] == pytest.approx(np.prod(1 + result.returns.to_numpy()), abs=EXACT)


def test_monthly_rebalancing_trades_only_at_the_month_end():
    returns = frame([(0.10, 0.0), (0.0, 0.02), (0.05, -0.05), (0.02, 0.0)], start="2024-01-30")
    assert returns.index[1] == pd.Timestamp("2024-01-31")
    result = backtest(returns, {"a": 0.5, "b": 0.5}, Rebalancing("monthly"), Costs(bp=20))
    # Day 1: g = 0.05, drift to 0.55/1.05, 0.5/1.05 and hold. Day 2 (Jan 31): g = 0.01/1.05, drift to
    # 0.55/1.06, 0.51/1.06, back to 0.5/0.5: turnover 0.04/1.06. Day 3: g = 0, drift to 0.525/0.475.
    # Day 4: g = 0.525 * 0.02.
    assert result.gross_returns.to_list() == pytest.approx([0.05, 0.01 / 1.05, 0.0, 0.0105], abs=EXACT)
    assert result.returns.to_list() == pytest.approx(
        [0.998 * 1.05 - 1, (1.06 - 0.002 * 0.04) / 1.05 - 1, 0.0, 0.0105], abs=EXACT)
    assert result.turnover == pytest.approx(1 + 0.04 / 1.06, abs=EXACT)
    assert result.end_weights == pytest.approx({"a": 0.525 * 1.02 / 1.0105, "b": 0.475 / 1.0105}, abs=EXACT)


THRESHOLD_PATH = [(0.10, -0.10), (0.04, -0.04), (0.01, 0.01), (0.20, -0.20)]


def test_threshold_rebalancing_trades_once_the_band_is_crossed():
    result = backtest(frame(THRESHOLD_PATH), {"a": 0.5, "b": 0.5}, Rebalancing("threshold", band=0.06),
                      Costs(bp=10))
    # Day 1: g = 0, drift to 0.55/0.45 (0.05 off: inside the band). Day 2: g = 0.004, drift to
    # 0.572/1.004 (0.0697 off): back to target, turnover 0.14/1.004. Day 3: both +1%, no drift.
    # Day 4 (last): g = 0, drift to 0.6/0.4 and end there.
    assert result.gross_returns.to_list() == pytest.approx([0.0, 0.004, 0.01, 0.0], abs=EXACT)
    assert result.returns.to_list() == pytest.approx([-0.001, 0.004 - 0.00014, 0.01, 0.0], abs=EXACT)
    assert result.turnover == pytest.approx(1 + 0.14 / 1.004, abs=EXACT)
    assert result.end_weights == pytest.approx({"a": 0.6, "b": 0.4}, abs=EXACT)


def test_a_drift_exactly_at_the_band_does_not_trade():
    returns = frame([(0.5, -0.5), (0.0, 0.0), (0.0, 0.0)])  # g = 0, drift to exactly 0.75/0.25
    at_band = backtest(returns, {"a": 0.5, "b": 0.5}, Rebalancing("threshold", band=0.25))
    assert at_band.turnover == 1.0 and at_band.end_weights == {"a": 0.75, "b": 0.25}
    inside = backtest(returns, {"a": 0.5, "b": 0.5}, Rebalancing("threshold", band=0.125))
    assert inside.turnover == 1.5 and inside.end_weights == {"a": 0.5, "b": 0.5}


def test_no_rebalancing_lets_the_weights_drift_after_the_entry():
    result = backtest(frame(THRESHOLD_PATH), {"a": 0.5, "b": 0.5}, Rebalancing("none"), Costs(bp=10))
    # weights 0.55/0.45, then 0.572/1.004, 0.432/1.004 (unchanged by day 3's equal returns)
    assert result.gross_returns.to_list() == pytest.approx([0.0, 0.004, 0.01, 0.2 * 0.14 / 1.004], abs=EXACT)
    assert result.returns.to_list() == pytest.approx([-0.001, 0.004, 0.01, 0.2 * 0.14 / 1.004], abs=EXACT)
    assert result.turnover == pytest.approx(1.0, abs=EXACT) and result.costs == pytest.approx(0.001, abs=EXACT)


def test_levered_weights_drift_against_borrowed_cash():
    returns = frame([(0.10, 0.02), (-0.05, 0.0), (0.02, 0.04)])
    result = backtest(returns, {"a": 1.0, "b": 0.5}, Rebalancing("none"))
    # in money, from equity 1: a 1.0 -> 1.1 -> 1.045 -> 1.0659, b 0.5 -> 0.51 -> 0.51 -> 0.5304, cash -0.5
    assert result.equity.to_list() == pytest.approx([1.11, 1.055, 1.0963], abs=EXACT)
    assert result.end_weights == pytest.approx({"a": 1.0659 / 1.0963, "b": 0.5304 / 1.0963}, abs=EXACT)
    assert result.turnover == pytest.approx(1.5, abs=EXACT)
    daily = backtest(returns, {"a": 1.0, "b": 0.5})
    assert daily.returns.to_list() == pytest.approx([0.11, -0.05, 0.04], abs=EXACT)


def test_per_strategy_costs_override_the_global_one():
    returns = frame([(0.01, 0.02)])
    costs = Costs(bp=10, per_strategy_bp={"b": 50})
    result = backtest(returns, {"a": 0.6, "b": 0.4}, costs=costs)
    assert result.costs == pytest.approx(0.6 * 0.001 + 0.4 * 0.005, abs=EXACT)
    assert result.returns.iloc[0] == pytest.approx((1 - 0.0026) * 1.014 - 1, abs=EXACT)
    moved = backtest(returns, {"a": 0.6, "b": 0.4}, costs=costs, start_weights={"a": 0.2, "b": 0.8})
    assert moved.costs == pytest.approx(0.4 * 0.001 + 0.4 * 0.005, abs=EXACT)
    assert moved.turnover == pytest.approx(0.8, abs=EXACT)
    held = backtest(returns, {"a": 0.6, "b": 0.4}, costs=costs, start_weights={"a": 0.6, "b": 0.4})
    assert held.costs == 0 and held.returns.iloc[0] == pytest.approx(0.014, abs=EXACT)


@pytest.mark.parametrize("policy", ["daily", "weekly", "monthly", "quarterly", "threshold", "none"])
def test_free_trading_leaves_net_equal_to_gross_and_costs_only_subtract(policy):
    returns = synthetic(3, days=300)
    weights = {"s0": 0.5, "s1": 0.3, "s2": 0.4}
    free = backtest(returns, weights, Rebalancing(policy, band=0.02))
    assert free.returns.equals(free.gross_returns) and free.costs == 0
    if policy == "none":
        assert free.turnover == pytest.approx(1.2, abs=EXACT)  # the entry from cash only
    else:
        assert free.turnover > 1.5  # the entry and some rebalancing
    paid = backtest(returns, weights, Rebalancing(policy, band=0.02), Costs(bp=25))
    assert paid.gross_returns.equals(free.gross_returns)  # the same weight path
    assert paid.turnover == pytest.approx(free.turnover, abs=EXACT)
    assert paid.costs == pytest.approx(0.0025 * paid.turnover, abs=EXACT)
    assert (paid.returns <= paid.gross_returns).all() and paid.returns.iloc[0] < paid.gross_returns.iloc[0]
    shortfall = 1 - paid.equity.iloc[-1] / paid.gross_equity.iloc[-1]
    assert paid.costs * 0.99 < shortfall <= paid.costs  # compounding (1 - c) per trade: just under the sum


def test_calendar_policies_pick_the_last_trading_day_of_each_period():
    index = pd.bdate_range("2024-03-25", "2024-04-09", tz="Europe/London")  # Mon 25 Mar to Tue 9 Apr
    due = {policy: [str(day.date()) for day in index[Rebalancing(policy).scheduled(index)]]
           for policy in ("weekly", "monthly", "quarterly", "daily", "none")}
    assert due["weekly"] == ["2024-03-29", "2024-04-05"]
    assert due["monthly"] == due["quarterly"] == ["2024-03-29"]
    assert len(due["daily"]) == len(index) - 1 and due["none"] == []  # the last day never trades


def recompute(returns: pd.DataFrame, windows: list, cost: float) -> tuple[float, float]:
    """Monthly rebalancing with a flat cost, from the documented mechanics alone."""
    names = list(returns.columns)
    held = [0.0] * len(names)
    equity, turnover = 1.0, 0.0
    for window in windows:
        target = [window.weights.get(name, 0.0) for name in names]
        moved = sum(abs(t - h) for t, h in zip(target, held, strict=True))  # entry at the window's start
        turnover += moved
        equity *= 1 - cost * moved
        held = list(target)
        test = returns.loc[window.test_start:window.test_end]
        dates, rows = list(test.index), test.to_numpy().tolist()
        for i, row in enumerate(rows):
            gross = sum(w * r for w, r in zip(held, row, strict=True))
            equity *= 1 + gross
            held = [w * (1 + r) / (1 + gross) for w, r in zip(held, row, strict=True)]
            if i < len(rows) - 1 and dates[i + 1].month != dates[i].month:
                moved = sum(abs(t - h) for t, h in zip(target, held, strict=True))
                turnover += moved
                equity *= 1 - cost * moved
                held = list(target)
    return equity, turnover


def test_walk_forward_recomputed_from_its_window_weights_alone():
    returns = synthetic(4, days=800)
    result = walk_forward(returns, "min_variance", Constraints(), train_days=300, test_days=100,
                          rebalancing=Rebalancing("monthly"), costs=Costs(bp=10))
    assert len(result.windows) == 5
    assert len({tuple(round(v, 6) for v in w.weights.values()) for w in result.windows}) == 5  # refits move
    equity, turnover = recompute(returns, result.windows, 0.001)
    assert result.equity.iloc[-1] == pytest.approx(equity, abs=1e-10)
    assert result.turnover == pytest.approx(turnover, abs=1e-10)
    gross_equity, _ = recompute(returns, result.windows, 0.0)
    assert result.gross_equity.iloc[-1] == pytest.approx(gross_equity, abs=1e-10)
    assert result.costs == pytest.approx(0.001 * turnover, abs=EXACT)
    assert result.turnover == pytest.approx(sum(w.turnover for w in result.windows), abs=EXACT)
    assert result.windows[0].turnover > 1.0 > result.windows[1].turnover > 0  # cash entry, then a small refit
    assert result.annual_turnover == pytest.approx(result.turnover * 252 / 500, abs=EXACT)
    assert result.equity.iloc[-1] < result.gross_equity.iloc[-1]


@pytest.mark.parametrize(("build", "field", "fragment"), [
    (lambda: Costs(bp=-1), "costs.bp", "-1"),
    (lambda: Costs(bp=1001), "costs.bp", "1001"),
    (lambda: Costs(bp=float("nan")), "costs.bp", "nan"),
    (lambda: Costs(per_strategy_bp={"a": -5}), "costs.per_strategy_bp", "a: -5"),
    (lambda: Rebalancing("threshold", band=0), "rebalancing.band", "0"),
    (lambda: Rebalancing("threshold", band=1.5), "rebalancing.band", "1.5"),
    (lambda: Rebalancing("yearly"), "rebalancing.policy", "yearly"),  # type: ignore[arg-type]
    (lambda: backtest(frame([(0.01, 0.02)]), {"a": 1.0}, costs=Costs(per_strategy_bp={"zz": 5, "a": 1})),
     "costs.per_strategy_bp", "no strategy named zz"),
    (lambda: backtest(frame([(0.01, 0.02)]), {"a": 1.0}, start_weights={"zz": 1.0}), "start_weights", "zz"),
    (lambda: walk_forward(synthetic(2, days=300), "equal_weight", Constraints(), 200, 100,
                          costs=Costs(per_strategy_bp={"s9": 5})), "costs.per_strategy_bp", "s9"),
    (lambda: backtest(frame([(-0.5, 0.0)]), {"a": 2.5}), "weights", "loses everything on 2024-01-02"),
])
def test_bad_costs_and_policies_are_errors_naming_the_field(build, field, fragment):
    with pytest.raises(PortfolioDataError) as refused:
        build()
    assert refused.value.field == field and fragment in refused.value.reason
