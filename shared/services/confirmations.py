"""Record execution confirmations: each fill once, and the position it moves.

A fill's confirmation and its position change are written in one transaction,
so a redelivered confirmation can neither be lost nor counted twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.domain.models import Collections, Fill, Order, OrderStatus, OrderUpdate, PositionLot
from shared.domain.positions import apply_fill
from shared.domain.protection import protective_orders
from shared.journey import Journey
from shared.ports.bus import Bus
from shared.ports.store import Store, Transaction
from shared.services.book_waits import wake
from shared.services.cerebro_service import position_doc_id
from shared.services.order_claims import ClaimState, order_fields

FINAL = (OrderStatus.FILLED, OrderStatus.REJECTED, OrderStatus.CANCELLED)
_STATUS_RANK = {ClaimState.SUBMITTING: 0, OrderStatus.SUBMITTED: 1, OrderStatus.WORKING: 2,
                OrderStatus.PARTIALLY_FILLED: 3, OrderStatus.FILLED: 4, OrderStatus.REJECTED: 4,
                OrderStatus.CANCELLED: 4}


class ConfirmationService:
    def __init__(self, store: Store, bus: Bus, clock: Callable[[], datetime]):
        self._store = store
        self._bus = bus
        self._clock = clock
        self._journey = Journey("POSITIONS")

    def handle_update(self, update: OrderUpdate) -> int:
        """Apply an order update atomically; returns how many fills were new.

        Fills, the positions they move and the order's status are written in one
        transaction: a redelivered update can neither double a fill nor leave
        an order's status behind its fills. Signals parked on the order are woken.
        """
        position_ids = {
            fill.exec_id: position_doc_id(fill.account_id, fill.strategy_id, fill.instrument.key)
            for fill in update.fills
        }

        def work(tx: Transaction) -> tuple[list[Fill], dict[str, Any] | None]:
            seen = {fill.exec_id: tx.get(Collections.CONFIRMATIONS, fill.exec_id) for fill in update.fills}
            positions = {pid: tx.get(Collections.POSITIONS, pid) for pid in set(position_ids.values())}
            order = tx.get(Collections.ORDERS, update.client_order_id)
            # Every read before the first write: Firestore transactions require it.
            legs = _protection(order, update)
            booked = {leg.client_order_id: tx.get(Collections.ORDERS, leg.client_order_id) for leg in legs}
            new = [fill for fill in update.fills if seen[fill.exec_id] is None]
            changed: dict[str, dict[str, Any]] = {}  # the positions the new fills moved
            for fill in new:
                position_id = position_ids[fill.exec_id]
                changed[position_id] = positions[position_id] = self._apply(fill, positions[position_id])
                tx.set(Collections.CONFIRMATIONS, fill.exec_id,
                       {**fill.model_dump(mode="json"), "recorded_at": self._clock().isoformat()})
            for position_id, position in changed.items():
                tx.set(Collections.POSITIONS, position_id, position)
            if order is not None and _STATUS_RANK.get(update.status, 0) >= _STATUS_RANK.get(order["status"], 0):
                # Status only moves forward: a late 'working' never undoes 'filled'.
                order = {**order, "status": update.status, "filled_quantity": update.filled_quantity,
                         "confirmed_at": self._clock().isoformat(), "open": not update.is_final}
                tx.set(Collections.ORDERS, update.client_order_id, order)
            for leg in legs:
                if booked[leg.client_order_id] is None:
                    tx.set(Collections.ORDERS, leg.client_order_id, _working_leg(leg, self._clock()))
            return new, order  # the order as stored now

        new_fills, order = self._store.transaction(work)
        if order is not None and order["status"] in FINAL:
            self._settle(order["signal_id"], update.client_order_id)
        wake(self._store, self._bus, Collections.ORDERS, update.client_order_id)  # after the settle it waits on
        for fill in new_fills:
            self._journey.step(fill.signal_id, f"{fill.account_id} filled {fill.side.value} {fill.quantity:g} "
                                               f"{fill.instrument.symbol} @ {fill.price:g}")
        return len(new_fills)

    def _settle(self, signal_id: str, client_order_id: str) -> None:
        """Tick the final order off its signal; the last one settles the signal, so a restart
        knows which signals still have work in flight. A compare-and-set outside the fill's
        transaction: the orders of one signal settle side by side without locking each other
        out, and a crash in between leaves a final order that the sweep settles again."""
        while (in_flight := self._store.get(Collections.OPEN_SIGNALS, signal_id)) is not None:
            listed = in_flight.get("open_orders") or []
            if client_order_id not in listed:
                return
            still_open = [cid for cid in listed if cid != client_order_id]
            if self._store.replace_if(Collections.OPEN_SIGNALS, signal_id, {"open_orders": listed},
                                      {**in_flight, "open_orders": still_open}):
                if not still_open:
                    self._store.delete(Collections.OPEN_SIGNALS, signal_id)
                return

    @staticmethod
    def _apply(fill: Fill, held: dict[str, Any] | None) -> dict[str, Any]:
        after = apply_fill(PositionLot.from_document(held), fill.quantity * fill.side.sign, fill.price,
                           fill.instrument.multiplier)
        return {
            **after.model_dump(), "account_id": fill.account_id, "strategy_id": fill.strategy_id,
            "instrument_key": fill.instrument.key, "instrument": fill.instrument.model_dump(mode="json"),
            "commission_paid": (held or {}).get("commission_paid", 0.0) + fill.commission,
            "updated_at": fill.filled_at.isoformat(),
        }


def _protection(order: dict[str, Any] | None, update: OrderUpdate) -> list[Order]:
    """The protective orders a filled entry now has resting at the broker."""
    if order is None or update.status != OrderStatus.FILLED or not order.get("order"):
        return []
    return protective_orders(Order.model_validate(order["order"]), update.filled_quantity)


def _working_leg(leg: Order, now: datetime) -> dict[str, Any]:
    """A protective leg booked as a working order of the entry's signal: the blotter shows it,
    an exit cancels it, and its fill (or OCA cancel) arrives as a normal update."""
    return {**order_fields(leg), "status": OrderStatus.WORKING, "open": True, "parent_order_id": leg.parent_order_id,
            "claimed_at": now.isoformat(), "attempts": 1}
