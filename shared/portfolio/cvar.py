"""Minimum historical Conditional Value-at-Risk, by Rockafellar and Uryasev's linear programme.

Variance treats a big gain as risk as much as a big loss; CVaR at confidence β is the mean
loss on the worst (1 - β) of days, so it weighs only the tail an investor fears, and on a
history it is the optimum of a linear programme, solved exactly (HiGHS) rather than iterated.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.optimize import linprog
from scipy.sparse import csr_matrix, hstack, identity

from .constraints import Constraints, OptimisationResult, portfolio_result
from .errors import InfeasibleConstraints, PortfolioDataError
from .returns import check_aligned


def min_cvar(returns: pd.DataFrame, constraints: Constraints, cvar_beta: float = 0.95) -> OptimisationResult:
    """Weights minimising the historical CVaR of daily portfolio losses -r_t·w at confidence
    ``beta``, summing to ``constraints.leverage_cap`` within the bounds.

    Rockafellar-Uryasev: min over (w, alpha, u) of alpha + Σ_t u_t / ((1 - β)T) subject to
    u_t >= -r_t·w - alpha, u_t >= 0; at the optimum alpha is the VaR and the objective the CVaR.
    ``cvar_beta`` is β. ``objective`` is that daily CVaR (a loss fraction: 0.012 is 1.2% a day), recomputed
    from the returned weights.
    """
    beta = cvar_beta
    if not isinstance(beta, int | float) or not 0.5 <= beta < 1:
        raise PortfolioDataError("cvar_beta", f"confidence {beta!r} must be at least 0.5 and below 1 "
                                              "(0.95: the mean of the worst 5% of days)")
    check_aligned(returns, min_days=2)
    names = list(returns.columns)
    lower, upper = constraints.bounds(names)
    values = returns.to_numpy(dtype=float)
    days, n = values.shape
    # Variables in order: w (n), alpha (1), u (days).
    cost = np.concatenate([np.zeros(n), [1.0], np.full(days, 1 / ((1 - beta) * days))])
    tail = hstack([csr_matrix(-values), csr_matrix(-np.ones((days, 1))), -identity(days, format="csr")],
                  format="csr")
    budget = np.concatenate([np.ones(n), np.zeros(1 + days)])[None, :]
    bounds = [*zip(lower, upper, strict=True), (None, None), *[(0, None)] * days]
    solution = linprog(cost, A_ub=tail, b_ub=np.zeros(days), A_eq=budget, b_eq=[constraints.leverage_cap],
                       bounds=bounds, method="highs")
    if solution.status == 2:
        raise InfeasibleConstraints("constraints", f"no weights satisfy the bounds and budget: {solution.message}")
    if solution.status != 0 or solution.x is None:
        raise PortfolioDataError("returns", f"min CVaR did not solve: {solution.message}")
    weights = np.clip(solution.x[:n], lower, upper)
    return portfolio_result("min_cvar", names, weights, historical_cvar(-(values @ weights), beta), returns)


def historical_cvar(losses: np.ndarray, beta: float) -> float:
    """Mean of the worst (1 - β)·T losses, the last one counted fractionally when (1 - β)·T is
    not whole: exactly min over alpha of alpha + mean((losses - alpha)⁺) / (1 - β)."""
    ordered = np.sort(np.asarray(losses, dtype=float))[::-1]
    tail = (1 - beta) * len(ordered)
    whole = min(math.floor(tail), len(ordered))
    fraction = tail - whole
    total = ordered[:whole].sum() + (fraction * ordered[whole] if whole < len(ordered) and fraction > 0 else 0.0)
    return float(total / tail)
