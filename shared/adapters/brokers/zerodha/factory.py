"""Builds the Zerodha broker from the fund's settings; None when no Zerodha account is
configured (the embedded demo fund trades only at the Mock)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .config import zerodha_config
from .execution import ZerodhaBroker, load_instruments

if TYPE_CHECKING:
    from shared.adapters.brokers.registry import BrokerContext


def build(context: BrokerContext) -> ZerodhaBroker | None:
    config = zerodha_config(context.settings)
    if config is None:
        return None
    return ZerodhaBroker(context.store, config, load_instruments, context.clock)
