"""On the emulated cloud: a document inserted into trading_signals_raw in the Firestore
emulator reaches the real raw_signals function as Eventarc's CloudEvent (through the
forwarder) and is traded exactly once, however often its event is delivered."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from devstack.emulated import EmulatedStack, RawSignalForwarder
from devstack.processes import ManagedProcess
from shared.adapters.firestore_events import created_event
from shared.bootstrap import Services
from shared.domain.models import Collections
from tests.integration.stack_helpers import demo_fund_on, eventually, for_signal, running_stack


@pytest.fixture(scope="module")
def stack(pubsub_emulator: ManagedProcess, firestore_emulator: ManagedProcess,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatedStack]:
    with running_stack(pubsub_emulator, firestore_emulator, tmp_path_factory.mktemp("raw-emulated")) as stack:
        forwarder = RawSignalForwarder(stack).start()
        try:
            yield stack
        finally:
            forwarder.stop()


@pytest.fixture(scope="module")
def services(stack: EmulatedStack) -> Iterator[Services]:
    yield demo_fund_on(stack)


def test_inserted_raw_document_is_traded_once_even_when_its_event_is_redelivered(stack, services):
    services.store.put(Collections.RAW_SIGNALS, "external-1", {
        "strategy_name": "momentum_us", "environment": "production",
        "signal": {"ticker": "AAPL", "exchange": "NASDAQ", "action": "buy", "quantity": 10, "price": 190}})
    raw = eventually(lambda: (doc := services.store.get(Collections.RAW_SIGNALS, "external-1"))
                     and doc.get("status") and doc)
    assert raw and raw["status"] == "ingested", (raw, (stack.log_dir / "function-raw_signals.log").read_text())
    signal_id = raw["signal_id"]
    fills = eventually(lambda: len(for_signal(services, Collections.CONFIRMATIONS, signal_id)) == 2
                       and for_signal(services, Collections.CONFIRMATIONS, signal_id))
    assert {f["account_id"]: f["quantity"] for f in fills} == {"DEMO-CLIENT-A": 40, "DEMO-CLIENT-B": 15}

    # Eventarc delivers at least once: the same creation event again, twice, with the
    # document as it was created (unmarked).
    original = {k: v for k, v in raw.items() if k not in ("status", "signal_id", "processed_at")}
    for _ in range(2):
        headers, body = created_event(stack.project, Collections.RAW_SIGNALS, "external-1", original)
        assert requests.post(stack.url("raw_signals"), data=body, headers=headers, timeout=60).ok
    assert len(for_signal(services, Collections.ORDERS, signal_id)) == 2
    assert len(for_signal(services, Collections.CONFIRMATIONS, signal_id)) == 2
    signals = services.store.query(Collections.SIGNALS, where={"strategy_id": "momentum_us"})
    assert [s["signal_id"] for s in signals] == [signal_id]


def test_refusal_is_recorded_on_the_raw_document(stack, services):
    services.store.put(Collections.RAW_SIGNALS, "external-bad", {
        "strategy_id": "momentum_us", "content": "order buy @ 1 filled on NOSUCH. New strategy position is 1"})
    raw = eventually(lambda: (doc := services.store.get(Collections.RAW_SIGNALS, "external-bad"))
                     and doc.get("status") and doc)
    assert raw and raw["status"] == "refused" and "unknown instrument 'NOSUCH'" in raw["reason"], raw
