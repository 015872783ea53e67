"""Each optimiser against a known answer, and each constraint."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shared.portfolio import (
    Constraints,
    InfeasibleConstraints,
    PortfolioDataError,
    annualised_moments,
    hybrid,
    max_cagr,
    max_sharpe,
    min_variance,
    optimise,
    risk_parity,
)

FREE = Constraints()


def synthetic(n: int = 3, days: int = 1000, seed: int = 1, correlated: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    drift = np.linspace(0.0003, 0.0008, n)
    vols = np.linspace(0.006, 0.015, n)
    common = rng.normal(size=(days, 1)) if correlated else np.zeros((days, 1))
    noise = 0.5 * common + rng.normal(size=(days, n))
    index = pd.bdate_range("2022-01-03", periods=days)
    return pd.DataFrame(drift + vols * noise, index=index, columns=[f"s{i}" for i in range(n)])


def uncorrelated_pair() -> pd.DataFrame:
    """Two series whose sample correlation is exactly zero (orthogonalised)."""
    frame = synthetic(2, correlated=False)
    a = frame["s0"] - frame["s0"].mean()
    b = frame["s1"] - frame["s1"].mean()
    b = b - a * (a @ b) / (a @ a)
    return pd.DataFrame({"s0": a + 0.0005, "s1": b + 0.0004})


def test_max_sharpe_two_uncorrelated_assets_is_mu_over_variance():
    returns = uncorrelated_pair()
    mu, cov = annualised_moments(returns)
    assert abs(cov[0, 1]) < 1e-15
    analytic = (mu / np.diag(cov)) / (mu / np.diag(cov)).sum()
    weights = max_sharpe(returns, FREE).weights
    assert [weights["s0"], weights["s1"]] == pytest.approx(analytic, abs=1e-6)


def test_max_sharpe_general_case_is_the_normalised_tangency_portfolio():
    returns = synthetic(3, seed=3)  # a sample whose unconstrained tangency portfolio is long-only
    mu, cov = annualised_moments(returns)
    tangency = np.linalg.solve(cov, mu)
    assert (tangency > 0).all()
    assert list(max_sharpe(returns, FREE).weights.values()) == pytest.approx(tangency / tangency.sum(), abs=1e-6)


def test_max_sharpe_matches_pyportfolioopt():
    from pypfopt import EfficientFrontier

    returns = synthetic(10, seed=4)
    mu, cov = annualised_moments(returns)
    frontier = EfficientFrontier(pd.Series(mu, index=returns.columns), pd.DataFrame(cov, returns.columns,
                                                                                     returns.columns))
    frontier.max_sharpe(risk_free_rate=0.0)
    theirs = frontier.portfolio_performance(risk_free_rate=0.0)[2]
    ours = max_sharpe(returns, FREE).sharpe
    assert ours == pytest.approx(theirs, rel=1e-4) and ours >= theirs * (1 - 1e-6)


def test_min_variance_is_the_closed_form_when_unconstrained_weights_are_positive():
    returns = synthetic(3)
    _, cov = annualised_moments(returns)
    closed = np.linalg.solve(cov, np.ones(3))
    assert (closed > 0).all()
    assert list(min_variance(returns, FREE).weights.values()) == pytest.approx(closed / closed.sum(), abs=1e-6)


def test_risk_parity_with_uncorrelated_assets_is_inverse_volatility():
    returns = uncorrelated_pair()
    _, cov = annualised_moments(returns)
    inverse = 1 / np.sqrt(np.diag(cov))
    assert list(risk_parity(returns, FREE).weights.values()) == pytest.approx(inverse / inverse.sum(), abs=1e-7)


def test_risk_parity_equalises_risk_contributions_when_correlated():
    returns = synthetic(4, seed=9)
    _, cov = annualised_moments(returns)
    weights = np.array(list(risk_parity(returns, FREE).weights.values()))
    contributions = weights * (cov @ weights)
    assert contributions / contributions.sum() == pytest.approx(np.full(4, 0.25), abs=1e-6)


def test_max_cagr_goes_all_in_on_a_strategy_that_wins_every_day():
    returns = synthetic(3)
    returns["s1"] = returns.max(axis=1) + 0.001
    assert max_cagr(returns, FREE).weights["s1"] == pytest.approx(1.0, abs=1e-6)


def test_max_cagr_finds_the_kelly_fraction_beside_cash():
    # A coin paying +10% or -5% with equal odds, beside cash: expected log growth peaks at f = 5 (Kelly).
    # A coin paying +2% or -3% loses on average, so the best bet is none at all.
    days = 200
    coin = np.tile([0.10, -0.05], days // 2)
    returns = pd.DataFrame({"coin": coin, "cash": np.zeros(days)}, index=pd.bdate_range("2024-01-01", periods=days))
    kelly = 0.5 / 0.05 - 0.5 / 0.10  # maximiser of 0.5 log(1+0.1f) + 0.5 log(1-0.05f): f = 5
    levered = max_cagr(returns, Constraints(leverage_cap=10, default_max_weight=10)).weights
    assert levered["coin"] == pytest.approx(kelly, abs=1e-4)
    losing = returns.assign(coin=np.tile([0.02, -0.03], days // 2))
    assert max_cagr(losing, FREE).weights == pytest.approx({"coin": 0.0, "cash": 1.0}, abs=1e-6)


def test_hybrid_respects_its_volatility_cap_and_is_max_cagr_when_the_cap_is_loose():
    returns = synthetic(3)
    capped = hybrid(returns, FREE, max_volatility=0.12)
    assert capped.volatility <= 0.12 + 1e-6
    loose = hybrid(returns, FREE, max_volatility=5.0)
    assert loose.weights == pytest.approx(max_cagr(returns, FREE).weights, abs=1e-5)
    with pytest.raises(InfeasibleConstraints) as impossible:
        hybrid(returns, FREE, max_volatility=0.01)
    assert impossible.value.field == "max_volatility"


@pytest.mark.parametrize("method", ["max_sharpe", "max_cagr", "hybrid", "min_variance"])
def test_bounds_and_budget_hold_for_every_optimiser(method):
    returns = synthetic(4)
    constraints = Constraints(min_weight={"s0": 0.1}, max_weight={"s3": 0.3}, default_max_weight=0.6,
                              leverage_cap=1.5)
    params = {"max_volatility": 0.5} if method == "hybrid" else {}
    weights = optimise(method, returns, constraints, **params).weights
    assert sum(weights.values()) == pytest.approx(1.5, abs=1e-8)
    assert weights["s0"] >= 0.1 - 1e-9 and weights["s3"] <= 0.3 + 1e-9
    assert all(-1e-9 <= w <= 0.6 + 1e-9 for w in weights.values())


def test_without_long_only_a_negative_minimum_allows_a_short():
    returns = synthetic(3)
    returns["s0"] = returns["s0"] - 0.002  # a steady loser worth shorting
    weights = max_sharpe(returns, Constraints(min_weight={"s0": -0.5}, long_only=False)).weights
    assert weights["s0"] < 0 and sum(weights.values()) == pytest.approx(1.0)


@pytest.mark.parametrize("constraints, field", [
    (Constraints(min_weight={"s0": 0.7, "s1": 0.7}), "constraints.min_weight"),
    (Constraints(default_max_weight=0.2), "constraints.max_weight"),
    (Constraints(min_weight={"s0": 0.5}, max_weight={"s0": 0.4}), "constraints.min_weight"),
    (Constraints(min_weight={"s0": -0.1}), "constraints.min_weight"),
    (Constraints(max_weight={"zz": 0.5}), "constraints"),
    (Constraints(leverage_cap=0), "constraints.leverage_cap"),
])
def test_infeasible_constraints_name_the_field(constraints, field):
    with pytest.raises(PortfolioDataError) as refused:
        min_variance(synthetic(3), constraints)
    assert refused.value.field == field


def test_max_sharpe_refuses_when_nothing_beats_the_risk_free_rate():
    returns = synthetic(3) - 0.01
    with pytest.raises(PortfolioDataError) as refused:
        max_sharpe(returns, FREE)
    assert refused.value.field == "returns" and "risk-free" in refused.value.reason


def test_a_singular_covariance_still_gives_valid_weights():
    returns = synthetic(3)
    returns["twin"] = returns["s2"]  # perfectly collinear
    for method in ("max_sharpe", "min_variance", "risk_parity"):
        weights = optimise(method, returns, FREE).weights
        assert sum(weights.values()) == pytest.approx(1.0) and all(w >= -1e-9 for w in weights.values())
    sharpe = max_sharpe(returns, FREE)
    assert sharpe.weights["s2"] + sharpe.weights["twin"] == pytest.approx(
        max_sharpe(returns.drop(columns="twin"), FREE).weights["s2"], abs=1e-4)


def test_unknown_method_names_the_field():
    with pytest.raises(PortfolioDataError) as refused:
        optimise("best_ever", synthetic(2), FREE)
    assert refused.value.field == "method"


def test_a_levered_max_sharpe_reports_the_sharpe_it_maximised_net_of_financing():
    """Leverage 1.5 at a 3% risk-free rate: the half borrowed costs rf, so the reported Sharpe is
    (w·mu - 1.5 rf) / sigma, the objective; no other fully levered mix beats it."""
    returns = synthetic(4, seed=11)
    risk_free, leverage = 0.03, 1.5
    result = max_sharpe(returns, Constraints(leverage_cap=leverage, default_max_weight=leverage), risk_free)
    mu, cov = returns.mean().to_numpy() * 252, returns.cov().to_numpy() * 252
    weights = np.array([result.weights[name] for name in returns.columns])

    def sharpe(w: np.ndarray) -> float:
        return float((w @ mu - risk_free * w.sum()) / np.sqrt(w @ cov @ w))

    assert weights.sum() == pytest.approx(leverage)
    assert result.sharpe == pytest.approx(sharpe(weights), rel=1e-9)
    assert result.objective == pytest.approx(result.sharpe, rel=1e-9)
    assert result.sharpe < (weights @ mu - risk_free) / np.sqrt(weights @ cov @ weights)  # the old, flattering one
    rng = np.random.default_rng(3)
    for _ in range(200):
        other = rng.dirichlet(np.ones(len(weights))) * leverage
        assert sharpe(other) <= result.sharpe + 1e-9


@pytest.mark.parametrize(("row", "column", "value", "reason"), [
    (5, 1, np.nan, "missing or infinite return on row 5"), (7, 0, -1.0, "return of -100% or worse on row 7")])
def test_optimise_called_directly_refuses_bad_returns_naming_the_strategy(row, column, value, reason):
    returns = synthetic(3)
    returns.iloc[row, column] = value
    with pytest.raises(PortfolioDataError) as refused:
        optimise("max_sharpe", returns, Constraints())
    assert refused.value.field == f"s{column}" and reason in refused.value.reason


def test_optimise_called_directly_refuses_a_two_day_history():
    with pytest.raises(PortfolioDataError) as refused:
        optimise("min_variance", synthetic(3).iloc[:2], Constraints())
    assert refused.value.field == "returns" and "only 2 days" in refused.value.reason


def test_optimise_called_directly_refuses_a_near_constant_series_and_a_single_strategy():
    returns = synthetic(3)
    returns["s1"] = 0.0001 + np.tile([1e-8, -1e-8], len(returns) // 2)  # cash-like: would get a Sharpe of ~1e4
    with pytest.raises(PortfolioDataError) as flat:
        optimise("max_sharpe", returns, FREE)
    assert flat.value.field == "s1" and "never moves" in flat.value.reason
    with pytest.raises(PortfolioDataError) as alone:
        optimise("min_variance", synthetic(1), FREE)
    assert alone.value.field == "strategy_ids" and "only s0 given" in alone.value.reason
