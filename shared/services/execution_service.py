"""Execution: place each order at its account's broker exactly once.

The order document (id = client order id) is the claim (``order_claims``). A delivery
that finds a fresh claim comes back when it can have expired; one that finds a stale
claim (its owner crashed) first asks the broker whether the order already exists (the
broker knows it by our client order id) and only places it if it does not. While the
broker call runs, the claim's lease is renewed. Just before the broker call, an order whose
quantity or notional is not finite or is past the plausibility bounds (``risk.implausible``)
is rejected with its reason and never placed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from shared.adapters.brokers.registry import bridge_topics
from shared.domain.messages import ConfirmationMessage, OrderMessage
from shared.domain.models import (
    KILL_SWITCH_DOC,
    CancelRequest,
    Collections,
    Order,
    OrderStatus,
    OrderUpdate,
    Topics,
    TradingState,
)
from shared.domain.risk import implausible
from shared.journey import Journey
from shared.ports.broker import BrokerClient, BrokerError
from shared.ports.bus import Bus, RetryLater
from shared.ports.store import Store
from shared.services.order_claims import Claim, ClaimState, OrderClaims, OrderInFlight

__all__ = ["BRIDGED", "ExecutionService", "OrderInFlight"]

# Remote broker -> the topic its bridge takes orders and cancels from (a declared property of
# each broker in the registry: IBKR's connection lives on the gateway VM).
BRIDGED: dict[str, str] = bridge_topics()


class ExecutionService:
    def __init__(self, store: Store, bus: Bus, brokers: Mapping[str, BrokerClient],
                 clock: Callable[[], datetime], claim_lease_seconds: float):
        self._store = store
        self._bus = bus
        self._brokers = brokers
        self._clock = clock
        self.claims = OrderClaims(store, clock, claim_lease_seconds)
        self._journey = Journey("EXECUTION")

    def handle_order(self, order: Order) -> OrderUpdate | None:
        if order.broker not in self._brokers and order.broker in BRIDGED:
            # The broker needs a stateful connection that lives elsewhere (IBKR: the gateway VM).
            # Forwarding is idempotent: the bridge claims the order by its client order id.
            self._bus.publish(BRIDGED[order.broker], OrderMessage(order=order).model_dump(mode="json"),
                              {"signal_id": order.signal_id, "client_order_id": order.client_order_id})
            self._journey.step(order.signal_id, f"{order.client_order_id} routed to the {order.broker} bridge")
            return None
        claim = self.claims.claim(order)
        if claim == Claim.DONE:
            record = self._store.get(Collections.ORDERS, order.client_order_id) or {}
            if record.get("last_update"):
                # Republish: the confirmation may have been lost with the first delivery.
                self._publish(OrderUpdate.model_validate(record["last_update"]), order)
            return None
        broker = self._brokers.get(order.broker)
        if broker is None:
            return self._conclude(order, OrderUpdate(client_order_id=order.client_order_id, status=OrderStatus.REJECTED,
                                                     reason=f"no {order.broker} broker configured"))
        with self.claims.held(order):
            try:
                update = self._place(broker, order, claim)
            except Exception as error:
                # Whatever broke, the next delivery may recover it at once: it asks the broker first.
                self.claims.release(order, f"{type(error).__name__}: {error}"[:300])
                raise
        result = self._conclude(order, update)
        for later in broker.take_updates():
            self._publish(later, None)
        return result

    def _place(self, broker: BrokerClient, order: Order, claim: Claim) -> OrderUpdate:
        """The broker's answer (found after a crash, or placed now), or our refusal."""
        found = broker.find_order(order.account_id, order.client_order_id) if claim == Claim.RECOVER else None
        if found is not None:
            self._journey.step(order.signal_id, f"{order.client_order_id} found at the broker after a restart")
            return found
        if absurd := implausible(order):
            # The last gate before the broker, for every order (exits and flattens too): whatever
            # decided it, an absurd or non-finite size is refused here, never placed.
            return OrderUpdate(client_order_id=order.client_order_id, status=OrderStatus.REJECTED, reason=absurd)
        if not order.reduce_only and (halted := self._halted(order)):
            # Orders decided before the halt still wait on the topic: stop the risk-adding ones here.
            return OrderUpdate(client_order_id=order.client_order_id, status=OrderStatus.REJECTED, reason=halted)
        try:
            return broker.place_order(order)
        except BrokerError as error:
            if error.retryable:
                self._journey.step(order.signal_id, f"{order.client_order_id} broker unavailable, will retry: {error}")
                raise
            return OrderUpdate(client_order_id=order.client_order_id, status=OrderStatus.REJECTED, reason=str(error))

    def publish_broker_updates(self) -> int:
        """What the brokers reported since (fills of resting orders, cancellations): the
        bridge's poll, for orders whose placement call returned before they finished."""
        updates = [update for broker in self._brokers.values() for update in broker.take_updates()]
        for update in updates:
            record = self._store.get(Collections.ORDERS, update.client_order_id) or {}
            order = Order.model_validate(record["order"]) if record.get("order") else None
            self._publish(update, order)
        return len(updates)

    def handle_cancel(self, cancel: CancelRequest) -> OrderUpdate | None:
        """Cancel one working order; idempotent (a final order answers with its final state)."""
        if cancel.broker not in self._brokers and cancel.broker in BRIDGED:
            self._bus.publish(BRIDGED[cancel.broker], OrderMessage(cancel=cancel).model_dump(mode="json"),
                              {"signal_id": cancel.signal_id, "client_order_id": cancel.client_order_id})
            return None
        unplaced = self.claims.cancel_unplaced(cancel)
        record = self._store.get(Collections.ORDERS, cancel.client_order_id)
        if unplaced is not None and record is not None:
            self._journey.step(cancel.signal_id, f"cancel {cancel.client_order_id} ({cancel.reason}): cancelled "
                                                 "before it reached the broker")
            self._publish(unplaced, Order.model_validate(record["order"]))
            return unplaced
        broker = self._brokers.get(cancel.broker)
        if record is None or broker is None or not record.get("open"):
            return None
        if record["status"] == ClaimState.SUBMITTING:  # being placed right now: cancel what the broker then has
            raise RetryLater(f"order {cancel.client_order_id} is being placed", after_seconds=0.5)
        update = broker.cancel_order(cancel.account_id, cancel.client_order_id)
        self._journey.step(cancel.signal_id, f"cancel {cancel.client_order_id} ({cancel.reason}): {update.status}")
        self._publish(update, Order.model_validate(record["order"]))
        return update

    def _halted(self, order: Order) -> str:
        """Why new risk may not be placed now ('' when it may): the kill switch, or a HALTED
        fund, account or strategy."""
        kill = self._store.get(Collections.SETTINGS, KILL_SWITCH_DOC) or {}
        if kill.get("enabled"):
            return "kill switch is on: only risk-reducing orders are placed"
        for scope in ("fund", f"account:{order.account_id}", f"strategy:{order.strategy_id}"):
            state = self._store.get(Collections.TRADING_STATES, scope) or {}
            if state.get("state") == TradingState.HALTED:
                return f"{scope} is HALTED: only risk-reducing orders are placed"
        return ""

    def _conclude(self, order: Order, update: OrderUpdate) -> OrderUpdate:
        self._store.update(Collections.ORDERS, order.client_order_id, {
            "status": update.status, "broker_order_id": update.broker_order_id, "reason": update.reason,
            "last_update": update.model_dump(mode="json"), "updated_at": self._clock().isoformat(),
            "open": not update.is_final,
        })
        self._journey.step(order.signal_id, f"{order.account_id} {order.side.value} {order.quantity:g} "
                                            f"{order.instrument.symbol}: {update.status} {update.reason}".rstrip())
        self._publish(update, order)
        return update

    def _publish(self, update: OrderUpdate, order: Order | None) -> None:
        attributes = {"client_order_id": update.client_order_id}
        if order is not None:
            attributes["signal_id"] = order.signal_id
        self._bus.publish(Topics.CONFIRMATIONS, ConfirmationMessage(update=update).model_dump(mode="json"), attributes)

