"""Per-account Kite Connect settings. One Kite app (API key) belongs to one Zerodha login."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, SecretStr

KITE_ROOT = "https://api.kite.trade"


class ZerodhaAccountConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    account_id: str
    api_key: str
    api_secret: SecretStr  # never logged: SecretStr prints as '**********'
    intraday: bool = False  # MIS instead of CNC/NRML: positions squared off by Zerodha at close


class ZerodhaConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    accounts: dict[str, ZerodhaAccountConfig]
    root: str = KITE_ROOT
    timeout_seconds: float = 7.0
