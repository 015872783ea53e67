"""The in-process sources of raw signal documents: what triggers raw ingest where no Eventarc
does. The embedded stack polls its SQLite file; a MongoDB deployment follows a change stream.
In GCP, Firestore document creations trigger the raw_signals function instead."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

from shared.bootstrap import Services
from shared.domain.models import Collections
from shared.ports.store import Document, Store
from shared.services.raw_ingest import RawIngestRetry, RawOutcome, RawSignalIngest

log = logging.getLogger(__name__)


class SqliteRawWatcher:
    """Embedded stack: polls the SQLite file for raw documents with no marker yet.

    Reads through its own connection (WAL lets it read beside the store's writer); the
    store's partial index on the two marker fields keeps each poll a short index scan."""

    def __init__(self, store: Store, path: str, service: RawSignalIngest, interval: float = 0.5,
                 stop: threading.Event | None = None):
        self._path = path
        self._service = service
        self._interval = interval
        self._stop = stop or threading.Event()
        self._thread: threading.Thread | None = None
        store.query(Collections.RAW_SIGNALS, where={"signal_id": None, "status": None}, limit=1)  # the index

    def pending(self, limit: int = 100) -> list[tuple[str, Document]]:
        connection = sqlite3.connect(self._path, timeout=5)
        try:
            rows = connection.execute(
                "SELECT id, data FROM documents WHERE collection=? AND json_extract(data, '$.signal_id') IS NULL "
                "AND json_extract(data, '$.status') IS NULL LIMIT ?", (Collections.RAW_SIGNALS, limit)).fetchall()
        finally:
            connection.close()
        return [(doc_id, json.loads(data)) for doc_id, data in rows]

    def run_once(self) -> list[RawOutcome]:
        outcomes = []
        for doc_id, document in self.pending():
            try:
                outcomes.append(self._service.process(doc_id, document))
            except Exception:  # one bad document must not stop the watcher; it is retried
                log.exception("raw document %s not ingested yet; retrying on the next poll", doc_id)
        return outcomes

    def start(self) -> SqliteRawWatcher:
        def loop() -> None:
            while not self._stop.wait(self._interval):
                self.run_once()

        self._thread = threading.Thread(target=loop, name="raw-signal-watcher", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def start_raw_watcher(services: Services, stop: threading.Event | None = None,
                      interval: float = 0.5) -> SqliteRawWatcher | threading.Thread:
    """The watcher for the services' store, stopped by ``stop``: a poll of the SQLite file, or a
    MongoDB change stream. Firestore needs none: Eventarc triggers the raw_signals function."""
    service = RawSignalIngest(services.store, services.ingest, services.clock)
    if services.settings.store == "mongodb":
        from shared.adapters.store_mongo import MongoStore

        assert isinstance(services.store, MongoStore)
        thread = threading.Thread(target=watch_mongo_inserts, name="raw-signal-stream", daemon=True,
                                  args=(services.store.collection(Collections.RAW_SIGNALS), service,
                                        stop or threading.Event()))
        thread.start()
        return thread
    if services.settings.store != "sqlite":
        raise ValueError(f"no raw watcher runs in-process for the {services.settings.store} store")
    return SqliteRawWatcher(services.store, services.settings.sqlite_path, service, interval, stop).start()


def watch_mongo_inserts(collection: Any, service: RawSignalIngest, stop: threading.Event,
                        on_ready: Callable[[], None] | None = None, rescan_seconds: float = 30.0) -> None:
    """MongoDB: a change stream on inserts into the raw collection (needs a replica set).

    The stream opens before a scan for unmarked documents (ones inserted while no watcher ran),
    so a document inserted meanwhile is seen by one or both (twice is harmless). The scan is
    repeated every ``rescan_seconds``: it retries documents whose signal could not be published."""
    unmarked = {"signal_id": {"$exists": False}, "status": {"$exists": False}}
    with collection.watch([{"$match": {"operationType": "insert"}}], max_await_time_ms=500) as stream:
        scanned = time.monotonic()
        for document in collection.find(unmarked):
            _process_mongo(collection, service, document)
        if on_ready is not None:
            on_ready()
        while not stop.is_set() and stream.alive:
            change = stream.try_next()
            if change is not None:
                _process_mongo(collection, service, change["fullDocument"])
            elif time.monotonic() - scanned > rescan_seconds:
                scanned = time.monotonic()
                for document in collection.find(unmarked):
                    _process_mongo(collection, service, document)


def _process_mongo(collection: Any, service: RawSignalIngest, document: Document) -> None:
    key = document["_id"]
    fields = {k: v for k, v in document.items() if k != "_id"}

    def mark(_doc_id: str, outcome: Document) -> None:
        collection.update_one({"_id": key}, {"$set": outcome})

    try:
        service.process(str(key), fields, mark)
    except RawIngestRetry:
        log.exception("raw document %s not ingested yet; the next scan retries it", key)
