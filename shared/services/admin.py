"""The admin's emergency controls: the kill switch and flatten-all.

The kill switch stops new risk everywhere: cerebro rejects every strategy signal and
execution rejects every queued order that is not reduce-only. Flatten-all sends one
admin flatten signal per strategy holding positions; those pass the kill switch, so
the usual move is: throw the switch, then flatten.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.auth.api_keys import Principal
from shared.domain.errors import RequestRejected
from shared.domain.models import KILL_SWITCH_DOC, Collections, Instrument, Topics
from shared.journey import Journey
from shared.ports.bus import Bus
from shared.ports.store import Store
from shared.services.ingest import IngestService

FLATTEN_CONFIRMATION = "FLATTEN ALL"


class AdminControls:
    def __init__(self, store: Store, bus: Bus, ingest: IngestService, clock: Callable[[], datetime]):
        self._store = store
        self._bus = bus
        self._ingest = ingest
        self._clock = clock
        self._journey = Journey("ADMIN")

    def kill_switch(self) -> dict[str, Any]:
        return self._store.get(Collections.SETTINGS, KILL_SWITCH_DOC) or {"enabled": False}

    def set_kill_switch(self, enabled: bool, reason: str, caller: Principal) -> dict[str, Any]:
        _admin(caller)
        state = {"enabled": enabled, "reason": reason, "changed_by": caller.subject,
                 "changed_at": self._clock().isoformat()}
        self._store.put(Collections.SETTINGS, KILL_SWITCH_DOC, state)
        self._journey.step("kill-switch", f"{'ON' if enabled else 'off'} by {caller.subject}: {reason}")
        self._bus.publish(Topics.NOTIFICATIONS, {"kind": "kill_switch", **state})
        return state

    def flatten_all(self, confirmation: str, caller: Principal, strategy_ids: list[str] | None = None
                    ) -> dict[str, Any]:
        _admin(caller)
        if confirmation != FLATTEN_CONFIRMATION:
            raise RequestRejected("confirm", f"type {FLATTEN_CONFIRMATION!r} to flatten")
        holdings: dict[str, Instrument] = {}
        for position in self._store.query(Collections.POSITIONS):
            if position["quantity"] and (strategy_ids is None or position["strategy_id"] in strategy_ids):
                holdings.setdefault(position["strategy_id"], Instrument.model_validate(position["instrument"]))
        signals = {}
        for strategy_id, instrument in sorted(holdings.items()):
            result = self._ingest.submit_flatten(strategy_id, instrument, caller.subject)
            if result.status >= 400:
                raise RequestRejected("strategy_ids", f"flatten of {strategy_id} failed: {result.body}", 503,
                                      "unavailable")
            signals[strategy_id] = result.body["signal_id"]
        self._bus.publish(Topics.NOTIFICATIONS, {"kind": "flatten_all", "requested_by": caller.subject,
                                                 "strategies": sorted(signals)})
        return {"flattening": signals}


def _admin(caller: Principal) -> None:
    if caller.role != "admin":
        raise RequestRejected("authorization", "only an admin may do this", 403, "forbidden")
