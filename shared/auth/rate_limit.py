"""Per-key request limits, counted in the store so every function instance shares them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from shared.domain.errors import Refusal, RequestRejected
from shared.domain.schema import Collections
from shared.ports.store import Store, Transaction

RATE_COUNTERS = Collections.RATE_COUNTERS


class RateLimiter:
    """Fixed one-minute windows: simple, shared, and exact enough for API keys."""

    def __init__(self, store: Store, clock: Callable[[], datetime]):
        self._store = store
        self._clock = clock

    def check(self, key_id: str, per_minute: int) -> None:
        now = self._clock()
        window = now.strftime("%Y%m%d%H%M")
        doc_id = f"{key_id}:{window}"

        def count(tx: Transaction) -> int:
            used = (tx.get(RATE_COUNTERS, doc_id) or {}).get("count", 0)
            if used < per_minute:
                tx.set(RATE_COUNTERS, doc_id, {"key_id": key_id, "window": window, "count": used + 1})
            return used

        if self._store.transaction(count) >= per_minute:
            retry_after = 60 - now.second  # the next window opens at the top of the minute
            raise RequestRejected("authorization", f"rate limit of {per_minute} requests per minute reached; "
                                                   f"retry in {retry_after} s", Refusal.TOO_MANY, "rate_limited",
                                  retry_after=retry_after)
