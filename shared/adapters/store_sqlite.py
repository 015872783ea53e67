"""Embedded SQLite store: the local default, one file, no server.

One connection guarded by a lock serves every thread; WAL lets other processes
(the CLI's ``status``, dashboards) read while the stack writes.

Documents are JSON text encoded by orjson: at a bar close the pipeline writes each order
document several times, and the standard library's encoder took a tenth of its CPU. A
non-finite float is stored as null, as JSON has no other spelling for it; text written
with the standard library's NaN tokens still reads back.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from shared.ports.store import Document, Store, T, Transaction, holds

_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _name(collection: str) -> str:
    """Collections are inlined into index SQL, so only plain names are allowed."""
    if not _FIELD.match(collection):
        raise ValueError(f"invalid collection name for a query: {collection!r}")
    return collection


def _field_path(name: str) -> str:
    if not _FIELD.match(name):
        raise ValueError(f"invalid field name for a query: {name!r}")
    return f"$.{name}"


class _SqliteTransaction(Transaction):
    def __init__(self, connection: sqlite3.Connection):
        self._connection = connection

    def get(self, collection: str, doc_id: str) -> Document | None:
        return _read(self._connection, collection, doc_id)

    def set(self, collection: str, doc_id: str, document: Document) -> None:
        _write(self._connection, collection, doc_id, document)

    def delete(self, collection: str, doc_id: str) -> None:
        self._connection.execute("DELETE FROM documents WHERE collection=? AND id=?", (collection, doc_id))


def _encode(document: Document) -> str:
    try:
        return orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # what orjson does not take (an integer past 64 bits): the standard library's form
        return json.dumps(document, separators=(",", ":"))


def _decode(text: str) -> Document:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # NaN or Infinity tokens, written by the standard library's encoder
        return json.loads(text)


def _read(connection: sqlite3.Connection, collection: str, doc_id: str) -> Document | None:
    row = connection.execute(
        "SELECT data FROM documents WHERE collection=? AND id=?", (collection, doc_id)
    ).fetchone()
    return _decode(row[0]) if row else None


def _write(connection: sqlite3.Connection, collection: str, doc_id: str, document: Document) -> None:
    connection.execute(
        "INSERT INTO documents(collection, id, data) VALUES (?, ?, ?) "
        "ON CONFLICT(collection, id) DO UPDATE SET data=excluded.data",
        (collection, doc_id, _encode(document)),
    )


class SqliteStore(Store):
    def __init__(self, path: str | Path = ":memory:"):
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._indexed: set[tuple[str, tuple[str, ...]]] = set()
        self._connection = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=NORMAL")
        # Pages read through a memory map instead of a read() each, and a checkpoint every
        # ~40 MB of WAL instead of every 4 MB: measured, each roughly halves a small
        # transaction's cost on a VM's disk (a bar close commits hundreds of them).
        self._connection.execute("PRAGMA mmap_size=268435456")
        self._connection.execute("PRAGMA wal_autocheckpoint=10000")
        self._connection.execute("PRAGMA journal_size_limit=67108864")
        self._connection.execute("PRAGMA busy_timeout=5000")
        self._connection.execute(
            "CREATE TABLE IF NOT EXISTS documents ("
            " collection TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL,"
            " PRIMARY KEY (collection, id)) WITHOUT ROWID"
        )

    def get(self, collection: str, doc_id: str) -> Document | None:
        with self._lock:
            return _read(self._connection, collection, doc_id)

    def put(self, collection: str, doc_id: str, document: Document) -> None:
        with self._lock:
            _write(self._connection, collection, doc_id, document)

    def put_many(self, collection: str, documents: dict[str, Document]) -> None:
        self.transaction(lambda tx: [tx.set(collection, i, d) for i, d in documents.items()])

    def create(self, collection: str, doc_id: str, document: Document) -> bool:
        with self._lock:
            cursor = self._connection.execute(
                "INSERT OR IGNORE INTO documents(collection, id, data) VALUES (?, ?, ?)",
                (collection, doc_id, _encode(document)),
            )
            return cursor.rowcount == 1

    def replace_if(self, collection: str, doc_id: str, expected: Document, document: Document) -> bool:
        def swap(tx: Transaction) -> bool:
            if not holds(tx.get(collection, doc_id), expected):
                return False
            tx.set(collection, doc_id, document)
            return True

        return self.transaction(swap)

    def delete(self, collection: str, doc_id: str) -> None:
        with self._lock:
            self._connection.execute("DELETE FROM documents WHERE collection=? AND id=?", (collection, doc_id))

    def query(
        self,
        collection: str,
        where: dict[str, Any] | None = None,
        order_by: str | None = None,
        descending: bool = False,
        limit: int | None = None,
    ) -> list[Document]:
        where = where or {}
        fields = tuple(sorted(where))
        # Equality fields first, then the sort field, as a Firestore composite index: the
        # newest N of a large collection are read from the index, not sorted from every row.
        indexed = fields + ((order_by,) if order_by and order_by not in fields else ())
        if indexed:
            # The collection is inlined so the query matches the partial index, and the
            # index is named because SQLite's planner, without statistics, prefers the
            # primary key's collection prefix.
            index = self._ensure_index(collection, indexed)
            sql = [f"SELECT data FROM documents INDEXED BY {index} WHERE collection='{_name(collection)}'"]
            params: list[Any] = []
        else:
            sql = ["SELECT data FROM documents WHERE collection=?"]
            params = [collection]
        for name, value in where.items():
            if value is None:
                sql.append(f"AND json_extract(data, '{_field_path(name)}') IS NULL")
            else:
                sql.append(f"AND json_extract(data, '{_field_path(name)}') = ?")
                params.append(value)
        if order_by:
            sql.append(f"ORDER BY json_extract(data, '{_field_path(order_by)}') {'DESC' if descending else 'ASC'}")
        if limit is not None:
            sql.append("LIMIT ?")
            params.append(int(limit))
        with self._lock:
            rows = self._connection.execute(" ".join(sql), params).fetchall()
        return [_decode(row[0]) for row in rows]

    def _ensure_index(self, collection: str, fields: tuple[str, ...]) -> str:
        """Index each collection's filtered fields on first use, as Firestore indexes fields.

        The index is partial (this collection's rows only): a full expression index
        would be recomputed on every write to every collection, quadrupling write cost.
        """
        name = f"ix__{_name(collection)}__" + "__".join(fields)
        if (collection, fields) not in self._indexed:
            columns = ", ".join(f"json_extract(data, '{_field_path(field)}')" for field in fields)
            with self._lock:
                self._connection.execute(
                    f"CREATE INDEX IF NOT EXISTS {name} ON documents({columns}) WHERE collection='{collection}'"
                )
            self._indexed.add((collection, fields))
        return name

    def transaction(self, work: Callable[[Transaction], T]) -> T:
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                result = work(_SqliteTransaction(self._connection))
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")
            return result

    def close(self) -> None:
        with self._lock:
            self._connection.close()
