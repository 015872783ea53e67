"""Bad return data, metrics on hand-computed series, and walk-forward windows."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from shared.portfolio import (
    Constraints,
    PortfolioDataError,
    backtest,
    drawdown_series,
    equity_curve,
    metrics,
    prepare_returns,
    returns_from_equity,
    walk_forward,
)
from tests.portfolio.test_optimisers import synthetic


def days(n: int, start: str = "2024-01-01") -> pd.DatetimeIndex:
    return pd.bdate_range(start, periods=n)


def test_misaligned_calendars_are_aligned_on_common_dates():
    a = pd.Series(np.linspace(0.001, 0.002, 100), index=days(100))
    b = pd.Series(np.linspace(0.002, 0.003, 100), index=days(100, "2024-01-15"))
    aligned = prepare_returns({"a": a, "b": b}, min_days=60)
    assert aligned.index[0] == pd.Timestamp("2024-01-15") and len(aligned) == 90


@pytest.mark.parametrize("series, field, reason", [
    ({"a": pd.Series([0.01, np.nan, 0.02] * 30, index=days(90))}, "a", "missing or infinite return on 2024-01-02"),
    ({"a": pd.Series([0.01, np.inf] * 45, index=days(90))}, "a", "missing or infinite"),
    ({"a": pd.Series([0.01, 0.02, -1.0] * 30, index=days(90))}, "a", "-100%"),
    ({"a": pd.Series(["x"] * 90, index=days(90))}, "a", "not numbers"),
    ({"a": pd.Series(0.0, index=days(90).append(days(1)))}, "a", "appears twice"),
    ({"a": pd.Series([0.01, 0.02] * 45, index=days(90)), "short": pd.Series([0.01, 0.02] * 15, index=days(30))},
     "short", "only 30 days"),
    ({}, "strategy_ids", "at least two strategies; none given"),
    ({"a": pd.Series([0.01, 0.02] * 45, index=days(90))}, "strategy_ids", "at least two strategies; only a given"),
])
def test_bad_data_is_an_error_naming_the_strategy(series, field, reason):
    with pytest.raises(PortfolioDataError) as refused:
        prepare_returns(series)
    assert refused.value.field == field and reason in refused.value.reason


def test_metrics_of_a_constant_return_and_a_known_drawdown():
    steady = pd.Series(0.001, index=days(252))
    figures = metrics(steady)
    assert figures.cagr == pytest.approx(1.001 ** 252 - 1)
    assert figures.volatility == pytest.approx(0.0, abs=1e-12) and figures.max_drawdown == 0
    assert figures.sharpe is None and figures.calmar is None and figures.sortino is None

    path = pd.Series([0.10, -0.20, 0.05, 0.25], index=days(4))  # equity 1.1, 0.88, 0.924, 1.155
    assert equity_curve(path).to_list() == pytest.approx([1.1, 0.88, 0.924, 1.155])
    assert drawdown_series(equity_curve(path)).max() == pytest.approx(0.2)
    figures = metrics(path)
    assert figures.max_drawdown == pytest.approx(0.2)
    assert figures.cagr == pytest.approx(1.155 ** (252 / 4) - 1)
    assert figures.calmar == pytest.approx(figures.cagr / 0.2)
    downside = math.sqrt((0.2 ** 2) / 4 * 252)
    assert figures.sortino == pytest.approx(np.mean(path) * 252 / downside)
    assert figures.sharpe == pytest.approx(np.mean(path) * 252 / (np.std(path, ddof=1) * math.sqrt(252)))


def test_returns_from_equity():
    assert returns_from_equity(pd.Series([100.0, 110.0, 99.0])).to_list() == pytest.approx([0.1, -0.1])
    with pytest.raises(PortfolioDataError):
        returns_from_equity(pd.Series([100.0, 0.0]))


def test_backtest_combines_weighted_daily_returns():
    returns = pd.DataFrame({"a": [0.01, 0.02], "b": [-0.01, 0.03]}, index=days(2))
    result = backtest(returns, {"a": 0.5, "b": 0.25})
    assert result.returns.to_list() == pytest.approx([0.0025, 0.0175])
    assert result.equity.iloc[-1] == pytest.approx(1.0025 * 1.0175)
    with pytest.raises(PortfolioDataError):
        backtest(returns, {"zz": 1.0})


def test_walk_forward_fits_on_train_windows_and_scores_only_test_windows():
    returns = synthetic(3, days=700)
    result = walk_forward(returns, "min_variance", Constraints(), train_days=400, test_days=100)
    assert len(result.windows) == 3
    first, second = result.windows[0], result.windows[1]
    assert first.train_start == returns.index[0] and first.train_end == returns.index[399]
    assert first.test_start == returns.index[400] and first.test_end == returns.index[499]
    assert second.train_start == returns.index[100]
    assert result.returns.index.equals(returns.index[400:700])
    expected_first = returns.iloc[400:500].to_numpy() @ np.array(list(first.weights.values()))
    assert result.returns.iloc[:100].to_numpy() == pytest.approx(expected_first)
    assert result.metrics == metrics(result.returns)
    with pytest.raises(PortfolioDataError) as too_short:
        walk_forward(returns.iloc[:450], "min_variance", Constraints(), train_days=400, test_days=100)
    assert "400-day train window" in too_short.value.reason


def test_a_failing_walk_forward_window_is_named():
    returns = synthetic(3, days=700) - 0.01  # losing every day: nothing beats a zero risk-free rate
    with pytest.raises(PortfolioDataError) as refused:
        walk_forward(returns, "max_sharpe", Constraints(), train_days=504, test_days=63)
    assert "walk-forward window trained 2022-01-03 to 2023-12-07" in refused.value.reason  # 504 business days
    assert "no strategy beats the risk-free rate" in refused.value.reason


@pytest.mark.parametrize(("spoil", "reason"), [
    (lambda s: pd.Series(s.to_numpy(), index=range(len(s))), "not by dates"),
    (lambda s: s * 0 + 0.001, "never moves"),
    (lambda s: s * 0 + 0.0001 + np.tile([1e-7, -1e-7], len(s) // 2), "never moves"),  # cash-like
    (lambda s: s * 100, "look like percentages"),
])
def test_returns_that_cannot_be_what_they_claim_are_refused_naming_the_strategy(spoil, reason):
    returns = synthetic(2, days=300)
    with pytest.raises(PortfolioDataError) as refused:
        prepare_returns({"s0": returns["s0"], "s1": spoil(returns["s1"])})
    assert refused.value.field == "s1" and reason in refused.value.reason


def test_a_zone_aware_series_lines_up_with_a_naive_one_by_date():
    returns = synthetic(2, days=300)
    aware = returns["s1"].tz_localize("Asia/Kolkata")
    assert len(prepare_returns({"s0": returns["s0"], "s1": aware})) == 300
