"""How a set of weights would have done: in sample, and walk-forward out of sample."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .errors import PortfolioDataError
from .metrics import Metrics, equity_curve, metrics
from .optimisers import Constraints, optimise


@dataclass(frozen=True)
class Backtest:
    returns: pd.Series
    equity: pd.Series
    metrics: Metrics


@dataclass(frozen=True)
class Window:
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp
    weights: dict[str, float]
    in_sample: Metrics
    out_of_sample: Metrics


@dataclass(frozen=True)
class WalkForward:
    windows: list[Window]
    returns: pd.Series  # the test windows' returns, stitched together
    equity: pd.Series
    metrics: Metrics


def backtest(returns: pd.DataFrame, weights: dict[str, float]) -> Backtest:
    """Rebalanced to the target weights every day (a fund that sizes every signal against
    current equity stays close to that); uninvested capital earns nothing."""
    missing = [name for name in weights if name not in returns.columns]
    if missing:
        raise PortfolioDataError("weights", f"no returns for {', '.join(missing)}")
    vector = np.array([weights.get(name, 0.0) for name in returns.columns])
    combined = pd.Series(returns.to_numpy() @ vector, index=returns.index)
    return Backtest(combined, equity_curve(combined), metrics(combined))


def walk_forward(returns: pd.DataFrame, method: str, constraints: Constraints, train_days: int = 504,
                 test_days: int = 126, **params: Any) -> WalkForward:
    """Fit on each train window, hold the weights through the following test window, roll
    forward by one test window. Only test windows feed the out-of-sample figures."""
    if len(returns) < train_days + test_days:
        raise PortfolioDataError("returns", f"{len(returns)} days cannot hold a {train_days}-day train window "
                                            f"and a {test_days}-day test window")
    windows, pieces = [], []
    for start in range(0, len(returns) - train_days - test_days + 1, test_days):
        train = returns.iloc[start:start + train_days]
        test = returns.iloc[start + train_days:start + train_days + test_days]
        try:
            weights = optimise(method, train, constraints, **params).weights
        except PortfolioDataError as error:  # which window failed, so the data can be looked at
            raise type(error)(error.field, f"walk-forward window trained {train.index[0].date()} to "
                                           f"{train.index[-1].date()}: {error.reason}") from None
        tested = backtest(test, weights)
        windows.append(Window(train.index[0], train.index[-1], test.index[0], test.index[-1], weights,
                              backtest(train, weights).metrics, tested.metrics))
        pieces.append(tested.returns)
    stitched = pd.concat(pieces)
    return WalkForward(windows, stitched, equity_curve(stitched), metrics(stitched))
