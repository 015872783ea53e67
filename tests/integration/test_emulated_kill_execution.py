"""No order lost, none doubled, on the emulated cloud while the execution function is SIGKILLed.

The counterpart of tests/trust/test_kill9_embedded.py on the Pub/Sub and Firestore emulators with
one functions-framework process per function, at the settings the platform ships with (no tuned
lease, timeout or limit). Four sender threads post alerts to the webhook function; one in ten is
delivered twice at the same moment and every transport failure or 5xx is resent until answered.
While they flow the execution function's process group is killed four times, each time while an
order claim is held if one can be caught, and restarted on the same port (its push subscription
finds it again). Then the fund's tick is driven as Cloud Scheduler would until everything settles,
and Firestore is checked: every signal decided, every order booked once, placed at most once and
final, and our positions, our fills and the Mock broker's books agreeing.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from devstack.emulated import EmulatedStack, start_function
from devstack.processes import ManagedProcess, wait_for_port
from shared.adapters.store_firestore import FirestoreStore
from shared.bootstrap import Services, build_services
from shared.config import CLOUD_SETTINGS, GATEWAY_SETTINGS, LOCAL_ONLY_SETTINGS, SECRET_SETTINGS, Settings
from shared.demo import seed_demo_fund
from shared.domain.models import Collections
from tests.conftest import signal_body
from tests.integration.stack_helpers import running_stack
from tests.trust.books import FINAL_ORDER_STATUSES, check_books
from tests.trust.crash_harness import Alert, Sender, Tally, send_all

ALERTS = 120
SENDERS = 4
KILLS = 4
KILL_AFTER_ACCEPTED = tuple(ALERTS * (k + 1) // (KILLS + 1) for k in range(KILLS))  # spread over the sending
CLAIM_WAIT_SECONDS = 20.0  # how long a kill waits for an order claim to be held before it strikes anyway
TWICE_SHARE = 0.1
MARKS = {"AAPL": 190.0, "MSFT": 420.0, "NVDA": 130.0, "SPY": 560.0}  # the demo fund's Mock marks
TICK_EVERY_SECONDS = 20.0  # Cloud Scheduler calls the tick every minute; faster here, same work
SETTLE_SECONDS = 240.0
SEND_SECONDS = 300.0


@pytest.fixture(scope="module")
def stack(pubsub_emulator: ManagedProcess, firestore_emulator: ManagedProcess,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatedStack]:
    """The stack at shipped defaults: a developer's exported ORDER_CLAIM_LEASE_SECONDS (or any other
    setting) must not reach the functions and make the test prove something else."""
    with pytest.MonkeyPatch.context() as environment:
        for name in (*CLOUD_SETTINGS, *SECRET_SETTINGS, *GATEWAY_SETTINGS, *LOCAL_ONLY_SETTINGS):
            environment.delenv(name, raising=False)
        with running_stack(pubsub_emulator, firestore_emulator, tmp_path_factory.mktemp("kill-execution")) as stack:
            yield stack


@pytest.fixture(scope="module")
def services(stack: EmulatedStack) -> Services:
    """The test's view of the stack's Firestore, seeded with the demo fund and one tick."""
    built = build_services(Settings.from_env(), store=FirestoreStore(stack.project))
    seed_demo_fund(built.store, built.mock_broker)
    tick = requests.post(stack.url("account_poller"), timeout=30).json()
    assert tick["polled"] == 2 and not tick["failed"], tick
    return built


def make_alerts(rng: random.Random) -> list[Alert]:
    """Buys, sells and exits of momentum_us on the demo equities: small, within 1% of the mark."""
    alerts = []
    for index in range(ALERTS):
        ticker = rng.choice(list(MARKS))
        action = rng.choices(["buy", "sell", "exit"], weights=[5, 4, 1])[0]
        fields: dict[str, Any] = {"ticker": ticker, "action": action, "signal_id": f"kx-{index:04d}",
                                  "price": round(MARKS[ticker] * rng.uniform(0.99, 1.01), 2)}
        if action != "exit":
            fields["quantity"] = rng.randint(1, 5)
        alerts.append((f"kx-{index:04d}", json.loads(signal_body(**fields)), rng.random() < TWICE_SHARE))
    return alerts


def kill_execution(stack: EmulatedStack, services: Services, life_began: datetime) -> dict[str, Any]:
    """SIGKILL the execution function's process group, preferably while this life of it holds an order
    claim (so an order dies mid-placement; a dead life's stale claims do not count), and restart it on
    the same port."""
    deadline = time.monotonic() + CLAIM_WAIT_SECONDS
    held: list[str] = []
    while not held and time.monotonic() < deadline:
        held = [o["client_order_id"] for o in services.store.query(Collections.ORDERS, where={"status": "submitting"})
                if datetime.fromisoformat(o["claimed_at"]) >= life_began]
        if not held:
            time.sleep(0.02)
    execution = stack.functions["execution"]
    os.killpg(execution.pid, signal.SIGKILL)
    execution.stop()  # reap it
    killed_at = datetime.now(UTC)
    down_at = time.monotonic()
    stack.functions["execution"] = start_function(stack, "execution", execution.port)
    wait_for_port(stack.functions["execution"])
    return {"at": f"{killed_at:%H:%M:%S}", "claims_held": held, "down_s": round(time.monotonic() - down_at, 1),
            "life_began": killed_at}


def settled(services: Services, signal_ids: set[str]) -> bool:
    """Every accepted signal decided, nothing left open, every order final."""
    statuses = {s["signal_id"]: s.get("status") for s in services.store.query(Collections.SIGNALS)}
    return (all(statuses.get(signal_id) == "decided" for signal_id in signal_ids)
            and not services.store.query(Collections.OPEN_SIGNALS)
            and all(o["status"] in FINAL_ORDER_STATUSES for o in services.store.query(Collections.ORDERS)))


def tick(stack: EmulatedStack, ticks: list[dict[str, Any]]) -> None:
    """One call of the fund's tick, as Cloud Scheduler makes it; what it swept is kept for the report."""
    try:
        answer = requests.post(stack.url("account_poller"), timeout=60)
        ticks.append({"status": answer.status_code, "swept": len(answer.json().get("swept", []))}
                     if answer.ok else {"status": answer.status_code, "body": answer.text[:200]})
    except requests.RequestException as error:
        ticks.append({"error": type(error).__name__})


def log_lines(stack: EmulatedStack, ids: set[str], limit: int = 60) -> list[str]:
    """The journey lines about ``ids``, the functions' error lines and the Pub/Sub emulator's dead push
    threads: what a failure needs to be read."""
    log_dir = stack.log_dir
    journey = log_dir / "signal_processing.log"
    found = [line for line in journey.read_text(errors="replace").splitlines()
             if any(i in line for i in ids)][:limit] if journey.exists() and ids else []
    for path in sorted(log_dir.glob("function-*.log")):
        errors = [line for line in path.read_text(errors="replace").splitlines()
                  if any(marker in line for marker in ("ERROR", "Traceback", "dead-lettering", "Error:"))]
        if errors:
            found += [f"{path.name}: {len(errors)} error lines, the last ones:", *errors[-8:]]
    emulator = stack.pubsub.log_path.read_text(errors="replace").splitlines()
    died = [line for line in emulator if "Exception in thread" in line]
    if died:  # a push worker that dies stops delivering; when all have, no function receives anything
        found += [f"the session's Pub/Sub emulator lost {len(died)} push worker thread(s) "
                  f"({sum('Failed to push' in line for line in emulator)} failed pushes logged):", *died[:4]]
    return found


@pytest.mark.timeout(900)
def test_no_order_lost_or_doubled_when_the_execution_function_is_killed(stack, services):
    began = time.monotonic()
    tally, errors = Tally(), []
    alerts = make_alerts(random.Random(20261211))
    kills: list[dict[str, Any]] = []
    sender = Sender(stack.url("webhook"), tally, give_up_at=time.monotonic() + SEND_SECONDS, retry_sleep=0.2)
    threads = send_all(alerts, sender, errors, SENDERS)
    pending = list(KILL_AFTER_ACCEPTED)
    life_began = datetime.now(UTC)
    while pending and any(t.is_alive() for t in threads):
        with tally.lock:
            accepted_now = len(tally.accepted)
        if accepted_now >= pending[0]:
            pending.pop(0)
            kills.append({"after_accepted": accepted_now, **kill_execution(stack, services, life_began)})
            life_began = kills[-1].pop("life_began")
        time.sleep(0.05)
    for _ in pending:  # the senders finished first: strike while the last orders still flow
        kills.append({"after_accepted": len(tally.accepted), **kill_execution(stack, services, life_began)})
        life_began = kills[-1].pop("life_began")
    for thread in threads:
        thread.join()
    sent_at = time.monotonic()

    accepted = set(tally.accepted.values())
    ticks: list[dict[str, Any]] = []
    settle_seconds: float | None = None
    next_tick = sent_at
    while time.monotonic() < sent_at + SETTLE_SECONDS:
        if time.monotonic() >= next_tick:
            tick(stack, ticks)
            next_tick += TICK_EVERY_SECONDS
        if settled(services, accepted):
            settle_seconds = time.monotonic() - sent_at
            break
        time.sleep(2.0)
    time.sleep(5.0)  # any redelivery still in flight runs through before the books are read

    problems, figures, trace = check_books(services.store, accepted)
    settling = f"{settle_seconds:.0f}s" if settle_seconds is not None else f"never ({SETTLE_SECONDS:g}s)"
    print(f"\nkill-execution: alerts {ALERTS}, accepted {len(tally.accepted)}, answers {dict(tally.answers)}, "
          f"resends {dict(tally.resends)}, kills {len(kills)} "
          f"{[{**k, 'claims_held': len(k['claims_held'])} for k in kills]}, "
          f"orders {figures['orders']} (at broker {figures['at_broker']}, claimed more than once "
          f"{figures['claimed_more_than_once']}), fills {figures['fills']}, ticks {len(ticks)} {ticks}, "
          f"settled after {settling}, seconds {time.monotonic() - began:.0f}")

    problems[:0] = [f"sender: {p}" for p in errors[:10]]
    if tally.refused:
        problems.insert(0, f"{len(tally.refused)} alerts refused (all were valid): "
                           f"{dict(list(tally.refused.items())[:10])}")
    if len(kills) != KILLS:
        problems.append(f"only {len(kills)} of {KILLS} kills happened")
    if not any(k["claims_held"] for k in kills):
        problems.append("no kill caught an order claim held: nothing was killed mid-placement")
    if settle_seconds is None:
        problems.append(f"the pipeline had not settled {SETTLE_SECONDS:g}s after the last alert")
    if problems:
        held = {cid for k in kills for cid in k["claims_held"]}
        report = "\n".join([*(f"- {p}" for p in problems), "journey of the orders and signals concerned, "
                            "and the functions' errors:", *log_lines(stack, set(trace) | held)])
        pytest.fail(f"the books do not balance after {len(kills)} kills of execution:\n{report}", pytrace=False)
