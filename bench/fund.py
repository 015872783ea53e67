"""A benchmark fund: one strategy fanned out to N accounts at the Mock broker."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from shared.adapters.brokers.mock import MockBroker
from shared.demo_instruments import paper_equity
from shared.domain.instruments import InstrumentSpec
from shared.domain.models import (
    RISK_LIMITS_DOC,
    Account,
    Allocation,
    Collections,
    SessionPolicy,
    Strategy,
)
from shared.ports.store import Store
from shared.services.cerebro_service import CURRENT_ALLOCATION_DOC
from shared.services.ingest import hash_passphrase
from shared.services.instruments import InstrumentCatalog

STRATEGY = "bench_strategy"
PASSPHRASE = "bench-passphrase-not-secret"
SYMBOLS = ["AAA", "BBB", "CCC", "DDD", "EEE"]
# A load generator: one strategy sending hundreds of signals a second is a runaway by the
# shipped throttles, so the bench fund's own settings lift them (as a fund would for such a strategy).
BENCH_FUND_LIMITS = {"max_signals_per_second_per_strategy": 1e6, "max_orders_per_second_per_account": 1e6}


def bench_instrument(symbol: str) -> InstrumentSpec:
    return paper_equity("BENCH", symbol)


def seed_bench_fund(store: Store, broker: MockBroker, accounts: int) -> list[str]:
    """One strategy, ``accounts`` accounts each allocating 10% to it; returns the account ids."""
    return _seed(store, broker, [STRATEGY], accounts, 0.1)


def _seed(store: Store, broker: MockBroker, strategy_ids: list[str], accounts: int, weight: float) -> list[str]:
    """The strategies (one shared passphrase), Mock accounts allocating ``weight`` to each, the
    listed symbols and the bench's lifted limits; returns the account ids."""
    digest, salt = hash_passphrase(PASSPHRASE)
    for strategy_id in strategy_ids:
        strategy = Strategy(strategy_id=strategy_id, reference_capital=100_000, passphrase_hash=digest,
                            passphrase_salt=salt, session_policy=SessionPolicy.ANY_TIME)
        store.put(Collections.STRATEGIES, strategy_id, strategy.model_dump(mode="json"))
    account_ids = [f"BENCH-{i:03d}" for i in range(accounts)]
    for account_id in account_ids:
        broker.open_account(account_id, 10_000_000.0)
        store.put(Collections.ACCOUNTS, account_id, Account(account_id=account_id, broker="mock").model_dump(
            mode="json"))
    for symbol in SYMBOLS:
        broker.list_instrument(bench_instrument(symbol), 100.0)
    InstrumentCatalog(store, lambda: datetime.now(UTC)).put_all(broker.instrument_specs())
    store.put(Collections.SETTINGS, RISK_LIMITS_DOC, BENCH_FUND_LIMITS)
    allocation = Allocation(weights={a: dict.fromkeys(strategy_ids, weight) for a in account_ids},
                            approved_at=datetime.now(UTC))
    store.put(Collections.ALLOCATION, CURRENT_ALLOCATION_DOC, allocation.model_dump(mode="json"))
    return account_ids


def signal(index: int) -> bytes:
    """Alternating buys and sells across symbols, so positions stay small and checks pass."""
    return json.dumps({
        "strategy_id": STRATEGY, "passphrase": PASSPHRASE, "signal_id": f"b{index}",
        "ticker": SYMBOLS[index % len(SYMBOLS)], "action": "buy" if index % 2 == 0 else "sell",
        "quantity": 10, "price": 100.0,
    }).encode()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def peak_rss_mib(pgid: int) -> float:
    """Largest peak resident memory (VmHWM) among a process group's live processes
    (functions-framework serves from a gunicorn worker, a child of the process we started)."""
    peaks = [0.0]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[2]) != pgid:
                continue
            status = (stat.parent / "status").read_text()
        except (OSError, IndexError, ValueError):
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return max(peaks)


# --- A bar close: many strategies, every account allocating to each (bench/bar_close.py) ---------

def bench_strategy_id(index: int) -> str:
    return f"bench_strategy_{index:03d}"


def seed_bench_strategies(store: Store, broker: MockBroker, strategies: int, accounts: int) -> list[str]:
    """A fund of ``strategies`` strategies and ``accounts`` accounts at the Mock, each account
    allocating an equal share of its equity to every strategy; returns the strategy ids."""
    strategy_ids = [bench_strategy_id(i) for i in range(strategies)]
    _seed(store, broker, strategy_ids, accounts, round(1.0 / strategies, 6))
    return strategy_ids


def strategy_signal(strategy_index: int, signal_id: str, buy: bool) -> bytes:
    """One strategy's alert at a bar close (its own symbol of SYMBOLS, so books spread over them)."""
    return json.dumps({
        "strategy_id": bench_strategy_id(strategy_index), "passphrase": PASSPHRASE, "signal_id": signal_id,
        "ticker": SYMBOLS[strategy_index % len(SYMBOLS)], "action": "buy" if buy else "sell",
        "quantity": 10, "price": 100.0,
    }).encode()
