"""What an admin may ask of the portfolio builder; light, so the HTTP layer can validate
requests without importing pandas and scipy."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

METHODS = ("max_sharpe", "max_cagr", "hybrid", "min_variance", "risk_parity", "equal_weight")


class OptimisationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Annotated[str, Field(pattern="^(" + "|".join(METHODS) + ")$")]
    strategy_ids: Annotated[list[str], Field(min_length=1, max_length=500)]
    min_weight: dict[str, Annotated[float, Field(ge=0, le=10)]] = Field(default_factory=dict)
    max_weight: dict[str, Annotated[float, Field(ge=0, le=10)]] = Field(default_factory=dict)
    default_max_weight: Annotated[float, Field(gt=0, le=10)] = 1.0
    leverage_cap: Annotated[float, Field(gt=0, le=10)] = 1.0
    risk_free: Annotated[float, Field(ge=-0.5, le=0.5)] = 0.0
    max_volatility: Annotated[float, Field(gt=0, le=5)] = 0.15  # hybrid only
    train_days: Annotated[int, Field(ge=20, le=5000)] = 504
    test_days: Annotated[int, Field(ge=5, le=2000)] = 126


class Approval(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_ids: Annotated[list[str], Field(min_length=1)] | None = None  # None: every account; [] changes nothing
    effective_from: datetime | None = None  # None: at once
