"""The efficient frontier against PyPortfolioOpt's efficient_return at the same target returns."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from shared.portfolio import Constraints, annualised_moments, efficient_frontier, min_variance
from tests.portfolio.test_optimisers import synthetic


@pytest.mark.parametrize(("size", "constraints"), [
    (6, Constraints()),
    (12, Constraints(min_weight={"s0": 0.05}, default_max_weight=0.25)),
])
def test_each_point_is_the_least_volatile_portfolio_for_its_return(size, constraints):
    from pypfopt import EfficientFrontier

    returns = synthetic(size, seed=21)
    names = list(returns.columns)
    mu, cov = annualised_moments(returns)
    lower, upper = constraints.bounds(names)
    frontier = efficient_frontier(returns, constraints, points=8, covariance="sample")
    assert len(frontier) == 8
    assert frontier[0].volatility == pytest.approx(min_variance(returns, constraints).volatility, rel=1e-6)
    for point in frontier[1:-1]:
        weights = np.array([point.weights[n] for n in names])
        assert weights.sum() == pytest.approx(1.0, abs=1e-8)
        assert (weights >= lower - 1e-9).all() and (weights <= upper + 1e-9).all()
        assert weights @ mu == pytest.approx(point.expected_return, rel=1e-9)
        theirs = EfficientFrontier(pd.Series(mu, index=names), pd.DataFrame(cov, names, names),
                                   weight_bounds=list(zip(lower, upper, strict=True)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs.efficient_return(point.expected_return)
        their_volatility = theirs.portfolio_performance()[1]
        assert point.volatility <= their_volatility * (1 + 1e-6)  # at least as low, to the solvers' tolerance
        assert point.volatility == pytest.approx(their_volatility, rel=1e-5)
    top = frontier[-1]
    best = np.array([top.weights[n] for n in names])
    assert best @ mu == pytest.approx(max(p.expected_return for p in frontier))
    assert [p.expected_return for p in frontier] == sorted(p.expected_return for p in frontier)


def test_too_few_or_too_many_points_are_refused_naming_the_field():
    from shared.portfolio import PortfolioDataError

    with pytest.raises(PortfolioDataError) as refused:
        efficient_frontier(synthetic(3), Constraints(), points=1)
    assert refused.value.field == "points"
