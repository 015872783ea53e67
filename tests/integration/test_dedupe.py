"""Duplicates and re-entries on the embedded stack, through the real Flask webhook: TradingView
resends must make one trade, and a re-entry that repeats an earlier alert's text must trade again."""

from __future__ import annotations

import threading
from urllib.parse import quote

import pytest

from devstack.embedded import create_app
from shared.bootstrap import Services
from shared.demo import DEMO_PASSPHRASES
from shared.domain.models import Collections
from tests.conftest import signal_body

TEXT_QUERY = f"?strategy_id=momentum_us&passphrase={quote(DEMO_PASSPHRASES['momentum_us'])}&exchange=NASDAQ"
BUY_5 = b"order buy @ 5 filled on NVDA. New strategy position is 5"
SELL_TO_0 = b"order sell @ 5 filled on NVDA. New strategy position is 0"


@pytest.fixture
def client(embedded: Services):
    return create_app(embedded).test_client()


def alert(client, text: bytes):
    """A TradingView default text alert: the credentials ride in the webhook URL's query string."""
    return client.post(f"/webhook{TEXT_QUERY}", data=text, content_type="text/plain")


def nvda_positions(embedded: Services) -> dict[str, float]:
    return {p["account_id"]: p["quantity"]
            for p in embedded.store.query(Collections.POSITIONS, where={"instrument_key": "NASDAQ:NVDA"})}


def test_a_re_entry_within_the_window_trades_and_an_immediate_resend_does_not(client, embedded, clock):
    answers = []
    for text in (BUY_5, SELL_TO_0, BUY_5):
        answers.append(alert(client, text))
        assert embedded.bus.drain()
        clock.advance(2)  # each alert well inside the dedupe window of the one before
    assert [a.status_code for a in answers] == [202, 202, 202], [a.get_json() for a in answers]
    assert len({a.get_json()["signal_id"] for a in answers}) == 3
    positions = nvda_positions(embedded)
    assert set(positions) == {"DEMO-CLIENT-A", "DEMO-CLIENT-B"} and all(q > 0 for q in positions.values())

    resend = alert(client, BUY_5)
    assert resend.status_code == 200
    assert resend.get_json() == {"status": "duplicate", "signal_id": answers[-1].get_json()["signal_id"]}
    assert embedded.bus.drain()
    assert len(embedded.store.query(Collections.SIGNALS)) == 3
    assert nvda_positions(embedded) == positions


def test_the_same_alert_after_the_window_is_a_new_signal(client, embedded, clock):
    first = alert(client, BUY_5)
    assert first.status_code == 202
    assert alert(client, BUY_5).status_code == 200
    clock.advance(embedded.settings.dedupe_window_seconds + 1)
    later = alert(client, BUY_5)
    assert later.status_code == 202, later.get_json()
    assert later.get_json()["signal_id"] != first.get_json()["signal_id"]
    assert embedded.bus.drain()
    assert len(embedded.store.query(Collections.SIGNALS)) == 2


def test_an_alert_with_its_own_id_is_a_duplicate_forever(client, embedded, clock):
    body = signal_body(ticker="AAPL", exchange="NASDAQ", action="buy", quantity=1, price=190, signal_id="once")
    first = client.post("/webhook", data=body, content_type="application/json")
    assert first.status_code == 202
    clock.advance(embedded.settings.dedupe_window_seconds * 10)
    again = client.post("/webhook", data=body, content_type="application/json")
    assert (again.status_code, again.get_json()) == (200, {"status": "duplicate",
                                                           "signal_id": first.get_json()["signal_id"]})
    assert embedded.bus.drain()
    assert len(embedded.store.query(Collections.SIGNALS)) == 1


def test_concurrent_deliveries_of_one_alert_make_one_signal_and_one_set_of_orders(embedded):
    app = create_app(embedded)
    start = threading.Barrier(8)
    answers: list = [None] * 8

    def deliver(i: int) -> None:
        own_client = app.test_client()
        start.wait()
        answers[i] = alert(own_client, BUY_5)

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * 7 + [202], [a.get_json() for a in answers]
    assert {a.get_json()["status"] for a in answers if a.status_code == 200} == {"duplicate"}
    assert len({a.get_json()["signal_id"] for a in answers}) == 1
    assert embedded.bus.drain()
    assert len(embedded.store.query(Collections.SIGNALS)) == 1
    assert len(embedded.store.query(Collections.RAW_SIGNALS)) == 1
    orders = embedded.store.query(Collections.ORDERS)
    assert sorted(o["account_id"] for o in orders) == ["DEMO-CLIENT-A", "DEMO-CLIENT-B"]
    assert len(embedded.store.query("mock_broker_orders")) == 2


def test_a_delivery_that_dies_before_its_claim_is_finished_by_the_resend(client, embedded, monkeypatch):
    """The signal's documents are written, then the process dies before the dedupe claim:
    the resend writes the same signal again, claims it and publishes it, once."""
    real_create = embedded.store.create

    def die_at_the_claim(collection: str, doc_id: str, document: dict) -> bool:
        if collection == Collections.SIGNAL_DEDUPE:
            raise ConnectionError("process killed")
        return real_create(collection, doc_id, document)

    monkeypatch.setattr(embedded.store, "create", die_at_the_claim)
    assert alert(client, BUY_5).status_code == 500
    monkeypatch.setattr(embedded.store, "create", real_create)
    stored = embedded.store.query(Collections.SIGNALS)
    assert [s["status"] for s in stored] == ["received"] and embedded.store.query(Collections.SIGNAL_DEDUPE) == []

    resend = alert(client, BUY_5)
    assert resend.status_code == 202 and resend.get_json()["signal_id"] == stored[0]["signal_id"]
    assert embedded.bus.drain()
    assert len(embedded.store.query(Collections.SIGNALS)) == 1
    assert len(embedded.store.query(Collections.ORDERS)) == 2
