"""Builds the Mock broker from the fund's settings: it is always configured (every stack can
paper trade), so this never answers None."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .config import mock_config
from .execution import MockBroker

if TYPE_CHECKING:
    from shared.adapters.brokers.registry import BrokerContext


def build(context: BrokerContext) -> MockBroker:
    return MockBroker(context.store, mock_config(context.settings), context.clock)
