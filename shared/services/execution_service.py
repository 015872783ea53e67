"""Execution: place each order at its account's broker exactly once.

The order document (id = client order id) is the claim (``order_claims``). A delivery
that finds a fresh claim comes back when it can have expired; one that finds a stale
claim (its owner crashed) first asks the broker whether the order already exists (the
broker knows it by our client order id) and only places it if it does not. While the
broker call runs, the claim's lease is renewed. Just before the broker call, an order whose
quantity or notional is not finite or is past the plausibility bounds (``risk.implausible``)
is rejected with its reason and never placed.

Orders come in batches where the bus delivers them so (a bar close's fan-out on the embedded
stack): their claims take one transaction, each broker gets its orders together
(``place_orders``), and their conclusions take one transaction. Each order keeps its own
outcome; one that waits or fails is released and redelivered alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

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
from shared.ports.store import Store, Transaction, write_behind
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
        """Place one order; its update, or None when it went to a bridge or was done already.
        Raises what stopped it (``OrderInFlight`` to wait, a retryable broker error)."""
        answer = self._handle([order])[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def handle_orders(self, orders: list[Order]) -> list[Exception | None]:
        """Place a batch of orders (a bar close's fan-out) in a few store transactions: their
        claims in one, each broker's placements together, their conclusions in one. Each
        order's outcome in order: None when handled, else what would have been raised for it
        alone."""
        return [answer if isinstance(answer, Exception) else None for answer in self._handle(orders)]

    def _handle(self, orders: list[Order]) -> list[OrderUpdate | Exception | None]:
        answers: list[OrderUpdate | Exception | None] = [None] * len(orders)
        local = [(index, order) for index, order in enumerate(orders) if not self._forwarded(order)]
        placing: dict[str, list[tuple[int, Order, Claim]]] = {}  # broker -> its orders to place
        concluding: list[tuple[int, Order, OrderUpdate]] = []
        for (index, order), claim in zip(local, self.claims.claim_many([o for _, o in local]), strict=True):
            if isinstance(claim, OrderInFlight):
                answers[index] = claim
            elif claim == Claim.DONE:
                self._republish(order)
            elif order.broker not in self._brokers:
                concluding.append((index, order, _rejected(order, f"no {order.broker} broker configured")))
            else:
                placing.setdefault(order.broker, []).append((index, order, claim))
        halted = _Halts(self._store)
        with self.claims.held([order for items in placing.values() for _, order, _ in items]):
            for name, items in placing.items():
                placed = self._place(self._brokers[name], [(order, claim) for _, order, claim in items], halted)
                for (index, order, _), answer in zip(items, placed, strict=True):
                    if isinstance(answer, Exception):
                        # Whatever broke, the next delivery may recover it at once: it asks the broker first.
                        self.claims.release(order, f"{type(answer).__name__}: {answer}"[:300])
                        answers[index] = answer
                    else:
                        concluding.append((index, order, answer))
        self._conclude([(order, update) for _, order, update in concluding])
        for index, _, update in concluding:
            answers[index] = update
        for name in placing:
            for later in self._brokers[name].take_updates():
                self._publish(later, None)
        return answers

    def _forwarded(self, order: Order) -> bool:
        """An order for a broker whose stateful connection lives elsewhere (IBKR: the gateway
        VM) goes to its bridge. Forwarding is idempotent: the bridge claims it by its id."""
        if order.broker in self._brokers or order.broker not in BRIDGED:
            return False
        self._bus.publish(BRIDGED[order.broker], OrderMessage(order=order).model_dump(mode="json"),
                          {"signal_id": order.signal_id, "client_order_id": order.client_order_id})
        self._journey.step(order.signal_id, f"{order.client_order_id} routed to the {order.broker} bridge")
        return True

    def _republish(self, order: Order) -> None:
        """An order placed or concluded already: its confirmation again, in case the first
        delivery's was lost."""
        record = self._store.get(Collections.ORDERS, order.client_order_id) or {}
        if record.get("last_update"):
            self._publish(OrderUpdate.model_validate(record["last_update"]), order)

    def _place(self, broker: BrokerClient, orders: list[tuple[Order, Claim]],
               halted: _Halts) -> list[OrderUpdate | Exception]:
        """Each order's answer: the broker's (found after a crash, or placed now), our refusal,
        or the exception placing it raised."""
        answers: dict[int, OrderUpdate | Exception] = {}
        to_place: list[tuple[int, Order]] = []
        for index, (order, claim) in enumerate(orders):
            try:
                found = broker.find_order(order.account_id, order.client_order_id) if claim == Claim.RECOVER else None
            except Exception as error:  # noqa: BLE001 - this order waits; the others go ahead
                answers[index] = error
                continue
            if found is not None:
                self._journey.step(order.signal_id, f"{order.client_order_id} found at the broker after a restart")
                answers[index] = found
            elif absurd := implausible(order):
                # The last gate before the broker, for every order (exits and flattens too): whatever
                # decided it, an absurd or non-finite size is refused here, never placed.
                answers[index] = _rejected(order, absurd)
            elif not order.reduce_only and (reason := halted.why(order)):
                # Orders decided before the halt still wait on the topic: stop the risk-adding ones here.
                answers[index] = _rejected(order, reason)
            else:
                to_place.append((index, order))
        try:
            placed = broker.place_orders([order for _, order in to_place]) if to_place else []
        except Exception as error:  # noqa: BLE001 - the broker call broke as a whole: each order is retried
            placed = [error] * len(to_place)
        for (index, order), answer in zip(to_place, placed, strict=True):
            if isinstance(answer, BrokerError) and not answer.retryable:
                answer = _rejected(order, str(answer))
            elif isinstance(answer, BrokerError):
                self._journey.step(order.signal_id, f"{order.client_order_id} broker unavailable, will retry: {answer}")
            answers[index] = answer
        return [answers[index] for index in range(len(orders))]

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

    def _conclude(self, concluded: list[tuple[Order, OrderUpdate]]) -> None:
        """Record the broker's answers on the order documents, in one transaction, then
        publish them as confirmations."""
        if not concluded:
            return
        now = self._clock().isoformat()

        def work(tx: Transaction) -> None:
            for order, update in concluded:
                record = tx.get(Collections.ORDERS, order.client_order_id) or {}
                tx.set(Collections.ORDERS, order.client_order_id, {
                    **record, "status": update.status, "broker_order_id": update.broker_order_id,
                    "reason": update.reason, "last_update": update.model_dump(mode="json"), "updated_at": now,
                    "open": not update.is_final})

        self._store.transaction(write_behind(work))
        for order, update in concluded:
            self._journey.step(order.signal_id, f"{order.account_id} {order.side.value} {order.quantity:g} "
                                                f"{order.instrument.symbol}: {update.status} {update.reason}".rstrip())
            self._publish(update, order)

    def _publish(self, update: OrderUpdate, order: Order | None) -> None:
        attributes = {"client_order_id": update.client_order_id}
        if order is not None:
            attributes["signal_id"] = order.signal_id
        self._bus.publish(Topics.CONFIRMATIONS, ConfirmationMessage(update=update).model_dump(mode="json"), attributes)


def _rejected(order: Order, reason: str) -> OrderUpdate:
    return OrderUpdate(client_order_id=order.client_order_id, status=OrderStatus.REJECTED, reason=reason)


class _Halts:
    """Why new risk may not be placed now ('' when it may): the kill switch, or a HALTED fund,
    account or strategy. Each scope is read once per batch, not once per order."""

    def __init__(self, store: Store):
        self._store = store
        self._read: dict[tuple[str, str], Any] = {}

    def why(self, order: Order) -> str:
        if self._state(Collections.SETTINGS, KILL_SWITCH_DOC, "enabled"):
            return "kill switch is on: only risk-reducing orders are placed"
        for scope in ("fund", f"account:{order.account_id}", f"strategy:{order.strategy_id}"):
            if self._state(Collections.TRADING_STATES, scope, "state") == TradingState.HALTED:
                return f"{scope} is HALTED: only risk-reducing orders are placed"
        return ""

    def _state(self, collection: str, doc_id: str, field: str) -> Any:
        if (collection, doc_id) not in self._read:
            self._read[collection, doc_id] = (self._store.get(collection, doc_id) or {}).get(field)
        return self._read[collection, doc_id]
