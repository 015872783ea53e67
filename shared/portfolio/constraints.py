"""What every optimiser shares: the constraints it honours and the result it reports."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import InfeasibleConstraints, PortfolioDataError
from .returns import annualised_mean, annualised_moments


@dataclass(frozen=True)
class Constraints:
    """Weights sum to ``leverage_cap`` (1.0: fully invested, 1.5: 150% gross long) and each
    lies in [min_weight, max_weight]; ``long_only`` forbids negative minimums."""

    min_weight: dict[str, float] = field(default_factory=dict)
    max_weight: dict[str, float] = field(default_factory=dict)
    default_max_weight: float = 1.0
    leverage_cap: float = 1.0
    long_only: bool = True

    def bounds(self, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds in column order, after checking they can all hold at once."""
        for name in (*self.min_weight, *self.max_weight):
            if name not in names:
                raise PortfolioDataError("constraints", f"bound given for {name!r}, which is not being optimised")
        lower = np.array([self.min_weight.get(n, 0.0) for n in names])
        upper = np.array([self.max_weight.get(n, min(self.default_max_weight, self.leverage_cap)) for n in names])
        if self.leverage_cap <= 0:
            raise InfeasibleConstraints("constraints.leverage_cap", "must be positive")
        if self.long_only and (lower < 0).any():
            raise InfeasibleConstraints("constraints.min_weight", "a negative minimum contradicts long_only")
        for name, low, high in zip(names, lower, upper, strict=True):
            if low > high:
                raise InfeasibleConstraints("constraints.min_weight", f"{name}: minimum {low} above maximum {high}")
        if lower.sum() > self.leverage_cap + 1e-9:
            raise InfeasibleConstraints("constraints.min_weight",
                                        f"minimums add up to {lower.sum():g}, above the leverage cap "
                                        f"{self.leverage_cap:g}")
        if upper.sum() < self.leverage_cap - 1e-9:
            raise InfeasibleConstraints("constraints.max_weight",
                                        f"maximums add up to {upper.sum():g}, below the leverage cap "
                                        f"{self.leverage_cap:g}")
        return lower, upper


@dataclass(frozen=True)
class OptimisationResult:
    method: str
    weights: dict[str, float]
    objective: float
    expected_return: float  # annualised arithmetic mean
    volatility: float  # annualised
    sharpe: float | None
    converged: bool = True


def portfolio_result(method: str, names: list[str], weights: np.ndarray, objective: float, returns: pd.DataFrame,
            risk_free: float = 0.0, cov: np.ndarray | None = None) -> OptimisationResult:
    """The figures a method reports, on the covariance it optimised (the sample's by default)."""
    mu = annualised_mean(returns)
    cov = annualised_moments(returns)[1] if cov is None else cov
    weights = np.where(np.abs(weights) < 1e-10, 0.0, weights)
    expected = float(weights @ mu)
    volatility = math.sqrt(max(float(weights @ cov @ weights), 0.0))
    # The portfolio holds 1 - Σw in cash at the risk-free rate (borrowed when levered), so its
    # excess return is w·mu - Σw·rf: the figure max Sharpe maximises, for any leverage.
    sharpe = (expected - risk_free * float(weights.sum())) / volatility if volatility > 0 else None
    return OptimisationResult(method=method, weights={n: float(w) for n, w in zip(names, weights, strict=True)},
                              objective=objective, expected_return=expected, volatility=volatility, sharpe=sharpe)


def feasible_start(lower: np.ndarray, upper: np.ndarray, cap: float) -> np.ndarray:
    """A feasible point: the minimums, topped up in proportion to each one's headroom."""
    room = upper - lower
    return lower + room * (cap - lower.sum()) / room.sum() if room.sum() > 0 else lower.copy()
