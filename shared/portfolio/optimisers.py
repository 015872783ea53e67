"""Portfolio optimisers over strategies' daily returns, with weight and leverage constraints.

Every optimiser returns weights that sum to the budget (``leverage_cap``) and respect
each strategy's bounds, or raises: a solver that did not converge never yields weights.
The constrained problems go to a conic solver (``conic``); closed forms stay where exact.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.linalg import cho_factor, cho_solve
from scipy.optimize import nnls

from .conic import ConicProblem
from .constraints import Constraints, OptimisationResult, feasible_start, portfolio_result
from .covariance import estimate_covariance
from .cvar import min_cvar
from .errors import InfeasibleConstraints, PortfolioDataError
from .growth import maximise_log_growth
from .hierarchical import hierarchical_risk_parity
from .returns import TRADING_DAYS, annualised_mean, check_aligned


def moments(returns: pd.DataFrame, covariance: str) -> tuple[np.ndarray, np.ndarray]:
    """Annualised mean and the chosen covariance estimate, made safe to factorise."""
    return annualised_mean(returns), _well_conditioned(estimate_covariance(returns, covariance))


def _well_conditioned(cov: np.ndarray) -> np.ndarray:
    """A singular covariance (a strategy duplicated) gets a ridge of 1e-10 x its mean
    variance: weights stay defined and objective values move by ~1e-10. Singular here means
    Cholesky fails or leaves a pivot under 1e-12 of the largest variance (a tenth of the
    work of the rank's SVD)."""
    try:
        pivots = np.diag(np.linalg.cholesky(cov)) ** 2
        singular = pivots.min() < 1e-12 * np.diag(cov).max()
    except np.linalg.LinAlgError:
        singular = True
    if singular:
        return cov + np.eye(len(cov)) * max(np.trace(cov) / len(cov), 1e-16) * 1e-10
    return cov


def _unbounded_long_only(lower: np.ndarray, upper: np.ndarray, constraints: Constraints) -> bool:
    return constraints.long_only and not (lower > 0).any() and not (upper < constraints.leverage_cap).any()


def max_sharpe(returns: pd.DataFrame, constraints: Constraints, risk_free: float = 0.0,
               covariance: str = "sample") -> OptimisationResult:
    """Maximise w·(mu - rf) / sqrt(w'Σw), annualised: the Sharpe ratio of the portfolio with
    its cash, 1 - Σw, at the risk-free rate (a levered portfolio pays rf on what it borrows),
    which is also the ``sharpe`` reported.

    Solved exactly as the convex QP min y'Σy s.t. (mu - rf)·y = 1, Σy = cap·k,
    lower·k <= y <= upper·k, k >= 0 (Cornuejols and Tütüncü), then w = y / k; with no
    bound that can bind, long-only, by one non-negative least squares instead.
    """
    names = list(returns.columns)
    lower, upper = constraints.bounds(names)
    mu, cov = moments(returns, covariance)
    excess = mu - risk_free
    if (excess <= 0).all():
        raise PortfolioDataError("returns", "no strategy beats the risk-free rate, so max Sharpe is undefined")
    cap = constraints.leverage_cap
    if _unbounded_long_only(lower, upper, constraints):
        weights = _tangency_by_nnls(cov, excess) * cap
    else:
        n = len(names)
        problem = ConicProblem(n + 1)
        problem.minimise(sp.block_diag([2 * cov, sp.csr_matrix((1, 1))]))
        problem.equal(np.append(excess, 0.0)[None, :], 1.0)
        problem.weights_within(lower, upper, cap, scale=n)
        problem.at_most(-np.eye(1, n + 1, n), 0.0)
        solution = problem.solve("max Sharpe")
        if solution[n] <= 0:
            raise InfeasibleConstraints("constraints", "no portfolio within these bounds beats the risk-free rate")
        weights = np.clip(solution[:n] / solution[n], lower, upper)
    result = portfolio_result("max_sharpe", names, weights, 0.0, returns, risk_free, cov)
    return replace(result, objective=result.sharpe or 0.0)


def _tangency_by_nnls(cov: np.ndarray, excess: np.ndarray) -> np.ndarray:
    """Long-only max Sharpe with no binding bounds, exactly, as one non-negative least squares.

    For any direction d = y/t, min over t of t²·d'Σd + m·(t·excess·d - 1)² equals
    m / (1 + m·(excess·d)²/d'Σd), so minimising ||[L'; √m·excess'] y - [0; √m]||² over
    y >= 0 (Σ = LL') maximises the squared Sharpe ratio, whatever m > 0 is. Lawson-Hanson
    finds that active set exactly, with no step sizes or tolerances to tune. With excess = 1
    it is the long-only minimum variance portfolio.
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


def min_variance(returns: pd.DataFrame, constraints: Constraints, covariance: str = "sample") -> OptimisationResult:
    names = list(returns.columns)
    lower, upper = constraints.bounds(names)
    _, cov = moments(returns, covariance)
    if _unbounded_long_only(lower, upper, constraints):
        weights = _tangency_by_nnls(cov, np.ones(len(names))) * constraints.leverage_cap
    else:
        problem = ConicProblem(len(names))
        problem.minimise(2 * cov)
        problem.weights_within(lower, upper, constraints.leverage_cap)
        weights = np.clip(problem.solve("minimum variance"), lower, upper)
    return portfolio_result("min_variance", names, weights, float(weights @ cov @ weights), returns, cov=cov)


def max_cagr(returns: pd.DataFrame, constraints: Constraints) -> OptimisationResult:
    """Maximise expected log growth, mean_t log(1 + r_t·w): the empirical Kelly portfolio,
    whose growth rate is the CAGR it would have compounded at on this history."""
    names = list(returns.columns)
    lower, upper = constraints.bounds(names)
    values = returns.to_numpy()
    start = feasible_start(lower, upper, constraints.leverage_cap)
    weights, growth = maximise_log_growth(values, returns.index, start, lower, upper, constraints.leverage_cap)
    return portfolio_result("max_cagr", names, weights, math.expm1(growth * TRADING_DAYS), returns)


def hybrid(returns: pd.DataFrame, constraints: Constraints, max_volatility: float = 0.15,
           covariance: str = "sample") -> OptimisationResult:
    """Maximise expected log growth (as max_cagr) subject to annualised volatility <= max_volatility:
    the fastest compounding the admin's risk budget allows. The cap holds to the conic solver's
    tolerance (about 1e-8 relative)."""
    names = list(returns.columns)
    lower, upper = constraints.bounds(names)
    _, cov = moments(returns, covariance)
    floor = min_variance(returns, constraints, covariance)
    if floor.volatility > max_volatility * (1 + 1e-6):
        raise InfeasibleConstraints("max_volatility", f"even the least volatile allowed portfolio has "
                                                      f"{floor.volatility:.2%} volatility, above {max_volatility:.2%}")
    start = np.array(list(floor.weights.values()))
    root = np.linalg.cholesky(cov).T  # w'Σw = ||root·w||²
    weights, growth = maximise_log_growth(returns.to_numpy(), returns.index, start, lower, upper,
                                          constraints.leverage_cap, (root, max_volatility))
    return portfolio_result("hybrid", names, weights, math.expm1(growth * TRADING_DAYS), returns, cov=cov)


def risk_parity(returns: pd.DataFrame, constraints: Constraints, risk_budgets: dict[str, float] | None = None,
                covariance: str = "sample") -> OptimisationResult:
    """Risk contributions w_i(Σw)_i in proportion to each strategy's budget (equal by default), by
    Spinu's convex form: min ½x'Σx - Σ b_i log x_i, then w = cap·x / Σx.

    Bounds are honoured, not refused. When the unbounded answer breaks one, they enter as the
    homogeneous rows lower_i·Σx <= cap·x_i <= upper_i·Σx, which keep the problem convex (the
    log-barrier form Riskfolio-Lib uses). Where no bound binds, the contributions equal the
    budgets exactly. Once one binds, a strategy at its bound takes what the bound allows, and
    each other strategy's share of the risk is b_i - c·w_i for one constant c (the bound's
    price): close to its budget, not exactly equal to it.
    """
    names = list(returns.columns)
    lower, upper = constraints.bounds(names)
    if not constraints.long_only:
        raise PortfolioDataError("constraints.long_only", "risk parity holds every strategy long")
    budgets = _risk_budgets(names, risk_budgets)
    _, cov = moments(returns, covariance)
    n, cap = len(names), constraints.leverage_cap
    unbounded = _spinu_by_newton(cov, budgets)
    weights = unbounded / unbounded.sum() * cap
    if ((weights < lower - 1e-12) | (weights > upper + 1e-12)).any():
        # Variables: x (n), t (n) with t_i <= log x_i, and the total s = Σx.
        problem = ConicProblem(2 * n + 1)
        problem.minimise(sp.block_diag([cov, sp.csr_matrix((n + 1, n + 1))]),
                         np.concatenate([np.zeros(n), -budgets, [0.0]]))
        problem.below_log(n + np.arange(n), sp.eye(n, 2 * n + 1), np.zeros(n))
        problem.weights_within(lower / cap, upper / cap, 1.0, scale=2 * n)
        solution = problem.solve("risk parity")
        weights = np.clip(solution[:n] / solution[:n].sum() * cap, lower, upper)
    return portfolio_result("risk_parity", names, weights, 0.0, returns, cov=cov)


def _spinu_by_newton(cov: np.ndarray, budgets: np.ndarray) -> np.ndarray:
    """Unbounded risk budgeting to machine precision: Newton's method on the strictly convex
    ½x'Σx - Σ b_i log x_i, whose minimiser has x_i(Σx)_i = b_i exactly. The step is halved
    until x stays positive and the objective falls, so it converges from any positive start,
    and stops where no step lowers the objective any more."""
    x = np.sqrt(budgets / np.diag(cov))

    def objective(point: np.ndarray) -> float:
        return float(0.5 * point @ cov @ point - budgets @ np.log(point))

    value = objective(x)
    for _ in range(100):
        gradient = cov @ x - budgets / x
        step = cho_solve(cho_factor(cov + np.diag(budgets / x ** 2)), gradient)  # positive definite
        if gradient @ step <= 1e-24:
            return x
        size = 1.0
        while size > 1e-12 and ((x - size * step <= 0).any() or objective(x - size * step) >= value):
            size /= 2
        if size <= 1e-12:
            return x  # at machine precision: no step lowers the objective any more
        x = x - size * step
        value = objective(x)
    raise PortfolioDataError("returns", "risk parity did not converge in 100 Newton steps")


def _risk_budgets(names: list[str], budgets: dict[str, float] | None) -> np.ndarray:
    if not budgets:
        return np.full(len(names), 1 / len(names))
    unknown = sorted(set(budgets) - set(names))
    if unknown:
        raise PortfolioDataError("risk_budgets", f"budget given for {', '.join(unknown)}, not being optimised")
    values = np.array([budgets.get(name, 0.0) for name in names], dtype=float)
    if (values <= 0).any() or not np.isfinite(values).all():
        missing = [name for name, value in zip(names, values, strict=True) if not value > 0]
        raise PortfolioDataError("risk_budgets", f"every strategy needs a positive budget; {missing[0]} has none")
    return values / values.sum()


def equal_weight(returns: pd.DataFrame, constraints: Constraints) -> OptimisationResult:
    names = list(returns.columns)
    lower, upper = constraints.bounds(names)
    weights = np.full(len(names), constraints.leverage_cap / len(names))
    for name, weight, low, high in zip(names, weights, lower, upper, strict=True):
        if not low - 1e-9 <= weight <= high + 1e-9:
            raise InfeasibleConstraints("constraints", f"equal weight gives {name} {weight:.4f}, outside "
                                                       f"[{low}, {high}]")
    return portfolio_result("equal_weight", names, weights, 0.0, returns)


OPTIMISERS: dict[str, Callable[..., OptimisationResult]] = {
    "max_sharpe": max_sharpe, "max_cagr": max_cagr, "hybrid": hybrid, "min_variance": min_variance,
    "risk_parity": risk_parity, "hrp": hierarchical_risk_parity, "min_cvar": min_cvar, "equal_weight": equal_weight,
}


def parameters(method: str) -> tuple[str, ...]:
    """The keyword parameters a method takes beyond the returns and constraints: what a
    request may set for it (``covariance``, ``risk_free``, ...)."""
    return tuple(inspect.signature(OPTIMISERS[method]).parameters)[2:]


def optimise(method: str, returns: pd.DataFrame, constraints: Constraints, **params: Any) -> OptimisationResult:
    if method not in OPTIMISERS:
        raise PortfolioDataError("method", f"unknown method {method!r}; choose one of {', '.join(OPTIMISERS)}")
    unknown = sorted(set(params) - set(parameters(method)))
    if unknown:
        raise PortfolioDataError(unknown[0], f"{method} does not take {unknown[0]}; it takes "
                                             f"{', '.join(parameters(method)) or 'no parameters'}")
    check_aligned(returns)
    return OPTIMISERS[method](returns, constraints, **params)
