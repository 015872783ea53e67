"""How a set of weights would have done: in sample, and walk-forward out of sample, net of
trading costs under a rebalancing policy (mechanics: ``rebalancing`` module docstring).

At the defaults (``Costs()`` free, ``Rebalancing()`` daily) the position is back at target
every day, so each day's return is simply the weighted sum of the strategies' returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .errors import PortfolioDataError
from .metrics import Metrics, equity_curve, metrics
from .optimisers import Constraints, optimise
from .rebalancing import Costs, Rebalancing, simulate
from .returns import TRADING_DAYS

DAILY = Rebalancing()  # the defaults: back to target every day,
FREE = Costs()  # for nothing


@dataclass(frozen=True)
class Backtest:
    returns: pd.Series  # net of costs
    equity: pd.Series
    metrics: Metrics
    gross_returns: pd.Series  # the same weight path, no cost deducted
    gross_equity: pd.Series
    gross_metrics: Metrics
    turnover: float  # sum of sum |delta w| over every trade, the entry included
    annual_turnover: float  # turnover * 252 / days
    costs: float  # total cost paid, as a sum of fractions of equity
    end_weights: dict[str, float]  # drifted weights after the last day, carried into the next window


@dataclass(frozen=True)
class Window:
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp
    weights: dict[str, float]
    in_sample: Metrics  # net, entering from cash, same policy and costs
    out_of_sample: Metrics  # net
    turnover: float = 0.0  # the test window's, its entry trade included
    costs: float = 0.0


@dataclass(frozen=True)
class WalkForward:
    windows: list[Window]
    returns: pd.Series  # the test windows' net returns, stitched together
    equity: pd.Series
    metrics: Metrics
    gross_returns: pd.Series
    gross_equity: pd.Series
    gross_metrics: Metrics
    turnover: float
    annual_turnover: float
    costs: float


def _vector(returns: pd.DataFrame, weights: Mapping[str, float] | None, field: str) -> np.ndarray:
    """Weights in column order (absent strategies at zero); unknown names are an error."""
    weights = weights or {}
    missing = [name for name in weights if name not in returns.columns]
    if missing:
        raise PortfolioDataError(field, f"no returns for {', '.join(missing)}")
    return np.array([float(weights.get(name, 0.0)) for name in returns.columns])


def backtest(returns: pd.DataFrame, weights: Mapping[str, float], rebalancing: Rebalancing = DAILY,
             costs: Costs = FREE, start_weights: Mapping[str, float] | None = None) -> Backtest:
    """Hold ``weights`` from ``start_weights`` (None: from cash) under the policy, paying costs;
    uninvested capital earns nothing."""
    target = _vector(returns, weights, "weights")
    start = _vector(returns, start_weights, "start_weights")
    names = [str(name) for name in returns.columns]
    run = simulate(returns.to_numpy(dtype=float), returns.index, target, start, rebalancing,
                   costs.fractions(names))
    net = pd.Series(run.net, index=returns.index)
    gross = pd.Series(run.gross, index=returns.index)
    days = len(returns)
    return Backtest(returns=net, equity=equity_curve(net), metrics=metrics(net), gross_returns=gross,
                    gross_equity=equity_curve(gross), gross_metrics=metrics(gross), turnover=run.turnover,
                    annual_turnover=run.turnover * TRADING_DAYS / days if days else 0.0, costs=run.costs,
                    end_weights=dict(zip(returns.columns, run.end_weights.tolist(), strict=True)))


def walk_forward(returns: pd.DataFrame, method: str, constraints: Constraints, train_days: int = 504,
                 test_days: int = 126, *, rebalancing: Rebalancing = DAILY, costs: Costs = FREE,
                 **params: Any) -> WalkForward:
    """Fit on each train window, hold the weights through the following test window, roll
    forward by one test window. The first window enters from cash; each next one trades from
    the previous window's drifted weights to its new target. Only test windows feed the
    out-of-sample figures."""
    if len(returns) < train_days + test_days:
        raise PortfolioDataError("returns", f"{len(returns)} days cannot hold a {train_days}-day train window "
                                            f"and a {test_days}-day test window")
    costs.fractions([str(name) for name in returns.columns])  # a bad cost name fails before any fitting
    windows: list[Window] = []
    net_pieces: list[pd.Series] = []
    gross_pieces: list[pd.Series] = []
    held: dict[str, float] | None = None  # from cash
    for start in range(0, len(returns) - train_days - test_days + 1, test_days):
        train = returns.iloc[start:start + train_days]
        test = returns.iloc[start + train_days:start + train_days + test_days]
        try:
            weights = optimise(method, train, constraints, **params).weights
        except PortfolioDataError as error:  # which window failed, so the data can be looked at
            raise type(error)(error.field, f"walk-forward window trained {train.index[0].date()} to "
                                           f"{train.index[-1].date()}: {error.reason}") from None
        tested = backtest(test, weights, rebalancing, costs, start_weights=held)
        in_sample = backtest(train, weights, rebalancing, costs).metrics
        windows.append(Window(train.index[0], train.index[-1], test.index[0], test.index[-1], weights,
                              in_sample, tested.metrics, turnover=tested.turnover, costs=tested.costs))
        net_pieces.append(tested.returns)
        gross_pieces.append(tested.gross_returns)
        held = tested.end_weights
    net, gross = pd.concat(net_pieces), pd.concat(gross_pieces)
    turnover = sum(window.turnover for window in windows)
    return WalkForward(windows=windows, returns=net, equity=equity_curve(net), metrics=metrics(net),
                       gross_returns=gross, gross_equity=equity_curve(gross), gross_metrics=metrics(gross),
                       turnover=turnover, annual_turnover=turnover * TRADING_DAYS / len(net),
                       costs=sum(window.costs for window in windows))
