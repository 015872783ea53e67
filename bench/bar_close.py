"""A bar close: every strategy of a fund alerts within one second (issue 16).

    .venv/bin/python -m bench.bar_close [--strategies 50] [--accounts 2,20] [--repeats 3]
                                        [--emulated-accounts 5] [--emulated-timings]
                                        [--skip-emulated] [--skip-embedded]

Embedded stack (`python -m devstack.embedded` on a fresh SQLite file, a bench fund of S
strategies and N accounts, each account allocating to every strategy): all S alerts are
posted at once by keep-alive client threads, as fast as the webhook answers, and we time

  - the webhook-accept rate: alerts / (first alert sent -> last 202 received);
  - first alert sent -> last of the S x N fills stored, and the fills-stored rate
    (signals / that time);
  - the pipeline / ingest ratio: fills-stored rate / webhook-accept rate (1.0: the pipeline
    keeps up with the webhook; the issue's target is >= 0.8).

Each burst runs --repeats times (fresh signal ids, the stack quiet in between); medians print.

Emulated cloud (bench/bar_close_emulated.py): the same burst at --emulated-accounts accounts,
per-signal latency (its 202 -> its last fill stored) p50/p90/max, beside three raw Pub/Sub push
hops with an empty handler (bench/three_hops) measured in the same run, one message at a time and
as the same burst fanned out the same way, and the ratio of the p50s (target <= 1.3).
"""

from __future__ import annotations

import argparse
import http.client
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.fund import peak_rss_mib, percentile, seed_bench_strategies, strategy_signal
from bench.machine import describe
from devstack.processes import ManagedProcess, free_port, start_process, wait_for_port
from shared.bootstrap import build_services
from shared.config import Settings

CLIENTS = 10  # keep-alive client threads posting the burst


# --- the burst ----------------------------------------------------------------------------

def post(connection: http.client.HTTPConnection, body: bytes, url_path: str = "/webhook") -> str:
    connection.request("POST", url_path, body, {"Content-Type": "application/json"})
    answer = connection.getresponse()
    payload = answer.read()
    if answer.status != 202:
        raise RuntimeError(f"{answer.status}: {payload[:300]!r}")
    return payload.split(b'"signal_id":"')[1].split(b'"')[0].decode()


def burst(port: int, bodies: list[bytes], url_path: str = "/webhook") -> tuple[float, float, dict[str, float]]:
    """Post every body at once from CLIENTS keep-alive threads; returns (first sent, last
    accepted, signal id -> when its 202 arrived), epoch seconds."""
    work = list(enumerate(bodies))
    lock = threading.Lock()
    accepted: dict[str, float] = {}
    errors: list[BaseException] = []
    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=60) for _ in range(CLIENTS)]
    for connection in connections:
        connection.connect()
    go = threading.Event()

    def client(connection: http.client.HTTPConnection) -> None:
        go.wait()
        while True:
            with lock:
                if not work:
                    return
                _, body = work.pop(0)
            try:
                signal_id = post(connection, body, url_path)
            except BaseException as error:  # noqa: BLE001 - reported after the join
                errors.append(error)
                return
            at = time.time()
            with lock:
                accepted[signal_id] = at

    threads = [threading.Thread(target=client, args=(c,)) for c in connections]
    for thread in threads:
        thread.start()
    began = time.time()
    go.set()
    for thread in threads:
        thread.join()
    for connection in connections:
        connection.close()
    if errors:
        raise RuntimeError(f"the webhook refused an alert: {errors[0]}")
    return began, max(accepted.values()), accepted


def burst_bodies(strategies: int, run: str, buy: bool) -> list[bytes]:
    return [strategy_signal(k, f"{run}-s{k:03d}", buy) for k in range(strategies)]


# --- embedded -----------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_quiet(pid: int, timeout: float = 120.0, window: float = 0.5, busy: float = 0.03) -> None:
    """Until the process uses under ``busy`` of a core over ``window`` (its start-up work, the
    dashboards' first refresh, the previous burst's tail are done)."""
    deadline = time.monotonic() + timeout
    before = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(window)
        now = cpu_seconds(pid)
        if now - before < busy * window:
            return
        before = now
    raise TimeoutError("the embedded server never went quiet")


def sqlite_fills(db: Path, signal_ids: set[str]) -> dict[str, tuple[int, float]]:
    """signal id -> (fills stored, when its last fill was stored), for these signals."""
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT json_extract(data,'$.signal_id'), count(*), max(json_extract(data,'$.recorded_at')) "
            "FROM documents WHERE collection='execution_confirmations' GROUP BY 1").fetchall()
    return {sid: (n, datetime.fromisoformat(at).timestamp()) for sid, n, at in rows if sid in signal_ids}


