"""The fund's trading rules on the emulated cloud, as a user meets them: the webhook's
answer, the signal/order/position documents in Firestore and the Mock broker's books.

Unknown instruments and alert prices outside the collar are refused at the door with
nothing stored; the kill switch (thrown through the strategy_registry function) stops
new risk while an exit still closes the positions."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import requests

from devstack.emulated import EmulatedStack
from devstack.processes import ManagedProcess
from shared.bootstrap import Services
from shared.demo import DEMO_ACCOUNTS, DEMO_API_KEYS
from shared.demo_instruments import DEMO_INSTRUMENTS
from shared.domain.models import Collections
from tests.conftest import signal_body
from tests.integration.stack_helpers import demo_fund_on, eventually, for_signal, running_stack

ADMIN = {"Authorization": f"Bearer {DEMO_API_KEYS['admin', 'admin']}"}
AAPL_SPEC = next(spec for spec, _ in DEMO_INSTRUMENTS if spec.key == "NASDAQ:AAPL")
AAPL_MARK = next(price for spec, price in DEMO_INSTRUMENTS if spec.key == "NASDAQ:AAPL")
AAPL = AAPL_SPEC.key
ACCOUNT_IDS = sorted(DEMO_ACCOUNTS)
WAIT = 90.0  # seconds: the functions share the machine with the emulators (and other test runs)


@pytest.fixture(scope="module")
def stack(pubsub_emulator: ManagedProcess, firestore_emulator: ManagedProcess,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatedStack]:
    with running_stack(pubsub_emulator, firestore_emulator, tmp_path_factory.mktemp("trading-rules")) as stack:
        yield stack


@pytest.fixture(scope="module")
def services(stack: EmulatedStack) -> Iterator[Services]:
    """The test's own view of the stack's Firestore, seeded with the demo fund."""
    yield demo_fund_on(stack)


def post_alert(stack: EmulatedStack, **fields: object) -> requests.Response:
    return requests.post(stack.url("webhook"), data=signal_body(**fields), timeout=30,
                         headers={"Content-Type": "application/json"})


def set_kill_switch(stack: EmulatedStack, enabled: bool, reason: str = "") -> requests.Response:
    return requests.post(f"{stack.url('strategy_registry')}api/admin/kill-switch", headers=ADMIN,
                         json={"enabled": enabled, "reason": reason}, timeout=30)


def stored_signals(services: Services) -> tuple[list[dict], list[dict]]:
    return services.store.query(Collections.RAW_SIGNALS), services.store.query(Collections.SIGNALS)


def firestore_positions(services: Services) -> dict[str, float]:
    return {p["account_id"]: p["quantity"] for p in services.store.query(
        Collections.POSITIONS, where={"instrument_key": AAPL, "strategy_id": "momentum_us"})}


def broker_positions(services: Services) -> dict[str, float]:
    return {account_id: services.mock_broker.account_snapshot(account_id).positions.get(AAPL, 0.0)
            for account_id in ACCOUNT_IDS}


def logs(stack: EmulatedStack, lines: int = 40) -> str:
    """The last lines of the journey and of each function's log: what a failure message shows."""
    tails = []
    for path in sorted(stack.log_dir.glob("*.log")):
        tails.append(f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
    return "\n".join(tails)


def decided(stack: EmulatedStack, services: Services, signal_id: str) -> list[dict]:
    record = eventually(lambda: (services.store.get(Collections.SIGNALS, signal_id) or {}).get("decisions"),
                        timeout=WAIT)
    assert record, (f"signal {signal_id} was never decided: {services.store.get(Collections.SIGNALS, signal_id)}\n"
                    f"{logs(stack)}")
    return record  # type: ignore[return-value]


def test_an_unknown_instrument_is_refused_and_nothing_is_stored(stack, services):
    raw_before, signals_before = stored_signals(services)
    dedupe_before = len(services.store.query(Collections.SIGNAL_DEDUPE))
    answer = post_alert(stack, ticker="ZZZZ", action="buy", quantity=10, price=190, signal_id="rules-unknown")
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["field"] == "ticker" and "ZZZZ" in body["reason"]
    raw_after, signals_after = stored_signals(services)
    assert (len(raw_after), len(signals_after)) == (len(raw_before), len(signals_before))
    assert not [r for r in raw_after if "ZZZZ" in r["content"]]
    assert not [s for s in signals_after if s["signal"]["instrument"]["symbol"] == "ZZZZ"]
    assert len(services.store.query(Collections.SIGNAL_DEDUPE)) == dedupe_before


def test_an_alert_price_outside_the_collar_is_refused_and_the_mark_is_untouched(stack, services):
    raw_before, signals_before = stored_signals(services)
    orders_before, books_before = len(services.store.query(Collections.ORDERS)), broker_positions(services)
    answer = post_alert(stack, ticker="AAPL", exchange="NASDAQ", action="buy", quantity=10, price=19,
                        signal_id="rules-collar")
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["field"] == "price"
    assert "collar" in body["reason"] and "5%" in body["reason"] and "190" in body["reason"], body
    raw_after, signals_after = stored_signals(services)
    assert (len(raw_after), len(signals_after)) == (len(raw_before), len(signals_before))
    assert not [r for r in raw_after if "rules-collar" in r["content"]]
    quote = services.mock_broker.quote(AAPL_SPEC.instrument)
    assert quote is not None and quote.price == AAPL_MARK == 190.0
    time.sleep(2)  # nothing was published: give a stray message time to show up anyway
    assert len(services.store.query(Collections.ORDERS)) == orders_before
    assert broker_positions(services) == books_before
    assert services.mock_broker.quote(AAPL_SPEC.instrument).price == 190.0  # type: ignore[union-attr]


def test_the_kill_switch_stops_new_risk_but_an_exit_closes_the_positions(stack, services):
    try:
        # Before the switch: a buy fills in both demo accounts.
        opened = post_alert(stack, ticker="AAPL", exchange="NASDAQ", action="buy", quantity=10, price=190,
                            signal_id="rules-before")
        assert opened.status_code == 202, opened.text
        opened_id = opened.json()["signal_id"]
        fills = eventually(lambda: len(for_signal(services, Collections.CONFIRMATIONS, opened_id)) == 2
                           and for_signal(services, Collections.CONFIRMATIONS, opened_id), timeout=WAIT)
        assert fills, (for_signal(services, Collections.ORDERS, opened_id), logs(stack))
        held = {"DEMO-CLIENT-A": 40, "DEMO-CLIENT-B": 15}
        assert eventually(lambda: firestore_positions(services) == held, timeout=WAIT), \
            (firestore_positions(services), logs(stack))
        assert broker_positions(services) == held

        # The admin throws the switch through the strategy_registry function.
        on = set_kill_switch(stack, True, "rules test outage")
        assert on.status_code == 200, on.text
        assert on.json()["enabled"] is True and on.json()["changed_by"] == "admin"
        shown = requests.get(f"{stack.url('strategy_registry')}api/admin/kill-switch", headers=ADMIN, timeout=30)
        assert shown.json()["enabled"] is True

        # A further buy is accepted at the door but refused by cerebro: no orders, nothing moves.
        blocked = post_alert(stack, ticker="AAPL", exchange="NASDAQ", action="buy", quantity=10, price=190,
                             signal_id="rules-during")
        assert blocked.status_code == 202, blocked.text
        blocked_id = blocked.json()["signal_id"]
        decisions = decided(stack, services, blocked_id)
        assert sorted(d["account_id"] for d in decisions) == ACCOUNT_IDS
        assert {d["status"] for d in decisions} == {"rejected"}, json.dumps(decisions, indent=1)
        for decision in decisions:
            assert "HALTED" in decision["reason"] and "kill switch" in decision["reason"], decision["reason"]
            assert decision["orders"] == []
        assert for_signal(services, Collections.ORDERS, blocked_id) == []
        assert firestore_positions(services) == held
        assert broker_positions(services) == held

        # An exit reduces risk: it passes the switch and closes both positions.
        closing = post_alert(stack, ticker="AAPL", exchange="NASDAQ", action="exit", signal_id="rules-exit")
        assert closing.status_code == 202, closing.text
        closing_id = closing.json()["signal_id"]
        exits = decided(stack, services, closing_id)
        assert {d["status"] for d in exits} == {"approved"}, json.dumps(exits, indent=1)
        orders = eventually(lambda: len(for_signal(services, Collections.ORDERS, closing_id)) == 2
                            and {o["status"] for o in for_signal(services, Collections.ORDERS, closing_id)}
                            == {"filled"} and for_signal(services, Collections.ORDERS, closing_id), timeout=WAIT)
        assert orders, (for_signal(services, Collections.ORDERS, closing_id), logs(stack))
        assert {(o["account_id"], o["order"]["side"], o["order"]["quantity"], o["order"]["reduce_only"])
                for o in orders} == {("DEMO-CLIENT-A", "sell", 40, True), ("DEMO-CLIENT-B", "sell", 15, True)}
        flat = {account_id: 0 for account_id in ACCOUNT_IDS}
        assert eventually(lambda: firestore_positions(services) == flat, timeout=WAIT), \
            (firestore_positions(services), logs(stack))
        assert broker_positions(services) == flat
    finally:
        off = set_kill_switch(stack, False, "rules test done")
        assert off.status_code == 200 and off.json()["enabled"] is False, off.text
