"""Record execution confirmations: each fill once, and the position it moves.

A fill's confirmation and its position change are written in one transaction,
so a redelivered confirmation can neither be lost nor counted twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from shared.domain.models import Collections, Fill, OrderUpdate, PositionLot
from shared.domain.positions import apply_fill
from shared.journey import Journey
from shared.ports.store import Store, Transaction
from shared.services.cerebro_service import position_doc_id

_STATUS_RANK = {"submitting": 0, "submitted": 1, "working": 2, "partially_filled": 3,
                "filled": 4, "rejected": 4, "cancelled": 4}


class ConfirmationService:
    def __init__(self, store: Store, clock: Callable[[], datetime]):
        self._store = store
        self._clock = clock
        self._journey = Journey("POSITIONS")

    def handle_update(self, update: OrderUpdate) -> int:
        """Apply an order update; returns how many fills were new."""
        new_fills = sum(1 for fill in update.fills if self._record_fill(fill))
        self._advance_order(update)
        return new_fills

    def _record_fill(self, fill: Fill) -> bool:
        position_id = position_doc_id(fill.account_id, fill.strategy_id, fill.instrument.key)

        def work(tx: Transaction) -> bool:
            if tx.get(Collections.CONFIRMATIONS, fill.exec_id) is not None:
                return False
            held = tx.get(Collections.POSITIONS, position_id)
            before = PositionLot.from_document(held)
            after = apply_fill(before, fill.quantity * fill.side.sign, fill.price, fill.instrument.multiplier)
            tx.set(Collections.CONFIRMATIONS, fill.exec_id, {
                **fill.model_dump(mode="json"), "recorded_at": self._clock().isoformat(),
            })
            tx.set(Collections.POSITIONS, position_id, {
                **after.model_dump(), "account_id": fill.account_id, "strategy_id": fill.strategy_id,
                "instrument_key": fill.instrument.key, "instrument": fill.instrument.model_dump(mode="json"),
                "commission_paid": (held or {}).get("commission_paid", 0.0) + fill.commission,
                "updated_at": fill.filled_at.isoformat(),
            })
            return True

        created = self._store.transaction(work)
        if created:
            self._journey.step(fill.signal_id, f"{fill.account_id} filled {fill.side.value} {fill.quantity:g} "
                                               f"{fill.instrument.symbol} @ {fill.price:g}")
        return created

    def _advance_order(self, update: OrderUpdate) -> None:
        """Move the order's status forward only: a late 'working' never undoes 'filled'."""

        def work(tx: Transaction) -> None:
            record = tx.get(Collections.ORDERS, update.client_order_id)
            if record is None:
                return
            if _STATUS_RANK.get(update.status, 0) < _STATUS_RANK.get(record["status"], 0):
                return
            tx.set(Collections.ORDERS, update.client_order_id, {
                **record, "status": update.status, "filled_quantity": update.filled_quantity,
                "confirmed_at": self._clock().isoformat(),
            })

        self._store.transaction(work)
