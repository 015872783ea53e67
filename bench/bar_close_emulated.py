"""The bar-close burst on the emulated cloud (bench/bar_close.py's second part).

The official Pub/Sub and Firestore emulators and one functions-framework process per function
(devstack/emulated.py): S strategies alert at once, each signal fanned out to N accounts. Per
signal: its 202 -> its last fill stored. Beside it, in the same run, three raw push hops with an
empty handler (bench/three_hops): one message at a time, and the same burst (S messages at once,
each fanned out to N at hop 2, as cerebro fans a signal out to orders), per message publish ->
the last of its fan-out through hop 3. Also each process's CPU seconds over the burst and the
load average (other work on the machine slows everything: compare ratios from one run).

What bounds it (measured, see --emulated-timings): the Pub/Sub emulator pushes each subscription
through two push loops, each waiting for its push's answer (and polling every 100 ms when idle),
so a stage serves at most two messages at a time whatever the function's threads, and a burst
drains at 2 / (the handler's time per message) per stage. GCP scales push deliveries out instead.
"""

from __future__ import annotations

import collections
import os
import statistics
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.bar_close import burst, burst_bodies, cpu_seconds, wait_all_fills
from bench.fund import peak_rss_mib, percentile, seed_bench_strategies
from devstack.processes import REPO_ROOT, ManagedProcess, group_members
from shared.bootstrap import build_services
from shared.config import Settings

TIMINGS_HOOK = Path(__file__).resolve().parent / "emulated_timings"


def group_cpu_seconds(pgid: int) -> float:
    """CPU seconds (user + system) used so far by a process group's live processes."""
    total = 0.0
    for pid in group_members(pgid):
        try:
            total += cpu_seconds(pid)
        except (OSError, IndexError):
            continue
    return total


def stack_cpu(stack: Any) -> dict[str, float]:
    """Name -> CPU seconds so far, for every process of an emulated stack."""
    return {p.name.removeprefix("function-"): group_cpu_seconds(p.pid) for p in stack.processes()}


def read_timings(path: Path, since: float) -> dict[str, dict[str, list[float]]]:
    """function -> call -> durations (ms), of the calls started at or after ``since``."""
    found: dict[str, dict[str, list[float]]] = collections.defaultdict(lambda: collections.defaultdict(list))
    for line in path.read_text().splitlines():
        function, call, started, ms = line.split()
        if float(started) >= since:
            found[function][call].append(float(ms))
    return found


def emulated(strategies: int, accounts: int, hop_samples: int, timings: bool = False) -> dict[str, Any]:
    import requests
    from google.cloud import firestore

    from bench.emulated_pipeline import measure_hops_burst, measure_three_hops, start_hops_handler
    from devstack.emulated import provision_pubsub, start_emulators, start_functions
    from shared.adapters.store_firestore import FirestoreStore

    work = Path(tempfile.mkdtemp(prefix="bench-bar-close-emulated-"))
    stack = start_emulators(f"bench-{uuid.uuid4().hex[:6]}", work)
    handlers: list[ManagedProcess] = []
    saved = dict(os.environ)
    timings_file = work / "timings.txt"
    hook = {"PYTHONPATH": f"{TIMINGS_HOOK}{os.pathsep}{REPO_ROOT}", "BENCH_TIMINGS": str(timings_file)}
    try:
        os.environ.update(stack.env)
        started = time.monotonic()
        start_functions(stack, extra_env=hook if timings else None)
        provision_pubsub(stack)
        services = build_services(Settings.from_env(), store=FirestoreStore(stack.project))
        seed_bench_strategies(services.store, services.mock_broker, strategies, accounts)
        requests.post(stack.url("account_poller"), timeout=60).raise_for_status()
        client = firestore.Client(project=stack.project)

        def read(signal_ids: set[str]) -> dict[str, tuple[int, float]]:
            found: dict[str, list[float]] = {}
            for doc in client.collection("execution_confirmations").select(["signal_id", "recorded_at"]).stream():
                data = doc.to_dict() or {}
                if data.get("signal_id") in signal_ids:
                    stored = datetime.fromisoformat(data["recorded_at"]).timestamp()
                    found.setdefault(data["signal_id"], []).append(stored)
            return {sid: (len(times), max(times)) for sid, times in found.items()}

        def count() -> int:
            return int(client.collection("execution_confirmations").count().get()[0][0].value)

        port = stack.functions["webhook"].port
        # Warm every function up (a first call imports and connects): a small burst, not counted.
        before = count()
        _, _, warm = burst(port, burst_bodies(min(strategies, 5), "warm", True), "/")
        wait_all_fills(count, read, set(warm), accounts, before, timeout=180, pause=0.25)
        time.sleep(2.0)
        before = count()
        cpu_before, load_before, burst_began = stack_cpu(stack), os.getloadavg()[0], time.time()
        began, last_accepted, accepted = burst(port, burst_bodies(strategies, f"e-{uuid.uuid4().hex[:6]}", False), "/")
        fills = wait_all_fills(count, read, set(accepted), accounts, before, timeout=400, pause=0.25)
        cpu = {name: used - cpu_before.get(name, 0.0) for name, used in stack_cpu(stack).items()}
        load_after = os.getloadavg()[0]
        calls = read_timings(timings_file, burst_began) if timings else {}
        latencies = sorted((fills[sid][1] - at) * 1000 for sid, at in accepted.items())
        last_fill = max(at for _, at in fills.values())
        handlers.append(start_hops_handler(stack.project, work))
        raw = measure_three_hops(stack.project, handlers[0], hop_samples)
        time.sleep(1.0)
        raw_burst = measure_hops_burst(stack.project, handlers[0], strategies, accounts)
        memory = {p.name.removeprefix("function-"): peak_rss_mib(p.pid) for p in stack.functions.values()}
        elapsed = time.monotonic() - started
    finally:
        for handler in handlers:
            handler.stop()
        stack.stop()
        os.environ.clear()
        os.environ.update(saved)
    return {"accounts": accounts, "latencies": latencies, "raw": raw, "raw_burst": raw_burst,
            "accept_s": last_accepted - began, "total_s": last_fill - began, "memory": memory, "cpu": cpu,
            "load": (load_before, load_after), "timings": calls, "elapsed": elapsed}


