"""Portfolio optimisers over strategies' daily returns, with weight and leverage constraints.

Every optimiser returns weights that sum to the budget (``leverage_cap``) and respect
each strategy's bounds, or raises: a solver that did not converge never yields weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize, nnls

from .errors import InfeasibleConstraints, PortfolioDataError
from .returns import TRADING_DAYS, annualised_moments, check_aligned

_TOLERANCE = 1e-12


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


def _result(method: str, names: list[str], weights: np.ndarray, objective: float, returns: pd.DataFrame,
            risk_free: float = 0.0) -> OptimisationResult:
    mu, cov = annualised_moments(returns)
    weights = np.where(np.abs(weights) < 1e-10, 0.0, weights)
    expected = float(weights @ mu)
    volatility = math.sqrt(max(float(weights @ cov @ weights), 0.0))
    # The portfolio holds 1 - Σw in cash at the risk-free rate (borrowed when levered), so its
    # excess return is w·mu - Σw·rf: the figure max Sharpe maximises, for any leverage.
    sharpe = (expected - risk_free * float(weights.sum())) / volatility if volatility > 0 else None
    return OptimisationResult(method=method, weights={n: float(w) for n, w in zip(names, weights, strict=True)},
                              objective=objective, expected_return=expected, volatility=volatility, sharpe=sharpe)


def _solve(objective: Callable, gradient: Callable, start: np.ndarray, lower: np.ndarray, upper: np.ndarray,
           constraints: list[dict[str, Any]]) -> np.ndarray:
    solution = minimize(objective, start, jac=gradient, method="SLSQP", bounds=list(zip(lower, upper, strict=True)),
                        constraints=constraints, options={"maxiter": 1000, "ftol": _TOLERANCE})
    if not solution.success:
        raise PortfolioDataError("returns", f"the optimiser did not converge: {solution.message}")
    return np.clip(solution.x, lower, upper)


def _budget(cap: float) -> dict[str, Any]:
    return {"type": "eq", "fun": lambda w: w.sum() - cap, "jac": lambda w: np.ones_like(w)}


def _start(lower: np.ndarray, upper: np.ndarray, cap: float) -> np.ndarray:
    """A feasible point: the minimums, topped up in proportion to each one's headroom."""
    room = upper - lower
    return lower + room * (cap - lower.sum()) / room.sum() if room.sum() > 0 else lower.copy()


def _well_conditioned(cov: np.ndarray) -> np.ndarray:
    """A singular covariance (a strategy duplicated, or a constant one) gets a ridge of
    1e-10 x its mean variance: weights stay defined and objective values move by ~1e-10."""
    if np.linalg.matrix_rank(cov) < len(cov):
        return cov + np.eye(len(cov)) * max(np.trace(cov) / len(cov), 1e-16) * 1e-10
    return cov


