"""Our Max Sharpe beside PyPortfolioOpt's on the same data and bounds, in the same process.

    .venv/bin/python -m bench.portfolio_max_sharpe

Synthetic daily returns (fixed seed, a three-factor structure so strategies are
correlated as real ones are) for 10, 50 and 200 strategies x 1,260 days. Both
optimisers get the same annualised mean and covariance and long-only weights in
[0, 1] summing to 1. Times are the median of 5 runs of the optimiser call only
(PyPortfolioOpt's EfficientFrontier construction included, since it is part of
its call).
"""

from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from shared.portfolio import Constraints, annualised_moments, max_sharpe

DAYS = 1260
SIZES = (10, 50, 200)
REPEATS = 5


def synthetic_returns(strategies: int, seed: int = 2026) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    factors = rng.normal(0, 0.006, size=(DAYS, 3))
    loadings = rng.uniform(-0.6, 0.9, size=(3, strategies))
    drift = rng.uniform(0.0002, 0.0008, strategies)
    own = rng.uniform(0.005, 0.02, strategies) * rng.normal(size=(DAYS, strategies))
    columns = [f"strategy_{i:03d}" for i in range(strategies)]
    return pd.DataFrame(drift + factors @ loadings + own, index=pd.bdate_range("2021-01-04", periods=DAYS),
                        columns=columns)


def timed(work: Callable[[], float]) -> tuple[float, float]:
    times, result = [], 0.0
    for _ in range(REPEATS):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, result


def main() -> None:
    from pypfopt import EfficientFrontier

    print(f"{'strategies':>10} | {'our Sharpe':>10} | {'PyPortfolioOpt':>14} | {'rel. diff':>9} | "
          f"{'ours ms':>8} | {'theirs ms':>9} | {'time ratio':>10}")
    for size in SIZES:
        returns = synthetic_returns(size)
        mu, cov = annualised_moments(returns)
        mu_s, cov_df = pd.Series(mu, index=returns.columns), pd.DataFrame(cov, returns.columns, returns.columns)

        def theirs(mu_s: pd.Series = mu_s, cov_df: pd.DataFrame = cov_df) -> float:
            frontier = EfficientFrontier(mu_s, cov_df, weight_bounds=(0, 1))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                frontier.max_sharpe(risk_free_rate=0.0)
            return frontier.portfolio_performance(risk_free_rate=0.0)[2]

        our_ms, ours = timed(lambda r=returns: max_sharpe(r, Constraints()).sharpe)
        their_ms, their_sharpe = timed(theirs)
        diff = (ours - their_sharpe) / their_sharpe
        print(f"{size:>10} | {ours:>10.6f} | {their_sharpe:>14.6f} | {diff:>9.1e} | {our_ms:>8.1f} | "
              f"{their_ms:>9.1f} | {our_ms / their_ms:>10.2f}")


if __name__ == "__main__":
    main()
