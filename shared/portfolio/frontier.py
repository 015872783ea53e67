"""The efficient frontier: for each expected return between the least volatile portfolio's
and the highest any allowed portfolio reaches, the least volatility that achieves it, under
the same bounds, leverage cap and covariance estimate the optimisers use."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .conic import ConicProblem
from .constraints import Constraints
from .errors import PortfolioDataError
from .optimisers import min_variance, moments


@dataclass(frozen=True)
class FrontierPoint:
    expected_return: float  # annualised
    volatility: float  # annualised
    sharpe: float | None  # at the risk-free rate given, net of financing the levered part
    weights: dict[str, float]


def efficient_frontier(returns: pd.DataFrame, constraints: Constraints, points: int = 20,
                       covariance: str = "sample", risk_free: float = 0.0) -> list[FrontierPoint]:
    """``points`` portfolios evenly spaced in expected return, from the minimum variance
    portfolio to the highest-return one, each the least volatile for its return."""
    if not 2 <= points <= 200:
        raise PortfolioDataError("points", f"{points} frontier points: choose between 2 and 200")
    names = list(returns.columns)
    lower, upper = constraints.bounds(names)
    mu, cov = moments(returns, covariance)
    cap = constraints.leverage_cap
    floor = np.array(list(min_variance(returns, constraints, covariance).weights.values()))
    top = _highest_return(mu, lower, upper, cap)
    targets = np.linspace(floor @ mu, top @ mu, points)
    frontier = [floor]
    for target in targets[1:-1]:
        problem = ConicProblem(len(names))
        problem.minimise(2 * cov)
        problem.weights_within(lower, upper, cap)
        problem.equal(mu[None, :], target)
        frontier.append(np.clip(problem.solve(f"the frontier at {target:.2%} a year"), lower, upper))
    frontier.append(top)
    return [_point(names, weights, mu, cov, risk_free) for weights in frontier]


def _highest_return(mu: np.ndarray, lower: np.ndarray, upper: np.ndarray, cap: float) -> np.ndarray:
    """The linear programme max mu·w within the bounds and budget, exactly: every minimum,
    then what is left of the cap to the best strategies first, each up to its maximum."""
    weights = lower.copy()
    left = cap - lower.sum()
    for index in np.argsort(-mu, kind="stable"):
        added = min(upper[index] - lower[index], left)
        weights[index] += added
        left -= added
    return weights


def _point(names: list[str], weights: np.ndarray, mu: np.ndarray, cov: np.ndarray,
           risk_free: float) -> FrontierPoint:
    volatility = math.sqrt(max(float(weights @ cov @ weights), 0.0))
    excess = float(weights @ mu) - risk_free * float(weights.sum())
    return FrontierPoint(expected_return=float(weights @ mu), volatility=volatility,
                         sharpe=excess / volatility if volatility > 0 else None,
                         weights={name: float(w) for name, w in zip(names, weights, strict=True)})
