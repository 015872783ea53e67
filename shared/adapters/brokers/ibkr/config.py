"""Where IB Gateway listens and how patient to be with it.

The bridge reads it from the environment (``IbkrConfig.from_env``):

    IBKR_GATEWAY                   host:port of IB Gateway's API (default 127.0.0.1:4002, paper)
    IBKR_CLIENT_ID                 the API client id (default 17)
    IBKR_PRICE_FALLBACK_LAST_FILL  "1"/"true": when IB has no market data for an instrument (no
                                   subscription, no answer), quote the price of our last fill in it,
                                   with that fill's time, so the age check can judge it (default off)
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

_TRUE = ("1", "true", "yes", "on")


class IbkrConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    host: str = "127.0.0.1"  # IB Gateway's API port is published on loopback only
    port: int = 4002  # paper; live is 4001
    client_id: int = Field(default=17, ge=0)  # one fixed id: TWS finds our orders again after a reconnect
    connect_timeout_seconds: float = 10.0
    answer_timeout_seconds: float = 8.0  # placeOrder (or a market data snapshot) unanswered this long: give up
    fill_wait_seconds: float = 5.0  # how long a market order may take to report its fills
    max_backoff_seconds: float = 60.0  # reconnect backoff cap (IB Gateway restarts nightly)
    price_fallback_last_fill: bool = False  # no market data: quote our last fill (an old price, and says so)

    @classmethod
    def from_address(cls, address: str, **overrides: object) -> IbkrConfig:
        """``host:port`` as in the IBKR_GATEWAY setting."""
        host, _, port = address.rpartition(":")
        return cls(host=host or "127.0.0.1", port=int(port), **overrides)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> IbkrConfig:
        """The settings the module docstring lists, from the environment."""
        env = os.environ if environ is None else environ
        return cls.from_address(
            env.get("IBKR_GATEWAY", "127.0.0.1:4002"), client_id=int(env.get("IBKR_CLIENT_ID", "17")),
            price_fallback_last_fill=env.get("IBKR_PRICE_FALLBACK_LAST_FILL", "").strip().lower() in _TRUE)
