"""The instrument master in the store: resolve an alert's ticker, list, edit, import.

Each canonical instrument is a document in ``instruments``; each spelling an alert may
use is a small document in ``instrument_aliases`` naming its canonical key, so
resolving a ticker costs two reads whatever the master's size.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable
from datetime import datetime

from shared.auth.api_keys import Principal
from shared.domain.errors import Refusal, RequestRejected
from shared.domain.instruments import InstrumentSpec, alias_candidates, alias_doc_id
from shared.domain.models import Collections
from shared.journey import Journey
from shared.ports.store import Store, Transaction


def instrument_doc_id(key: str) -> str:
    return key.replace("/", "_")


class InstrumentCatalog:
    def __init__(self, store: Store, clock: Callable[[], datetime]):
        self._store = store
        self._clock = clock
        self._journey = Journey("INSTRUMENTS")

    def resolve(self, ticker: str, exchange: str | None = None) -> InstrumentSpec | None:
        """The instrument an alert means, or None: unknown tickers are never guessed."""
        for candidate in alias_candidates(ticker, exchange):
            alias = self._store.get(Collections.INSTRUMENT_ALIASES, alias_doc_id(candidate))
            if alias is not None:
                return self.get(alias["key"])
        return None

    def get(self, key: str) -> InstrumentSpec | None:
        document = self._store.get(Collections.INSTRUMENTS, instrument_doc_id(key))
        return InstrumentSpec.model_validate(document) if document else None

    def list(self) -> list[InstrumentSpec]:
        return sorted((InstrumentSpec.model_validate(d) for d in self._store.query(Collections.INSTRUMENTS)),
                      key=lambda spec: spec.key)

    def put(self, spec: InstrumentSpec, caller: Principal | None = None) -> InstrumentSpec:
        """Create or replace one instrument with its aliases, in one transaction.

        An alias that already names another instrument is refused (409): one spelling,
        one book. Aliases the new version drops stop resolving.
        """
        stamped = spec.model_copy(update={"updated_at": self._clock(),
                                          "updated_by": caller.subject if caller else "system"})
        wanted = stamped.all_aliases

        def work(tx: Transaction) -> InstrumentSpec:
            previous = tx.get(Collections.INSTRUMENTS, instrument_doc_id(spec.key))
            owners = {alias: tx.get(Collections.INSTRUMENT_ALIASES, alias_doc_id(alias)) for alias in wanted}
            for alias, owner in owners.items():
                if owner is not None and owner["key"] != spec.key:
                    raise RequestRejected("aliases", f"{alias} already names {owner['key']}",
                                          Refusal.CONFLICT, "alias_taken")
            dropped = set(InstrumentSpec.model_validate(previous).all_aliases) - set(wanted) if previous else set()
            for alias in dropped:
                tx.delete(Collections.INSTRUMENT_ALIASES, alias_doc_id(alias))
            for alias in wanted:
                tx.set(Collections.INSTRUMENT_ALIASES, alias_doc_id(alias), {"alias": alias, "key": spec.key})
            tx.set(Collections.INSTRUMENTS, instrument_doc_id(spec.key), stamped.document())
            return stamped

        saved = self._store.transaction(work)
        self._journey.step("instrument-master", f"{saved.key} saved by {saved.updated_by}: "
                                                f"{saved.asset_class.value} {saved.currency} x{saved.multiplier:g}")
        return saved

    def put_all(self, specs: Iterable[InstrumentSpec],
                caller: Principal | None = None) -> builtins.list[InstrumentSpec]:
        return [self.put(spec, caller) for spec in specs]
