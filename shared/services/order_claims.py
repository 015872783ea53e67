"""Claims on orders: whoever claims an order document places it; nobody else does.

Cerebro books every order it decides as ``decided``. A delivery claims it (``submitting``,
with its owner and a short lease) and renews the lease while the broker call runs. A
delivery that finds a fresh claim is asked to come back when the lease can have expired
(``OrderInFlight``, a ``RetryLater``); one that finds an expired claim, or one released
by an owner known to be dead, recovers it: it asks the broker for the order by its client
order id first and places it only if the broker never saw it. Nothing is ever abandoned.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from enum import StrEnum
from typing import Any

from shared.domain.models import CancelRequest, Collections, Order, OrderStatus, OrderUpdate
from shared.ports.bus import RetryLater
from shared.ports.store import Store, Transaction, write_behind


class Claim(StrEnum):
    """What a delivery's claim found it must do with the order."""

    NEW = "new"  # place it
    RECOVER = "recover"  # look it up at the broker by its client order id first, then place it
    DONE = "done"  # someone placed or concluded it already


class ClaimState(StrEnum):
    """An order document's status before a broker answers for it (then it holds an OrderStatus)."""

    DECIDED = "decided"  # booked by cerebro, not yet claimed
    SUBMITTING = "submitting"  # claimed: its owner is placing it under a lease


log = logging.getLogger(__name__)

UNPLACED = (ClaimState.DECIDED,)  # booked by cerebro, not yet claimed: nothing reached a broker


class OrderInFlight(RetryLater):
    """Another delivery holds a fresh claim on this order; come back when it can have expired."""


def order_fields(order: Order) -> dict[str, Any]:
    return {
        "client_order_id": order.client_order_id, "signal_id": order.signal_id,
        "strategy_id": order.strategy_id, "account_id": order.account_id, "broker": order.broker,
        "instrument_key": order.instrument.key, "order": order.model_dump(mode="json"),
    }


def decided_order(order: Order, now: datetime) -> dict[str, Any]:
    """The document cerebro books for an order it decided (in the transaction that records the
    decision), so the next signal of the same book sees it before any execution claims it."""
    return {**order_fields(order), "status": ClaimState.DECIDED, "open": True, "decided_at": now.isoformat(),
            "attempts": 0}


class OrderClaims:
    def __init__(self, store: Store, clock: Callable[[], datetime], lease_seconds: float):
        self._store = store
        self._clock = clock
        self._lease = lease_seconds
        self.owner = uuid.uuid4().hex[:12]  # this process: a claim of another owner is never ours
        self._held: dict[str, Order] = {}  # claims whose broker call is running, renewed by the keeper
        self._keeper_lock = threading.Lock()
        self._keeper: threading.Thread | None = None

    def claim(self, order: Order) -> Claim:
        """Whether to place the order, recover it, or leave it (see ``Claim``)."""
        claim = self.claim_many([order])[0]
        if isinstance(claim, OrderInFlight):
            raise claim
        return claim

    def claim_many(self, orders: list[Order]) -> list[Claim | OrderInFlight]:
        """Each order's claim, all in one transaction; an order another delivery is placing
        answers ``OrderInFlight`` instead of raising it, so the others go ahead."""
        if not orders:
            return []
        now = self._clock()
        return self._store.transaction(write_behind(lambda tx: [self._claim(tx, order, now) for order in orders]))

    def _claim(self, tx: Transaction, order: Order, now: datetime) -> Claim | OrderInFlight:
        record = tx.get(Collections.ORDERS, order.client_order_id)
        if record is None or record["status"] in UNPLACED:
            attempts = (record or {}).get("attempts", 0) + 1
            tx.set(Collections.ORDERS, order.client_order_id, {
                **(record or order_fields(order)), "status": ClaimState.SUBMITTING, "open": True,
                "owner": self.owner, "claimed_at": now.isoformat(), "attempts": attempts})
            return Claim.NEW
        if record["status"] != ClaimState.SUBMITTING:
            return Claim.DONE
        age = (now - datetime.fromisoformat(record["claimed_at"])).total_seconds()
        if age < self._lease and not record.get("released"):
            return OrderInFlight(f"order {order.client_order_id} is being placed by another delivery",
                                 after_seconds=max(self._lease - age, 0.1))
        tx.set(Collections.ORDERS, order.client_order_id, {
            **record, "owner": self.owner, "claimed_at": now.isoformat(), "attempts": record["attempts"] + 1,
            "released": False})
        return Claim.RECOVER

    @contextlib.contextmanager
    def held(self, orders: list[Order]) -> Iterator[None]:
        """Renew the claims' leases every third of a lease while the broker calls run, so a
        slow broker never looks like a dead owner. One keeper thread renews every held claim (a
        thread started and joined per order cost a burst of orders a third of its time)."""
        with self._keeper_lock:
            self._held.update((order.client_order_id, order) for order in orders)
            if self._keeper is None:
                self._keeper = threading.Thread(target=self._keep_leases, name="order-leases", daemon=True)
                self._keeper.start()
        try:
            yield
        finally:
            with self._keeper_lock:
                for order in orders:
                    self._held.pop(order.client_order_id, None)

    def _keep_leases(self) -> None:
        while True:
            time.sleep(self._lease / 3)
            with self._keeper_lock:
                held = list(self._held.values())
            for order in held:
                try:
                    self._renew(order)
                except Exception:  # a store hiccup: the next beat renews it, well inside the lease
                    log.exception("could not renew the lease on order %s", order.client_order_id)

    def _renew(self, order: Order) -> None:
        def work(tx: Transaction) -> None:
            record = tx.get(Collections.ORDERS, order.client_order_id)
            if record and record["status"] == ClaimState.SUBMITTING and record.get("owner") == self.owner:
                tx.set(Collections.ORDERS, order.client_order_id, {**record, "claimed_at": self._clock().isoformat()})

        self._store.transaction(work)

    def release(self, order: Order, reason: str) -> None:
        """The broker was unreachable: the next delivery may recover the order at once."""
        self._store.update(Collections.ORDERS, order.client_order_id, {"released": True, "last_error": reason})

    def release_orphans(self) -> list[str]:
        """On the start of the embedded stack every earlier owner is dead: release their claims
        so the resumed deliveries recover them now instead of waiting out the lease."""
        orphans = [r for r in self._store.query(Collections.ORDERS, where={"status": ClaimState.SUBMITTING})
                   if r.get("owner") != self.owner]
        for record in orphans:
            self._store.update(Collections.ORDERS, record["client_order_id"], {"released": True})
        return [r["client_order_id"] for r in orphans]

    def cancel_unplaced(self, cancel: CancelRequest) -> OrderUpdate | None:
        """Cancel an order no broker has seen yet (its later deliveries then find it done);
        None when it was no longer unplaced."""
        update = OrderUpdate(client_order_id=cancel.client_order_id, status=OrderStatus.CANCELLED,
                             reason=f"cancelled before it was placed: {cancel.reason}")

        def work(tx: Transaction) -> OrderUpdate | None:
            record = tx.get(Collections.ORDERS, cancel.client_order_id)
            if record is None or record["status"] not in UNPLACED:
                return None
            tx.set(Collections.ORDERS, cancel.client_order_id, {
                **record, "status": OrderStatus.CANCELLED, "open": False, "reason": update.reason,
                "last_update": update.model_dump(mode="json"), "updated_at": self._clock().isoformat()})
            return update

        return self._store.transaction(work)
