"""Compare what a broker holds with what our books say each strategy holds. Pure.

A difference is a break: recorded and alerted, never "fixed" by editing either side,
because only a human can tell a missed fill from a manual trade at the broker.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

TOLERANCE = 1e-9


@dataclass(frozen=True)
class Break:
    account_id: str
    instrument_key: str
    broker_quantity: float
    our_quantity: float


def our_net_positions(positions: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Per-strategy position documents of one account, summed per instrument."""
    net: dict[str, float] = {}
    for position in positions:
        net[position["instrument_key"]] = net.get(position["instrument_key"], 0.0) + position["quantity"]
    return net


def find_breaks(account_id: str, broker: Mapping[str, float], ours: Mapping[str, float]) -> list[Break]:
    return [Break(account_id, key, broker.get(key, 0.0), ours.get(key, 0.0))
            for key in sorted(set(broker) | set(ours))
            if abs(broker.get(key, 0.0) - ours.get(key, 0.0)) > TOLERANCE]
