"""Cerebro's decision time for one signal across 1, 10 and 100 accounts.

    .venv/bin/python -m bench.cerebro_decision

Per size, measured in the same run:
- the pure core as it is (`decide` for every account, with the instrument master's alias
  lookup and the FX conversion of a foreign-currency instrument included);
- the pure core before the instrument master and account-level risk, loaded from the
  git history (`BEFORE`), on the same inputs: the side-by-side figure;
- the whole service step (`CerebroService.handle`: store reads, deciding, recording the
  decisions, publishing the orders on an in-process bus with no subscriber).
"""

from __future__ import annotations

import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench.fund import bench_instrument, seed_bench_fund
from bench.machine import describe
from shared.adapters.bus_inprocess import InProcessBus
from shared.bootstrap import build_services
from shared.config import Settings
from shared.demo_instruments import DEMO_INSTRUMENTS
from shared.domain.cerebro import AccountContext, MarketContext, decide
from shared.domain.instruments import InstrumentMaster
from shared.domain.models import (
    Account,
    AccountSnapshot,
    Action,
    Quote,
    RiskLimits,
    SignalSource,
    Sizing,
    SizingKind,
    StandardizedSignal,
    Strategy,
)

REPEATS = 200
BEFORE = "a60f465"  # the last commit before the instrument master and account-level risk
REPO = Path(__file__).resolve().parent.parent


def a_signal(index: int, ticker: str = "AAA") -> StandardizedSignal:
    spec = bench_instrument(ticker)
    return StandardizedSignal(
        signal_id=f"bench-{index}", strategy_id="bench_strategy", instrument=spec.instrument,
        action=Action.BUY, sizing=Sizing(kind=SizingKind.PERCENT, value=1), price=100.0,
        received_at=datetime.now(UTC), source=SignalSource.HTTP_API,
    )


def _contexts(accounts: int, now: datetime) -> list[AccountContext]:
    snapshot = AccountSnapshot(equity=10_000_000, cash=10_000_000, margin_available=10_000_000, as_of=now)
    return [AccountContext(account=Account(account_id=f"A{i}", snapshot=snapshot), allocation_weight=0.1,
                           fund_equity=accounts * 1e7, broker_exposure=0.0) for i in range(accounts)]


def _median_per_account(accounts: int, one_signal: Callable[[], None]) -> float:
    samples = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        one_signal()
        samples.append((time.perf_counter() - started) / accounts)
    return statistics.median(samples) * 1e6


def time_core(accounts: int) -> float:
    """USDJPY from a USD account: alias lookup once per signal, FX in every account's sizing."""
    now = datetime.now(UTC)
    master = InstrumentMaster([spec for spec, _ in DEMO_INSTRUMENTS])
    contexts, strategy, limits = _contexts(accounts, now), Strategy(strategy_id="bench_strategy"), RiskLimits()
    market = MarketContext(quote=Quote(price=150.2, as_of=now, source="bench"), fx_rate=1 / 150.2)

    def one_signal() -> None:
        spec = master.resolve("OANDA:USDJPY")
        assert spec is not None
        signal = a_signal(0).model_copy(update={"instrument": spec.instrument, "price": 150.2})
        for context in contexts:
            decide(signal, strategy, context, market, limits, now)

    return _median_per_account(accounts, one_signal)


def _core_before() -> Callable[..., object] | None:
    """The earlier `decide`, from git; None when the history is not in this clone."""
    try:
        source = subprocess.run(["git", "show", f"{BEFORE}:shared/domain/cerebro.py"], cwd=REPO, check=True,
                                capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp(prefix="bench-before-")) / "cerebro_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("shared.domain.cerebro_before", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.decide


def time_core_before(accounts: int, before_decide: Callable[..., object]) -> float:
    now = datetime.now(UTC)
    snapshot = AccountSnapshot(equity=10_000_000, cash=10_000_000, margin_available=10_000_000, as_of=now)
    old_context = sys.modules["shared.domain.cerebro_before"].AccountContext
    contexts = [old_context(account=Account(account_id=f"A{i}", snapshot=snapshot), allocation_weight=0.1)
                for i in range(accounts)]
    strategy, limits, signal = Strategy(strategy_id="bench_strategy"), RiskLimits(), a_signal(0)

    def one_signal() -> None:
        for context in contexts:
            before_decide(signal, strategy, context, 100.0, limits, False, now)

    return _median_per_account(accounts, one_signal)


def time_service(accounts: int) -> float:
    work = Path(tempfile.mkdtemp(prefix="bench-cerebro-"))
    services = build_services(Settings(sqlite_path=str(work / "store.sqlite"), log_dir=work), bus=InProcessBus())
    seed_bench_fund(services.store, services.mock_broker, accounts)
    services.poller.poll_all()
    # The pipeline runs, and is drained outside the timing: each signal's orders settle before
    # the next signal of the same book, which would otherwise wait (parked) instead of deciding.
    services.subscribe_pipeline()
    samples = []
    for index in range(REPEATS // 4):
        signal = a_signal(index)
        started = time.perf_counter()
        decisions = services.cerebro.handle(signal)
        samples.append((time.perf_counter() - started) / accounts)
        if not decisions or not services.bus.drain(timeout=60):
            raise RuntimeError(f"signal {index} was not decided and settled: the bench would time parking")
    services.close()
    return statistics.median(samples) * 1e6


def main() -> None:
    before = _core_before()
    print(f"\nCerebro decision time per account (median of one signal's fan-out); machine: {describe()}")
    print(f"  {'accounts':>8}  {'pure core now':>14}  {f'before ({BEFORE})':>17}  {'ratio':>6}  "
          f"{'service step incl. store':>26}")
    for accounts in (1, 10, 100):
        now_us = time_core(accounts)
        before_us = time_core_before(accounts, before) if before else float("nan")
        print(f"  {accounts:>8}  {now_us:>11.1f} us  {before_us:>14.1f} us  {now_us / before_us:>5.2f}x  "
              f"{time_service(accounts):>23.1f} us")
    if before is None:
        print(f"  (the earlier core needs commit {BEFORE} in this clone's history)")


if __name__ == "__main__":
    main()