def sqlite_count(db: Path, collection: str) -> int:
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT count(*) FROM documents WHERE collection=?", (collection,)).fetchone()[0]


def wait_all_fills(count, read, signal_ids: set[str], accounts: int, before: int, timeout: float,
                   pause: float = 0.02) -> dict[str, tuple[int, float]]:
    """Poll the cheap ``count`` (all fills stored) until this burst's fills are in, then ``read``
    them once (signal id -> (fills, when its last was stored)); a cheap poll keeps the bench's
    own CPU off the 2 cores the stack runs on. ``before``: the count before the burst."""
    expected = before + len(signal_ids) * accounts
    deadline = time.monotonic() + timeout
    while True:
        if count() >= expected:
            fills = read(signal_ids)
            if len(fills) == len(signal_ids) and all(n >= accounts for n, _ in fills.values()):
                return fills
        if time.monotonic() > deadline:
            fills = read(signal_ids)
            stored = sum(n for n, _ in fills.values())
            raise TimeoutError(f"{stored} of {len(signal_ids) * accounts} fills stored after {timeout:.0f} s")
        time.sleep(pause)


def start_embedded_server(strategies: int, accounts: int) -> tuple[ManagedProcess, Path]:
    work = Path(tempfile.mkdtemp(prefix=f"bench-bar-close-{accounts}-"))
    db = work / "store.sqlite"
    seeded = build_services(Settings(sqlite_path=str(db), log_dir=work))
    seed_bench_strategies(seeded.store, seeded.mock_broker, strategies, accounts)
    seeded.close()
    port = free_port()
    # --poll-seconds: no scheduled tick (account refresh + every dashboard rebuilt) lands in a
    # burst; each server lives well inside the 300 s account-data age limit of its first poll.
    server = start_process("embedded", [sys.executable, "-m", "devstack.embedded", f"--port={port}", "--no-seed",
                                        "--dashboards-port=0", "--poll-seconds=3600", "--log-level=WARNING"],
                           work, port, {"MT_SQLITE_PATH": str(db), "MT_LOG_DIR": str(work)})
    return server, db


