"""Validate and align strategies' daily return series before anything is fitted to them.

Documented handling of bad data:
- a NaN or infinite value inside a series is an error naming the strategy and date
  (a missing day is never silently read as a flat day);
- calendars that differ are aligned on the dates every strategy has (inner join);
  the common history must still reach ``min_days``, else the error names the
  strategy whose history is shortest;
- duplicate dates and returns of -100% or worse are errors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import PortfolioDataError

TRADING_DAYS = 252


PERCENT_LIKE = 0.2  # a median daily move of 20% is no strategy's: the file is in percent units


def prepare_returns(series: dict[str, pd.Series] | pd.DataFrame, min_days: int = 60) -> pd.DataFrame:
    columns = dict(series.items())
    if not columns:
        raise PortfolioDataError("returns", "no strategies given")
    cleaned = {str(name): _validated(str(name), values) for name, values in columns.items()}
    aligned = pd.concat(cleaned, axis=1, join="inner").sort_index()
    if len(aligned) < min_days:
        shortest = min(cleaned, key=lambda name: len(cleaned[name]))
        raise PortfolioDataError(
            shortest, f"only {len(aligned)} days in common with the other strategies; at least {min_days} needed")
    return aligned.astype(float)


def check_aligned(returns: pd.DataFrame, min_days: int = 60) -> None:
    """prepare_returns' checks on a frame built elsewhere, vectorised (the optimisers are public
    and fast: a NaN must be a clear refusal naming the strategy and date, not a LinAlgError)."""
    if returns.shape[1] == 0:
        raise PortfolioDataError("returns", "no strategies given")
    try:
        values = returns.to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise PortfolioDataError("returns", "contains values that are not numbers") from None
    for problem, bad in (("missing or infinite return", ~np.isfinite(values)),
                         ("return of -100% or worse", values <= -1)):
        if bad.any():
            row, column = np.argwhere(bad)[0]
            raise PortfolioDataError(str(returns.columns[column]), f"{problem} on row {row} ({returns.index[row]})")
    if len(returns) < min_days:
        raise PortfolioDataError("returns", f"only {len(returns)} days; at least {min_days} needed")


def _validated(name: str, values: pd.Series) -> pd.Series:
    if not isinstance(values, pd.Series):
        values = pd.Series(values)
    try:
        values = values.astype(float)
    except (TypeError, ValueError):
        raise PortfolioDataError(name, "contains values that are not numbers") from None
    if not (isinstance(values.index, pd.DatetimeIndex) or pd.api.types.is_object_dtype(values.index)
            or pd.api.types.is_string_dtype(values.index)):
        raise PortfolioDataError(name, f"is indexed by {values.index.dtype}, not by dates")
    try:
        index = pd.DatetimeIndex(pd.to_datetime(values.index))
    except (TypeError, ValueError):
        raise PortfolioDataError(name, "has an index that is not dates in one timezone") from None
    # A day is its calendar date where it was recorded: a zone-aware series and a naive one
    # line up on their dates instead of sharing "0 days in common".
    index = (index.tz_localize(None) if index.tz is not None else index).normalize()
    if index.has_duplicates:
        raise PortfolioDataError(name, f"date {index[index.duplicated()][0].date()} appears twice")
    values = pd.Series(values.to_numpy(), index=index).sort_index()
    bad = ~np.isfinite(values.to_numpy())
    if bad.any():
        raise PortfolioDataError(name, f"missing or infinite return on {values.index[bad.argmax()].date()}")
    if float(values.abs().median()) > PERCENT_LIKE:
        raise PortfolioDataError(name, f"has a median daily move of {values.abs().median():.2f}: these look like "
                                       "percentages; send fractions (0.012 for 1.2%)")
    ruin = values.to_numpy() <= -1
    if ruin.any():
        raise PortfolioDataError(name, f"return of -100% or worse on {values.index[ruin.argmax()].date()}")
    if len(values) > 1 and float(values.max()) == float(values.min()):
        raise PortfolioDataError(name, "is constant: a series that never moves has no risk to weigh")
    return values


def returns_from_equity(equity: pd.Series) -> pd.Series:
    if (equity <= 0).any():
        raise PortfolioDataError("equity", "must be positive throughout")
    return equity.pct_change().iloc[1:]


def annualised_moments(returns: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance scaled to a year, the inputs every mean-variance method shares."""
    values = returns.to_numpy()
    return values.mean(axis=0) * TRADING_DAYS, np.atleast_2d(np.cov(values, rowvar=False)) * TRADING_DAYS
