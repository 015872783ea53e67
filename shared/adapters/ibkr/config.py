"""Where IB Gateway listens and how patient to be with it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class IbkrConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    host: str = "127.0.0.1"  # IB Gateway's API port is published on loopback only
    port: int = 4002  # paper; live is 4001
    client_id: int = Field(default=17, ge=0)  # one fixed id: TWS finds our orders again after a reconnect
    connect_timeout_seconds: float = 10.0
    answer_timeout_seconds: float = 8.0  # placeOrder unanswered this long: retry later, looking up first
    fill_wait_seconds: float = 5.0  # how long a market order may take to report its fills
    max_backoff_seconds: float = 60.0  # reconnect backoff cap (IB Gateway restarts nightly)

    @classmethod
    def from_address(cls, address: str, **overrides: object) -> IbkrConfig:
        """``host:port`` as in the IBKR_GATEWAY setting."""
        host, _, port = address.rpartition(":")
        return cls(host=host or "127.0.0.1", port=int(port), **overrides)  # type: ignore[arg-type]
