"""Hierarchical Risk Parity (López de Prado, 2016), with per-strategy bounds honoured exactly.

HRP needs no matrix inversion, so a near-singular covariance (strategies that are almost
copies of each other) cannot blow its weights up the way it does min variance's: correlated
strategies are clustered and share one cluster's risk budget instead of competing for it.

Steps, as the paper's code and PyPortfolioOpt's ``HRPOpt``: correlation distance
sqrt((1 - rho)/2); single-linkage clustering; quasi-diagonalisation (the dendrogram's leaf
order); recursive bisection of that order into halves (first half ``len // 2`` items), each
half weighted in inverse proportion to its variance under inverse-variance weights within it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.cluster import hierarchy
from scipy.spatial.distance import squareform

from .constraints import Constraints, OptimisationResult, portfolio_result
from .covariance import estimate_covariance
from .errors import PortfolioDataError


def hierarchical_risk_parity(returns: pd.DataFrame, constraints: Constraints,
                             covariance: str = "sample") -> OptimisationResult:
    """HRP weights summing to ``constraints.leverage_cap``, each within its bounds.

    Bounds are honoured, not refused: at every bisection of a cluster holding weight W the
    left half's share is clipped into [max(L_left, W - U_right), min(U_left, W - L_right)]
    (L, U: sums of each half's lower and upper bounds). That keeps sum(lower) <= W <=
    sum(upper) for every cluster down to each single strategy. ``objective`` is 0: HRP is a
    heuristic with no objective to report. ``covariance`` names a ``COVARIANCE_ESTIMATORS``
    entry; the correlations clustered are the ones it implies.
    """
    if not constraints.long_only:
        raise PortfolioDataError("constraints.long_only", "hierarchical risk parity allocates long-only weights; "
                                                          "set long_only to use it")
    names = list(returns.columns)
    lower, upper = constraints.bounds(names)
    cov = estimate_covariance(returns, covariance)
    variance = np.diag(cov)
    if (variance <= 0).any():
        raise PortfolioDataError(names[int(np.argmin(variance))],
                                 "is constant: inverse-variance weighting needs a strategy that moves")
    weights = np.zeros(len(names))
    _bisect(quasi_diagonal_order(cov), constraints.leverage_cap, cov, lower, upper, weights)
    return portfolio_result("hrp", names, weights, 0.0, returns)


def quasi_diagonal_order(cov: np.ndarray) -> list[int]:
    """Column indices in the single-linkage dendrogram's leaf order, so correlated strategies sit
    next to each other and bisection splits between clusters rather than through them."""
    if len(cov) == 1:
        return [0]
    std = np.sqrt(np.diag(cov))
    correlation = cov / np.outer(std, std)
    distance = np.sqrt(np.clip((1.0 - correlation) / 2.0, 0.0, 1.0))
    link = hierarchy.linkage(squareform(distance, checks=False), "single")
    return list(hierarchy.to_tree(link, rd=False).pre_order())


def _cluster_variance(cov: np.ndarray, items: list[int]) -> float:
    """Variance of the cluster's inverse-variance portfolio: its risk, ignoring the rest."""
    block = cov[np.ix_(items, items)]
    inverse = 1 / np.diag(block)
    inverse /= inverse.sum()
    return float(inverse @ block @ inverse)


def _bisect(items: list[int], total: float, cov: np.ndarray, lower: np.ndarray, upper: np.ndarray,
            weights: np.ndarray) -> None:
    """Give ``total`` to ``items``: split in halves by inverse cluster variance, within the bounds."""
    if len(items) == 1:
        weights[items[0]] = total
        return
    left, right = items[:len(items) // 2], items[len(items) // 2:]
    left_variance, right_variance = _cluster_variance(cov, left), _cluster_variance(cov, right)
    share = 1 - left_variance / (left_variance + right_variance)
    left_total, right_total = total * share, total * (1 - share)
    low = max(lower[left].sum(), total - upper[right].sum())
    high = min(upper[left].sum(), total - lower[right].sum())
    if not low <= left_total <= high:
        left_total = min(max(left_total, low), high)
        right_total = total - left_total
    _bisect(left, left_total, cov, lower, upper, weights)
    _bisect(right, right_total, cov, lower, upper, weights)

