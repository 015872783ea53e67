"""Grow the demo fund to N real signals, fast, for the dashboard benchmark.

Drives the embedded pipeline in-process (build_services with the in-process bus, the Mock
broker and SQLite, as the tests' ``embedded`` fixture does), so every signal, decision, order
and fill is the pipeline's own record. Each signal goes in through the webhook's ingest (what
``POST /webhook`` calls; skipping Flask's test client saves ~2 ms a signal) and the bus is
drained before the next. A fake clock walks from some days ago to now, so ``received_at``
spreads over recent days and each signal is wholly handled at its own time; the scheduled
tick (snapshots, sweep, pruning) runs every few simulated minutes, before snapshots age past
the risk check, and the paper market's marks take a small random step each time.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shared.adapters.bus_inprocess import InProcessBus
from shared.adapters.store_sqlite import SqliteStore
from shared.bootstrap import Services, build_services
from shared.config import Settings
from shared.demo import DEMO_PASSPHRASES, seed_demo_fund
from shared.demo_instruments import DEMO_INSTRUMENTS
from shared.domain.models import Collections

# (ticker as an alert spells it, instrument key at the Mock, quantities in reference units, net bound).
# Full-size ES/NQ would break a client's 10% position cap at one contract: the micros trade instead.
BOOKS: dict[str, list[tuple[str, str, tuple[int, int], int]]] = {
    "momentum_us": [(s, f"{x}:{s}", (1, 10), 20) for x, s in (("NASDAQ", "AAPL"), ("NASDAQ", "MSFT"),
                                                               ("NASDAQ", "NVDA"), ("NASDAQ", "QQQ"),
                                                               ("NYSEARCA", "SPY"), ("NYSEARCA", "IWM"))],
    "trend_futures": [("CME_MINI:MES1!", "CME:MES1!", (2, 3), 3), ("CME_MINI:MNQ1!", "CME:MNQ1!", (2, 3), 3)],
    "fx_carry": [(f"OANDA:{p}", f"FX:{p}", (5_000, 20_000), 40_000) for p in ("EURUSD", "GBPUSD", "USDJPY")],
}
STRATEGY_MIX = {"momentum_us": 0.5, "trend_futures": 0.2, "fx_carry": 0.3}
POLL_EVERY = timedelta(minutes=4)  # under MAX_ACCOUNT_DATA_AGE_SECONDS (300 s)


class WalkingClock:
    """The services' only clock: moved by the grower between signals."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def census(db: Path) -> dict[str, object]:
    """What the store holds, straight from SQLite: the figures a reader needs to size the pages."""
    with closing(sqlite3.connect(db)) as connection:
        counts = dict(connection.execute(
            "SELECT collection, count(*) FROM documents WHERE collection IN (?, ?, ?) GROUP BY 1",
            (Collections.SIGNALS, Collections.ORDERS, Collections.CONFIRMATIONS)).fetchall())
        first, last = connection.execute(
            "SELECT min(json_extract(data, '$.received_at')), max(json_extract(data, '$.received_at')) "
            "FROM documents WHERE collection=?", (Collections.SIGNALS,)).fetchone()
        statuses = dict(connection.execute(
            "SELECT json_extract(data, '$.status'), count(*) FROM documents WHERE collection=? GROUP BY 1",
            (Collections.SIGNALS,)).fetchall())
        decisions = dict(connection.execute(
            "SELECT json_extract(d.value, '$.status'), count(*) FROM documents, json_each(data, '$.decisions') d "
            "WHERE collection=? GROUP BY 1", (Collections.SIGNALS,)).fetchall())
    return {"signals": counts.get(Collections.SIGNALS, 0), "orders": counts.get(Collections.ORDERS, 0),
            "fills": counts.get(Collections.CONFIRMATIONS, 0), "first": first, "last": last,
            "statuses": statuses, "decisions": decisions, "mib": db.stat().st_size / 2**20}


def grow(db: Path, log_dir: Path, signals: int, days: float = 5.0, seed: int = 11,
         progress: Callable[[int, float], None] | None = None) -> None:
    """Seed the demo fund into ``db`` and push ``signals`` signals through the webhook's ingest,
    each drained through cerebro, execution and the confirmations before the clock moves on."""
    rng = random.Random(seed)
    end = datetime.now(UTC) - timedelta(minutes=2)
    step = timedelta(days=days) / signals
    clock = WalkingClock(end - step * signals)
    settings = Settings(sqlite_path=str(db), log_dir=log_dir)
    services = build_services(settings, store=SqliteStore(settings.sqlite_path), bus=InProcessBus(0.01),
                              clock=clock)
    try:
        seed_demo_fund(services.store, services.mock_broker)
        services.poller.poll_all()
        services.subscribe_pipeline()
        marks = {spec.key: price for spec, price in DEMO_INSTRUMENTS}
        net: dict[tuple[str, str], float] = {}
        polled = clock.now
        strategies, weights = list(STRATEGY_MIX), list(STRATEGY_MIX.values())
        began = time.perf_counter()
        for index in range(signals):
            clock.now += step
            if clock.now - polled >= POLL_EVERY:
                walk_marks(services, marks, rng)
                services.tick()
                polled = clock.now
            strategy = rng.choices(strategies, weights)[0]
            ticker, key, (low, high), bound = rng.choice(BOOKS[strategy])
            quantity = rng.randint(low, high)
            held = net.get((strategy, key), 0.0)
            buy = held + quantity <= bound and (held - quantity < -bound or rng.random() < 0.5)
            net[(strategy, key)] = held + (quantity if buy else -quantity)
            body = {"strategy_id": strategy, "passphrase": DEMO_PASSPHRASES[strategy], "ticker": ticker,
                    "action": "buy" if buy else "sell", "quantity": quantity, "price": round(marks[key], 5),
                    "signal_id": f"grow-{index:05d}"}
            answer = services.ingest.ingest(json.dumps(body).encode(), "application/json", {}, "127.0.0.1")
            if answer.status != 202:
                raise RuntimeError(f"signal {index}: {answer.status} {answer.body}")
            if not services.bus.drain(60):
                raise RuntimeError(f"the bus did not drain after signal {index}")
            if progress is not None and (index + 1) % 2000 == 0:
                progress(index + 1, time.perf_counter() - began)
        services.poller.poll_all()
    finally:
        services.close()


def walk_marks(services: Services, marks: dict[str, float], rng: random.Random) -> None:
    """A gentle random walk of the paper market, so P&L and equity curves are not flat."""
    broker = services.mock_broker
    for key, price in marks.items():
        marks[key] = price * (1 + rng.gauss(0, 0.002))
        broker.mark_price(key, marks[key])