def max_sharpe(returns: pd.DataFrame, constraints: Constraints, risk_free: float = 0.0) -> OptimisationResult:
    """Maximise w·(mu - rf) / sqrt(w'Σw), annualised: the Sharpe ratio of the portfolio with
    its cash, 1 - Σw, at the risk-free rate (a levered portfolio pays rf on what it borrows),
    which is also the ``sharpe`` reported.

    Long-only, it is solved exactly as the convex quadratic programme
    min y'Σy s.t. (mu - rf)·y = 1, lower·k <= y <= upper·k, k = Σy / cap (Cornuejols and
    Tütüncü), then w = y / k: the same transformation PyPortfolioOpt uses.
    """
    names = list(returns.columns)
    lower, upper = constraints.bounds(names)
    mu, cov = annualised_moments(returns)
    cov = _well_conditioned(cov)
    excess = mu - risk_free
    if (excess <= 0).all():
        raise PortfolioDataError("returns", "no strategy beats the risk-free rate, so max Sharpe is undefined")
    cap = constraints.leverage_cap
    if not constraints.long_only or (lower < 0).any():
        sharpe = lambda w: -(w @ excess) / math.sqrt(w @ cov @ w)  # noqa: E731
        weights = _solve(sharpe, None, _start(lower, upper, cap), lower, upper, [_budget(cap)])
        return _result("max_sharpe", names, weights, -sharpe(weights), returns, risk_free)

    if not (lower > 0).any() and not (upper < cap).any():
        weights = _tangency_by_nnls(cov, excess) * cap
        result = _result("max_sharpe", names, weights, 0.0, returns, risk_free)
        return replace(result, objective=result.sharpe or 0.0)

    # Variables y (n) and the scale k; bounds become linear constraints in (y, k).
    n = len(names)
    rows = [{"type": "eq", "fun": lambda z: z[:n] @ excess - 1, "jac": lambda z: np.append(excess, 0.0)},
            {"type": "eq", "fun": lambda z: z[:n].sum() - cap * z[n], "jac": lambda z: np.append(np.ones(n), -cap)}]
    if (lower > 0).any():
        rows.append({"type": "ineq", "fun": lambda z: z[:n] - lower * z[n],
                     "jac": lambda z: np.hstack([np.eye(n), -lower[:, None]])})
    if (upper < cap).any():
        rows.append({"type": "ineq", "fun": lambda z: upper * z[n] - z[:n],
                     "jac": lambda z: np.hstack([-np.eye(n), upper[:, None]])})
    seed = _start(lower, upper, cap)
    scale = 1 / max(seed @ excess, 1e-12)
    start = np.append(seed * scale, scale) if seed @ excess > 0 else np.append(np.where(excess > 0, 1.0, 0.0), 1.0)
    solution = minimize(lambda z: z[:n] @ cov @ z[:n], start, jac=lambda z: np.append(2 * cov @ z[:n], 0.0),
                        method="SLSQP", bounds=[(0, None)] * (n + 1), constraints=rows,
                        options={"maxiter": 1000, "ftol": 1e-14})
    if not solution.success or solution.x[n] <= 0:
        raise InfeasibleConstraints("constraints", f"max Sharpe has no solution under these bounds: "
                                                   f"{solution.message}")
    weights = np.clip(solution.x[:n] / solution.x[n], lower, upper)
    result = _result("max_sharpe", names, weights, 0.0, returns, risk_free)
    return replace(result, objective=result.sharpe or 0.0)


def _tangency_by_nnls(cov: np.ndarray, excess: np.ndarray) -> np.ndarray:
    """Long-only max Sharpe with no binding bounds, exactly, as one non-negative least squares.

    For any direction d = y/t, min over t of t²·d'Σd + m·(t·excess·d - 1)² equals
    m / (1 + m·(excess·d)²/d'Σd), so minimising ||[L'; √m·excess'] y - [0; √m]||² over
    y >= 0 (Σ = LL') maximises the squared Sharpe ratio, whatever m > 0 is. Lawson-Hanson
    finds that active set exactly, with no step sizes or tolerances to tune.
    """
    n = len(excess)
    root = np.linalg.cholesky(cov).T
    scale = math.sqrt(np.trace(cov) / n) / max(float(np.abs(excess).max()), 1e-12)
    design = np.vstack([root, excess * scale])
    target = np.zeros(n + 1)
    target[-1] = scale
    y, _ = nnls(design, target, maxiter=50 * n)
    if y.sum() <= 0:
        raise PortfolioDataError("returns", "no long-only portfolio has a positive Sharpe ratio")
    return y / y.sum()


def _log_growth(values: np.ndarray) -> tuple[Callable, Callable]:
    def objective(w: np.ndarray) -> float:
        wealth = 1 + values @ w
        if (wealth <= 0).any():
            return 1e6  # ruin on some day: far worse than any feasible portfolio
        return -float(np.mean(np.log(wealth)))

    def gradient(w: np.ndarray) -> np.ndarray:
        wealth = np.maximum(1 + values @ w, 1e-12)
        return -(values / wealth[:, None]).mean(axis=0)

    return objective, gradient


def max_cagr(returns: pd.DataFrame, constraints: Constraints) -> OptimisationResult:
    """Maximise expected log growth, mean_t log(1 + r_t·w): the empirical Kelly portfolio,
    whose growth rate is the CAGR it would have compounded at on this history."""
    names = list(returns.columns)
    lower, upper = constraints.bounds(names)
    objective, gradient = _log_growth(returns.to_numpy())
    weights = _solve(objective, gradient, _start(lower, upper, constraints.leverage_cap), lower, upper,
                     [_budget(constraints.leverage_cap)])
    return _result("max_cagr", names, weights, math.expm1(-objective(weights) * TRADING_DAYS), returns)


