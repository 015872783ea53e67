"""Covariance estimators for the allocators, annualised like ``annualised_moments``.

The sample covariance of N strategies over T days carries N(N+1)/2 noisy numbers; an
optimiser fed it leans hardest on exactly the errors (Michaud's "error maximisation").
Ledoit-Wolf shrinkage pulls it towards a structured target by an intensity estimated from
the data, trading a little bias for much less estimation error.

Conventions (chosen so each estimator equals PyPortfolioOpt 1.6's to rounding, which the
tests check):

- ``sample``: np.cov with ddof=1, exactly ``annualised_moments``' covariance.
- ``ledoit_wolf``: Ledoit & Wolf (2004), "Honey, I shrunk the sample covariance matrix":
  target = constant correlation (each pair gets the average sample correlation), shrunk
  estimate = δF + (1-δ)S with S the ddof=1 sample covariance, and the pi, rho, gamma of the paper
  computed from mean-centred returns with 1/T averages but with S (ddof=1) where the paper's
  code uses the 1/T sample covariance. PyPortfolioOpt does the same; the intensity differs
  from the paper's code by O(1/T), and at δ=0 the estimate is exactly ``sample``.
- ``ledoit_wolf_constant_variance``: Ledoit & Wolf (2004, JMVA) towards μI, μ the average
  variance, as scikit-learn's ``ledoit_wolf`` (PyPortfolioOpt's default target). Following
  scikit-learn, the covariance it shrinks is the 1/T (ddof=0) one, so at δ=0 it is
  ``sample`` x (T-1)/T, not ``sample``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import PortfolioDataError
from .returns import TRADING_DAYS, check_aligned

COVARIANCE_ESTIMATORS = ("sample", "ledoit_wolf", "ledoit_wolf_constant_variance")


@dataclass(frozen=True)
class CovarianceEstimate:
    """An annualised covariance and the shrinkage intensity δ in [0, 1] that produced it
    (0 for ``sample``), so the UI can say how far the data was pulled to the target."""

    estimator: str
    matrix: np.ndarray
    shrinkage: float


def covariance_estimate(returns: pd.DataFrame, estimator: str = "sample") -> CovarianceEstimate:
    """The estimator's annualised covariance of daily ``returns`` with its intensity."""
    if estimator not in COVARIANCE_ESTIMATORS:
        raise PortfolioDataError("covariance", f"unknown estimator {estimator!r}; choose one of "
                                               f"{', '.join(COVARIANCE_ESTIMATORS)}")
    check_aligned(returns, min_days=2)
    values = returns.to_numpy(dtype=float)
    if estimator == "sample":
        daily, shrinkage = np.atleast_2d(np.cov(values, rowvar=False)), 0.0
    elif estimator == "ledoit_wolf":
        daily, shrinkage = _constant_correlation(values, list(returns.columns))
    else:
        daily, shrinkage = _constant_variance(values)
    return CovarianceEstimate(estimator, daily * TRADING_DAYS, shrinkage)


def estimate_covariance(returns: pd.DataFrame, estimator: str = "sample") -> np.ndarray:
    """The annualised covariance matrix alone, in column order."""
    return covariance_estimate(returns, estimator).matrix


def shrinkage_intensity(returns: pd.DataFrame, estimator: str = "sample") -> float:
    """How far (0: not at all, 1: entirely) the estimator pulled the sample towards its target."""
    return covariance_estimate(returns, estimator).shrinkage


def _constant_correlation(values: np.ndarray, names: list[str]) -> tuple[np.ndarray, float]:
    """Daily Ledoit-Wolf (2004) estimate towards the constant-correlation target, and δ."""
    t, n = values.shape
    sample = np.atleast_2d(np.cov(values, rowvar=False))
    if n == 1:
        return sample, 0.0
    variance = np.diag(sample)
    if (variance <= 0).any():
        raise PortfolioDataError(names[int(np.argmin(variance))],
                                 "is constant: its correlation with the others, which the target needs, is undefined")
    std = np.sqrt(variance)
    scale = np.outer(std, std)
    mean_correlation = ((sample / scale).sum() - n) / (n * (n - 1))
    target = mean_correlation * scale
    np.fill_diagonal(target, variance)

    centred = values - values.mean(axis=0)
    squares = centred ** 2
    cross = centred.T @ centred / t  # 1/T second moments
    # π_ij: asymptotic variance of √T s_ij, estimated as mean_t (x_i x_j - s_ij)².
    pi = squares.T @ squares / t - 2 * cross * sample + sample ** 2
    # θ_ii,ij: asymptotic covariance of √T s_ii and √T s_ij.
    theta = (centred ** 3).T @ centred / t - np.diag(cross)[:, None] * sample - cross * variance[:, None] \
        + variance[:, None] * sample
    np.fill_diagonal(theta, 0.0)
    rho = np.trace(pi) + mean_correlation * float(np.sum(np.outer(1 / std, std) * theta))
    gamma = float(np.sum((sample - target) ** 2))
    if gamma == 0:  # the sample already is the target
        return sample, 0.0
    shrinkage = float(max(0.0, min(1.0, (pi.sum() - rho) / gamma / t)))
    return shrinkage * target + (1 - shrinkage) * sample, shrinkage


def _constant_variance(values: np.ndarray) -> tuple[np.ndarray, float]:
    """Daily Ledoit-Wolf estimate towards μI on the 1/T covariance, and δ (scikit-learn's formula)."""
    t, n = values.shape
    centred = values - values.mean(axis=0)
    empirical = centred.T @ centred / t
    if n == 1:
        return empirical, 0.0
    squares = centred ** 2
    average_variance = np.trace(empirical) / n
    # δ = min(b̄², d²) / d²: b̄² the estimated error of the sample, d² its distance to μI.
    fourth = float(np.sum(squares.T @ squares))
    distance_sq = float(np.sum((centred.T @ centred) ** 2)) / t ** 2
    error = (fourth / t - distance_sq) / (n * t)
    distance = (distance_sq - 2 * average_variance * squares.sum() / t + n * average_variance ** 2) / n
    error = min(error, distance)
    shrinkage = 0.0 if error == 0 else float(error / distance)
    shrunk = (1 - shrinkage) * empirical
    shrunk[np.diag_indices(n)] += shrinkage * average_variance
    return shrunk, shrinkage
