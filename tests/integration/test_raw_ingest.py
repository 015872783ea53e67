"""Documents other writers insert into trading_signals_raw are traded exactly once on the
embedded stack, however many watchers see them and however often."""

from __future__ import annotations

import threading
import time

import pytest

from devstack.embedded import create_app
from shared.bootstrap import Services
from shared.domain.models import Collections
from shared.entrypoints.raw_watchers import SqliteRawWatcher, start_raw_watcher
from shared.services.raw_ingest import RawSignalIngest
from tests.conftest import signal_body

ORIGINAL_SHAPE = {
    "strategy_name": "momentum_us",
    "signalID": "orig-0001",
    "signal_sent_EPOCH": 1764253800,
    "environment": "production",  # this deployment's (Settings default)
    "signal": {"ticker": "AAPL", "exchange": "NASDAQ", "action": "BUY", "quantity": 10, "price": 190},
}


def watcher(services: Services, stop: threading.Event | None = None) -> SqliteRawWatcher:
    service = RawSignalIngest(services.store, services.ingest, services.clock)
    return SqliteRawWatcher(services.store, services.settings.sqlite_path, service, 0.05, stop)


def orders_for(services: Services, signal_id: str) -> list[dict]:
    return services.store.query(Collections.ORDERS, where={"signal_id": signal_id})


def wait_for(check, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while not (result := check()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return result


def test_original_shape_is_traded_once_by_the_running_watcher_and_after_restarts(embedded: Services):
    stop = threading.Event()
    start_raw_watcher(embedded, stop, interval=0.05)
    try:
        embedded.store.put(Collections.RAW_SIGNALS, "mongo-like-id-1", ORIGINAL_SHAPE)
        raw = wait_for(lambda: (doc := embedded.store.get(Collections.RAW_SIGNALS, "mongo-like-id-1"))
                       and doc.get("status") and doc)
    finally:
        stop.set()
    assert raw["status"] == "ingested", raw
    signal_id = raw["signal_id"]
    assert embedded.bus.drain()
    assert {o["account_id"]: o["status"] for o in orders_for(embedded, signal_id)} == {
        "DEMO-CLIENT-A": "filled", "DEMO-CLIENT-B": "filled"}
    positions = {p["account_id"]: p["quantity"] for p in embedded.store.query(Collections.POSITIONS)}
    assert positions == {"DEMO-CLIENT-A": 40, "DEMO-CLIENT-B": 15}

    # A restarted watcher, and the document seen again with its marker lost (a crash between
    # ingesting and marking): still the one signal and the same two orders.
    assert watcher(embedded).run_once() == []
    unmarked = {k: v for k, v in raw.items() if k not in ("status", "signal_id", "processed_at")}
    embedded.store.put(Collections.RAW_SIGNALS, "mongo-like-id-1", unmarked)
    outcome = watcher(embedded).run_once()
    assert [(o.status, o.signal_id) for o in outcome] == [("ingested", signal_id)]
    assert embedded.bus.drain()
    assert len(orders_for(embedded, signal_id)) == 2
    assert len(embedded.store.query(Collections.SIGNALS)) == 1
    assert len(embedded.store.query(Collections.CONFIRMATIONS)) == 2


def test_two_watchers_racing_on_one_document_make_one_signal(embedded: Services):
    embedded.store.put(Collections.RAW_SIGNALS, "raced", {
        "strategy_id": "momentum_us", "content": "order buy @ 3 filled on MSFT. New strategy position is 3",
        "source": "script"})
    watchers = [watcher(embedded) for _ in range(4)]
    barrier = threading.Barrier(len(watchers))
    outcomes: list = []

    def run(each: SqliteRawWatcher) -> None:
        pending = each.pending()
        barrier.wait()
        outcomes.extend(each._service.process(doc_id, doc) for doc_id, doc in pending)

    threads = [threading.Thread(target=run, args=(w,)) for w in watchers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({o.signal_id for o in outcomes}) == 1 and outcomes[0].status == "ingested"
    assert embedded.bus.drain()
    assert len(orders_for(embedded, outcomes[0].signal_id)) == 2
    assert len(embedded.store.query(Collections.SIGNALS)) == 1


def test_refusals_are_recorded_once_and_never_retried(embedded: Services):
    embedded.store.put(Collections.RAW_SIGNALS, "unknown-strategy", {
        "content": {"strategy_id": "nobody", "ticker": "AAPL", "action": "buy", "quantity": 1}})
    embedded.store.put(Collections.RAW_SIGNALS, "no-alert", {"note": "hello"})
    embedded.store.put(Collections.RAW_SIGNALS, "typo", {
        "strategy_id": "momentum_us", "content": '{"ticker": "AAPL", "action": "buy", "qty": 1}'})
    outcomes = {o.doc_id: o for o in watcher(embedded).run_once()}
    assert {k: o.status for k, o in outcomes.items()} == {
        "unknown-strategy": "refused", "no-alert": "refused", "typo": "refused"}
    assert "unknown strategy 'nobody'" in embedded.store.get(Collections.RAW_SIGNALS, "unknown-strategy")["reason"]
    assert embedded.store.get(Collections.RAW_SIGNALS, "typo")["reason"] == "qty: is not a known field"
    assert watcher(embedded).run_once() == []
    assert embedded.store.query(Collections.SIGNALS) == []


def test_the_webhooks_own_raw_records_are_not_ingested_again(embedded: Services):
    answer = create_app(embedded).test_client().post(
        "/webhook", data=signal_body(ticker="AAPL", exchange="NASDAQ", action="buy", quantity=5, price=190),
        content_type="application/json")
    assert answer.status_code == 202
    assert embedded.bus.drain()
    assert watcher(embedded).run_once() == []
    assert len(embedded.store.query(Collections.ORDERS)) == 2


@pytest.mark.parametrize("content", [
    {"strategy_id": "momentum_us", "passphrase": "anything", "ticker": "AAPL", "action": "buy", "quantity": 2},
    '{"strategy_id": "momentum_us", "ticker": "AAPL", "action": "buy", "quantity": 2}',
])
def test_a_webhook_body_as_content_needs_no_passphrase(embedded: Services, content):
    embedded.store.put(Collections.RAW_SIGNALS, "body", {"content": content})
    [outcome] = watcher(embedded).run_once()
    assert outcome.status == "ingested", outcome
    assert embedded.bus.drain()
    assert len(orders_for(embedded, outcome.signal_id)) == 2