def print_emulated(strategies: int, result: dict[str, Any], note: str) -> None:
    ours, raw, raw_burst, n = result["latencies"], result["raw"], result["raw_burst"], result["accounts"]
    print(f"\n2. Emulated cloud (Pub/Sub + Firestore emulators, one functions-framework process per function): "
          f"{strategies} strategies x {n} accounts = {strategies * n} orders in one burst{note}")
    print(f"  webhook accepted all {strategies} alerts in {result['accept_s'] * 1000:.0f} ms "
          f"({strategies / result['accept_s']:.1f} sig/s); last fill stored {result['total_s']:.1f} s after the "
          f"first alert ({strategies / result['total_s']:.2f} sig/s, pipeline/ingest "
          f"{result['accept_s'] / result['total_s']:.3f}); load average {result['load'][0]:.1f} before, "
          f"{result['load'][1]:.1f} after")

    def row(name: str, values: list[float]) -> str:
        return f"  {name:<52}" + "".join(f"{v:>8.0f}ms" for v in (percentile(values, 50), percentile(values, 90),
                                                                  max(values)))

    def ratio(name: str, base: list[float]) -> str:
        return f"  {name:<52}" + "".join(f"{a / b:>10.1f}" for a, b in (
            (percentile(ours, 50), percentile(base, 50)), (percentile(ours, 90), percentile(base, 90)),
            (max(ours), max(base))))

    print(f"  {'':52}{'p50':>10}{'p90':>10}{'max':>10}")
    print(row("burst: alert accepted -> its last fill stored", ours))
    print(row(f"raw 3 push hops, same burst ({strategies} x {n} fan-out)", raw_burst))
    print(row("raw 3 push hops, one at a time", raw))
    print(ratio("ratio burst / raw burst", raw_burst))
    print(ratio("ratio burst / raw one at a time", raw))
    print(f"  burst p50 / raw burst p50 = {percentile(ours, 50) / percentile(raw_burst, 50):.1f} (issue target "
          f"<= 1.3); / raw one-at-a-time p50 = {percentile(ours, 50) / percentile(raw, 50):.1f}")
    cpu = sorted(result["cpu"].items(), key=lambda item: -item[1])
    print(f"  CPU seconds during the burst ({sum(result['cpu'].values()):.1f} s in all): "
          + ", ".join(f"{name} {seconds:.1f}" for name, seconds in cpu if seconds >= 0.05))
    print("  peak RSS: " + ", ".join(f"{name} {mib:.0f} MiB" for name, mib in result["memory"].items())
          + (" (the timing hook imports the Firestore and Pub/Sub adapters into every function)"
             if result["timings"] else ""))
    print_timings(result["timings"])


def print_timings(timings: dict[str, dict[str, list[float]]]) -> None:
    """Per function: its pushes, then each call's count per push, mean and share of push time."""
    for function, calls in sorted(timings.items()):
        pushes = calls.get("PUSH", [])
        if not pushes:
            continue
        push_ms = sum(pushes)
        print(f"  {function}: {len(pushes)} pushes, {statistics.mean(pushes):.0f} ms mean "
              f"(p50 {percentile(pushes, 50):.0f}, max {max(pushes):.0f})")
        for call, values in sorted(calls.items(), key=lambda item: -sum(item[1])):
            if call != "PUSH" and sum(values) >= 0.01 * push_ms:
                print(f"    {call:<40}{len(values) / len(pushes):>6.1f} per push, {statistics.mean(values):>6.1f} ms "
                      f"mean, {sum(values) / push_ms:>4.0%} of push time")
