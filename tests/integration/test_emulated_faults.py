"""Faults on the emulated cloud, each ending with nothing lost and nothing doubled:
execution killed after the broker accepted, a broker that times out after accepting,
and the Pub/Sub and Firestore emulators frozen mid-run."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
import requests
from google.cloud import pubsub_v1

from devstack.emulated import EmulatedStack, start_function
from devstack.processes import ManagedProcess, wait_for_port
from shared.adapters.store_firestore import FirestoreStore
from shared.bootstrap import Services, build_services
from shared.config import Settings
from shared.demo import seed_demo_fund
from shared.domain.models import Account, Allocation, Collections, Instrument, Order, Side, Topics
from shared.services.cerebro_service import CURRENT_ALLOCATION_DOC
from tests.brokers.fake_kite import TOKEN_KEY, FakeKite, running
from tests.conftest import signal_body
from tests.integration.stack_helpers import eventually, for_signal, running_stack

KITE = FakeKite(net_positions=[])


@pytest.fixture(scope="module")
def kite_url() -> Iterator[str]:
    with running(KITE) as url:
        yield url


@pytest.fixture(scope="module")
def stack(pubsub_emulator: ManagedProcess, firestore_emulator: ManagedProcess, kite_url: str,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatedStack]:
    zerodha = {"ZERODHA_ACCOUNTS": json.dumps({"ZD-1": {"api_key": KITE.api_key, "api_secret": KITE.api_secret}}),
               "KITE_API_URL": kite_url, "BROKER_TOKEN_KEY": TOKEN_KEY}
    with running_stack(pubsub_emulator, firestore_emulator, tmp_path_factory.mktemp("faults"), zerodha) as stack:
        yield stack


@pytest.fixture(scope="module")
def services(stack: EmulatedStack) -> Services:
    """The demo fund plus a logged-in Zerodha account allocating to momentum_us."""
    built = build_services(Settings.from_env(), store=FirestoreStore(stack.project))
    seed_demo_fund(built.store, built.mock_broker)
    built.store.put(Collections.ACCOUNTS, "ZD-1", Account(
        account_id="ZD-1", broker="zerodha", client_id="client_in", base_currency="INR").model_dump(mode="json"))
    allocation = Allocation.model_validate(built.store.get(Collections.ALLOCATION, CURRENT_ALLOCATION_DOC))
    built.store.put(Collections.ALLOCATION, CURRENT_ALLOCATION_DOC, allocation.model_copy(
        update={"weights": {**allocation.weights, "ZD-1": {"momentum_us": 0.5}}}).model_dump(mode="json"))
    built.brokers["zerodha"].sessions.login("ZD-1", KITE.request_token)  # type: ignore[attr-defined]
    polled = requests.post(stack.url("account_poller"), timeout=30).json()
    assert polled["polled"] == 3 and "expired" not in json.dumps(polled)  # (INFY held outside us: a break)
    return built


def journey(stack: EmulatedStack) -> str:
    return (stack.log_dir / "signal_processing.log").read_text()


def test_execution_killed_after_the_broker_accepted_recovers_the_fill_without_a_second_order(stack, services):
    order = Order(client_order_id="mt-killed-0000000001", signal_id="sig-killed", strategy_id="momentum_us",
                  account_id="DEMO-CLIENT-A", broker="mock",
                  instrument=Instrument(symbol="AAPL", exchange="NASDAQ"), side=Side.BUY, quantity=10,
                  reference_price=190)
    execution = stack.functions["execution"]
    os.killpg(execution.pid, signal.SIGKILL)  # the process dies...
    execution.stop()
    accepted = services.mock_broker.place_order(order)  # ...after the broker took its order...
    # ...and before the confirmation was written: its claim is as fresh as a real crash leaves it.
    services.store.put(Collections.ORDERS, order.client_order_id, {
        "client_order_id": order.client_order_id, "signal_id": order.signal_id, "account_id": order.account_id,
        "strategy_id": order.strategy_id, "broker": "mock", "order": order.model_dump(mode="json"),
        "status": "submitting", "open": True, "owner": "the-killed-instance",
        "claimed_at": datetime.now(UTC).isoformat(), "attempts": 1})
    publisher = pubsub_v1.PublisherClient()
    publisher.publish(publisher.topic_path(stack.project, Topics.ORDERS.value),  # Pub/Sub redelivers, to nobody yet
                      json.dumps({"order": order.model_dump(mode="json")}).encode()).result(timeout=30)
    stack.functions["execution"] = start_function(stack, "execution", execution.port,
                                                  {"ZERODHA_ACCOUNTS": os.environ["ZERODHA_ACCOUNTS"],
                                                   "KITE_API_URL": os.environ["KITE_API_URL"],
                                                   "BROKER_TOKEN_KEY": TOKEN_KEY})
    wait_for_port(stack.functions["execution"])

    fills = eventually(lambda: for_signal(services, Collections.CONFIRMATIONS, order.signal_id))
    assert [f["exec_id"] for f in fills] == [accepted.fills[0].exec_id], journey(stack)
    assert eventually(lambda: services.store.get(Collections.ORDERS, order.client_order_id)["status"] == "filled")
    at_broker = [o for o in services.store.query("mock_broker_orders") if o["order"]["signal_id"] == order.signal_id]
    assert len(at_broker) == 1
    assert f"{order.client_order_id} found at the broker after a restart" in journey(stack)


def test_a_broker_that_times_out_after_accepting_is_asked_before_placing_again(stack, services):
    KITE.next_behaviours = ["timeout"]  # Kite takes the order; its answer outlasts the adapter's 7 s timeout
    KITE.requests_seen.clear()
    answer = requests.post(stack.url("webhook"), timeout=30, data=signal_body(
        ticker="NSE:INFY", action="buy", quantity=1, price=1500, signal_id="kite-timeout"))
    assert answer.status_code == 202, answer.text
    signal_id = answer.json()["signal_id"]

    def zerodha_fills() -> list[dict]:
        return [f for f in for_signal(services, Collections.CONFIRMATIONS, signal_id) if f["broker"] == "zerodha"]

    fills = eventually(zerodha_fills, timeout=90)
    assert fills, journey(stack)
    assert KITE.placed_with_tag(fills[0]["client_order_id"]) == 1
    after_placing = KITE.requests_seen[KITE.requests_seen.index("POST /orders/regular"):]
    assert "GET /orders" in after_placing  # the order book searched by tag, not a second placement


@contextmanager
def frozen(process: ManagedProcess, seconds: float) -> Iterator[None]:
    """Stop an emulator dead (no answers, no errors) and thaw it after the block and a pause."""
    os.killpg(process.pid, signal.SIGSTOP)
    try:
        yield
        time.sleep(seconds)
    finally:
        os.killpg(process.pid, signal.SIGCONT)


@pytest.mark.parametrize("emulator", ["pubsub", "firestore"])
def test_an_emulator_frozen_mid_run_loses_nothing_and_doubles_nothing(stack, services, emulator):
    body = signal_body(ticker="MSFT", action="buy", quantity=2, price=420, signal_id=f"frozen-{emulator}")
    with frozen(getattr(stack, emulator), seconds=3):
        try:  # TradingView waits 3 s, then counts the delivery as failed
            first = requests.post(stack.url("webhook"), data=body, timeout=3).status_code
        except requests.Timeout:
            first = None
    assert first in (None, 503)
    answers = []
    for _ in range(4):  # TradingView resends on failure; it may take the services a moment to reconnect
        answers.append(requests.post(stack.url("webhook"), data=body, timeout=60))
        if answers[-1].status_code < 500:
            break
        time.sleep(2)
    assert answers[-1].status_code in (200, 202), [a.text for a in answers]
    signal_id = answers[-1].json()["signal_id"]
    fills = eventually(lambda: len(for_signal(services, Collections.CONFIRMATIONS, signal_id)) >= 2
                       and for_signal(services, Collections.CONFIRMATIONS, signal_id), timeout=120)
    assert fills, journey(stack)
    time.sleep(3)  # anything redelivered after the thaw has run through by now
    assert sorted(f["account_id"] for f in for_signal(services, Collections.CONFIRMATIONS, signal_id)) == [
        "DEMO-CLIENT-A", "DEMO-CLIENT-B"]
    at_broker = [o for o in services.store.query("mock_broker_orders") if o["order"]["signal_id"] == signal_id]
    assert len(at_broker) == 2
    assert len(services.store.query(Collections.SIGNALS, where={"signal_id": signal_id})) == 1
