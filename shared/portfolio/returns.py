"""Validate and align strategies' daily return series before anything is fitted to them.

Documented handling of bad data:
- a NaN or infinite value inside a series is an error naming the strategy and date
  (a missing day is never silently read as a flat day);
- calendars that differ are aligned on the dates every strategy has (inner join);
  the common history must still reach ``min_days``, else the error names the
  strategy whose history is shortest;
- duplicate dates and returns of -100% or worse are errors;
- so are a series indexed by something other than dates, one in percent units, and one
  that (nearly) never moves: cash or a stale export would get an absurd Sharpe ratio;
- a portfolio needs at least two strategies.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import PortfolioDataError

TRADING_DAYS = 252


PERCENT_LIKE = 0.2  # a median daily move of 20% is no strategy's: the file is in percent units
NEAR_CONSTANT = 1e-4  # annualised volatility under 0.01%: nothing a strategy could trade


def prepare_returns(series: dict[str, pd.Series] | pd.DataFrame, min_days: int = 60) -> pd.DataFrame:
    cleaned = {str(name): _validated(str(name), values) for name, values in series.items()}
    _two_or_more(list(cleaned))
    aligned = pd.concat(cleaned, axis=1, join="inner").sort_index()
    if len(aligned) < min_days:
        shortest = min(cleaned, key=lambda name: len(cleaned[name]))
        raise PortfolioDataError(
            shortest, f"only {len(aligned)} days in common with the other strategies; at least {min_days} needed")
    return aligned.astype(float)


def check_aligned(returns: pd.DataFrame, min_days: int = 60) -> None:
    """prepare_returns' checks on a frame built elsewhere, vectorised (the optimisers are public
    and fast: a NaN must be a clear refusal naming the strategy and date, not a LinAlgError)."""
    _two_or_more(list(returns.columns))
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
    flat = values.std(axis=0, ddof=1) * np.sqrt(TRADING_DAYS) < NEAR_CONSTANT
    if flat.any():
        raise PortfolioDataError(str(returns.columns[int(flat.argmax())]), _FLAT)


_FLAT = (f"(nearly) never moves, under {NEAR_CONSTANT:.2%} volatility a year: a series this flat has no risk "
         "to weigh and would get an absurd Sharpe ratio")


def _two_or_more(names: list) -> None:
    if len(names) < 2:
        given = f"only {names[0]}" if names else "none"
        raise PortfolioDataError("strategy_ids", f"a portfolio needs at least two strategies; {given} given")


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
    if len(values) > 1 and float(values.std()) * np.sqrt(TRADING_DAYS) < NEAR_CONSTANT:
        raise PortfolioDataError(name, _FLAT)
    return values


def returns_from_equity(equity: pd.Series) -> pd.Series:
    if (equity <= 0).any():
        raise PortfolioDataError("equity", "must be positive throughout")
    return equity.pct_change().iloc[1:]


def annualised_mean(returns: pd.DataFrame) -> np.ndarray:
    return returns.to_numpy().mean(axis=0) * TRADING_DAYS


def annualised_moments(returns: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance scaled to a year, the inputs every mean-variance method shares."""
    values = returns.to_numpy()
    return annualised_mean(returns), np.atleast_2d(np.cov(values, rowvar=False)) * TRADING_DAYS
