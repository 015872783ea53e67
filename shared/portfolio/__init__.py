"""The portfolio builder's pure core: return data checks, covariance estimates, optimisers,
the efficient frontier, and backtests with costs and a rebalancing policy."""

from .backtest import Backtest, WalkForward, Window, backtest, walk_forward
from .constraints import Constraints, OptimisationResult
from .covariance import COVARIANCE_ESTIMATORS, covariance_estimate, estimate_covariance
from .cvar import min_cvar
from .errors import InfeasibleConstraints, PortfolioDataError
from .frontier import FrontierPoint, efficient_frontier
from .hierarchical import hierarchical_risk_parity
from .metrics import Metrics, correlation, drawdown_series, equity_curve, metrics, metrics_table
from .optimisers import (
    OPTIMISERS,
    equal_weight,
    hybrid,
    max_cagr,
    max_sharpe,
    min_variance,
    optimise,
    parameters,
    risk_parity,
)
from .rebalancing import Costs, Rebalancing
from .returns import annualised_moments, prepare_returns, returns_from_equity

__all__ = [
    "COVARIANCE_ESTIMATORS", "OPTIMISERS", "Backtest", "Constraints", "Costs", "FrontierPoint",
    "InfeasibleConstraints", "Metrics", "OptimisationResult", "PortfolioDataError", "Rebalancing", "WalkForward",
    "Window", "annualised_moments", "backtest", "correlation", "covariance_estimate", "drawdown_series",
    "efficient_frontier", "equal_weight", "equity_curve", "estimate_covariance", "hierarchical_risk_parity",
    "hybrid", "max_cagr", "max_sharpe", "metrics", "metrics_table", "min_cvar", "min_variance", "optimise",
    "parameters", "prepare_returns", "returns_from_equity", "risk_parity", "walk_forward",
]
