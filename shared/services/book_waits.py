"""A signal that must wait for its book parks on what it waits for, and is woken when that moves.

Signals of one book (strategy and instrument) are decided one after the other, each against
what the one before it did. A signal that finds its book busy (an earlier signal not yet
decided, or an order nobody has answered for yet) does not hold its delivery open, which
would tie up a push slot the orders it waits on need: it books a waiter document naming the
blocking document (in a transaction that reads the blocker and checks it still blocks) and is
acknowledged. Whoever next moves that document (cerebro deciding the earlier signal,
confirmations recording the order's update) looks up its waiters after committing and
publishes their signals again. The park's read of the blocker and the mover's write of it
cannot interleave, so either the park sees the move or the mover finds the waiter: no
wake-up is lost. Waiters are documents of their own, not a list on the blocker, so many
signals parking on one blocker never fight over it. The scheduled sweep republishes
anything a crash stranded in between.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from shared.domain.messages import SignalMessage
from shared.domain.models import Collections, Instrument, OrderStatus, Topics, book_key
from shared.ports.bus import Bus
from shared.ports.store import Document, Store, Transaction
from shared.services.order_claims import ClaimState

# At the broker, waiting for the market.
RESTING = (OrderStatus.SUBMITTED, OrderStatus.WORKING, OrderStatus.PARTIALLY_FILLED)
UNACKNOWLEDGED = (ClaimState.DECIDED, ClaimState.SUBMITTING)  # orders no broker has answered for yet


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


def _key(collection: str, doc_id: str) -> str:
    return f"{collection}:{doc_id}"


def park(store: Store, signal_id: str, blocker: Blocker, now: datetime) -> bool:
    """Book the signal as a waiter on the blocker; False (nothing written) when it no longer blocks."""
    key = _key(blocker.collection, blocker.doc_id)

    def work(tx: Transaction) -> bool:
        doc = tx.get(blocker.collection, blocker.doc_id)
        if doc is None or not blocker.blocks(tx, doc):
            return False
        tx.set(Collections.BOOK_WAITERS, f"{key}|{signal_id}".replace("/", "_"), {
            "blocker": key, "signal_id": signal_id, "reason": blocker.reason, "parked_at": now.isoformat()})
        return True

    return store.transaction(work)


def publish_signal(bus: Bus, record: Document) -> None:
    """Publish a stored signal again (its record in ``signals``), on its book's ordering key."""
    instrument = Instrument.model_validate(record["signal"]["instrument"])
    message = SignalMessage.model_validate({"signal": record["signal"]})
    bus.publish(Topics.SIGNALS, message.model_dump(mode="json"), {"signal_id": record["signal_id"]},
                ordering_key=book_key(record["strategy_id"], instrument.key))


def wake(store: Store, bus: Bus, collection: str, *doc_ids: str) -> list[str]:
    """After moving documents: publish the signals parked on them again (each then decides, or
    parks on whatever blocks it now) and drop their waiters; returns the signals woken. Each
    document's waiters are one indexed query: a busy book has many signals parked, each on the
    one just ahead of it, so reading every waiter per batch would grow with the queue."""
    waiters = [waiter for blocker in dict.fromkeys(_key(collection, doc_id) for doc_id in doc_ids)
               for waiter in store.query(Collections.BOOK_WAITERS, where={"blocker": blocker})]
    woken = []
    for waiter in waiters:
        record = store.get(Collections.SIGNALS, waiter["signal_id"])
        if record is not None and record.get("decisions") is None:
            publish_signal(bus, record)
            woken.append(waiter["signal_id"])
        store.delete(Collections.BOOK_WAITERS, f"{waiter['blocker']}|{waiter['signal_id']}".replace("/", "_"))
    return woken
