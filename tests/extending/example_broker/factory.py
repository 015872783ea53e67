"""Builds the paper venue from the fund's settings; None when no paper venue account is configured."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .config import paper_venue_config
from .execution import PaperVenueBroker

if TYPE_CHECKING:
    from shared.adapters.brokers.registry import BrokerContext


def build(context: BrokerContext) -> PaperVenueBroker | None:
    config = paper_venue_config(context.settings)
    return None if config is None else PaperVenueBroker(config, context.clock)
