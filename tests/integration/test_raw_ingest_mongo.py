"""MongoDB: documents inserted into trading_signals_raw (ObjectId keys, as other writers
insert them) are traded exactly once through the change-stream watcher, across a restart.
Runs only when MONGODB_URI names a replica set; otherwise it says it was skipped."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from shared.adapters.bus_inprocess import InProcessBus
from shared.bootstrap import Services, build_services
from shared.config import Settings
from shared.demo import seed_demo_fund
from shared.domain.models import Collections
from shared.entrypoints.raw_watchers import watch_mongo_inserts
from shared.services.raw_ingest import RawSignalIngest
from tests.emulators import mongodb_uri


@pytest.fixture
def services(tmp_path) -> Iterator[Services]:
    from shared.adapters.store_mongo import MongoStore

    database = f"raw_{uuid.uuid4().hex[:10]}"
    store = MongoStore(mongodb_uri(), database)
    settings = Settings(store="mongodb", log_dir=tmp_path / "logs")
    built = build_services(settings, store=store, bus=InProcessBus(0.01))
    seed_demo_fund(built.store, built.mock_broker)
    built.poller.poll_all()
    built.subscribe_pipeline()
    yield built
    store._client.drop_database(database)
    built.close()


def run_watcher(services: Services) -> tuple[threading.Thread, threading.Event]:
    stop, ready = threading.Event(), threading.Event()
    service = RawSignalIngest(services.store, services.ingest, services.clock)
    thread = threading.Thread(target=watch_mongo_inserts, daemon=True, kwargs={
        "collection": services.store.collection(Collections.RAW_SIGNALS), "service": service, "stop": stop,
        "on_ready": ready.set})
    thread.start()
    assert ready.wait(30)
    return thread, stop


def test_inserted_documents_are_traded_once_across_a_restart(services: Services):
    raw = services.store.collection(Collections.RAW_SIGNALS)
    thread, stop = run_watcher(services)
    inserted = raw.insert_one({"strategy_name": "momentum_us", "signal": {
        "ticker": "AAPL", "exchange": "NASDAQ", "action": "buy", "quantity": 10, "price": 190}}).inserted_id
    deadline = time.monotonic() + 30
    while not (doc := raw.find_one({"_id": inserted})).get("status") and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.set()
    thread.join(10)
    assert doc["status"] == "ingested", doc
    assert services.bus.drain()
    assert len(services.store.query(Collections.ORDERS, where={"signal_id": doc["signal_id"]})) == 2

    # Restarted with the marker lost (a crash between ingesting and marking): still one signal.
    raw.update_one({"_id": inserted}, {"$unset": {"status": "", "signal_id": "", "processed_at": ""}})
    thread, stop = run_watcher(services)
    stop.set()
    thread.join(10)
    assert raw.find_one({"_id": inserted})["signal_id"] == doc["signal_id"]
    assert services.bus.drain()
    assert len(services.store.query(Collections.ORDERS)) == 2
