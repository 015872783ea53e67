"""TradingView's concurrent resends on the emulated cloud: the webhook function on the Firestore
and Pub/Sub emulators must answer every delivery of one alert inside TradingView's 3 s, with
one 202, the rest 200 duplicates, and one order per account."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import requests

from devstack.emulated import EmulatedStack
from devstack.processes import ManagedProcess
from shared.bootstrap import Services
from shared.demo import DEMO_PASSPHRASES
from shared.domain.models import Collections
from tests.conftest import signal_body
from tests.integration.stack_helpers import demo_fund_on, eventually, for_signal, running_stack

TRADINGVIEW_TIMEOUT = 3  # seconds TradingView waits for an answer before it gives up on a delivery
DELIVERIES = 4
TEXT_QUERY = f"?strategy_id=momentum_us&passphrase={quote(DEMO_PASSPHRASES['momentum_us'])}&exchange=NASDAQ"


@pytest.fixture(scope="module")
def stack(pubsub_emulator: ManagedProcess, firestore_emulator: ManagedProcess,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatedStack]:
    with running_stack(pubsub_emulator, firestore_emulator, tmp_path_factory.mktemp("concurrent-resends")) as stack:
        yield stack


@pytest.fixture(scope="module")
def services(stack: EmulatedStack) -> Iterator[Services]:
    """The test's own view of the stack's Firestore, seeded with the demo fund, and a webhook
    that has served one signal already (this test is about contention, not a cold start)."""
    built = demo_fund_on(stack)
    warm = requests.post(stack.url("webhook"), timeout=30, data=signal_body(
        ticker="AAPL", exchange="NASDAQ", action="buy", quantity=1, price=190, signal_id="warm-up"))
    assert warm.status_code == 202, warm.text
    yield built


def test_concurrent_deliveries_of_one_text_alert_answer_in_time_and_trade_once(stack, services):
    text = b"order buy @ 5 filled on NVDA. New strategy position is 5"
    start = threading.Barrier(DELIVERIES)
    answers: list[tuple[int, dict, float] | BaseException] = [RuntimeError("not answered")] * DELIVERIES

    def deliver(i: int) -> None:
        start.wait()
        began = time.monotonic()
        try:
            answer = requests.post(f"{stack.url('webhook')}{TEXT_QUERY}", data=text, timeout=TRADINGVIEW_TIMEOUT,
                                   headers={"Content-Type": "text/plain; charset=utf-8"})
            answers[i] = (answer.status_code, answer.json(), time.monotonic() - began)
        except BaseException as error:  # noqa: BLE001 - a timeout is the failure this test looks for
            answers[i] = error

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(DELIVERIES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failures = [a for a in answers if isinstance(a, BaseException)]
    assert not failures, f"deliveries not answered within {TRADINGVIEW_TIMEOUT}s: {failures}"
    answered = [a for a in answers if not isinstance(a, BaseException)]
    print("answered in", ", ".join(f"{seconds:.2f}s ({status})" for status, _, seconds in answered))
    assert all(status < 500 for status, _, _ in answered), answered
    assert sorted(status for status, _, _ in answered) == [200] * (DELIVERIES - 1) + [202], answered
    assert {body["status"] for status, body, _ in answered if status == 200} == {"duplicate"}
    signal_ids = {body["signal_id"] for _, body, _ in answered}
    assert len(signal_ids) == 1
    signal_id = signal_ids.pop()

    orders = eventually(lambda: len(for_signal(services, Collections.ORDERS, signal_id)) == 2
                        and for_signal(services, Collections.ORDERS, signal_id))
    assert orders, (stack.log_dir / "signal_processing.log").read_text()
    assert sorted(o["account_id"] for o in orders) == ["DEMO-CLIENT-A", "DEMO-CLIENT-B"]
    assert eventually(lambda: len(for_signal(services, Collections.CONFIRMATIONS, signal_id)) == 2)
    time.sleep(3)  # let any stray publish run through every function
    assert len(for_signal(services, Collections.ORDERS, signal_id)) == 2
    broker_orders = [o for o in services.store.query("mock_broker_orders") if o["order"]["signal_id"] == signal_id]
    assert len(broker_orders) == 2
    raw = [r for r in services.store.query(Collections.RAW_SIGNALS) if "NVDA" in r["content"]]
    assert [r["signal_id"] for r in raw] == [signal_id]
