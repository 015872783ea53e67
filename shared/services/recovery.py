"""Resume after a restart, and sweep up what a crash or a lost message left behind.

Pub/Sub keeps undelivered messages across a crash; the in-process bus does not. The
store does, so on start every signal still in ``open_signals`` (not yet decided, or
some order of it not final) is published again. Every stage is idempotent: cerebro
republishes its recorded decisions, execution skips or recovers orders it already placed
(asking the broker by client order id), and confirmations count each fill once. Only the
lost steps run.

The sweep does the same on a schedule, on both stacks, for signals that have been open
longer than ``SWEEP_AFTER_SECONDS`` with work that no broker has answered for: an execution
instance that died holding a claim, a message dead-lettered while its book waited.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.domain.models import Collections, SignalStatus
from shared.journey import Journey
from shared.ports.bus import Bus
from shared.ports.store import Store, Transaction
from shared.services.book_waits import RESTING, publish_signal
from shared.services.cerebro_service import arrival


class PipelineRecovery:
    def __init__(self, store: Store, bus: Bus, clock: Callable[[], datetime]):
        self._store = store
        self._bus = bus
        self._clock = clock
        self._journey = Journey("RECOVERY")

    def resume(self) -> list[str]:
        """Republish every unsettled signal; returns their ids. Decided signals go first: later
        signals of their books wait on their orders, which their republishing republishes."""
        resumed = []
        for in_flight in sorted(self._store.query(Collections.OPEN_SIGNALS),
                                key=lambda entry: (not entry.get("decided"), arrival(entry))):
            signal_id = in_flight["signal_id"]
            record = self._store.get(Collections.SIGNALS, signal_id)
            if record is None or self._settle_remnant(in_flight):
                continue
            publish_signal(self._bus, record)
            if record["status"] == SignalStatus.RECEIVED:  # stored, then the process died before publishing
                self._store.update(Collections.SIGNALS, signal_id, {"status": SignalStatus.PUBLISHED})
            self._journey.step(signal_id, f"resumed after a restart (was {record['status']})")
            resumed.append(signal_id)
        return resumed

    def sweep(self, older_than_seconds: float) -> list[str]:
        """Republish what has waited longer than ``older_than_seconds`` for work no broker has
        answered or our books have not settled: in each book, every decided signal with such an
        order (republishing repeats only what was lost), or else its first undecided signal (the
        ones behind it are parked on it and woken in turn). Resting orders are the broker's to
        fill. A signal swept is left alone for as long again, so a slow book is not flooded."""
        now = self._clock()
        books: dict[str, list[dict[str, Any]]] = {}
        for in_flight in self._store.query(Collections.OPEN_SIGNALS):
            book: str = in_flight["book"] if "book" in in_flight else in_flight["signal_id"]
            books.setdefault(book, []).append(in_flight)
        swept = []
        for entries in books.values():
            ordered = sorted((entry for entry in entries if not self._settle_remnant(entry)), key=arrival)
            stuck = [e for e in ordered if e.get("decided") and self._unsettled(e)]
            if not stuck:
                stuck = [e for e in ordered if not e.get("decided")][:1]
            for entry in stuck:
                if any(_age(now, entry.get(stamp)) < older_than_seconds for stamp in ("swept_at", "received_at")):
                    continue
                record = self._store.get(Collections.SIGNALS, entry["signal_id"])
                if (record is None or record["status"] == SignalStatus.HELD
                        or not self._stamp_swept(entry["signal_id"], now)):
                    continue  # held for its session, or settled meanwhile
                publish_signal(self._bus, record)
                self._journey.step(record["signal_id"], f"swept: still {record['status']} after "
                                                        f"{older_than_seconds:g}s; published again")
                swept.append(record["signal_id"])
        return swept

    def _stamp_swept(self, signal_id: str, now: datetime) -> bool:
        """Mark the signal swept, unless it has settled (and left ``open_signals``) meanwhile."""

        def work(tx: Transaction) -> bool:
            in_flight = tx.get(Collections.OPEN_SIGNALS, signal_id)
            if in_flight is not None:
                tx.set(Collections.OPEN_SIGNALS, signal_id, {**in_flight, "swept_at": now.isoformat()})
            return in_flight is not None

        return self._store.transaction(work)

    def _settle_remnant(self, in_flight: dict[str, Any]) -> bool:
        """A decided signal whose last order was ticked off, but whose entry outlived it: the
        process died between settling's compare-and-set and its delete. Nothing is left to do
        but the delete (conditional, so a signal that changed meanwhile stays)."""
        if not in_flight.get("decided") or in_flight.get("open_orders") != []:
            return False

        def work(tx: Transaction) -> bool:
            current = tx.get(Collections.OPEN_SIGNALS, in_flight["signal_id"])
            if current is None or not current.get("decided") or current.get("open_orders") != []:
                return False
            tx.delete(Collections.OPEN_SIGNALS, in_flight["signal_id"])
            return True

        if self._store.transaction(work):
            self._journey.step(in_flight["signal_id"], "settled: its last order had settled before a crash")
        return True

    def _unsettled(self, in_flight: dict[str, Any]) -> bool:
        """A decided signal with an order neither resting at its broker nor settled in our books."""
        return any((self._store.get(Collections.ORDERS, cid) or {}).get("status") not in RESTING
                   for cid in in_flight.get("open_orders") or ())

    def release_held(self) -> list[str]:
        """Republish the signals held outside their session whose market has opened."""
        now = self._clock()
        released = []
        for record in self._store.query(Collections.SIGNALS, where={"status": SignalStatus.HELD}):
            if datetime.fromisoformat(record["hold_until"]) > now:
                continue
            self._store.update(Collections.SIGNALS, record["signal_id"], {"status": SignalStatus.PUBLISHED})
            publish_signal(self._bus, record)
            self._journey.step(record["signal_id"], "released at the open: deciding now")
            released.append(record["signal_id"])
        return released


def _age(now: datetime, stamp: str | None) -> float:
    return (now - datetime.fromisoformat(stamp)).total_seconds() if stamp else float("inf")
