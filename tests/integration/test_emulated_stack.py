"""End to end on the emulated cloud: webhook POST -> push subscriptions ->
functions-framework processes -> fills, positions and confirmations in Firestore."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import pytest
import requests
from google.cloud import pubsub_v1

from devstack.emulated import EmulatedStack
from devstack.processes import ManagedProcess
from shared.bootstrap import Services
from shared.demo import DEMO_PASSPHRASES
from shared.domain.models import Collections, Topics
from tests.conftest import signal_body
from tests.integration.stack_helpers import demo_fund_on, eventually, for_signal, running_stack


@pytest.fixture(scope="module")
def stack(pubsub_emulator: ManagedProcess, firestore_emulator: ManagedProcess,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatedStack]:
    with running_stack(pubsub_emulator, firestore_emulator, tmp_path_factory.mktemp("emulated-stack")) as stack:
        yield stack


@pytest.fixture(scope="module")
def services(stack: EmulatedStack) -> Iterator[Services]:
    """The test's own view of the stack's Firestore, seeded with the demo fund."""
    yield demo_fund_on(stack)


def test_webhook_to_fill_through_push_subscriptions(stack, services):
    answer = requests.post(stack.url("webhook"), timeout=30, data=signal_body(
        ticker="AAPL", exchange="NASDAQ", action="buy", quantity=10, price=190, signal_id="e2e-fill"))
    assert answer.status_code == 202, answer.text
    signal_id = answer.json()["signal_id"]

    fills = eventually(lambda: len(for_signal(services, Collections.CONFIRMATIONS, signal_id)) == 2
                       and for_signal(services, Collections.CONFIRMATIONS, signal_id))
    assert fills, (stack.log_dir / "signal_processing.log").read_text()
    assert {f["account_id"]: f["quantity"] for f in fills} == {"DEMO-CLIENT-A": 40, "DEMO-CLIENT-B": 15}
    assert eventually(lambda: {o["status"] for o in for_signal(services, Collections.ORDERS, signal_id)} == {"filled"})
    positions = {p["account_id"]: p["quantity"] for p in services.store.query(
        Collections.POSITIONS, where={"instrument_key": "NASDAQ:AAPL"})}
    assert positions == {"DEMO-CLIENT-A": 40, "DEMO-CLIENT-B": 15}
    record = services.store.get(Collections.SIGNALS, signal_id)
    assert record["status"] == "decided" and len(record["decisions"]) == 2
    log = (stack.log_dir / "signal_processing.log").read_text()
    assert f"[EXECUTION] | {signal_id}: DEMO-CLIENT-A buy 40 AAPL: filled" in log
    # The dashboard creator function refreshed both documents from the confirmations.
    assert eventually(lambda: {e["signal_id"] for e in (services.store.get(
        Collections.DASHBOARDS, "strategy:momentum_us") or {}).get("executions", [])} >= {signal_id})
    client_doc = eventually(lambda: services.store.get(Collections.DASHBOARDS, "client:client_a"))
    assert [a["account_id"] for a in client_doc["accounts"]] == ["DEMO-CLIENT-A"]


def test_tradingview_resend_and_redelivered_messages_make_one_order(stack, services):
    body = signal_body(ticker="MSFT", exchange="NASDAQ", action="buy", quantity=5, price=420,
                       time="2026-11-24T15:00:00Z")
    statuses = [requests.post(stack.url("webhook"), data=body, timeout=30).status_code for _ in range(4)]
    assert statuses == [202, 200, 200, 200]
    signal_id = services.store.query(Collections.RAW_SIGNALS, where={"strategy_id": "momentum_us"},
                                     order_by="received_at", descending=True, limit=1)[0]["signal_id"]
    orders = eventually(lambda: len(for_signal(services, Collections.ORDERS, signal_id)) == 2
                        and for_signal(services, Collections.ORDERS, signal_id))
    assert orders
    # Pub/Sub redelivers: push the same signal and the same orders again.
    publisher = pubsub_v1.PublisherClient()
    record = services.store.get(Collections.SIGNALS, signal_id)
    topic = publisher.topic_path(stack.project, Topics.SIGNALS.value)
    publisher.publish(topic, json.dumps({"signal": record["signal"]}).encode()).result(timeout=30)
    for order in orders:
        data = json.dumps({"order": order["order"]}).encode()
        publisher.publish(publisher.topic_path(stack.project, Topics.ORDERS.value), data).result(timeout=30)
    assert eventually(lambda: len(for_signal(services, Collections.CONFIRMATIONS, signal_id)) == 2)
    time.sleep(3)  # let the redeliveries run through every function
    assert len(for_signal(services, Collections.ORDERS, signal_id)) == 2
    assert len(for_signal(services, Collections.CONFIRMATIONS, signal_id)) == 2
    broker_orders = [o for o in services.store.query("mock_broker_orders") if o["order"]["signal_id"] == signal_id]
    assert len(broker_orders) == 2


def test_bad_input_is_refused_and_nothing_is_written(stack, services):
    before = len(services.store.query(Collections.RAW_SIGNALS))
    wrong = json.dumps({"strategy_id": "momentum_us", "passphrase": "nope", "ticker": "AAPL",
                        "action": "buy", "quantity": 1}).encode()
    cases = [(b"{oops", 400, "body"), (wrong, 401, "passphrase"),
             (signal_body(ticker="AAPL", action="buy", quantity=-1), 422, "quantity")]
    for body, status, field in cases:
        answer = requests.post(stack.url("webhook"), data=body, timeout=30,
                               headers={"Content-Type": "application/json"})
        assert (answer.status_code, answer.json()["field"]) == (status, field)
    assert len(services.store.query(Collections.RAW_SIGNALS)) == before


def test_poison_message_is_dead_lettered(stack, services):
    subscriber = pubsub_v1.SubscriberClient()
    publisher = pubsub_v1.PublisherClient()
    dead_letter = subscriber.subscription_path(stack.project, f"dlq-watch-{uuid.uuid4().hex[:6]}")
    subscriber.create_subscription(name=dead_letter,
                                   topic=publisher.topic_path(stack.project, Topics.ORDERS.dead_letter))
    publisher.publish(publisher.topic_path(stack.project, Topics.ORDERS.value),
                      b'{"order": {"nonsense": true}}').result(timeout=30)

    def pulled() -> list:
        response = subscriber.pull(subscription=dead_letter, max_messages=10, timeout=5)
        return list(response.received_messages)

    letters = eventually(pulled, timeout=30)
    assert letters and "invalid payload" in letters[0].message.data.decode()
    # The notifier function got it too (its Telegram message is tested against a local Bot API);
    # the admin's health view counts it.
    recorded = eventually(lambda: services.store.query(Collections.DEAD_LETTERS), timeout=30)
    assert recorded and recorded[0]["source_topic"] == "trading-orders"
    subscriber.close()
    assert DEMO_PASSPHRASES["momentum_us"] not in (stack.log_dir / "signal_processing.log").read_text()


def test_an_ibkr_order_goes_through_pub_sub_to_the_bridge_and_fills(stack, services):
    """Last in this module: it adds an IBKR account to the allocation."""
    from datetime import UTC, datetime

    from gateway_vm.bridge import IbkrBridge
    from shared.adapters.brokers.ibkr import IbkrBroker, IbkrConfig, IbkrConnection
    from shared.adapters.bus_pubsub import PubSubBus
    from shared.domain.models import Account, Allocation
    from shared.services.cerebro_service import CURRENT_ALLOCATION_DOC
    from tests.brokers.fake_tws import FakeTws

    tws = FakeTws()
    port = tws.start()
    bus = PubSubBus(stack.project, subscriber_name="bridge")
    broker = IbkrBroker(services.store, IbkrConnection(IbkrConfig(port=port)), lambda: datetime.now(UTC))
    bridge = IbkrBridge(services.store, bus, broker, lambda: datetime.now(UTC), 60.0)
    try:
        services.store.put(Collections.ACCOUNTS, "DU111111", Account(
            account_id="DU111111", broker="ibkr", client_id="client_ib").model_dump(mode="json"))
        allocation = Allocation.model_validate(services.store.get(Collections.ALLOCATION, CURRENT_ALLOCATION_DOC))
        services.store.put(Collections.ALLOCATION, CURRENT_ALLOCATION_DOC, allocation.model_copy(
            update={"weights": {**allocation.weights, "DU111111": {"momentum_us": 0.5}}}).model_dump(mode="json"))
        bridge.start()
        assert bridge.poll_once()["accounts"] == {"DU111111": "ok"}
        answer = requests.post(stack.url("webhook"), timeout=30, data=signal_body(
            ticker="MSFT", action="buy", quantity=1, price=420, signal_id="e2e-ibkr"))
        signal_id = answer.json()["signal_id"]

        def ibkr_fills() -> list[dict]:
            return [f for f in for_signal(services, Collections.CONFIRMATIONS, signal_id) if f["broker"] == "ibkr"]

        fills = eventually(ibkr_fills)
        assert fills, (stack.log_dir / "signal_processing.log").read_text()
        assert fills[0]["quantity"] == 5 and tws.placed_with_ref(fills[0]["client_order_id"]) == 1
        assert eventually(lambda: services.store.get(Collections.ORDERS, fills[0]["client_order_id"])
                          .get("filled_quantity") == 5)
        assert "routed to the ibkr bridge" in (stack.log_dir / "signal_processing.log").read_text()
    finally:
        bridge.stop()
        bus.close()
        tws.stop()
