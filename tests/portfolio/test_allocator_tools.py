"""Covariance shrinkage, HRP and min CVaR, each against PyPortfolioOpt on seeded data."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from shared.portfolio.covariance import (
    COVARIANCE_ESTIMATORS,
    covariance_estimate,
    estimate_covariance,
    shrinkage_intensity,
)
from shared.portfolio.cvar import historical_cvar, min_cvar
from shared.portfolio.errors import InfeasibleConstraints, PortfolioDataError
from shared.portfolio.hierarchical import hierarchical_risk_parity
from shared.portfolio.optimisers import Constraints
from shared.portfolio.returns import annualised_moments

pypfopt = pytest.importorskip("pypfopt")


def factor_returns(strategies: int, days: int = 750, seed: int = 7) -> pd.DataFrame:
    """Three factors plus fat-tailed own noise: correlated like real strategies, with tails."""
    rng = np.random.default_rng(seed)
    factors = rng.normal(0, 0.006, size=(days, 3))
    loadings = rng.uniform(-0.6, 0.9, size=(3, strategies))
    own = rng.uniform(0.004, 0.015, strategies) * rng.standard_t(5, size=(days, strategies))
    return pd.DataFrame(rng.uniform(0.0002, 0.0008, strategies) + factors @ loadings + own,
                        index=pd.bdate_range("2022-01-03", periods=days),
                        columns=[f"strategy_{i:02d}" for i in range(strategies)])


# --- covariance ---------------------------------------------------------------------------

@pytest.mark.parametrize(("ours", "target"), [("ledoit_wolf", "constant_correlation"),
                                              ("ledoit_wolf_constant_variance", "constant_variance")])
@pytest.mark.parametrize(("strategies", "seed"), [(5, 1), (12, 2), (40, 3)])
def test_shrinkage_equals_pypfopt(ours: str, target: str, strategies: int, seed: int) -> None:
    from pypfopt.risk_models import CovarianceShrinkage

    returns = factor_returns(strategies, seed=seed)
    theirs = CovarianceShrinkage(returns, returns_data=True, frequency=252)
    expected = theirs.ledoit_wolf(shrinkage_target=target).to_numpy()
    estimate = covariance_estimate(returns, ours)
    np.testing.assert_allclose(estimate.matrix, expected, rtol=1e-10, atol=0)
    assert estimate.shrinkage == pytest.approx(theirs.delta, rel=1e-10)
    assert 0 < estimate.shrinkage < 1  # these sets are really shrunk, so the comparison bites
    assert not np.allclose(estimate.matrix, estimate_covariance(returns, "sample"), rtol=1e-3)


@pytest.mark.parametrize("estimator", COVARIANCE_ESTIMATORS)
def test_estimates_are_symmetric_positive_definite(estimator: str) -> None:
    matrix = estimate_covariance(factor_returns(30, days=80, seed=4), estimator)
    np.testing.assert_array_equal(matrix, matrix.T)
    assert np.linalg.eigvalsh(matrix).min() > 0


def test_sample_is_annualised_moments_covariance() -> None:
    returns = factor_returns(8)
    np.testing.assert_array_equal(estimate_covariance(returns), annualised_moments(returns)[1])
    assert shrinkage_intensity(returns, "sample") == 0.0


def test_unknown_estimator_names_the_choices() -> None:
    with pytest.raises(PortfolioDataError, match="choose one of sample, ledoit_wolf") as caught:
        estimate_covariance(factor_returns(3), "oracle")
    assert caught.value.field == "covariance"


def test_bad_data_is_refused_naming_the_strategy() -> None:
    returns = factor_returns(4)
    holed = returns.copy()
    holed.iloc[10, 2] = np.nan
    with pytest.raises(PortfolioDataError) as caught:
        estimate_covariance(holed, "ledoit_wolf")
    assert caught.value.field == "strategy_02"
    flat = returns.assign(strategy_01=0.0)
    with pytest.raises(PortfolioDataError) as caught:
        estimate_covariance(flat, "ledoit_wolf")
    assert caught.value.field == "strategy_01"
    with pytest.raises(PortfolioDataError) as caught:
        hierarchical_risk_parity(flat, Constraints())
    assert caught.value.field == "strategy_01"


# --- hierarchical risk parity ---------------------------------------------------------------

@pytest.mark.parametrize(("strategies", "seed"), [(7, 11), (20, 12), (45, 13)])
def test_hrp_equals_pypfopt_without_bounds(strategies: int, seed: int) -> None:
    from pypfopt import HRPOpt

    returns = factor_returns(strategies, seed=seed)
    theirs = HRPOpt(returns).optimize(linkage_method="single")
    ours = hierarchical_risk_parity(returns, Constraints())
    assert ours.method == "hrp"
    np.testing.assert_allclose([ours.weights[n] for n in returns.columns], [theirs[n] for n in returns.columns],
                               rtol=1e-10, atol=1e-14)


def test_hrp_honours_bounds_and_the_cap() -> None:
    returns = factor_returns(20, seed=21)
    names = list(returns.columns)
    free = hierarchical_risk_parity(returns, Constraints(leverage_cap=1.5))
    assert sum(free.weights.values()) == pytest.approx(1.5, abs=1e-12)
    ranked = sorted(names, key=free.weights.__getitem__)
    # Floors above the smallest free weights and caps below the largest, so both bind.
    constraints = Constraints(min_weight={n: 0.06 for n in ranked[:4]}, max_weight={n: 0.09 for n in ranked[-4:]},
                              default_max_weight=0.3, leverage_cap=1.5)
    lower, upper = constraints.bounds(names)
    bounded = hierarchical_risk_parity(returns, constraints)
    weights = np.array([bounded.weights[n] for n in names])
    assert weights.sum() == pytest.approx(1.5, abs=1e-12)
    assert (weights >= lower - 1e-12).all() and (weights <= upper + 1e-12).all()
    assert np.isclose(weights, lower).any() and np.isclose(weights, upper).any()


def test_hrp_two_uncorrelated_strategies_is_inverse_variance() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(0, 0.01, 500), rng.normal(0, 0.02, 500)
    b -= a * (np.dot(a - a.mean(), b - b.mean()) / np.dot(a - a.mean(), a - a.mean()))  # exactly uncorrelated
    returns = pd.DataFrame({"a": a, "b": b}, index=pd.bdate_range("2022-01-03", periods=500))
    var_a, var_b = returns.var().to_numpy()
    result = hierarchical_risk_parity(returns, Constraints(leverage_cap=2.0, default_max_weight=2.0))
    assert result.weights["a"] == pytest.approx(2 * (1 / var_a) / (1 / var_a + 1 / var_b), rel=1e-12)
    assert result.weights["b"] == pytest.approx(2 * (1 / var_b) / (1 / var_a + 1 / var_b), rel=1e-12)


def test_hrp_refuses_shorting_constraints() -> None:
    with pytest.raises(PortfolioDataError) as caught:
        hierarchical_risk_parity(factor_returns(4), Constraints(long_only=False))
    assert caught.value.field == "constraints.long_only"


def test_hrp_with_shrunk_covariance_is_a_different_valid_portfolio() -> None:
    returns = factor_returns(15, days=200, seed=8)
    result = hierarchical_risk_parity(returns, Constraints(), covariance="ledoit_wolf")
    weights = np.array(list(result.weights.values()))
    assert weights.sum() == pytest.approx(1.0) and (weights > 0).all()


# --- min CVaR ---------------------------------------------------------------------------------

def ru_cvar(losses: np.ndarray, beta: float) -> float:
    """Rockafellar-Uryasev's F(alpha) = alpha + Σ(L - alpha)⁺ / ((1-β)T), minimised by trying every alpha in
    the losses (F is piecewise linear with kinks there): independent of historical_cvar's sort."""
    scale = 1 / ((1 - beta) * len(losses))
    return min(a + scale * np.maximum(losses - a, 0).sum() for a in losses)


