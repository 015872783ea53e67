"""Resume after a restart of the embedded stack.

Pub/Sub keeps undelivered messages across a crash; the in-process bus does not. The
store does, so on start every signal still in ``open_signals`` (not yet decided, or
some order of it not final) is published again. Every stage is idempotent: cerebro republishes its recorded
decisions, execution skips or recovers orders it already placed (asking the broker by
client order id), and confirmations count each fill once. Only the lost steps run.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from shared.domain.models import Collections, Topics
from shared.journey import Journey
from shared.ports.bus import Bus
from shared.ports.store import Store


class PipelineRecovery:
    def __init__(self, store: Store, bus: Bus, clock: Callable[[], datetime]):
        self._store = store
        self._bus = bus
        self._clock = clock
        self._journey = Journey("RECOVERY")

    def resume(self) -> list[str]:
        """Republish every unsettled signal; returns their ids."""
        resumed = []
        for in_flight in self._store.query(Collections.OPEN_SIGNALS):
            signal_id = in_flight["signal_id"]
            record = self._store.get(Collections.SIGNALS, signal_id)
            if record is None:
                continue
            self._bus.publish(Topics.SIGNALS, {"signal": record["signal"]}, {"signal_id": signal_id})
            if record["status"] == "received":  # stored, then the process died before publishing
                self._store.update(Collections.SIGNALS, signal_id, {"status": "published"})
            self._journey.step(signal_id, f"resumed after a restart (was {record['status']})")
            resumed.append(signal_id)
        return resumed

    def release_held(self) -> list[str]:
        """Republish the signals held outside their session whose market has opened."""
        now = self._clock()
        released = []
        for record in self._store.query(Collections.SIGNALS, where={"status": "held"}):
            if datetime.fromisoformat(record["hold_until"]) > now:
                continue
            self._store.update(Collections.SIGNALS, record["signal_id"], {"status": "published"})
            self._bus.publish(Topics.SIGNALS, {"signal": record["signal"]}, {"signal_id": record["signal_id"]})
            self._journey.step(record["signal_id"], "released at the open: deciding now")
            released.append(record["signal_id"])
        return released
