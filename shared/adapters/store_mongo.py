"""MongoDB store (pymongo), for funds whose data already lives in MongoDB or Atlas.

Transactions need a replica set (Atlas always is one); a standalone server
answers with an error on the first transaction, which names the cause.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.client_session import ClientSession
from pymongo.errors import DuplicateKeyError
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from shared.ports.store import Document, Store, T, Transaction


def _strip(document: dict[str, Any] | None) -> Document | None:
    if document is None:
        return None
    document.pop("_id", None)
    return document


class _MongoTransaction(Transaction):
    def __init__(self, store: MongoStore, session: ClientSession):
        self._store = store
        self._session = session

    def get(self, collection: str, doc_id: str) -> Document | None:
        return _strip(self._store.collection(collection).find_one({"_id": doc_id}, session=self._session))

    def set(self, collection: str, doc_id: str, document: Document) -> None:
        self._store.collection(collection).replace_one(
            {"_id": doc_id}, {**document, "_id": doc_id}, upsert=True, session=self._session
        )

    def delete(self, collection: str, doc_id: str) -> None:
        self._store.collection(collection).delete_one({"_id": doc_id}, session=self._session)


class MongoStore(Store):
    def __init__(self, uri: str, database: str, client: MongoClient | None = None):
        if not uri and client is None:
            raise ValueError("MONGODB_URI is required for the mongodb store")
        self._client = client or MongoClient(uri, tz_aware=True)
        self._database = self._client[database]

    def collection(self, name: str) -> Any:
        return self._database[name]

    def get(self, collection: str, doc_id: str) -> Document | None:
        return _strip(self.collection(collection).find_one({"_id": doc_id}))

    def put(self, collection: str, doc_id: str, document: Document) -> None:
        self.collection(collection).replace_one({"_id": doc_id}, {**document, "_id": doc_id}, upsert=True)

    def create(self, collection: str, doc_id: str, document: Document) -> bool:
        try:
            self.collection(collection).insert_one({**document, "_id": doc_id})
        except DuplicateKeyError:
            return False
        return True

    def replace_if(self, collection: str, doc_id: str, expected: Document, document: Document) -> bool:
        """One find_one_and_replace: the filter is the condition, so the server decides atomically.
        ``$exists`` keeps a missing field from matching an expected None, as in the other stores."""
        condition = {name: {"$exists": True, "$eq": value} for name, value in expected.items()}
        before = self.collection(collection).find_one_and_replace(
            {**condition, "_id": doc_id}, {**document, "_id": doc_id}, projection={"_id": True})
        return before is not None

    def delete(self, collection: str, doc_id: str) -> None:
        self.collection(collection).delete_one({"_id": doc_id})

    def query(
        self,
        collection: str,
        where: dict[str, Any] | None = None,
        order_by: str | None = None,
        descending: bool = False,
        limit: int | None = None,
    ) -> list[Document]:
        cursor = self.collection(collection).find(dict(where or {}))
        if order_by:
            cursor = cursor.sort(order_by, DESCENDING if descending else ASCENDING)
        if limit is not None:
            cursor = cursor.limit(limit)
        return [_strip(document) for document in cursor]  # type: ignore[misc]

    def transaction(self, work: Callable[[Transaction], T]) -> T:
        with self._client.start_session() as session:
            return session.with_transaction(
                lambda s: work(_MongoTransaction(self, s)),
                read_concern=ReadConcern("snapshot"),
                write_concern=WriteConcern("majority"),
            )

    def close(self) -> None:
        self._client.close()
