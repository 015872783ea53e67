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
from shared.ports.store import Store, Transaction, write_behind
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
        return self._record([update])

    def handle_updates(self, updates: list[OrderUpdate]) -> list[Exception | None]:
        """Apply a batch of updates (a bar close's fills) in one transaction; each one's
        outcome in order. If the batch fails, each is tried alone, so one bad update is
        redelivered by itself instead of holding back the rest."""
        try:
            self._record(updates)
            return [None] * len(updates)
        except Exception as error:  # noqa: BLE001 - find which: each alone
            if len(updates) == 1:
                return [error]
        outcomes: list[Exception | None] = []
        for update in updates:
            try:
                self._record([update])
                outcomes.append(None)
            except Exception as error:  # noqa: BLE001 - this update's outcome
                outcomes.append(error)
        return outcomes

    def _record(self, updates: list[OrderUpdate]) -> int:
        def work(tx: Transaction) -> tuple[list[Fill], list[dict[str, Any]]]:
            recorded = [self._apply_update(tx, update) for update in updates]
            return [fill for new, _ in recorded for fill in new], [order for _, order in recorded if order]

        new_fills, orders = self._store.transaction(write_behind(work))
        final: dict[str, list[str]] = {}  # signal -> its orders that are final now
        for order in orders:
            if order["status"] in FINAL:
                final.setdefault(order["signal_id"], []).append(order["client_order_id"])
        for signal_id, client_order_ids in final.items():
            self._settle(signal_id, client_order_ids)
        # After the settles: a signal parked on one of these orders may be waiting for its settle.
        wake(self._store, self._bus, Collections.ORDERS, *(update.client_order_id for update in updates))
        for fill in new_fills:
            self._journey.step(fill.signal_id, f"{fill.account_id} filled {fill.side.value} {fill.quantity:g} "
                                               f"{fill.instrument.symbol} @ {fill.price:g}")
        return len(new_fills)

    def _apply_update(self, tx: Transaction, update: OrderUpdate) -> tuple[list[Fill], dict[str, Any] | None]:
        """One update's new fills, positions and order status; returns the new fills and the
        order as stored now."""
        position_ids = {
            fill.exec_id: position_doc_id(fill.account_id, fill.strategy_id, fill.instrument.key)
            for fill in update.fills
        }
        seen = {fill.exec_id: tx.get(Collections.CONFIRMATIONS, fill.exec_id) for fill in update.fills}
        positions = {pid: tx.get(Collections.POSITIONS, pid) for pid in set(position_ids.values())}
        order = tx.get(Collections.ORDERS, update.client_order_id)
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
        return new, order

    def _settle(self, signal_id: str, client_order_ids: list[str]) -> None:
        """Tick the final orders off their signal; the last one settles the signal, so a restart
        knows which signals still have work in flight. A compare-and-set outside the fills'
        transaction: the orders of one signal settle side by side without locking each other
        out, and a crash in between leaves final orders that the sweep settles again."""
        while (in_flight := self._store.get(Collections.OPEN_SIGNALS, signal_id)) is not None:
            listed = in_flight.get("open_orders") or []
            still_open = [cid for cid in listed if cid not in client_order_ids]
            if len(still_open) == len(listed):
                return
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
    if order["order"].get("stop_loss") is None and order["order"].get("take_profit") is None:
        return []  # nothing to protect: no need to parse the order
    return protective_orders(Order.model_validate(order["order"]), update.filled_quantity)


def _working_leg(leg: Order, now: datetime) -> dict[str, Any]:
    """A protective leg booked as a working order of the entry's signal: the blotter shows it,
    an exit cancels it, and its fill (or OCA cancel) arrives as a normal update."""
    return {**order_fields(leg), "status": OrderStatus.WORKING, "open": True, "parent_order_id": leg.parent_order_id,
            "claimed_at": now.isoformat(), "attempts": 1}
