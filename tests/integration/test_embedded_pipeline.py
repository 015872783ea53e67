"""The spine on the embedded stack, driven through the real Flask webhook."""

from __future__ import annotations

import json

import pytest

from devstack.embedded import create_app
from shared.bootstrap import Services
from shared.demo import DEMO_API_KEYS, DEMO_PASSPHRASES
from shared.domain.models import Collections, Topics
from tests.conftest import signal_body

ADMIN = {"Authorization": f"Bearer {DEMO_API_KEYS['admin', 'admin']}"}
COLLECTIONS_WRITTEN_BY_A_SIGNAL = [Collections.RAW_SIGNALS, Collections.SIGNALS, Collections.SIGNAL_DEDUPE,
                                   Collections.ORDERS, Collections.CONFIRMATIONS, Collections.POSITIONS]


@pytest.fixture
def client(embedded: Services):
    return create_app(embedded).test_client()


def counts(services: Services) -> dict[str, int]:
    return {c: len(services.store.query(c)) for c in COLLECTIONS_WRITTEN_BY_A_SIGNAL}


def post(client, body: bytes, content_type: str = "application/json", query: str = ""):
    return client.post(f"/webhook{query}", data=body, content_type=content_type)


def test_signal_fills_in_every_allocating_account(client, embedded):
    answer = post(client, signal_body(ticker="AAPL", exchange="NASDAQ", action="buy", quantity=50, price=190,
                                      time="2026-11-24T14:30:00Z"))
    assert answer.status_code == 202
    signal_id = answer.get_json()["signal_id"]
    assert embedded.bus.drain()

    journey = client.get(f"/api/signals/{signal_id}", headers=ADMIN).get_json()
    assert journey["signal"]["status"] == "decided"
    assert {o["account_id"]: o["status"] for o in journey["orders"]} == {
        "DEMO-CLIENT-A": "filled", "DEMO-CLIENT-B": "filled"}
    # Client A: 1,000,000 x 0.4 / 100,000 reference = 4x -> 200 shares; B: 250,000 x 0.6 -> 1.5x -> 75.
    fills = {f["account_id"]: f["quantity"] for f in journey["fills"]}
    assert fills == {"DEMO-CLIENT-A": 200, "DEMO-CLIENT-B": 75}
    positions = {p["account_id"]: p["quantity"] for p in embedded.store.query(Collections.POSITIONS)}
    assert positions == fills
    for decision in journey["signal"]["decisions"]:
        assert decision["inputs"]["equity"] > 0 and decision["inputs"]["price"] == 190
        assert all(check["outcome"] == "pass" for check in decision["checks"])
    assert "passphrase" not in json.dumps(journey)

    log = (embedded.settings.log_dir / "signal_processing.log").read_text()
    assert f"| [WEBHOOK] | {signal_id}: accepted" in log
    assert f"| [EXECUTION] | {signal_id}: DEMO-CLIENT-A buy 200 AAPL: filled" in log
    assert DEMO_PASSPHRASES["momentum_us"] not in log


def test_tradingview_resend_creates_one_order(client, embedded):
    body = signal_body(ticker="MSFT", exchange="NASDAQ", action="buy", quantity=10, price=420,
                       time="2026-11-24T14:31:00Z")
    answers = [post(client, body) for _ in range(4)]  # TradingView: up to 4 deliveries of one alert
    assert [a.status_code for a in answers] == [202, 200, 200, 200]
    assert len({a.get_json()["signal_id"] for a in answers}) == 1
    assert embedded.bus.drain()
    assert len(embedded.store.query(Collections.ORDERS)) == 2  # one per account
    assert len(embedded.store.query(Collections.CONFIRMATIONS)) == 2


def test_the_same_bus_message_twice_creates_one_order(client, embedded):
    answer = post(client, signal_body(ticker="SPY", action="buy", quantity=5, price=560, signal_id="spy-1"))
    assert embedded.bus.drain()
    record = embedded.store.get(Collections.SIGNALS, answer.get_json()["signal_id"])
    for _ in range(2):  # a redelivered signal, then redelivered orders
        embedded.bus.publish(Topics.SIGNALS, {"signal": record["signal"]})
    for order in embedded.store.query(Collections.ORDERS):
        embedded.bus.publish(Topics.ORDERS, {"order": order["order"]})
    assert embedded.bus.drain()
    assert len(embedded.store.query(Collections.ORDERS)) == 2
    assert len(embedded.store.query(Collections.CONFIRMATIONS)) == 2
    assert len(embedded.store.query("mock_broker_orders")) == 2
    positions = sorted(p["quantity"] for p in embedded.store.query(Collections.POSITIONS))
    assert positions == [7, 20]  # B: 5 x 1.5 = 7.5 -> 7; A: 5 x 4