def start_profilers(pid: int, out: Path) -> list[Any]:
    """py-spy on the server: ``out`` samples every active thread (where the wall time goes),
    ``out``.gil only the thread holding the GIL (where the CPU goes); collapsed stacks."""
    import subprocess

    spy = Path(sys.executable).with_name("py-spy")
    return [subprocess.Popen([str(spy), "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw",
                              "-o", str(path), "--nonblocking", *extra],
                             stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            for path, rate, extra in ((out, 200, []), (out.with_name(out.name + ".gil"), 100, ["--gil"]))]


def embedded(strategies: int, accounts: int, repeats: int, profile: Path | None) -> dict[str, Any]:
    server, db = start_embedded_server(strategies, accounts)
    runs: list[dict[str, float]] = []
    spies: list[Any] = []
    try:
        wait_for_port(server, timeout=60)
        wait_quiet(server.pid)
        # A warm-up burst (not counted): first calls compile regexes, build indexes, fill caches.
        run(server, db, strategies, accounts, "warm", True)
        if profile is not None:
            spies = start_profilers(server.pid, profile)
            time.sleep(1.0)
        for repeat in range(repeats):
            runs.append(run(server, db, strategies, accounts, f"r{repeat}-{uuid.uuid4().hex[:6]}", repeat % 2 == 1))
        rss = peak_rss_mib(server.pid)
    finally:
        import signal as signals

        for spy in spies:
            spy.send_signal(signals.SIGINT)
        for spy in spies:
            spy.wait(timeout=60)
        server.stop()
    medians = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    return {"accounts": accounts, "runs": runs, "median": medians, "rss": rss}


def run(server: ManagedProcess, db: Path, strategies: int, accounts: int, name: str, buy: bool) -> dict[str, float]:
    wait_quiet(server.pid)
    count = lambda: sqlite_count(db, "execution_confirmations")  # noqa: E731
    before, cpu_before = count(), cpu_seconds(server.pid)
    began, last_accepted, accepted = burst(server.port, burst_bodies(strategies, name, buy))
    fills = wait_all_fills(count, lambda ids: sqlite_fills(db, ids), set(accepted), accounts, before, timeout=300)
    cpu = cpu_seconds(server.pid) - cpu_before
    last_fill = max(at for _, at in fills.values())
    accept_seconds, total_seconds = last_accepted - began, last_fill - began
    accept_rate, fill_rate = strategies / accept_seconds, strategies / total_seconds
    latencies = sorted((fills[sid][1] - at) * 1000 for sid, at in accepted.items())
    deadline = time.monotonic() + 60
    while sqlite_count(db, "open_signals") and time.monotonic() < deadline:  # the tail: settles, wakes
        time.sleep(0.05)
    return {"accept_s": accept_seconds, "accept_rate": accept_rate, "total_s": total_seconds,
            "fill_rate": fill_rate, "orders_rate": fill_rate * accounts, "ratio": fill_rate / accept_rate,
            "latency_p50": percentile(latencies, 50), "latency_max": latencies[-1],
            "cpu_ms_per_order": cpu * 1000 / (strategies * accounts)}


def print_embedded(strategies: int, results: list[dict[str, Any]], repeats: int) -> None:
    print(f"\n1. Embedded stack (devstack.embedded, SQLite, in-process bus, Mock broker): {strategies} strategies "
          f"alert at once, {CLIENTS} keep-alive clients; medians of {repeats} bursts (after one warm-up)")
    header = (f"  {'accounts':>8} {'orders':>6} {'webhook accept':>16} {'1st alert->last fill':>21} "
              f"{'fills stored':>14} {'orders/s':>9} {'pipeline/ingest':>16} {'signal p50/max':>17} "
              f"{'CPU/order':>10} {'RSS':>8}")
    print(header)
    for result in results:
        m, n = result["median"], result["accounts"]
        print(f"  {n:>8} {strategies * n:>6} {m['accept_rate']:>10.0f} sig/s {m['total_s'] * 1000:>18.0f} ms "
              f"{m['fill_rate']:>8.1f} sig/s {m['orders_rate']:>9.0f} {m['ratio']:>16.3f} "
              f"{m['latency_p50']:>7.0f}/{m['latency_max']:.0f} ms {m['cpu_ms_per_order']:>7.1f} ms "
              f"{result['rss']:>5.0f} MiB")
    print("  each burst (accept ms / last fill ms / ratio):")
    for result in results:
        print(f"    {result['accounts']:>2} accounts: " + "; ".join(
            f"{r['accept_s'] * 1000:.0f} / {r['total_s'] * 1000:.0f} / {r['ratio']:.3f}" for r in result["runs"]))
    print("  pipeline/ingest = fills-stored rate / webhook-accept rate, both in signals/s "
          "(= accept time / time to the last fill); issue target >= 0.8")
    print("  CPU/order: the server's CPU time (user+system, all threads) from the first alert to the last fill, "
          "per order: less sensitive than wall times to other load on the machine")


# --- main ---------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strategies", type=int, default=50)
    parser.add_argument("--accounts", default="2,20", help="comma-separated accounts per signal (embedded)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--emulated-accounts", type=int, default=5,
                        help="accounts per signal on the emulated cloud (20 takes about 6 minutes there)")
    parser.add_argument("--hop-samples", type=int, default=20)
    parser.add_argument("--emulated-timings", action="store_true",
                        help="time every push, store and bus call in each emulated function (a timing hook: "
                             "bench/emulated_timings) and print the calls per push and their mean")
    parser.add_argument("--skip-embedded", action="store_true")
    parser.add_argument("--skip-emulated", action="store_true")
    parser.add_argument("--profile", type=Path, help="py-spy (if installed in the venv) records the embedded server "
                                                     "during the largest burst's repeats: collapsed stacks in this "
                                                     "file (active threads) and in <file>.gil (the GIL holder)")
    args = parser.parse_args(argv)
    accounts = [int(n) for n in args.accounts.split(",")]
    started = time.monotonic()
    print(f"Bar-close burst bench, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"Machine: {describe()}")
    print("Absolute rates depend on the machine; the ratios (pipeline/ingest, burst/raw hops) are the figures "
          "to compare between machines.", flush=True)
    if not args.skip_embedded:
        results = [embedded(args.strategies, n, args.repeats, args.profile if n == max(accounts) else None)
                   for n in accounts]
        print_embedded(args.strategies, results, args.repeats)
        sys.stdout.flush()
    if not args.skip_emulated:
        from bench.bar_close_emulated import emulated, print_emulated

        result = emulated(args.strategies, args.emulated_accounts, args.hop_samples, args.emulated_timings)
        note = ""
        if args.emulated_accounts < max(accounts):
            note = (f"\n  (fewer accounts than the embedded {max(accounts)}: at this burst's pace, {max(accounts)} "
                    f"accounts would take about {result['total_s'] * max(accounts) / args.emulated_accounts / 60:.0f} "
                    "minutes on the emulators)")
        print_emulated(args.strategies, result, note)
    print(f"\n(bench took {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
