"""Kill switch and flatten-all, driven through the admin API on the embedded stack."""

from __future__ import annotations

import json

import pytest

from devstack.embedded import create_app
from shared.demo import DEMO_API_KEYS
from shared.domain.models import Collections, Topics
from tests.conftest import signal_body

ADMIN = {"Authorization": f"Bearer {DEMO_API_KEYS['admin', 'admin']}"}
BOB = {"Authorization": f"Bearer {DEMO_API_KEYS['developer', 'dev_bob']}"}


@pytest.fixture
def client(embedded):
    return create_app(embedded).test_client()


def buy(client, embedded, signal_id: str, strategy: str = "momentum_us", ticker: str = "AAPL", price: float = 190):
    answer = client.post("/webhook", data=signal_body(strategy, ticker=ticker, action="buy", quantity=10,
                                                      price=price, signal_id=signal_id),
                         content_type="application/json")
    embedded.bus.drain()
    return answer.get_json()["signal_id"]


def held(embedded) -> dict[tuple[str, str], float]:
    return {(p["account_id"], p["strategy_id"]): p["quantity"] for p in embedded.store.query(Collections.POSITIONS)
            if p["quantity"]}


def test_only_an_admin_throws_the_switch(client):
    refused = client.post("/api/admin/kill-switch", headers=BOB, json={"enabled": True})
    assert refused.status_code == 403
    assert client.post("/api/admin/kill-switch", headers=ADMIN, json={"enabled": "yes"}).get_json()["field"] == \
        "enabled"
    assert client.get("/api/admin/kill-switch", headers=ADMIN).get_json()["enabled"] is False


def test_kill_switch_stops_new_risk_and_flatten_all_closes_everything(client, embedded):
    buy(client, embedded, "before-1")
    buy(client, embedded, "before-2", strategy="fx_carry", ticker="EURUSD", price=1.08)
    assert len(held(embedded)) == 4

    on = client.post("/api/admin/kill-switch", headers=ADMIN, json={"enabled": True, "reason": "broker outage"})
    assert on.status_code == 200 and on.get_json()["changed_by"] == "admin"
    blocked = buy(client, embedded, "during")
    decisions = embedded.store.get(Collections.SIGNALS, blocked)["decisions"]
    assert {d["reason"] for d in decisions} == {
        "only risk-reducing orders pass: trading state HALTED (kill switch: broker outage)"}

    wrong = client.post("/api/admin/flatten", headers=ADMIN, json={"confirm": "yes"})
    assert wrong.status_code == 422 and wrong.get_json()["field"] == "confirm"
    assert held(embedded)
    flattened = client.post("/api/admin/flatten", headers=ADMIN,
                            json={"confirm": "FLATTEN ALL", "reason": "broker outage drill"})
    assert flattened.status_code == 202
    assert set(flattened.get_json()["flattening"]) == {"momentum_us", "fx_carry"}
    embedded.bus.drain()
    assert held(embedded) == {}
    journey = client.get(f"/api/signals/{flattened.get_json()['flattening']['momentum_us']}", headers=ADMIN)
    assert {o["status"] for o in journey.get_json()["orders"]} == {"filled"}
    assert json.loads(journey.get_json()["raw"]["content"])["reason"] == "broker outage drill"  # kept with it


def test_orders_queued_before_the_switch_are_cancelled_and_exits_still_fill(client, embedded):
    buy(client, embedded, "open")
    queued = []
    real_publish = embedded.bus.publish

    def hold_orders(topic, data, attributes=None, **options):
        if topic == Topics.ORDERS:
            queued.append((topic, data, attributes))
            return "held"
        return real_publish(topic, data, attributes, **options)

    embedded.bus.publish = hold_orders
    buy(client, embedded, "late-buy")  # decided before the switch: its orders wait on the topic
    embedded.bus.publish = real_publish
    assert len(queued) == 2
    client.post("/api/admin/kill-switch", headers=ADMIN, json={"enabled": True})
    for message in queued:
        real_publish(*message)
    embedded.bus.drain()
    client.post("/webhook", data=signal_body(ticker="AAPL", action="exit", price=190, signal_id="late-exit"),
                content_type="application/json")
    embedded.bus.drain()
    by_kind = {}
    for order in embedded.store.query(Collections.ORDERS):
        by_kind.setdefault(order["order"]["reduce_only"], set()).add((order["status"], order.get("reason", "")))
    # The halt cancelled the queued entries before any broker saw them.
    late = {(o["status"], o.get("reason", "")) for o in embedded.store.query(Collections.ORDERS)
            if o["signal_id"] == queued[0][1]["order"]["signal_id"]}
    assert late == {("cancelled", "cancelled before it was placed: kill switch: resting risk-adding orders are "
                                  "cancelled")}
    assert by_kind[True] == {("filled", "")}
