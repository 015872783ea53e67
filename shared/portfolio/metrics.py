"""Performance metrics of daily return series, on a 252-day year."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .returns import TRADING_DAYS


@dataclass(frozen=True)
class Metrics:
    cagr: float
    volatility: float
    sharpe: float | None
    sortino: float | None
    max_drawdown: float  # a positive fraction: 0.23 is a 23% fall from a peak
    calmar: float | None
    days: int


def equity_curve(returns: pd.Series, start: float = 1.0) -> pd.Series:
    return start * (1 + returns).cumprod()


def drawdown_series(equity: pd.Series) -> pd.Series:
    """How far below its running peak the curve is, as a positive fraction."""
    peaks = np.maximum.accumulate(np.concatenate([[1.0], equity.to_numpy()]))[1:]
    return pd.Series(1 - equity.to_numpy() / peaks, index=equity.index)


def metrics(returns: pd.Series, risk_free: float = 0.0) -> Metrics:
    values = returns.to_numpy(dtype=float)
    days = len(values)
    growth = float(np.prod(1 + values))
    cagr = growth ** (TRADING_DAYS / days) - 1 if days else 0.0
    volatility = float(values.std(ddof=1) * math.sqrt(TRADING_DAYS)) if days > 1 else 0.0
    volatility = volatility if volatility > 1e-12 else 0.0  # a constant series' std is rounding noise
    excess = values.mean() * TRADING_DAYS - risk_free if days else 0.0
    sharpe = excess / volatility if volatility > 0 else None
    downside = math.sqrt(float(np.mean(np.minimum(values, 0) ** 2)) * TRADING_DAYS) if days else 0.0
    sortino = excess / downside if downside > 0 else None
    max_drawdown = float(drawdown_series(equity_curve(returns)).max()) if days else 0.0
    calmar = cagr / max_drawdown if max_drawdown > 0 else None
    return Metrics(cagr=cagr, volatility=volatility, sharpe=sharpe, sortino=sortino, max_drawdown=max_drawdown,
                   calmar=calmar, days=days)


def metrics_table(returns: pd.DataFrame) -> dict[str, Metrics]:
    return {str(name): metrics(returns[name]) for name in returns.columns}


def correlation(returns: pd.DataFrame) -> pd.DataFrame:
    return returns.corr()
