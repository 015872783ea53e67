"""Builds the IBKR broker where its connection lives (the gateway VM's bridge): IB Gateway's
address and client id come from the environment (``IbkrConfig.from_env``), not the fund's settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .config import IbkrConfig
from .connection import IbkrConnection
from .execution import IbkrBroker

if TYPE_CHECKING:
    from shared.adapters.brokers.registry import BrokerContext


def build(context: BrokerContext) -> IbkrBroker:
    config = IbkrConfig.from_env()  # IBKR_GATEWAY, IBKR_CLIENT_ID, IBKR_PRICE_FALLBACK_LAST_FILL
    return IbkrBroker(context.store, IbkrConnection(config), context.clock)
