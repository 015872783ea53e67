"""Firestore store (GCP). The emulator is found through FIRESTORE_EMULATOR_HOST.

Queries that filter on one field and order by another need a composite index in
production; infra/terraform declares the ones the services use.

``replace_if`` uses no transaction: Firestore's server transactions lock what they
read, so callers racing on one document queue behind each other's locks (measured:
about 51 s to time out). A read and an update preconditioned on the read's update time
never waits: the losers' updates simply fail.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from google.api_core.exceptions import AlreadyExists, Conflict, FailedPrecondition, NotFound
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.field_path import FieldPath

from shared.ports.store import Document, Store, T, Transaction, holds

_BATCH_LIMIT = 500


class _FirestoreTransaction(Transaction):
    def __init__(self, client: firestore.Client, transaction: firestore.Transaction):
        self._client = client
        self._transaction = transaction

    def get(self, collection: str, doc_id: str) -> Document | None:
        snapshot = self._client.collection(collection).document(doc_id).get(transaction=self._transaction)
        return snapshot.to_dict() if snapshot.exists else None

    def get_all(self, keys: Sequence[tuple[str, str]]) -> list[Document | None]:
        """One BatchGetDocuments round trip for them all (a read is a round trip to Firestore,
        and a transaction's reads hold their locks until it commits)."""
        if not keys:
            return []
        references = [self._client.collection(collection).document(doc_id) for collection, doc_id in keys]
        found = {snapshot.reference.path: snapshot.to_dict() if snapshot.exists else None
                 for snapshot in self._client.get_all(references, transaction=self._transaction)}
        return [found.get(reference.path) for reference in references]

    def set(self, collection: str, doc_id: str, document: Document) -> None:
        self._transaction.set(self._client.collection(collection).document(doc_id), document)

    def delete(self, collection: str, doc_id: str) -> None:
        self._transaction.delete(self._client.collection(collection).document(doc_id))


class FirestoreStore(Store):
    native_timestamps = True

    def __init__(self, project: str, database: str = "(default)", client: firestore.Client | None = None):
        self._client = client or firestore.Client(project=project, database=database)

    def get(self, collection: str, doc_id: str) -> Document | None:
        snapshot = self._client.collection(collection).document(doc_id).get()
        return snapshot.to_dict() if snapshot.exists else None

    def put(self, collection: str, doc_id: str, document: Document) -> None:
        self._client.collection(collection).document(doc_id).set(document)

    def put_many(self, collection: str, documents: dict[str, Document]) -> None:
        items = list(documents.items())
        for start in range(0, len(items), _BATCH_LIMIT):
            batch = self._client.batch()
            for doc_id, document in items[start:start + _BATCH_LIMIT]:
                batch.set(self._client.collection(collection).document(doc_id), document)
            batch.commit()

    def create(self, collection: str, doc_id: str, document: Document) -> bool:
        try:
            self._client.collection(collection).document(doc_id).create(document)
        except (AlreadyExists, Conflict):
            return False
        return True

    def replace_if(self, collection: str, doc_id: str, expected: Document, document: Document) -> bool:
        """Read, compare, then update every field (deleting the ones the new document drops)
        on condition that nobody wrote in between; a failed condition means re-reading."""
        reference = self._client.collection(collection).document(doc_id)
        while True:
            snapshot = reference.get()
            stored = snapshot.to_dict() if snapshot.exists else None
            if not holds(stored, expected):
                return False
            assert stored is not None
            fields: Document = {FieldPath(name).to_api_repr(): value for name, value in document.items()}
            fields.update({FieldPath(name).to_api_repr(): firestore.DELETE_FIELD
                           for name in stored if name not in document})
            if not fields:  # an empty document replaced by an empty one: nothing to update, so no condition
                return self._replace_in_transaction(reference, expected, document)
            try:
                reference.update(fields, option=self._client.write_option(last_update_time=snapshot.update_time))
            except (FailedPrecondition, NotFound):
                continue
            return True

    def _replace_in_transaction(self, reference: Any, expected: Document, document: Document) -> bool:
        @firestore.transactional
        def run(transaction: firestore.Transaction) -> bool:
            snapshot = reference.get(transaction=transaction)
            if not holds(snapshot.to_dict() if snapshot.exists else None, expected):
                return False
            transaction.set(reference, document)
            return True

        return run(self._client.transaction(max_attempts=20))

    def delete(self, collection: str, doc_id: str) -> None:
        self._client.collection(collection).document(doc_id).delete()

    def query(
        self,
        collection: str,
        where: dict[str, Any] | None = None,
        order_by: str | None = None,
        descending: bool = False,
        limit: int | None = None,
    ) -> list[Document]:
        query: Any = self._client.collection(collection)
        for name, value in (where or {}).items():
            query = query.where(filter=FieldFilter(name, "==", value))
        if order_by:
            direction = firestore.Query.DESCENDING if descending else firestore.Query.ASCENDING
            query = query.order_by(order_by, direction=direction)
        if limit is not None:
            query = query.limit(limit)
        return [snapshot.to_dict() for snapshot in query.stream()]

    def update(self, collection: str, doc_id: str, fields: Document) -> None:
        """A server-side merge: no transaction, so no read lock for racing updaters to deadlock on."""
        self._client.collection(collection).document(doc_id).set(fields, merge=True)

    def transaction(self, work: Callable[[Transaction], T]) -> T:
        @firestore.transactional
        def run(transaction: firestore.Transaction) -> T:
            return work(_FirestoreTransaction(self._client, transaction))

        return run(self._client.transaction(max_attempts=20))

    def close(self) -> None:
        self._client.close()
