"""End-to-end latency on the emulated cloud, beside the raw cost of three push hops.

    .venv/bin/python -m bench.emulated_pipeline [--samples 20]

Starts the official Pub/Sub and Firestore emulators and one functions-framework
process per function (as `devstack up --stack emulators` does), seeds a
benchmark fund with one account, and measures webhook POST sent -> fill stored,
one signal at a time. In the same run it measures three push hops through the
same emulator with an empty forwarding handler (bench/three_hops), so our own
overhead shows as a ratio. Also prints each process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import requests
from google.cloud import pubsub_v1

from bench.fund import peak_rss_mib, percentile, seed_bench_fund, signal
from bench.machine import describe
from devstack.emulated import provision_pubsub, start_emulators, start_functions
from devstack.processes import REPO_ROOT, ManagedProcess, free_port, start_process, wait_for_port
from shared.adapters.store_firestore import FirestoreStore
from shared.bootstrap import build_services
from shared.config import Settings
from shared.domain.models import Collections


def measure_pipeline(url: str, store: FirestoreStore, samples: int) -> list[float]:
    latencies = []
    for index in range(samples):
        sent = time.time()
        answer = requests.post(url + "webhook", data=signal(index), timeout=30)
        signal_id = answer.json()["signal_id"]
        deadline = time.monotonic() + 60
        while not (fills := store.query(Collections.CONFIRMATIONS, where={"signal_id": signal_id})):
            if time.monotonic() > deadline:
                raise TimeoutError(signal_id)
            time.sleep(0.005)
        stored = datetime.fromisoformat(fills[0]["recorded_at"]).timestamp()
        latencies.append((stored - sent) * 1000)
    return latencies


def start_hops_handler(project: str, work: Path) -> ManagedProcess:
    (work / "hops.txt").touch()
    port = free_port()
    handler = start_process(
        "three-hops", [str(Path(sys.executable).with_name("functions-framework")),
                       f"--source={REPO_ROOT / 'bench' / 'three_hops' / 'main.py'}", "--target=hop",
                       "--signature-type=cloudevent", "--host=127.0.0.1", f"--port={port}"],
        work, port, {"HOPS_RECORD": str(work / "hops.txt"), "GOOGLE_CLOUD_PROJECT": project})
    wait_for_port(handler)
    return handler


def provision_hops(project: str, handler: ManagedProcess) -> None:
    """Topics hop-1..3, each pushed to the empty handler (once per stack)."""
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    try:
        for hop in ("hop-1", "hop-2", "hop-3"):
            topic = publisher.create_topic(name=publisher.topic_path(project, hop)).name
            subscriber.create_subscription(request={
                "name": subscriber.subscription_path(project, f"{hop}-push"), "topic": topic,
                "push_config": {"push_endpoint": f"http://127.0.0.1:{handler.port}/"}})
    finally:
        subscriber.close()
        publisher.stop()


def hop_arrivals(handler: ManagedProcess) -> dict[str, float]:
    """Message id -> when it reached the end of hop 3 (epoch seconds)."""
    lines = (handler.log_path.parent / "hops.txt").read_text().splitlines()
    return {row.split()[0]: float(row.split()[1]) for row in lines if row.strip()}


def measure_three_hops(project: str, handler: ManagedProcess, samples: int) -> list[float]:
    """One message at a time through three push hops: publish -> recorded, in ms."""
    provision_hops(project, handler)
    publisher = pubsub_v1.PublisherClient()
    latencies = []
    try:
        for index in range(samples + 1):  # the first warms the handler up
            message_id = uuid.uuid4().hex
            sent = time.time()
            publisher.publish(publisher.topic_path(project, "hop-1"), json.dumps({"id": message_id}).encode(),
                              hop="hop-1").result()
            deadline = time.monotonic() + 60
            while message_id not in (arrivals := hop_arrivals(handler)):
                if time.monotonic() > deadline:
                    raise TimeoutError("three hops")
                time.sleep(0.002)
            if index:
                latencies.append((arrivals[message_id] - sent) * 1000)
    finally:
        publisher.stop()
    return latencies


def measure_hops_burst(project: str, handler: ManagedProcess, messages: int, fanout: int,
                       timeout: float = 300.0) -> list[float]:
    """``messages`` published at once to hop 1, each fanned out to ``fanout`` at hop 2 (as a
    bar close's signals fan out to accounts): per message, publish -> the last of its fan-out
    recorded after hop 3, in ms. Needs ``measure_three_hops`` (or ``provision_hops``) first."""
    publisher = pubsub_v1.PublisherClient()
    path = publisher.topic_path(project, "hop-1")
    run = uuid.uuid4().hex[:8]
    sent: dict[str, float] = {}
    try:
        futures = []
        for index in range(messages):
            message_id = f"{run}-{index}"
            sent[message_id] = time.time()
            futures.append(publisher.publish(path, json.dumps({"id": message_id, "fanout": fanout}).encode(),
                                             hop="hop-1"))
        for future in futures:
            future.result()
        deadline = time.monotonic() + timeout
        while True:
            last: dict[str, float] = {}
            count: dict[str, int] = {}
            for leaf, at in hop_arrivals(handler).items():
                if leaf.startswith(run):
                    root = leaf.partition(".")[0] if fanout > 1 else leaf
                    last[root] = max(last.get(root, 0.0), at)
                    count[root] = count.get(root, 0) + 1
            if len(count) == messages and all(n >= fanout for n in count.values()):
                return sorted((last[m] - sent[m]) * 1000 for m in sent)
            if time.monotonic() > deadline:
                raise TimeoutError(f"hops burst: {sum(count.values())} of {messages * fanout} arrived")
            time.sleep(0.05)
    finally:
        publisher.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-emulated-"))
    stack = start_emulators(f"bench-{uuid.uuid4().hex[:6]}", work)
    handlers: list[ManagedProcess] = []
    try:
        os.environ.update(stack.env)
        start_functions(stack)
        provision_pubsub(stack)
        services = build_services(Settings.from_env(), store=FirestoreStore(stack.project))
        seed_bench_fund(services.store, services.mock_broker, accounts=1)
        requests.post(stack.url("account_poller"), timeout=30).raise_for_status()
        measure_pipeline(stack.url("webhook"), services.store, 2)  # warm every function up
        ours = measure_pipeline(stack.url("webhook"), services.store, args.samples)
        handlers.append(start_hops_handler(stack.project, work))
        raw = measure_three_hops(stack.project, handlers[0], args.samples)
        memory = {p.name: peak_rss_mib(p.pid) for p in stack.functions.values()}
    finally:
        for handler in handlers:
            handler.stop()
        stack.stop()
    print(f"\nEmulated cloud, one account per signal, {args.samples} signals one at a time; machine: {describe()}")
    print(f"  {'':34}{'p50':>10}{'p95':>10}{'p99':>10}")
    for name, values in (("webhook POST -> fill stored", ours), ("raw 3 push hops, empty handler", raw)):
        print(f"  {name:<34}" + "".join(f"{percentile(values, q):>8.1f}ms" for q in (50, 95, 99)))
    print(f"  {'ratio (ours / raw)':<34}" + "".join(
        f"{percentile(ours, q) / percentile(raw, q):>10.2f}" for q in (50, 95, 99)))
    print("  peak RSS: " + ", ".join(f"{name} {mib:.0f} MiB" for name, mib in memory.items()))


if __name__ == "__main__":
    main()