def hybrid(returns: pd.DataFrame, constraints: Constraints, max_volatility: float = 0.15) -> OptimisationResult:
    """Maximise expected log growth (as max_cagr) subject to annualised volatility <= max_volatility:
    the fastest compounding the admin's risk budget allows."""
    names = list(returns.columns)
    lower, upper = constraints.bounds(names)
    _, cov = annualised_moments(returns)
    floor = min_variance(returns, constraints)
    if floor.volatility > max_volatility * (1 + 1e-6):
        raise InfeasibleConstraints("max_volatility", f"even the least volatile allowed portfolio has "
                                                      f"{floor.volatility:.2%} volatility, above {max_volatility:.2%}")
    objective, gradient = _log_growth(returns.to_numpy())
    cap = {"type": "ineq", "fun": lambda w: max_volatility ** 2 - w @ cov @ w, "jac": lambda w: -2 * cov @ w}
    start = np.array(list(floor.weights.values()))
    weights = _solve(objective, gradient, start, lower, upper, [_budget(constraints.leverage_cap), cap])
    return _result("hybrid", names, weights, math.expm1(-objective(weights) * TRADING_DAYS), returns)


def min_variance(returns: pd.DataFrame, constraints: Constraints) -> OptimisationResult:
    names = list(returns.columns)
    lower, upper = constraints.bounds(names)
    _, cov = annualised_moments(returns)
    cov = _well_conditioned(cov)
    weights = _solve(lambda w: w @ cov @ w, lambda w: 2 * cov @ w, _start(lower, upper, constraints.leverage_cap),
                     lower, upper, [_budget(constraints.leverage_cap)])
    return _result("min_variance", names, weights, float(weights @ cov @ weights), returns)


def risk_parity(returns: pd.DataFrame, constraints: Constraints) -> OptimisationResult:
    """Equal risk contributions w_i (Σw)_i, long-only (Spinu's convex form:
    min ½x'Σx - Σ log x_i, then scaled to the budget). Bounds are checked, not traded
    off: if the equal-risk weights break one, that is an error naming it."""
    names = list(returns.columns)
    lower, upper = constraints.bounds(names)
    _, cov = annualised_moments(returns)
    cov = _well_conditioned(cov)
    n = len(names)
    start = 1 / np.sqrt(np.diag(cov))
    solution = minimize(lambda x: 0.5 * x @ cov @ x - np.log(x).sum() / n, start,
                        jac=lambda x: cov @ x - 1 / (n * x), method="L-BFGS-B", bounds=[(1e-12, None)] * n,
                        options={"maxiter": 5000, "ftol": 1e-15, "gtol": 1e-12})
    if not solution.success:
        raise PortfolioDataError("returns", f"risk parity did not converge: {solution.message}")
    weights = solution.x / solution.x.sum() * constraints.leverage_cap
    _within(names, weights, lower, upper, "risk parity")
    return _result("risk_parity", names, weights, 0.0, returns)


def equal_weight(returns: pd.DataFrame, constraints: Constraints) -> OptimisationResult:
    names = list(returns.columns)
    lower, upper = constraints.bounds(names)
    weights = np.full(len(names), constraints.leverage_cap / len(names))
    _within(names, weights, lower, upper, "equal weight")
    return _result("equal_weight", names, weights, 0.0, returns)


def _within(names: list[str], weights: np.ndarray, lower: np.ndarray, upper: np.ndarray, method: str) -> None:
    for name, weight, low, high in zip(names, weights, lower, upper, strict=True):
        if not low - 1e-9 <= weight <= high + 1e-9:
            raise InfeasibleConstraints("constraints", f"{method} gives {name} {weight:.4f}, outside [{low}, {high}]")


OPTIMISERS: dict[str, Callable[..., OptimisationResult]] = {
    "max_sharpe": max_sharpe, "max_cagr": max_cagr, "hybrid": hybrid, "min_variance": min_variance,
    "risk_parity": risk_parity, "equal_weight": equal_weight,
}


def optimise(method: str, returns: pd.DataFrame, constraints: Constraints, **params: Any) -> OptimisationResult:
    if method not in OPTIMISERS:
        raise PortfolioDataError("method", f"unknown method {method!r}; choose one of {', '.join(OPTIMISERS)}")
    check_aligned(returns)
    return OPTIMISERS[method](returns, constraints, **params)