def test_text_alert_uses_the_query_credentials_and_the_broker_price(client, embedded):
    query = f"?strategy_id=momentum_us&passphrase={DEMO_PASSPHRASES['momentum_us']}"
    text = b"order buy @ 10 filled on NVDA. New strategy position is 10"
    answer = post(client, text, "text/plain", query)
    assert answer.status_code == 202
    assert embedded.bus.drain()
    positions = {p["account_id"]: p["quantity"] for p in embedded.store.query(Collections.POSITIONS)}
    assert positions == {"DEMO-CLIENT-A": 40, "DEMO-CLIENT-B": 15}


def test_exit_closes_the_position(client, embedded):
    post(client, signal_body(ticker="AAPL", action="buy", quantity=10, price=190, signal_id="in"))
    embedded.bus.drain()
    embedded.mock_broker.mark_price("NASDAQ:AAPL", 195.0)  # the paper market moves; an alert never moves it
    post(client, signal_body(ticker="AAPL", action="exit", price=195, signal_id="out"))
    embedded.bus.drain()
    positions = embedded.store.query(Collections.POSITIONS)
    assert [p["quantity"] for p in positions] == [0, 0]
    assert all(p["realized_pnl"] > 0 for p in positions)


@pytest.mark.parametrize(
    ("body", "content_type", "status", "field"),
    [
        (b"{not json", "application/json", 400, "body"),
        (signal_body(ticker="AAPL", action="buy"), "application/json", 422, "quantity"),
        (signal_body(ticker="AAPL", action="buy", quantity=0), "application/json", 422, "quantity"),
        (signal_body(ticker="AAPL", action="buy", quantity=1, size_pct=101), "application/json", 422, "size_pct"),
        (signal_body(ticker="", action="buy", quantity=1), "application/json", 422, "ticker"),
        (json.dumps({"strategy_id": "nope", "passphrase": "x", "ticker": "AAPL", "action": "buy",
                     "quantity": 1}).encode(), "application/json", 404, "strategy_id"),
        (json.dumps({"strategy_id": "momentum_us", "passphrase": "wrong", "ticker": "AAPL", "action": "buy",
                     "quantity": 1}).encode(), "application/json", 401, "passphrase"),
        (json.dumps({"strategy_id": "momentum_us", "ticker": "AAPL", "action": "buy",
                     "quantity": 1}).encode(), "application/json", 401, "passphrase"),
        (b"<xml/>", "application/xml", 415, "content_type"),
        (b"x" * 100_000, "text/plain", 413, "body"),
    ],
)
def test_bad_input_is_refused_with_the_field_and_nothing_written(client, embedded, body, content_type, status,
                                                                 field):
    before = counts(embedded)
    answer = post(client, body, content_type)
    assert answer.status_code == status
    error = answer.get_json()
    assert error["field"] == field and error["reason"]
    assert embedded.bus.drain()
    assert counts(embedded) == before


def test_a_paused_strategy_can_exit_but_not_add(client, embedded):
    post(client, signal_body("fx_carry", ticker="EURUSD", action="buy", quantity=1000, price=1.08, signal_id="in"))
    embedded.bus.drain()
    embedded.store.update(Collections.STRATEGIES, "fx_carry", {"status": "paused"})
    more = post(client, signal_body("fx_carry", ticker="EURUSD", action="buy", quantity=1000, price=1.08,
                                    signal_id="more"))
    assert more.status_code == 202
    embedded.bus.drain()
    decisions = embedded.store.get(Collections.SIGNALS, more.get_json()["signal_id"])["decisions"]
    assert {d["reason"] for d in decisions} == {
        "only risk-reducing orders pass: trading state REDUCING (strategy paused)"}
    out = post(client, signal_body("fx_carry", ticker="EURUSD", action="exit", signal_id="out"))
    assert out.status_code == 202
    embedded.bus.drain()
    assert {p["quantity"] for p in embedded.store.query(Collections.POSITIONS)} == {0}
    embedded.store.update(Collections.STRATEGIES, "fx_carry", {"status": "candidate"})
    refused = post(client, signal_body("fx_carry", ticker="EURUSD", action="buy", quantity=1, signal_id="new"))
    assert refused.status_code == 409 and refused.get_json()["field"] == "strategy_id"


