"""Per-account Kite Connect settings. One Kite app (API key) belongs to one Zerodha login."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, SecretStr

if TYPE_CHECKING:
    from shared.config import Settings

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


def zerodha_config(settings: Settings) -> ZerodhaConfig | None:
    """The accounts in ZERODHA_ACCOUNTS (JSON: account id -> api_key, api_secret, intraday) and
    KITE_API_URL; None when no account is configured. Refuses real credentials while live
    trading is off, so a paper run cannot reach a real broker by accident."""
    if not settings.zerodha_accounts:
        return None
    if not settings.live_trading:
        raise RuntimeError("ZERODHA_ACCOUNTS holds real-broker credentials but live trading is off "
                           "(MT_LIVE_TRADING=0): start with `devstack up --live`, or --use-mock-broker")
    accounts = {account_id: ZerodhaAccountConfig(account_id=account_id, **fields)
                for account_id, fields in json.loads(settings.zerodha_accounts).items()}
    return ZerodhaConfig(accounts=accounts, root=settings.kite_api_url)
