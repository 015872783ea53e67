"""The admin's controls: the kill switch, trading states, flatten, and cancelling orders.

The kill switch is the fund's HALTED state: cerebro refuses every decision that adds
risk, execution refuses every queued order that is not reduce-only, and entries resting at
the broker are cancelled, while exits, reducing orders, protective orders and flattens
still go through. Flatten (every strategy, some
strategies, or some accounts) sends one admin flatten signal per strategy with
positions or working orders in scope; cerebro cancels the working orders first, then
closes the positions.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.auth.api_keys import Principal
from shared.auth.roles import require_admin
from shared.domain.errors import Refusal, RequestRejected
from shared.domain.messages import NotificationKind, NotificationMessage, OrderMessage
from shared.domain.models import (
    KILL_SWITCH_DOC,
    CancelRequest,
    Collections,
    Instrument,
    Order,
    Topics,
    TradingState,
)
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
        require_admin(caller)
        state = {"enabled": enabled, "reason": reason, "changed_by": caller.subject,
                 "changed_at": self._clock().isoformat()}
        self._store.put(Collections.SETTINGS, KILL_SWITCH_DOC, state)
        self._journey.step("kill-switch", f"{'ON' if enabled else 'off'} by {caller.subject}: {reason}")
        if enabled:
            state = {**state, "cancelled": self._cancel_risk_adding("fund", "kill switch")}
        self._bus.publish(Topics.NOTIFICATIONS,
                          NotificationMessage.of(NotificationKind.KILL_SWITCH, **state).model_dump(mode="json"))
        return state

    def trading_states(self, caller: Principal) -> list[dict[str, Any]]:
        require_admin(caller)
        return self._store.query(Collections.TRADING_STATES, order_by="scope_id")

    def set_trading_state(self, scope_id: str, state: TradingState, reason: str, caller: Principal) -> dict[str, Any]:
        """Put the fund ('fund'), an account ('account:ID') or a strategy ('strategy:ID') in a state."""
        require_admin(caller)
        scope, _, target = scope_id.partition(":")
        known = {"account": Collections.ACCOUNTS, "strategy": Collections.STRATEGIES}
        if scope_id != "fund" and (scope not in known or self._store.get(known[scope], target) is None):
            raise RequestRejected("scope", f"{scope_id!r} is not 'fund', 'account:<id>' or 'strategy:<id>' of a "
                                           "known account or strategy", Refusal.NOT_FOUND, "not_found")
        document: dict[str, Any] = {"scope_id": scope_id, "state": state.value, "reason": reason,
                                    "changed_by": caller.subject, "changed_at": self._clock().isoformat()}
        if state is TradingState.ACTIVE:
            self._store.delete(Collections.TRADING_STATES, scope_id)
        else:
            self._store.put(Collections.TRADING_STATES, scope_id, document)
        if state is TradingState.HALTED:
            document = {**document, "cancelled": self._cancel_risk_adding(scope_id, f"{scope_id} HALTED")}
        self._journey.step("trading-state", f"{scope_id} {state.value.upper()} by {caller.subject}: {reason}")
        self._bus.publish(Topics.NOTIFICATIONS,
                          NotificationMessage.of(NotificationKind.TRADING_STATE, **document).model_dump(mode="json"))
        return document

    def flatten(self, confirmation: str, caller: Principal, strategy_ids: list[str] | None = None,
                account_ids: list[str] | None = None, reason: str = "") -> dict[str, Any]:
        require_admin(caller)
        if confirmation != FLATTEN_CONFIRMATION:
            raise RequestRejected("confirm", f"type {FLATTEN_CONFIRMATION!r} to flatten")

        def in_scope(document: dict[str, Any]) -> bool:
            return ((strategy_ids is None or document["strategy_id"] in strategy_ids)
                    and (account_ids is None or document["account_id"] in account_ids))

        holdings: dict[str, Instrument] = {}
        for position in self._store.query(Collections.POSITIONS):
            if position["quantity"] and in_scope(position):
                holdings.setdefault(position["strategy_id"], Instrument.model_validate(position["instrument"]))
        for order in self._store.query(Collections.ORDERS, where={"open": True}):
            if in_scope(order):  # a strategy with only a resting order is flattened too: its order is cancelled
                holdings.setdefault(order["strategy_id"], Instrument.model_validate(order["order"]["instrument"]))
        signals = {}
        for strategy_id, instrument in sorted(holdings.items()):
            result = self._ingest.submit_flatten(strategy_id, instrument, caller.subject, account_ids, reason)
            if result.status >= 400:
                raise RequestRejected("strategy_ids", f"flatten of {strategy_id} failed: {result.body}",
                                      Refusal.UNAVAILABLE,
                                      "unavailable")
            signals[strategy_id] = result.body["signal_id"]
        self._bus.publish(Topics.NOTIFICATIONS, NotificationMessage.of(
            NotificationKind.FLATTEN_ALL, requested_by=caller.subject, strategies=sorted(signals), reason=reason,
        ).model_dump(mode="json"))
        return {"flattening": signals}

    def _cancel_risk_adding(self, scope_id: str, why: str) -> list[str]:
        """A halt stops new risk at the broker too: entries still resting there (not reduce-only,
        not protective) are cancelled, so none can fill while trading is halted."""
        scope, _, target = scope_id.partition(":")
        cancelled = []
        for document in self._store.query(Collections.ORDERS, where={"open": True}):
            order = Order.model_validate(document["order"])
            if order.reduce_only or order.parent_order_id:
                continue
            if scope != "fund" and getattr(order, f"{scope}_id") != target:
                continue
            self._publish_cancel(order, f"{why}: resting risk-adding orders are cancelled")
            cancelled.append(order.client_order_id)
        return cancelled

    def _publish_cancel(self, order: Order, reason: str) -> None:
        cancel = CancelRequest(client_order_id=order.client_order_id, signal_id=order.signal_id,
                               account_id=order.account_id, broker=order.broker, reason=reason)
        self._bus.publish(Topics.ORDERS, OrderMessage(cancel=cancel).model_dump(mode="json"),
                          {"signal_id": order.signal_id, "client_order_id": order.client_order_id})

    def cancel_signal_orders(self, signal_id: str, caller: Principal) -> dict[str, Any]:
        """Cancel every order of a signal still working at its broker (the entry's protective
        orders included); the cancellations come back as order updates."""
        record = self._store.get(Collections.SIGNALS, signal_id)
        if record is None:
            raise RequestRejected("signal_id", f"no signal {signal_id!r}", Refusal.NOT_FOUND, "not_found")
        if caller.role != "admin":
            strategy = self._store.get(Collections.STRATEGIES, record["strategy_id"]) or {}
            if not (caller.role == "developer" and strategy.get("owner") == caller.subject):
                raise RequestRejected("signal_id", f"no signal {signal_id!r}", Refusal.NOT_FOUND, "not_found")
        cancelled = []
        for document in self._store.query(Collections.ORDERS, where={"signal_id": signal_id, "open": True}):
            order = Order.model_validate(document["order"])
            self._publish_cancel(order, f"cancelled by {caller.subject}")
            cancelled.append(order.client_order_id)
        self._journey.step(signal_id, f"{caller.subject} asked to cancel {len(cancelled)} working order(s)")
        return {"signal_id": signal_id, "cancelling": cancelled}

    def cancel_order(self, client_order_id: str, caller: Principal) -> dict[str, Any]:
        """The blotter's cancel: one working order, by its client order id. The broker's answer
        comes back as an order update, so the blotter shows it once the broker has confirmed."""
        require_admin(caller)
        document = self._store.get(Collections.ORDERS, client_order_id)
        if document is None:
            raise RequestRejected("client_order_id", f"no order {client_order_id!r}", Refusal.NOT_FOUND, "not_found")
        if not document.get("open"):
            raise RequestRejected("client_order_id", f"order {client_order_id!r} is already {document.get('status')}",
                                  Refusal.CONFLICT, "conflict")
        order = Order.model_validate(document["order"])
        self._publish_cancel(order, f"cancelled by {caller.subject}")
        self._journey.step(order.signal_id, f"{caller.subject} asked to cancel order {client_order_id}")
        return {"client_order_id": client_order_id, "signal_id": order.signal_id, "cancelling": True}

