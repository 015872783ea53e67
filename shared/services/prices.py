"""Reference prices and FX rates from the brokers, never from the alert.

A broker this process can reach is asked directly (the Mock's mark, Kite's quote). A
broker whose connection lives elsewhere (IBKR, on the gateway VM) publishes its quotes
into ``market_prices``; they are read from there with their time, so a quote the
bridge stopped refreshing shows as stale and refuses new risk.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from datetime import datetime

from shared.domain.instruments import InstrumentSpec
from shared.domain.models import Collections, Instrument, Quote
from shared.ports.broker import BrokerClient, BrokerError
from shared.ports.store import Store

log = logging.getLogger(__name__)


def market_price_doc_id(broker: str, key: str) -> str:
    return f"{broker}|{key}".replace("/", "_")


class PriceBook:
    def __init__(self, store: Store, brokers: Mapping[str, BrokerClient], clock: Callable[[], datetime]):
        self._store = store
        self._brokers = brokers
        self._clock = clock

    def quote(self, broker: str, instrument: Instrument) -> Quote | None:
        client = self._brokers.get(broker)
        if client is None:
            return self._published(broker, instrument.key)
        try:
            return client.quote(instrument)
        except BrokerError as error:
            log.warning("%s gave no quote for %s: %s", broker, instrument.key, error)
            return None

    def fx_rate(self, broker: str, base: str, quote: str) -> float | None:
        """One ``base`` in ``quote`` as the account's broker prices it; None when unknown."""
        if base == quote:
            return 1.0
        client = self._brokers.get(broker)
        if client is not None:
            try:
                found = client.fx_rate(base, quote)
            except BrokerError as error:
                log.warning("%s gave no %s/%s rate: %s", broker, base, quote, error)
                return None
            return found.price if found and math.isfinite(found.price) and found.price > 0 else None
        direct, inverse = self._published(broker, f"FX:{base}{quote}"), self._published(broker, f"FX:{quote}{base}")
        if direct and direct.price > 0:
            return direct.price
        return 1 / inverse.price if inverse and inverse.price > 0 else None

    def reference(self, spec: InstrumentSpec) -> Quote | None:
        """A quote from the first broker that lists the instrument: the webhook's collar check."""
        for broker in [*spec.broker_ids, *(b for b in self._brokers if b not in spec.broker_ids)]:
            found = self.quote(broker, spec.instrument)
            if found is not None and math.isfinite(found.price) and found.price > 0:
                return found
        return None

    def _published(self, broker: str, key: str) -> Quote | None:
        document = self._store.get(Collections.MARKET_PRICES, market_price_doc_id(broker, key))
        if document is None:
            return None
        return Quote(price=float(document["price"]), as_of=datetime.fromisoformat(document["as_of"]),
                     source=document.get("source", f"{broker} (published)"))
