"""The paper market's records in the store and the domain values read from them: the
collections it keeps, their document ids, and FX rates (a listed pair's mark, or the rate table).

The Mock's "wire" is the store, so these names are its protocol: dashboards and tests read
the same collections."""

from __future__ import annotations

from collections.abc import Callable

from shared.domain.schema import Collections

ACCOUNTS = Collections.MOCK_BROKER_ACCOUNTS
ORDERS = Collections.MOCK_BROKER_ORDERS
PRICES = Collections.MOCK_BROKER_PRICES  # by canonical instrument key: {"price", "as_of", "spec"}
FX_RATES = Collections.MOCK_BROKER_FX  # pairs it does not list, e.g. USDINR: {"rate"}
OUTBOX = Collections.MOCK_BROKER_OUTBOX


def doc_id(key: str) -> str:
    return key.replace("/", "_")


def fx(read: Callable[[str, str], dict | None], base: str, quote: str) -> float | None:
    """One ``base`` in ``quote``: 1 for the same currency; else a listed pair's mark (or its
    inverse), else the rate table, else through USD. None when the paper market has no rate."""
    if base == quote:
        return 1.0

    def direct(a: str, b: str) -> float | None:
        for key, invert in ((f"FX:{a}{b}", False), (f"FX:{b}{a}", True)):
            listing = read(PRICES, key)
            if listing and listing["price"] > 0:
                return 1 / listing["price"] if invert else listing["price"]
        for pair, invert in ((f"{a}{b}", False), (f"{b}{a}", True)):
            row = read(FX_RATES, pair)
            if row and row["rate"] > 0:
                return 1 / row["rate"] if invert else row["rate"]
        return None

    found = direct(base, quote)
    if found is None and "USD" not in (base, quote):
        via_base, via_quote = direct(base, "USD"), direct("USD", quote)
        found = via_base * via_quote if via_base and via_quote else None
    return found
