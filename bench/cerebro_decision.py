"""Cerebro's decision time for one signal across 1, 10 and 100 accounts.

    .venv/bin/python -m bench.cerebro_decision

Two figures per size: the pure core (`decide` for every account, inputs in
memory) and the whole service step (`CerebroService.handle`: reading the
strategy, allocation, positions and account snapshots from SQLite, deciding,
recording the decisions, publishing the orders on an in-process bus with no
subscriber).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.fund import seed_bench_fund
from shared.adapters.bus_inprocess import InProcessBus
from shared.bootstrap import build_services
from shared.config import Settings
from shared.domain.cerebro import AccountContext, decide
from shared.domain.models import (
    Account,
    AccountSnapshot,
    Action,
    Instrument,
    RiskLimits,
    SignalSource,
    Sizing,
    SizingKind,
    StandardizedSignal,
    Strategy,
)

REPEATS = 200


def a_signal(index: int) -> StandardizedSignal:
    return StandardizedSignal(
        signal_id=f"bench-{index}", strategy_id="bench_strategy", instrument=Instrument(symbol="AAA"),
        action=Action.BUY, sizing=Sizing(kind=SizingKind.QUANTITY, value=10), price=100.0,
        received_at=datetime.now(UTC), source=SignalSource.HTTP_API,
    )


def time_core(accounts: int) -> float:
    now = datetime.now(UTC)
    snapshot = AccountSnapshot(equity=10_000_000, cash=10_000_000, margin_available=10_000_000, as_of=now)
    contexts = [AccountContext(account=Account(account_id=f"A{i}", snapshot=snapshot), allocation_weight=0.1)
                for i in range(accounts)]
    strategy, limits, signal = Strategy(strategy_id="bench_strategy"), RiskLimits(), a_signal(0)
    samples = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        for context in contexts:
            decide(signal, strategy, context, 100.0, limits, False, now)
        samples.append((time.perf_counter() - started) / accounts)
    return statistics.median(samples) * 1e6


def time_service(accounts: int) -> float:
    work = Path(tempfile.mkdtemp(prefix="bench-cerebro-"))
    services = build_services(Settings(sqlite_path=str(work / "store.sqlite"), log_dir=work), bus=InProcessBus())
    seed_bench_fund(services.store, services.mock_broker, accounts)
    services.poller.poll_all()
    samples = []
    for index in range(REPEATS // 4):
        signal = a_signal(index)
        started = time.perf_counter()
        services.cerebro.handle(signal)
        samples.append((time.perf_counter() - started) / accounts)
    services.close()
    return statistics.median(samples) * 1e6


def main() -> None:
    print("\nCerebro decision time per account (median)")
    print(f"  {'accounts':>8}  {'pure core':>12}  {'service step incl. store':>26}")
    for accounts in (1, 10, 100):
        print(f"  {accounts:>8}  {time_core(accounts):>9.1f} us  {time_service(accounts):>23.1f} us")


if __name__ == "__main__":
    main()
