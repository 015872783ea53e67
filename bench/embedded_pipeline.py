"""End-to-end latency and throughput of the embedded stack.

    .venv/bin/python -m bench.embedded_pipeline [--accounts 5] [--signals 3000]

Starts `python -m devstack.embedded` on a fresh SQLite file seeded with a
benchmark fund (one strategy, N accounts), then measures:
  - latency: webhook POST sent -> every account's fill confirmation stored,
    at a steady paced rate (open loop);
  - throughput: signals/s with 8 keep-alive clients sending as fast as answered,
    counted until the last fill is stored;
  - peak RSS of the server process.
Each absolute figure comes with a ratio measured in the same run, which is what carries
between machines: latency over the webhook's own answer time (POST -> 202), and the
fills-stored rate over the webhook's accept rate.
"""

from __future__ import annotations

import argparse
import http.client
import sqlite3
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

from bench.fund import peak_rss_mib, percentile, seed_bench_fund, signal
from bench.machine import describe
from devstack.processes import free_port, start_process, wait_for_port
from shared.bootstrap import build_services
from shared.config import Settings


def post(connection: http.client.HTTPConnection, body: bytes) -> str:
    connection.request("POST", "/webhook", body, {"Content-Type": "application/json"})
    answer = connection.getresponse()
    payload = answer.read()
    if answer.status != 202:
        raise RuntimeError(f"{answer.status}: {payload[:200]!r}")
    return payload.split(b'"signal_id":"')[1].split(b'"')[0].decode()


def fills_done(db: Path, expected: int) -> int:
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT count(*) FROM documents WHERE collection='execution_confirmations'"
                                  ).fetchone()[0] >= expected


def fill_times(db: Path) -> dict[str, float]:
    """signal id -> when its last fill was stored (epoch seconds)."""
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT json_extract(data,'$.signal_id'), max(json_extract(data,'$.recorded_at')) FROM documents "
            "WHERE collection='execution_confirmations' GROUP BY 1").fetchall()
    return {sid: datetime.fromisoformat(at).timestamp() for sid, at in rows}


def wait_for_fills(db: Path, expected: int, timeout: float = 300) -> float:
    deadline = time.monotonic() + timeout
    while not fills_done(db, expected):
        if time.monotonic() > deadline:
            raise TimeoutError(f"fills did not reach {expected}")
        time.sleep(0.02)
    return time.time()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=5)
    parser.add_argument("--signals", type=int, default=3000, help="for the throughput phase")
    parser.add_argument("--rate", type=float, default=100.0, help="signals/s in the latency phase")
    parser.add_argument("--latency-signals", type=int, default=500)
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bench-embedded-"))
    db = work / "store.sqlite"
    settings = Settings(sqlite_path=str(db), log_dir=work)
    seeded = build_services(settings)
    seed_bench_fund(seeded.store, seeded.mock_broker, args.accounts)
    seeded.close()

    port = free_port()
    env = {"MT_SQLITE_PATH": str(db), "MT_LOG_DIR": str(work)}
    server = start_process("embedded", [sys.executable, "-m", "devstack.embedded", f"--port={port}", "--no-seed",
                                        "--dashboards-port=0"],
                           work, port, env)
    try:
        wait_for_port(server)
        results = run_phases(port, db, args)
        results["server peak RSS"] = f"{peak_rss_mib(server.pid):.0f} MiB"
    finally:
        server.stop()
    print(f"\nEmbedded stack, {args.accounts} accounts per signal (orders per signal = accounts)")
    print(f"  machine: {describe()}")
    for name, value in results.items():
        print(f"  {name:<38} {value}")


def run_phases(port: int, db: Path, args: argparse.Namespace) -> dict[str, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port)
    sent: dict[str, float] = {}
    answers: list[float] = []  # the webhook's own answer times, ms
    interval = 1 / args.rate
    start = time.perf_counter()
    for index in range(args.latency_signals):
        target = start + index * interval
        while (now := time.perf_counter()) < target:
            time.sleep(min(target - now, 0.001))
        sent_at = time.time()
        sent[post(connection, signal(index))] = sent_at
        answers.append((time.time() - sent_at) * 1000)
    wait_for_fills(db, args.latency_signals * args.accounts)
    stored = fill_times(db)
    latencies = [(stored[sid] - at) * 1000 for sid, at in sent.items()]

    offset = args.latency_signals
    clients, per_client = 8, args.signals // 8
    began = time.time()

    def client(number: int) -> None:
        own = http.client.HTTPConnection("127.0.0.1", port)
        for index in range(per_client):
            post(own, signal(offset + number * per_client + index))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    accepted = time.time()
    done = wait_for_fills(db, (offset + clients * per_client) * args.accounts)
    total = clients * per_client
    answer = percentile(answers, 50)
    return {
        "webhook answer p50 (POST -> 202)": f"{answer:.2f} ms",
        **{f"latency p{q} ({args.rate:g}/s paced)": f"{percentile(latencies, q):.2f} ms = "
                                                     f"{percentile(latencies, q) / answer:.1f} x the webhook's answer"
           for q in (50, 95, 99)},
        "throughput (accepted by webhook)": f"{total / (accepted - began):.0f} signals/s",
        "throughput (all fills stored)": f"{total / (done - began):.0f} signals/s "
                                         f"({total * args.accounts / (done - began):.0f} orders/s)",
        "pipeline / ingest (fills stored / accepted)": f"{(accepted - began) / (done - began):.2f}",
    }


if __name__ == "__main__":
    main()