def their_min_cvar(returns: pd.DataFrame, bounds: tuple | list) -> tuple[dict, float]:
    from pypfopt import EfficientCVaR

    # expected_returns only feeds portfolio_performance's return figure (None crashes it in 1.6).
    frontier = EfficientCVaR(returns.mean(), returns, beta=0.95, weight_bounds=bounds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        weights = frontier.min_cvar()
    return weights, float(frontier.portfolio_performance()[1])


@pytest.mark.parametrize(("strategies", "seed"), [(6, 31), (25, 32)])
def test_min_cvar_equals_pypfopt_without_bounds(strategies: int, seed: int) -> None:
    returns = factor_returns(strategies, seed=seed)
    ours = min_cvar(returns, Constraints())
    _, their_cvar = their_min_cvar(returns, (0, 1))
    assert ours.method == "min_cvar" and ours.objective > 0
    assert ours.objective == pytest.approx(their_cvar, rel=1e-6)
    weights = np.array([ours.weights[n] for n in returns.columns])
    assert weights.sum() == pytest.approx(1.0, abs=1e-9) and (weights >= 0).all()
    assert ru_cvar(-(returns.to_numpy() @ weights), 0.95) == pytest.approx(ours.objective, rel=1e-9)


def test_min_cvar_equals_pypfopt_with_bounds() -> None:
    returns = factor_returns(10, seed=33)
    names = list(returns.columns)
    free = min_cvar(returns, Constraints())
    heaviest = max(names, key=free.weights.__getitem__)
    constraints = Constraints(min_weight={names[0]: 0.05, names[1]: 0.05},
                              max_weight={heaviest: free.weights[heaviest] / 2}, default_max_weight=0.4)
    lower, upper = constraints.bounds(names)
    ours = min_cvar(returns, constraints)
    _, their_cvar = their_min_cvar(returns, list(zip(lower, upper, strict=True)))
    assert ours.objective == pytest.approx(their_cvar, rel=1e-6)
    assert ours.objective > free.objective  # the bounds bind
    weights = np.array([ours.weights[n] for n in names])
    assert (weights >= lower - 1e-9).all() and (weights <= upper + 1e-9).all()
    assert ru_cvar(-(returns.to_numpy() @ weights), 0.95) == pytest.approx(ours.objective, rel=1e-9)


def test_min_cvar_scales_with_the_leverage_cap() -> None:
    returns = factor_returns(6, seed=34)
    one, two = min_cvar(returns, Constraints()), min_cvar(returns, Constraints(leverage_cap=2.0))
    assert two.objective == pytest.approx(2 * one.objective, rel=1e-7)  # CVaR is positively homogeneous


@pytest.mark.parametrize("beta", [0.5, 0.9, 0.95, 0.975, 0.99])
@pytest.mark.parametrize("days", [100, 101, 253])
def test_historical_cvar_handles_a_fractional_tail_exactly(beta: float, days: int) -> None:
    losses = np.random.default_rng(days).normal(0, 0.01, days)
    assert historical_cvar(losses, beta) == pytest.approx(ru_cvar(losses, beta), rel=1e-12)


@pytest.mark.parametrize("beta", [0.4, 1.0, 1.5, float("nan")])
def test_min_cvar_refuses_a_bad_beta(beta: float) -> None:
    with pytest.raises(PortfolioDataError) as caught:
        min_cvar(factor_returns(3), Constraints(), cvar_beta=beta)
    assert caught.value.field == "cvar_beta"


def test_min_cvar_refuses_infeasible_bounds() -> None:
    with pytest.raises(InfeasibleConstraints):
        min_cvar(factor_returns(3), Constraints(default_max_weight=0.2))
