"""Protective orders: the stop loss and take profit that rest for a filled entry.

Their client order ids derive from the entry's, so a broker asked twice finds the first one.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

from .models import Order, OrderType, Side


class ProtectiveLeg(StrEnum):
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"


def protective_order_id(parent_order_id: str, leg: ProtectiveLeg) -> str:
    """The client order id of an entry's protective order: deterministic like the entry's,
    so a broker that is asked twice finds the first one, and 20 characters for Kite's tag."""
    digest = hashlib.sha256(f"{parent_order_id}|{leg.value}".encode()).hexdigest()
    return f"mp{digest[:18]}"


def protective_orders(entry: Order, filled_quantity: float) -> list[Order]:
    """The resting orders that protect a filled entry: opposite side, the filled size.

    Both legs form one OCA group at the venue: when one fills the other is cancelled.
    """
    legs = []
    for leg, level in ((ProtectiveLeg.STOP_LOSS, entry.stop_loss), (ProtectiveLeg.TAKE_PROFIT, entry.take_profit)):
        if level is None or filled_quantity <= 0:
            continue
        legs.append(entry.model_copy(update={
            "client_order_id": protective_order_id(entry.client_order_id, leg),
            "side": Side.SELL if entry.side is Side.BUY else Side.BUY,
            "quantity": filled_quantity,
            "order_type": OrderType.STOP if leg is ProtectiveLeg.STOP_LOSS else OrderType.LIMIT,
            "stop_price": level if leg is ProtectiveLeg.STOP_LOSS else None,
            "limit_price": level if leg is ProtectiveLeg.TAKE_PROFIT else None,
            "reduce_only": True, "stop_loss": None, "take_profit": None,
            "parent_order_id": entry.client_order_id,
        }))
    return legs
