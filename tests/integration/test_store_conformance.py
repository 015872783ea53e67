"""One suite, every Store adapter: SQLite, Firestore (emulator), MongoDB (when MONGODB_URI is set)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest

from shared.ports.store import Store, write_behind
from tests.emulators import mongodb_uri


@pytest.fixture(params=["sqlite", "firestore", "mongodb"])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[Store]:
    if request.param == "sqlite":
        from shared.adapters.store_sqlite import SqliteStore

        backend: Store = SqliteStore(tmp_path / "conformance.sqlite")
    elif request.param == "firestore":
        from shared.adapters.store_firestore import FirestoreStore

        request.getfixturevalue("emulator_env")
        backend = FirestoreStore(project=f"conf-{uuid.uuid4().hex[:10]}")
    else:
        from shared.adapters.store_mongo import MongoStore

        backend = MongoStore(mongodb_uri(), f"conformance_{uuid.uuid4().hex[:10]}")
    yield backend
    backend.close()


def test_put_get_replace_delete(store: Store):
    assert store.get("things", "a") is None
    store.put("things", "a", {"n": 1, "nested": {"k": [1, 2]}, "text": "é"})
    assert store.get("things", "a") == {"n": 1, "nested": {"k": [1, 2]}, "text": "é"}
    store.put("things", "a", {"n": 2})
    assert store.get("things", "a") == {"n": 2}
    store.delete("things", "a")
    assert store.get("things", "a") is None


def test_create_if_absent_is_atomic_under_contention(store: Store):
    winners = []

    def attempt(i: int) -> None:
        if store.create("claims", "order-1", {"by": i}):
            winners.append(i)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
    assert store.get("claims", "order-1") == {"by": winners[0]}


def test_replace_if_is_atomic_under_contention(store: Store):
    store.put("claims", "dedupe-1", {"signal_id": "sig-a", "first_seen": "t0"})
    winners = []
    barrier = threading.Barrier(8)

    def attempt(i: int) -> None:
        barrier.wait()
        if store.replace_if("claims", "dedupe-1", {"signal_id": "sig-a"}, {"signal_id": f"sig-{i}", "by": i}):
            winners.append(i)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
    assert store.get("claims", "dedupe-1") == {"signal_id": f"sig-{winners[0]}", "by": winners[0]}


def test_replace_if_needs_the_document_and_every_expected_field(store: Store):
    assert store.replace_if("docs", "absent", {}, {"n": 1}) is False
    assert store.get("docs", "absent") is None
    store.put("docs", "d", {"status": "received", "n": 1, "nested": {"a": 1, "b": 2}})
    assert store.replace_if("docs", "d", {"status": "published"}, {"status": "x"}) is False
    assert store.replace_if("docs", "d", {"status": "received", "missing": None}, {"status": "x"}) is False
    assert store.replace_if("docs", "d", {"status": "received", "n": 2}, {"status": "x"}) is False
    assert store.get("docs", "d") == {"status": "received", "n": 1, "nested": {"a": 1, "b": 2}}
    assert store.replace_if("docs", "d", {"status": "received", "n": 1}, {"status": "published",
                                                                          "nested": {"a": 3}}) is True
    assert store.get("docs", "d") == {"status": "published", "nested": {"a": 3}}  # replaced whole, not merged


def test_query_filters_orders_and_limits(store: Store):
    store.put_many("rows", {f"r{i}": {"group": "even" if i % 2 == 0 else "odd", "i": i, "flag": i > 2}
                            for i in range(6)})
    assert sorted(d["i"] for d in store.query("rows", where={"group": "even"})) == [0, 2, 4]
    assert [d["i"] for d in store.query("rows", where={"group": "odd"}, order_by="i", descending=True)] == [5, 3, 1]
    assert [d["i"] for d in store.query("rows", order_by="i", limit=2)] == [0, 1]
    assert sorted(d["i"] for d in store.query("rows", where={"flag": True})) == [3, 4, 5]
    assert store.query("rows", where={"group": "none"}) == []


def test_update_merges_fields(store: Store):
    store.put("docs", "d", {"a": 1, "b": 2})
    store.update("docs", "d", {"b": 3, "c": 4})
    assert store.get("docs", "d") == {"a": 1, "b": 3, "c": 4}
    store.update("docs", "new", {"a": {"nested": 1}})  # created if absent
    assert store.get("docs", "new") == {"a": {"nested": 1}}


def test_transactions_are_atomic_and_serialised(store: Store):
    store.put("counters", "c", {"n": 0})

    def increment(tx) -> None:
        current = tx.get("counters", "c")
        tx.set("counters", "c", {"n": current["n"] + 1})
        tx.set("counters", f"log-{current['n']}", {"seen": current["n"]})

    # Three writers contending on one document (the Firestore client backs off on each abort,
    # so more contention only makes the test slower, not stronger).
    threads = [threading.Thread(target=lambda: [store.transaction(increment) for _ in range(3)]) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.get("counters", "c") == {"n": 9}
    assert len(store.query("counters")) == 10  # every increment saw a distinct value


def test_a_failed_transaction_writes_nothing(store: Store):
    store.put("accounts", "x", {"cash": 100})

    def half_then_fail(tx) -> None:
        tx.get("accounts", "x")
        tx.set("accounts", "x", {"cash": 0})
        tx.set("accounts", "y", {"cash": 100})
        raise RuntimeError("broker said no")

    with pytest.raises(RuntimeError):
        store.transaction(half_then_fail)
    assert store.get("accounts", "x") == {"cash": 100}
    assert store.get("accounts", "y") is None


def test_a_transaction_reads_several_documents_at_once_in_the_keys_order(store: Store):
    store.put("accounts", "x", {"cash": 100})
    store.put("prices", "AAA", {"price": 10.0})

    def read_then_move(tx) -> list:
        found = tx.get_all([("prices", "AAA"), ("accounts", "missing"), ("accounts", "x"), ("prices", "AAA")])
        assert tx.get_all([]) == []
        tx.set("accounts", "x", {"cash": found[2]["cash"] - found[0]["price"]})
        return found

    assert store.transaction(read_then_move) == [{"price": 10.0}, None, {"cash": 100}, {"price": 10.0}]
    assert store.get("accounts", "x") == {"cash": 90.0}


def test_write_behind_lets_batch_work_read_its_own_writes_in_one_transaction(store: Store):
    """Per-item logic run over a batch reads what the items before it wrote, on every store
    (Firestore refuses a read after a write inside a transaction: WriteBehind holds the writes
    until the work is done), and the batch commits together or not at all."""
    store.put("accounts", "x", {"cash": 100})

    def pay(tx, amount: float) -> float:
        account = tx.get("accounts", "x")
        tx.set("accounts", "x", {"cash": account["cash"] - amount})
        tx.set("payments", f"p{amount:g}", {"amount": amount})
        return account["cash"] - amount

    assert store.transaction(write_behind(lambda tx: [pay(tx, amount) for amount in (10, 20, 30)])) == [90, 70, 40]
    assert store.get("accounts", "x") == {"cash": 40}
    assert store.transaction(write_behind(
        lambda tx: tx.get_all([("payments", "p20"), ("accounts", "x")]))) == [{"amount": 20}, {"cash": 40}]

    def then_fail(tx) -> None:
        pay(tx, 5)
        tx.delete("payments", "p10")
        raise RuntimeError("the broker went away")

    with pytest.raises(RuntimeError):
        store.transaction(write_behind(then_fail))
    assert store.get("accounts", "x") == {"cash": 40} and store.get("payments", "p10") == {"amount": 10}
