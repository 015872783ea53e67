"""The portfolio builder's pure core: return data checks, metrics, optimisers, backtests."""

from .backtest import Backtest, WalkForward, Window, backtest, walk_forward
from .errors import InfeasibleConstraints, PortfolioDataError
from .metrics import Metrics, correlation, drawdown_series, equity_curve, metrics, metrics_table
from .optimisers import (
    OPTIMISERS,
    Constraints,
    OptimisationResult,
    equal_weight,
    hybrid,
    max_cagr,
    max_sharpe,
    min_variance,
    optimise,
    risk_parity,
)
from .returns import annualised_moments, prepare_returns, returns_from_equity

__all__ = [
    "OPTIMISERS", "Backtest", "Constraints", "InfeasibleConstraints", "Metrics", "OptimisationResult",
    "PortfolioDataError", "WalkForward", "Window", "annualised_moments", "backtest", "correlation",
    "drawdown_series", "equal_weight", "equity_curve", "hybrid", "max_cagr", "max_sharpe", "metrics",
    "metrics_table", "min_variance", "optimise", "prepare_returns", "returns_from_equity", "risk_parity",
    "walk_forward",
]
