"""Soak: thousands of signals across many strategies and accounts on the embedded stack,
with TradingView resends, bus redeliveries, execution crashing after the broker accepted,
and whole-process crashes that lose every in-flight message. Then the books are checked.

Bounded: SOAK_SIGNALS (default 3,000) signals; a few minutes at most on our machines.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from devstack.embedded import create_app
from shared.adapters.brokers.mock import ACCOUNTS as BROKER_ACCOUNTS
from shared.adapters.brokers.mock import ORDERS as BROKER_ORDERS
from shared.adapters.bus_inprocess import InProcessBus
from shared.adapters.store_sqlite import SqliteStore
from shared.bootstrap import Services, build_services
from shared.config import Settings
from shared.demo import DEMO_FUND_LIMITS
from shared.demo_instruments import paper_equity
from shared.domain.models import (
    RISK_LIMITS_DOC,
    Account,
    Allocation,
    Collections,
    Order,
    Strategy,
    Topics,
)
from shared.services.cerebro_service import CURRENT_ALLOCATION_DOC
from shared.services.ingest import hash_passphrase
from shared.services.instruments import InstrumentCatalog

SIGNALS = int(os.environ.get("SOAK_SIGNALS", "3000"))
STRATEGIES = [f"soak_{i:02d}" for i in range(12)]
ACCOUNT_IDS = [f"SOAK-{i}" for i in range(8)]
SYMBOLS = {f"S{i:02d}": 20.0 + 7 * i for i in range(20)}
CRASH_EVERY = 700  # signals between whole-process crashes


def seed(services: Services, rng: random.Random) -> None:
    for strategy_id in STRATEGIES:
        digest, salt = hash_passphrase(f"pass-{strategy_id}")
        services.store.put(Collections.STRATEGIES, strategy_id, Strategy(
            strategy_id=strategy_id, reference_capital=100_000, passphrase_hash=digest, passphrase_salt=salt,
        ).model_dump(mode="json"))
    weights: dict[str, dict[str, float]] = {}
    for account_id in ACCOUNT_IDS:
        services.mock_broker.open_account(account_id, rng.choice([2e6, 5e6, 2e7]))
        services.store.put(Collections.ACCOUNTS, account_id,
                           Account(account_id=account_id, broker="mock").model_dump(mode="json"))
        chosen = rng.sample(STRATEGIES, rng.randint(3, 7))
        weights[account_id] = {s: round(0.9 / len(chosen), 4) for s in chosen}
    for symbol, price in SYMBOLS.items():
        services.mock_broker.list_instrument(paper_equity("SOAK", symbol), price)
    InstrumentCatalog(services.store, services.clock).put_all(services.mock_broker.instrument_specs())
    # Every account is at the Mock broker: like the demo fund, its settings lift the per-broker cap.
    services.store.put(Collections.SETTINGS, RISK_LIMITS_DOC, DEMO_FUND_LIMITS)
    services.store.put(Collections.ALLOCATION, CURRENT_ALLOCATION_DOC,
                       Allocation(weights=weights).model_dump(mode="json"))


class Process:
    """One life of the embedded stack over a store file that outlives it."""

    def __init__(self, settings: Settings, rng: random.Random, dead_letters: Counter, figures: Counter):
        self.services = build_services(settings, store=SqliteStore(settings.sqlite_path), bus=InProcessBus(0.02))
        self.client = create_app(self.services).test_client()
        broker = self.services.mock_broker
        place = broker.place_orders

        def place_then_maybe_die(orders: list[Order]):
            answers = place(orders)  # the broker has the orders...
            if rng.random() < 0.02:
                figures["executions died after the broker accepted"] += 1
                raise RuntimeError("execution died before writing the confirmations")  # ...and we forgot
            return answers

        broker.place_orders = place_then_maybe_die  # type: ignore[method-assign]
        self.services.poller.poll_all()
        self.services.subscribe_pipeline()
        for topic in (Topics.SIGNALS, Topics.ORDERS, Topics.CONFIRMATIONS):
            self.services.bus.subscribe(topic.dead_letter, lambda message: dead_letters.update([message.topic]))

    def crash(self) -> int:
        lost = self.services.bus.abandon()
        self.services.store.close()
        return lost


@pytest.mark.timeout(600)
def test_soak_books_balance_after_redeliveries_and_crashes(tmp_path: Path):
    rng = random.Random(20261125)
    settings = Settings(sqlite_path=str(tmp_path / "soak.sqlite"), log_dir=tmp_path / "logs")  # shipped defaults
    dead_letters: Counter = Counter()
    figures: Counter = Counter()
    process = Process(settings, rng, dead_letters, figures)
    seed(process.services, rng)
    process.services.poller.poll_all()
    accepted: set[str] = set()

    for index in range(SIGNALS):
        strategy_id = rng.choice(STRATEGIES)
        symbol = rng.choice(list(SYMBOLS))
        action = rng.choices(["buy", "sell", "exit"], weights=[5, 4, 1])[0]
        body = {"strategy_id": strategy_id, "passphrase": f"pass-{strategy_id}", "signal_id": f"soak-{index}",
                "ticker": symbol, "action": action, "price": round(SYMBOLS[symbol] * rng.uniform(0.98, 1.02), 2)}
        if action != "exit":
            body["quantity"] = rng.randint(1, 40)
        deliveries = 2 if rng.random() < 0.1 else 1  # TradingView resends
        for _ in range(deliveries):
            answer = process.client.post("/webhook", data=json.dumps(body), content_type="application/json")
            assert answer.status_code in (200, 202), answer.get_json()
            accepted.add(answer.get_json()["signal_id"])
        figures["resent"] += deliveries - 1
        if rng.random() < 0.05:  # Pub/Sub delivering the same signal twice
            record = process.services.store.get(Collections.SIGNALS, answer.get_json()["signal_id"])
            process.services.bus.publish(Topics.SIGNALS, {"signal": record["signal"]})
            figures["redelivered signals"] += 1
        if index % 200 == 199:  # orders redelivered long after they were done
            for order in rng.sample(process.services.store.query(Collections.ORDERS, limit=500), 10):
                process.services.bus.publish(Topics.ORDERS, {"order": order["order"]})
            figures["redelivered orders"] += 10
            process.services.poller.poll_all()
        if index % CRASH_EVERY == CRASH_EVERY - 1:
            figures["messages lost in crashes"] += process.crash()
            figures["crashes"] += 1
            process = Process(settings, rng, dead_letters, figures)
            figures["signals resumed"] += len(process.services.resume_unfinished())

    assert process.services.bus.drain(timeout=300)  # the test's patience on a loaded machine, not a setting
    process.crash()
    final = Process(settings, random.Random(0), dead_letters, figures)  # one more start settles anything left
    final.services.resume_unfinished()
    assert final.services.bus.drain(timeout=120)
    store = final.services.store
    print("\nsoak:", dict(figures), "dead letters:", dict(dead_letters))

    # Every accepted signal was decided, and is settled.
    signals = {s["signal_id"]: s for s in store.query(Collections.SIGNALS)}
    assert set(signals) == accepted and len(accepted) == SIGNALS
    assert all(s["status"] == "decided" for s in signals.values())
    assert store.query(Collections.OPEN_SIGNALS) == []
    # Every approved order exactly once in our book and exactly once at the broker, and final.
    decided = {o.client_order_id: o for s in signals.values() for d in s["decisions"]
               for o in (Order.model_validate(x) for x in d["orders"])}
    ours = {o["client_order_id"]: o for o in store.query(Collections.ORDERS)}
    at_broker = Counter(o["order"]["client_order_id"] for o in store.query(BROKER_ORDERS))
    assert set(ours) == set(decided) == set(at_broker) and set(at_broker.values()) == {1}
    assert {o["status"] for o in ours.values()} <= {"filled", "rejected"}
    figures_by_status = Counter(o["status"] for o in ours.values())
    assert figures_by_status["filled"] > SIGNALS  # most orders fill, fanned out to several accounts
    # Positions equal the sum of their fills, and each account's sum equals the broker's book.
    fills = store.query(Collections.CONFIRMATIONS)
    assert len(fills) == figures_by_status["filled"] == len({f["exec_id"] for f in fills})
    summed: dict[tuple[str, str, str], float] = defaultdict(float)
    for fill in fills:
        key = f"{fill['instrument']['exchange']}:{fill['instrument']['symbol']}"
        summed[fill["account_id"], fill["strategy_id"], key] += fill["quantity"] * (1 if fill["side"] == "buy" else -1)
    positions = {(p["account_id"], p["strategy_id"], p["instrument_key"]): p["quantity"]
                 for p in store.query(Collections.POSITIONS)}
    assert {k: v for k, v in positions.items() if v} == {k: v for k, v in summed.items() if v}
    per_account: dict[tuple[str, str], float] = defaultdict(float)
    for (account_id, _, key), quantity in positions.items():
        per_account[account_id, key] += quantity
    for account in store.query(BROKER_ACCOUNTS):
        for key, lot in account["lots"].items():
            assert lot["quantity"] == per_account.pop((account["account_id"], key), 0.0)
    assert not {k: v for k, v in per_account.items() if v}
    assert not dead_letters
    assert figures["executions died after the broker accepted"] and figures["messages lost in crashes"]
    final.services.close()