def test_stale_account_data_is_rejected_not_guessed(client, embedded, clock):
    clock.advance(3600)
    answer = post(client, signal_body(ticker="AAPL", action="buy", quantity=1, price=190, signal_id="late"))
    embedded.bus.drain()
    record = embedded.store.get(Collections.SIGNALS, answer.get_json()["signal_id"])
    assert {d["status"] for d in record["decisions"]} == {"rejected"}
    assert all("account data is 3600s old, limit 300s" in d["reason"] for d in record["decisions"])
    assert embedded.store.query(Collections.ORDERS) == []


def test_kill_switch_rejects(client, embedded):
    embedded.store.put(Collections.SETTINGS, "kill_switch", {"enabled": True})
    answer = post(client, signal_body(ticker="AAPL", action="buy", quantity=1, price=190, signal_id="k"))
    embedded.bus.drain()
    record = embedded.store.get(Collections.SIGNALS, answer.get_json()["signal_id"])
    assert {d["reason"] for d in record["decisions"]} == {
        "only risk-reducing orders pass: trading state HALTED (kill switch: on)"}


def test_publish_failure_answers_503_and_the_resend_publishes(client, embedded, monkeypatch):
    body = signal_body(ticker="AAPL", action="buy", quantity=1, price=190, signal_id="flaky")
    real_publish = embedded.bus.publish
    monkeypatch.setattr(embedded.bus, "publish", lambda *a, **k: (_ for _ in ()).throw(ConnectionError("down")))
    first = post(client, body)
    assert first.status_code == 503
    monkeypatch.setattr(embedded.bus, "publish", real_publish)
    second = post(client, body)
    assert second.status_code == 202 and second.get_json()["signal_id"] == first.get_json()["signal_id"]
    embedded.bus.drain()
    assert len(embedded.store.query(Collections.ORDERS)) == 2


@pytest.mark.parametrize("forwarded, status", [
    ("52.89.214.238", 202),  # TradingView, as Google's front end appends it
    ("52.89.214.238, 203.0.113.9", 403),  # a client that wrote TradingView's address itself
    ("203.0.113.9", 403),
])
def test_ip_allowlist_uses_the_address_googles_front_end_appended(embedded, forwarded, status):
    from dataclasses import replace

    from shared.config import parse_address_list

    embedded.settings = replace(embedded.settings, webhook_ip_allowlist=parse_address_list("tradingview"),
                                trusted_proxy_hops=1)  # the functions' setting
    client = create_app(embedded).test_client()
    answer = client.post("/webhook", data=signal_body(ticker="AAPL", action="buy", quantity=1, price=190,
                                                      signal_id=f"ip-{status}-{len(forwarded)}"),
                         content_type="application/json", headers={"X-Forwarded-For": forwarded})
    assert answer.status_code == status
    if status == 403:
        assert answer.get_json()["field"] == "source_ip"
        assert embedded.store.query(Collections.RAW_SIGNALS) == []


def test_a_restart_resumes_what_the_crash_left_unsettled(client, embedded, monkeypatch):
    body = signal_body(ticker="AAPL", action="buy", quantity=1, price=190, signal_id="orphan")
    real_publish = embedded.bus.publish
    monkeypatch.setattr(embedded.bus, "publish", lambda *a, **k: (_ for _ in ()).throw(ConnectionError("down")))
    signal_id = post(client, body).get_json()["signal_id"]  # stored, never published; no resend comes
    monkeypatch.setattr(embedded.bus, "publish", real_publish)
    assert embedded.store.get(Collections.OPEN_SIGNALS, signal_id) is not None

    assert embedded.resume_unfinished() == [signal_id]
    assert embedded.bus.drain()
    record = embedded.store.get(Collections.SIGNALS, signal_id)
    assert record["status"] == "decided" and embedded.store.get(Collections.OPEN_SIGNALS, signal_id) is None
    assert len(embedded.store.query(Collections.CONFIRMATIONS)) == 2
    assert embedded.resume_unfinished() == []
