"""The dashboard creator: keeps each client's and each strategy's document current.

A confirmation refreshes the two documents it touches (the account's client, the
order's strategy); a scheduled refresh rebuilds all of them, so snapshots that moved
without a fill (prices, the poller) show up too. A reader never gets a document older
than ``MAX_AGE_SECONDS``: an older one is rebuilt on the read, so the dashboards (which
read through the API) show snapshots and marks at most that old, and fills at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from shared.dashboards.documents import client_document
from shared.dashboards.strategy_document import strategy_document
from shared.domain.models import Collections, OrderUpdate
from shared.ports.store import Store

log = logging.getLogger(__name__)
SHAPE = 2  # bump when a document's keys change: one stored by older code is rebuilt, never served
MAX_AGE_SECONDS = 30.0  # two of the embedded refresh intervals (15 s): a read rarely pays for a rebuild


def client_key(client_id: str) -> str:
    return f"client:{client_id}"


def strategy_key(strategy_id: str) -> str:
    return f"strategy:{strategy_id}"


class DashboardCreator:
    def __init__(self, store: Store, clock: Callable[[], datetime], wait_for_fills_seconds: float = 5.0):
        self._store = store
        self._clock = clock
        self._wait_for_fills = wait_for_fills_seconds

    def handle(self, data: dict[str, Any]) -> list[str]:
        """A bus message: an order update refreshes what it touched; anything on the refresh
        topic rebuilds everything. Dashboards are derived data, so a malformed message is
        logged and dropped (the next scheduled refresh repairs whatever it would have)."""
        if "update" not in data:
            return self.refresh_all()
        try:
            update = OrderUpdate.model_validate(data["update"])
        except ValidationError as error:
            log.error("dashboard creator dropped an invalid update: %s", error)
            return []
        return self.on_update(update)

    def on_update(self, update: OrderUpdate) -> list[str]:
        """Refresh what one order update changed; returns the documents rewritten.

        The confirmations function receives the same message at the same time; give it a
        moment to record the fills, so the documents show them."""
        deadline = time.monotonic() + self._wait_for_fills
        while not self._recorded(update) and time.monotonic() < deadline:
            time.sleep(0.1)
        order = self._store.get(Collections.ORDERS, update.client_order_id)
        if order is None:
            return []
        account = self._store.get(Collections.ACCOUNTS, order["account_id"]) or {}
        refreshed = [self.refresh_strategy(order["strategy_id"])]
        if account.get("client_id"):
            refreshed.append(self.refresh_client(account["client_id"]))
        return [key for key in refreshed if key]

    def _recorded(self, update: OrderUpdate) -> bool:
        return all(self._store.get(Collections.CONFIRMATIONS, fill.exec_id) for fill in update.fills)

    def refresh_all(self) -> list[str]:
        clients = {a["client_id"] for a in self._store.query(Collections.ACCOUNTS) if a.get("client_id")}
        strategies = [s["strategy_id"] for s in self._store.query(Collections.STRATEGIES)]
        return [self.refresh_client(c) for c in sorted(clients)] + [
            key for key in (self.refresh_strategy(s) for s in sorted(strategies)) if key]

    def refresh_client(self, client_id: str) -> str:
        self._build_client(client_id)
        return client_key(client_id)

    def refresh_strategy(self, strategy_id: str) -> str | None:
        return strategy_key(strategy_id) if self._build_strategy(strategy_id) is not None else None

    def client(self, client_id: str) -> dict[str, Any]:
        """The stored document if it is recent, else built afresh."""
        stored = self._store.get(Collections.DASHBOARDS, client_key(client_id))
        return stored if self._recent(stored) else self._build_client(client_id)

    def strategy(self, strategy_id: str) -> dict[str, Any] | None:
        stored = self._store.get(Collections.DASHBOARDS, strategy_key(strategy_id))
        return stored if self._recent(stored) else self._build_strategy(strategy_id)

    def _recent(self, document: dict[str, Any] | None) -> bool:
        if not document or not document.get("generated_at") or document.get("shape") != SHAPE:
            return False
        age = (self._clock() - datetime.fromisoformat(document["generated_at"])).total_seconds()
        return 0 <= age <= MAX_AGE_SECONDS

    def _build_client(self, client_id: str) -> dict[str, Any]:
        document = {**client_document(self._store, client_id, self._clock()), "shape": SHAPE}
        self._store.put(Collections.DASHBOARDS, client_key(client_id), document)
        return document

    def _build_strategy(self, strategy_id: str) -> dict[str, Any] | None:
        document = strategy_document(self._store, strategy_id, self._clock())
        if document is not None:
            document = {**document, "shape": SHAPE}
            self._store.put(Collections.DASHBOARDS, strategy_key(strategy_id), document)
        return document
