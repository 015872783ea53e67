"""Timing hook for bench/bar_close.py --emulated-timings: put this folder first on a function
process's PYTHONPATH and set BENCH_TIMINGS to a file; every push the function serves and every
store and bus call it makes is appended there as "<function> <call> <start epoch s> <ms>".

Store calls inside a transaction appear as ``txn.get:<collection>``, and the transaction's own
round trips as ``txn.begin`` and ``txn.commit``. Benchmark only: wraps the adapters' classes.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from typing import Any

_OUT = os.environ.get("BENCH_TIMINGS", "")
_LOCK = threading.Lock()


def _log(call: str, started: float) -> None:
    line = f"{os.environ.get('FUNCTION_TARGET', '?')} {call} {started:.4f} {(time.time() - started) * 1000:.2f}\n"
    with _LOCK, open(_OUT, "a") as out:
        out.write(line)


def _timed(owner: Any, name: str, call: str, by_collection: bool = False) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.time()
        try:
            return original(*args, **kwargs)
        finally:
            _log(f"{call}:{args[1]}" if by_collection else call, started)

    setattr(owner, name, timed)


if _OUT:
    from google.cloud.firestore_v1 import transaction

    from shared.adapters import bus_pubsub, store_firestore
    from shared.entrypoints import pubsub

    for method in ("get", "put", "create", "replace_if", "query", "update", "delete", "transaction", "put_many"):
        _timed(store_firestore.FirestoreStore, method, f"store.{method}")
    _timed(store_firestore._FirestoreTransaction, "get", "txn.get", by_collection=True)
    if hasattr(store_firestore._FirestoreTransaction, "get_all"):
        _timed(store_firestore._FirestoreTransaction, "get_all", "txn.get_all")
    _timed(transaction.Transaction, "_begin", "txn.begin")
    _timed(transaction.Transaction, "_commit", "txn.commit")
    _timed(bus_pubsub.PubSubBus, "publish", "bus.publish")
    _timed(pubsub, "serve", "PUSH")  # functions/<name>/main.py imports serve after this ran
