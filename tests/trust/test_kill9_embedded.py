"""Acceptance: no order lost, none doubled, when the embedded server is SIGKILLed mid-flow.

The real embedded server runs as a subprocess at its shipped defaults (no tuned lease,
timeout or limit). Eight sender threads post 600 alerts to /webhook; one in ten is
delivered twice at the same moment, and every transport failure or 5xx is resent until
it is answered, as a patient TradingView would. Six times during the sending the server
is killed with SIGKILL (no cleanup, in-flight bus messages gone) and restarted on the same
port and store. Once the pipeline settles the server is stopped and the store file is
checked: every accepted signal decided, every decided order booked once, placed at most
once, final, and our positions, our fills and the broker's books agreeing.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from devstack.processes import free_port
from shared.adapters.store_sqlite import SqliteStore
from shared.demo import DEMO_PASSPHRASES
from shared.domain.models import Collections
from tests.trust.books import FINAL_ORDER_STATUSES, check_books
from tests.trust.crash_harness import (
    Alert,
    EmbeddedServer,
    Sender,
    StoreReader,
    Tally,
    default_env,
    journey_counts,
    journey_lines,
    send_all,
)

ALERTS = 600
SENDERS = 8
KILL_AFTER_ACCEPTED = (80, 160, 240, 320, 400, 480)  # spread over the sending
TWICE_SHARE = 0.1  # alerts delivered twice at the same moment
SETTLE_SECONDS = 120.0
EQUITY_MARKS = {"AAPL": 190.0, "MSFT": 420.0, "NVDA": 130.0, "SPY": 560.0}  # listed by the demo fund
FX_TICKER, FX_MARK = "FX:EURUSD", 1.08


def make_alerts(rng: random.Random) -> list[Alert]:
    """(alert id, body, delivered twice): buys, sells and exits for momentum_us on the demo
    equities and fx_carry on EURUSD, small, priced within 1% of the mark (the collar is 5%)."""
    alerts = []
    for index in range(ALERTS):
        if rng.random() < 0.75:
            strategy_id, ticker = "momentum_us", rng.choice(list(EQUITY_MARKS))
            mark, quantity, decimals = EQUITY_MARKS[ticker], rng.randint(1, 5), 2
        else:
            strategy_id, ticker = "fx_carry", FX_TICKER
            mark, quantity, decimals = FX_MARK, rng.randint(1, 5) * 1000, 5
        alert_id = f"k9-{index:04d}"
        action = rng.choices(["buy", "sell", "exit"], weights=[5, 4, 1])[0]
        body: dict[str, Any] = {"strategy_id": strategy_id, "passphrase": DEMO_PASSPHRASES[strategy_id],
                                "signal_id": alert_id, "ticker": ticker, "action": action,
                                "price": round(mark * rng.uniform(0.99, 1.01), decimals)}
        if action != "exit":
            body["quantity"] = quantity
        alerts.append((alert_id, body, rng.random() < TWICE_SHARE))
    return alerts


def progress(reader: StoreReader, signal_ids: set[str]) -> tuple[int, int, int]:
    """(accepted signals decided, signals open, orders not final): settled is (all, 0, 0)."""
    signals = {s["signal_id"]: s["status"] for s in reader.documents(Collections.SIGNALS)}
    return (sum(signals.get(signal_id) == "decided" for signal_id in signal_ids),
            len(reader.documents(Collections.OPEN_SIGNALS)),
            sum(o["status"] not in FINAL_ORDER_STATUSES for o in reader.documents(Collections.ORDERS)))


@pytest.mark.timeout(600)
def test_no_order_lost_or_doubled_when_the_embedded_server_is_killed(tmp_path: Path):
    """Crashes must cost nothing but time: what was accepted is traded once, and the books agree."""
    began = time.monotonic()
    sqlite_path, log_dir = tmp_path / "store.sqlite", tmp_path / "logs"
    server = EmbeddedServer(free_port(), default_env(sqlite_path, log_dir), tmp_path)
    tally, errors = Tally(), []
    alerts = make_alerts(random.Random(20261209))
    kills: list[dict[str, Any]] = []
    settle_seconds: float | None = None
    curve: list[str] = []  # (decided, open signals, orders not final) every 10 s while settling
    sender = Sender(f"{server.base_url}/webhook", tally, give_up_at=time.monotonic() + 360)
    threads: list[threading.Thread] = []
    try:
        server.start(healthy_within=90)
        threads = send_all(alerts, sender, errors, SENDERS)
        pending = list(KILL_AFTER_ACCEPTED)
        while any(t.is_alive() for t in threads):
            with tally.lock:
                accepted_now = len(tally.accepted)
            if pending and accepted_now >= pending[0]:
                pending.pop(0)
                server.kill9()
                down_at = time.monotonic()
                restart = server.start()
                kills.append({"after_accepted": accepted_now, "restart_s": round(restart, 1),
                              "down_s": round(time.monotonic() - down_at, 1)})
            time.sleep(0.02)
        for thread in threads:
            thread.join()
        sent_at = time.monotonic()

        reader = StoreReader(sqlite_path)
        accepted = set(tally.accepted.values())
        while time.monotonic() < sent_at + SETTLE_SECONDS:
            now = progress(reader, accepted)
            if not curve or time.monotonic() - sent_at >= 10 * len(curve):
                curve.append(f"{time.monotonic() - sent_at:.0f}s {now}")
            if now == (len(accepted), 0, 0):
                settle_seconds = time.monotonic() - sent_at
                break
            time.sleep(1.0)
        stopped_cleanly = server.terminate()
    finally:
        sender.abort.set()  # only has work left if the test is failing on its way out
        server.stop_quietly()
        for thread in threads:
            thread.join(timeout=30)

    store = SqliteStore(sqlite_path)
    try:
        problems, figures, trace = check_books(store, accepted)
        if dead_lines := server.output_lines("dead-lettering"):
            problems.append(f"{len(dead_lines)} 'dead-lettering' lines in the server output (life, line): "
                            f"{dead_lines[:10]}")
    finally:
        store.close()
    twice = sum(1 for _, _, t in alerts if t)
    settling = f"{settle_seconds:.1f}s" if settle_seconds is not None else f"never ({SETTLE_SECONDS:g}s)"
    print(f"\nkill9: alerts {ALERTS}, accepted {len(tally.accepted)}, answers {dict(tally.answers)}, "
          f"duplicates sent {twice}, resends {sum(tally.resends.values())} {dict(tally.resends)}, "
          f"kills {len(kills)} {kills}, orders {figures['orders']} (at broker {figures['at_broker']}), "
          f"fills {figures['fills']}, settled after {settling}, "
          f"clean stop {stopped_cleanly}, took {time.monotonic() - began:.0f}s")

    if errors:
        problems.insert(0, f"sender errors: {errors[:10]}")
    if tally.refused:
        problems.insert(0, f"{len(tally.refused)} alerts refused (all were valid): "
                           f"{dict(list(tally.refused.items())[:10])}")
    if len(kills) != len(KILL_AFTER_ACCEPTED):
        problems.append(f"only {len(kills)} of {len(KILL_AFTER_ACCEPTED)} kills happened")
    if settle_seconds is None:
        problems.append(f"the pipeline had not settled {SETTLE_SECONDS:g}s after the last alert; "
                        f"(decided of {len(accepted)}, open signals, orders not final) after the last alert: "
                        f"{curve}")
    if problems:
        trouble = [f"life {life}: {line}" for life, line in server.output_lines("WARNING")
                   + server.output_lines("ERROR") + server.output_lines("Traceback")
                   if "waitress.queue" not in line][:40]
        counts = journey_counts(log_dir, ("resumed after a restart", "swept:", "redelivered:", "found at the broker"))
        report = "\n".join([*(f"- {p}" for p in problems), f"journey step counts: {counts}",
                            "server warnings and errors (waitress queue depth left out):", *trouble,
                            "journeys of some signals and orders concerned:",
                            *journey_lines(log_dir, trace[:6])])
        pytest.fail(f"the books do not balance after {len(kills)} kills:\n{report}", pytrace=False)
