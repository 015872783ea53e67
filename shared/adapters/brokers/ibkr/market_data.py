"""Reference prices from IB: one market data snapshot per request, never a standing subscription.

A snapshot is IB's ``reqMktData`` with ``snapshot=True``; IB answers with price ticks and
``tickSnapshotEnd``, or with an error (354: not subscribed) that ends it just the same.
ib_async's ``reqTickersAsync`` sends exactly that request and waits for either end, so a
missing subscription costs one round trip rather than the whole timeout. Coroutines here
run on the connection's loop.
"""

from __future__ import annotations

import asyncio
import math
from datetime import datetime

from ib_async import IB, Contract, Forex, RequestError

from .parsing import snapshot_price

SNAPSHOT_SOURCE = "ibkr snapshot"
LAST_FILL_SOURCE = "ibkr last fill"
_PRICE_FIELDS = ("bid", "bidSize", "ask", "askSize", "last", "lastSize", "close")


async def snapshot(ib: IB, contract: Contract, timeout: float) -> float | None:
    """The snapshot's price (last, else midpoint, else close) of a qualified contract; None
    when IB has none for us (no subscription, no data) or does not answer within ``timeout``."""
    previous = ib.ticker(contract)
    if previous is not None:  # ib_async keeps one Ticker per contract: an old snapshot's prices are not this one's
        for name in _PRICE_FIELDS:
            setattr(previous, name, math.nan)
    try:
        [ticker] = await asyncio.wait_for(ib.reqTickersAsync(contract), timeout)
    except (TimeoutError, RequestError):
        return None
    return snapshot_price(ticker)


async def fx_snapshot(ib: IB, base: str, quote: str, timeout: float) -> float | None:
    """One ``base`` in ``quote`` from IDEALPRO: the pair IB lists (EUR.USD), or the inverse
    pair's price inverted (JPY in USD from USD.JPY)."""
    for pair, invert in ((base + quote, False), (quote + base, True)):
        [contract] = await ib.qualifyContractsAsync(Forex(pair))
        if contract is None:
            continue  # IB lists each pair one way round only
        price = await snapshot(ib, contract, timeout)
        if price is not None:
            return 1.0 / price if invert else price
    return None


def last_execution(ib: IB, con_id: int) -> tuple[float, datetime] | None:
    """The price and time of the latest execution in ``con_id`` this connection knows (IB
    re-sends the day's executions on every connect)."""
    fills = [f for f in ib.fills() if f.contract.conId == con_id and f.execution.price > 0]
    latest = max(fills, key=lambda f: f.execution.time, default=None)
    return (float(latest.execution.price), latest.execution.time) if latest else None
