"""The Store port: JSON documents in named collections.

Every backend offers the same small surface. Idempotency rests on ``create``
(atomic create-if-absent), ``replace_if`` (compare-and-set on one document) and on
``transaction``, which runs a function against a consistent view and commits all
its writes or none, retrying on conflict. Hot paths that many callers race on
prefer ``create`` and ``replace_if``: they never hold a lock another caller waits on.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

Document = dict[str, Any]
T = TypeVar("T")


def holds(stored: Document | None, expected: Document) -> bool:
    """Whether a stored document has every expected field, equal; a missing field never matches."""
    return stored is not None and all(name in stored and stored[name] == value for name, value in expected.items())


class Transaction(ABC):
    """Reads and writes inside one atomic unit. Read everything before writing."""

    @abstractmethod
    def get(self, collection: str, doc_id: str) -> Document | None: ...

    def get_all(self, keys: Sequence[tuple[str, str]]) -> list[Document | None]:
        """Several documents, each ``(collection, doc_id)``, in the keys' order (None where one
        does not exist). A store that can read them in one round trip does (Firestore)."""
        return [self.get(collection, doc_id) for collection, doc_id in keys]

    @abstractmethod
    def set(self, collection: str, doc_id: str, document: Document) -> None: ...

    @abstractmethod
    def delete(self, collection: str, doc_id: str) -> None: ...


class WriteBehind(Transaction):
    """A transaction whose writes are held until its work is done. Reads see the held writes,
    and every read reaches the store before any write (Firestore's rule), however the work
    interleaves them: batch work can then run per-item logic in one transaction."""

    def __init__(self, transaction: Transaction):
        self._transaction = transaction
        self._held: dict[tuple[str, str], Document | None] = {}  # None: deleted

    def get(self, collection: str, doc_id: str) -> Document | None:
        if (collection, doc_id) in self._held:
            return self._held[collection, doc_id]
        return self._transaction.get(collection, doc_id)

    def get_all(self, keys: Sequence[tuple[str, str]]) -> list[Document | None]:
        unheld = [key for key in keys if key not in self._held]
        read = dict(zip(unheld, self._transaction.get_all(unheld), strict=True))
        return [self._held[key] if key in self._held else read[key] for key in keys]

    def set(self, collection: str, doc_id: str, document: Document) -> None:
        self._held[collection, doc_id] = document

    def delete(self, collection: str, doc_id: str) -> None:
        self._held[collection, doc_id] = None

    def flush(self) -> None:
        for (collection, doc_id), document in self._held.items():
            if document is None:
                self._transaction.delete(collection, doc_id)
            else:
                self._transaction.set(collection, doc_id, document)


def write_behind(work: Callable[[Transaction], T]) -> Callable[[Transaction], T]:
    """``work`` for ``Store.transaction``, run against a ``WriteBehind`` view of it."""

    def run(transaction: Transaction) -> T:
        held = WriteBehind(transaction)
        result = work(held)
        held.flush()
        return result

    return run


class Store(ABC):
    # Whether a datetime may be stored as the backend's native timestamp (Firestore's TTL
    # policies delete only by one); the other backends hold plain JSON.
    native_timestamps: bool = False

    @abstractmethod
    def get(self, collection: str, doc_id: str) -> Document | None: ...

    @abstractmethod
    def put(self, collection: str, doc_id: str, document: Document) -> None:
        """Create or replace the whole document."""

    @abstractmethod
    def create(self, collection: str, doc_id: str, document: Document) -> bool:
        """Create only if absent; True when this call created it."""

    @abstractmethod
    def replace_if(self, collection: str, doc_id: str, expected: Document, document: Document) -> bool:
        """Replace the whole document only if it exists and each field in ``expected`` equals
        the stored one (compare-and-set); True when this call replaced it. Of callers racing
        from the same expected state, exactly one wins."""

    @abstractmethod
    def delete(self, collection: str, doc_id: str) -> None: ...

    @abstractmethod
    def query(
        self,
        collection: str,
        where: dict[str, Any] | None = None,
        order_by: str | None = None,
        descending: bool = False,
        limit: int | None = None,
    ) -> list[Document]:
        """Documents whose top-level fields equal every value in ``where``."""

    @abstractmethod
    def transaction(self, work: Callable[[Transaction], T]) -> T:
        """Run ``work`` atomically; it may be called again if a conflict forces a retry."""

    def put_many(self, collection: str, documents: dict[str, Document]) -> None:
        """Write several documents; backends with batches override this."""
        for doc_id, document in documents.items():
            self.put(collection, doc_id, document)

    def update(self, collection: str, doc_id: str, fields: Document) -> None:
        """Merge top-level fields into a document (created if absent) atomically; backends that
        can merge without a read override this, so racing updaters never wait on each other."""

        def merge(tx: Transaction) -> None:
            tx.set(collection, doc_id, {**(tx.get(collection, doc_id) or {}), **fields})

        self.transaction(merge)

    def close(self) -> None:  # noqa: B027 - optional for backends with connections
        """Release connections; the default has nothing to release."""
