"""A signal that must wait for its book parks on what it waits for, and is woken when that moves.

Signals of one book (strategy and instrument) are decided one after the other, each against
what the one before it did. A signal that finds its book busy (an earlier signal not yet
decided, or an order nobody has answered for yet) does not hold its delivery open, which
would tie up a push slot the orders it waits on need: it writes itself onto the blocking
document's ``waiters`` (in a transaction that checks the document still blocks) and is
acknowledged. Whoever next moves that document (cerebro deciding the earlier signal,
confirmations recording the order's update) takes the waiters in the same transaction and
publishes their signals again. Either the park sees the move or the mover sees the park, so
no wake-up is lost; the scheduled sweep republishes anything a crash stranded in between.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from shared.domain.models import Collections, Instrument, Topics, book_key
from shared.ports.bus import Bus
from shared.ports.store import Document, Store, Transaction

RESTING = ("submitted", "working", "partially_filled")  # at the broker, waiting for the market
UNACKNOWLEDGED = ("decided", "submitting")  # orders no broker has answered for yet


@dataclass(frozen=True)
class Blocker:
    """A document a signal waits on, and the test (read in the parking transaction) of whether
    it still blocks."""

    collection: str
    doc_id: str
    reason: str
    blocks: Callable[[Transaction, Document], bool]


def undecided_signal(signal_id: str, reason: str) -> Blocker:
    """An earlier signal of the same book, not yet decided."""
    return Blocker(Collections.OPEN_SIGNALS, signal_id, reason, lambda tx, doc: not doc.get("decided"))


def unsettled_order(client_order_id: str, owner_signal_id: str, reason: str) -> Blocker:
    """An earlier signal's order that is neither resting at its broker nor settled in our books."""

    def blocks(tx: Transaction, doc: Document) -> bool:
        owner = tx.get(Collections.OPEN_SIGNALS, owner_signal_id) or {}
        return doc["status"] not in RESTING and client_order_id in (owner.get("open_orders") or ())

    return Blocker(Collections.ORDERS, client_order_id, reason, blocks)


def unacknowledged_order(client_order_id: str, reason: str) -> Blocker:
    """An open order no broker has answered for yet."""
    return Blocker(Collections.ORDERS, client_order_id, reason,
                   lambda tx, doc: bool(doc.get("open")) and doc["status"] in UNACKNOWLEDGED)


def open_order(client_order_id: str, reason: str) -> Blocker:
    """A working order being cancelled: it blocks until its final state is recorded."""
    return Blocker(Collections.ORDERS, client_order_id, reason, lambda tx, doc: bool(doc.get("open")))


def park(store: Store, signal_id: str, blocker: Blocker) -> bool:
    """Put the signal on the blocker's waiters; False (nothing written) when it no longer blocks."""

    def work(tx: Transaction) -> bool:
        doc = tx.get(blocker.collection, blocker.doc_id)
        if doc is None or not blocker.blocks(tx, doc):
            return False
        waiters = doc.get("waiters") or []
        if signal_id not in waiters:
            tx.set(blocker.collection, blocker.doc_id, {**doc, "waiters": [*waiters, signal_id]})
        return True

    return store.transaction(work)


def without_waiters(doc: Document) -> tuple[Document, list[str]]:
    """The document as a mover writes it back (no waiters left), and the waiters to wake."""
    waiters = list(doc.get("waiters") or ())
    return {**doc, "waiters": []}, waiters


def publish_signal(bus: Bus, record: Document) -> None:
    """Publish a stored signal again (its record in ``signals``), on its book's ordering key."""
    instrument = Instrument.model_validate(record["signal"]["instrument"])
    bus.publish(Topics.SIGNALS, {"signal": record["signal"]}, {"signal_id": record["signal_id"]},
                ordering_key=book_key(record["strategy_id"], instrument.key))


def wake(store: Store, bus: Bus, signal_ids: list[str]) -> None:
    """Publish the parked signals again; each decides, or parks on whatever blocks it now."""
    for signal_id in signal_ids:
        record = store.get(Collections.SIGNALS, signal_id)
        if record is not None and record.get("decisions") is None:
            publish_signal(bus, record)
