"""What an admin may ask of the portfolio builder; light, so the HTTP layer and the dashboards
can validate and offer requests without importing pandas and scipy (a test checks this
registry against the optimisers' own signatures)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Each method and the request settings it takes beyond the strategies, bounds and trading.
METHODS: dict[str, tuple[str, ...]] = {
    "max_sharpe": ("risk_free", "covariance"),
    "max_cagr": (),
    "hybrid": ("max_volatility", "covariance"),
    "min_variance": ("covariance",),
    "risk_parity": ("risk_budgets", "covariance"),
    "hrp": ("covariance",),
    "min_cvar": ("cvar_beta",),
    "equal_weight": (),
}
COVARIANCE = Literal["ledoit_wolf", "sample", "ledoit_wolf_constant_variance"]
REBALANCING = Literal["daily", "weekly", "monthly", "quarterly", "threshold", "none"]

Weight = Annotated[float, Field(ge=0, le=10)]
BasisPoints = Annotated[float, Field(ge=0, le=1000)]


class OptimisationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Checked against METHODS when a request arrives (and listed in the schema when it is
    # generated), so a method registered after import is offered like the others.
    method: Annotated[str, Field(json_schema_extra=lambda schema: schema.update(enum=list(METHODS)))]
    strategy_ids: Annotated[list[str], Field(min_length=1, max_length=500)]
    min_weight: dict[str, Weight] = Field(default_factory=dict)
    max_weight: dict[str, Weight] = Field(default_factory=dict)
    default_max_weight: Annotated[float, Field(gt=0, le=10)] = 1.0
    leverage_cap: Annotated[float, Field(gt=0, le=10)] = 1.0
    # Constant-correlation Ledoit-Wolf: it lowered out-of-sample volatility on every data
    # set bench.shrinkage tried, where the sample and the constant-variance target did not.
    covariance: COVARIANCE = "ledoit_wolf"
    risk_free: Annotated[float, Field(ge=-0.5, le=0.5)] = 0.0  # max_sharpe
    max_volatility: Annotated[float, Field(gt=0, le=5)] = 0.15  # hybrid
    risk_budgets: dict[str, Annotated[float, Field(gt=0, le=1000)]] = Field(default_factory=dict)  # risk_parity
    cvar_beta: Annotated[float, Field(ge=0.5, lt=1)] = 0.95  # min_cvar
    train_days: Annotated[int, Field(ge=20, le=5000)] = 504
    test_days: Annotated[int, Field(ge=5, le=2000)] = 126
    # Trading in the backtests: what a unit of weight traded costs, and when drifted weights
    # go back to target (daily: as cerebro sizes every signal against current equity).
    cost_bp: BasisPoints = 10.0
    cost_bp_per_strategy: dict[str, BasisPoints] = Field(default_factory=dict)
    rebalancing: REBALANCING = "daily"
    rebalancing_band: Annotated[float, Field(gt=0, le=1)] = 0.05  # threshold only


    @field_validator("method")
    @classmethod
    def _known(cls, method: str) -> str:
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
        return method


class Approval(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_ids: Annotated[list[str], Field(min_length=1)] | None = None  # None: every account; [] changes nothing
    effective_from: datetime | None = None  # None: at once
