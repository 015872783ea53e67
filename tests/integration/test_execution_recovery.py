"""Execution never places an order twice, whatever crashed or was redelivered."""

from __future__ import annotations

import pytest

from shared.bootstrap import Services
from shared.domain.models import Collections, Instrument, Order, Side
from shared.ports.broker import BrokerError
from shared.services.execution_service import OrderInFlight


def an_order(client_order_id: str = "mt-recovery-1") -> Order:
    return Order(client_order_id=client_order_id, signal_id="sig-r", strategy_id="momentum_us",
                 account_id="DEMO-CLIENT-A", broker="mock",
                 instrument=Instrument(symbol="AAPL", exchange="NASDAQ"), side=Side.BUY, quantity=10,
                 reference_price=190)


def broker_orders(services: Services) -> int:
    return len(services.store.query("mock_broker_orders"))


def test_a_fresh_claim_makes_a_concurrent_delivery_wait(embedded: Services):
    order = an_order()
    embedded.store.put(Collections.ORDERS, order.client_order_id, {
        "status": "submitting", "claimed_at": embedded.execution._clock().isoformat(), "attempts": 1})
    with pytest.raises(OrderInFlight):
        embedded.execution.handle_order(order)
    assert broker_orders(embedded) == 0


def test_crash_after_the_broker_accepted_recovers_the_fill_without_a_second_order(embedded: Services, clock):
    order = an_order()
    accepted = embedded.mock_broker.place_order(order)  # the broker took it...
    embedded.store.put(Collections.ORDERS, order.client_order_id, {  # ...then the process died
        "status": "submitting", "claimed_at": clock().isoformat(), "attempts": 1, "signal_id": order.signal_id})
    clock.advance(embedded.settings.order_claim_lease_seconds + 1)

    recovered = embedded.execution.handle_order(order)  # Pub/Sub redelivers after the lease
    assert embedded.bus.drain()
    assert recovered is not None and recovered.status == "filled"
    assert recovered.fills[0].exec_id == accepted.fills[0].exec_id
    assert broker_orders(embedded) == 1
    assert len(embedded.store.query(Collections.CONFIRMATIONS)) == 1
    assert embedded.store.get(Collections.ORDERS, order.client_order_id)["attempts"] == 2


def test_a_broker_timeout_releases_the_claim_and_the_retry_places_once(embedded: Services, monkeypatch):
    order = an_order()
    real_place = embedded.mock_broker.place_orders
    calls = []

    def time_out_once(orders: list[Order]):
        calls.extend(o.client_order_id for o in orders)
        if len(calls) == 1:
            raise BrokerError("timed out", retryable=True)
        return real_place(orders)

    monkeypatch.setattr(embedded.mock_broker, "place_orders", time_out_once)
    with pytest.raises(BrokerError):
        embedded.execution.handle_order(order)
    update = embedded.execution.handle_order(order)  # the redelivery
    assert update is not None and update.status == "filled"
    embedded.execution.handle_order(order)  # and a late duplicate changes nothing
    assert embedded.bus.drain()
    assert broker_orders(embedded) == 1 and len(calls) == 2
    assert len(embedded.store.query(Collections.CONFIRMATIONS)) == 1


def test_a_broker_rejection_is_recorded_with_its_reason(embedded: Services):
    order = an_order().model_copy(update={"instrument": Instrument(symbol="ZZZZ")})
    update = embedded.execution.handle_order(order)
    assert update is not None and update.status == "rejected" and "unknown symbol ZZZZ" in update.reason
    assert embedded.store.get(Collections.ORDERS, order.client_order_id)["status"] == "rejected"


@pytest.mark.parametrize("after", ["restart", "sweep"])
def test_a_crash_between_settling_the_last_order_and_its_delete_leaves_no_signal_open(
        embedded: Services, clock, monkeypatch, after: str):
    """The last fill ticks its order off the signal (a compare-and-set) and then deletes the
    emptied entry: a process killed between the two left a decided signal with no open order
    that nothing settled again, so it stayed open forever. A restart, or the sweep, settles it."""
    from shared.adapters.store_sqlite import SqliteStore
    from tests.conftest import signal_body

    deleted = SqliteStore.delete

    def killed_before_the_delete(store, collection, doc_id):
        if collection == Collections.OPEN_SIGNALS:
            return None  # the process died here
        return deleted(store, collection, doc_id)

    monkeypatch.setattr(SqliteStore, "delete", killed_before_the_delete)
    embedded.ingest.ingest(signal_body(ticker="AAPL", exchange="NASDAQ", action="buy", quantity=10, price=190,
                                       signal_id="crash-settle"), "application/json", {})
    assert embedded.bus.drain()
    (remnant,) = embedded.store.query(Collections.OPEN_SIGNALS)
    assert remnant["decided"] and remnant["open_orders"] == []
    monkeypatch.setattr(SqliteStore, "delete", deleted)

    if after == "restart":
        embedded.resume_unfinished()
    else:
        clock.advance(embedded.settings.sweep_after_seconds + 1)
        embedded.tick()
    assert embedded.bus.drain() is not None
    assert embedded.store.query(Collections.OPEN_SIGNALS) == []
    assert broker_orders(embedded) == 2  # nothing placed again: one order per demo account
