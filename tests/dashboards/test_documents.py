"""Dashboard documents, the creator that keeps them, and the API that serves them."""

from __future__ import annotations

import json

import pytest

from devstack.embedded import create_app
from shared.bootstrap import Services
from shared.dashboards.documents import admin_health, daily_pnl, drawdown
from shared.demo import DEMO_API_KEYS
from shared.domain.models import Collections, Topics
from shared.ports.bus import dead_letter
from tests.conftest import signal_body


def bearer(role: str, subject: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {DEMO_API_KEYS[role, subject]}"}


@pytest.fixture
def client(embedded: Services):
    app = create_app(embedded).test_client()
    answer = app.post("/webhook", data=signal_body(ticker="AAPL", action="buy", quantity=10, price=190,
                                                   signal_id="doc-1"), content_type="application/json")
    assert answer.status_code == 202
    assert embedded.bus.drain()
    return app


def test_daily_pnl_and_drawdown():
    curve = [{"at": "2026-11-02T10:00:00", "equity": 100.0}, {"at": "2026-11-02T16:00:00", "equity": 110.0},
             {"at": "2026-11-03T16:00:00", "equity": 99.0}, {"at": "2026-11-04T16:00:00", "equity": 121.0}]
    assert daily_pnl(curve) == [{"date": "2026-11-03", "pnl": -11.0}, {"date": "2026-11-04", "pnl": 22.0}]
    assert [round(p["drawdown"], 4) for p in drawdown(curve)] == [0.0, 0.0, 0.1, 0.0]


def test_an_update_refreshes_its_client_and_strategy_documents(client, embedded):
    order = embedded.store.query(Collections.ORDERS, where={"account_id": "DEMO-CLIENT-A"})[0]
    refreshed = embedded.dashboards.handle({"update": order["last_update"]})
    assert refreshed == ["strategy:momentum_us", "client:client_a"]
    document = embedded.store.get(Collections.DASHBOARDS, "client:client_a")
    [account] = document["accounts"]
    assert account["account_id"] == "DEMO-CLIENT-A"
    assert [(p["symbol"], p["quantity"]) for p in account["positions"]] == [("AAPL", 40)]
    assert {a["strategy_id"]: a["weight"] for a in account["allocation"]} == {
        "momentum_us": 0.4, "trend_futures": 0.4, "fx_carry": 0.2}
    assert account["equity_curve"] and account["equity_curve"][-1]["equity"] == account["equity"]
    strategy = embedded.store.get(Collections.DASHBOARDS, "strategy:momentum_us")
    [execution] = strategy["executions"]  # one signal's fills, every account together
    assert execution["quantity"] == 15 + 40 and execution["side"] == "buy"
    assert 0 < execution["slippage_bps"] < 2  # the Mock's 1 bp against the buyer
    assert strategy["metrics"]["sharpe"] is not None and strategy["equity_curve"]
    text = json.dumps(strategy)
    assert "DEMO-CLIENT" not in text and "client_a" not in text and "client_b" not in text
    assert embedded.dashboards.handle({"refresh": "all"}) == [
        "client:client_a", "client:client_b", "strategy:fx_carry", "strategy:momentum_us", "strategy:trend_futures"]
    assert embedded.dashboards.handle({"update": {"nonsense": True}}) == []


@pytest.mark.parametrize(("path", "who", "status"), [
    ("/api/dashboards/clients/client_a", ("client", "client_a"), 200),
    ("/api/dashboards/clients/client_b", ("client", "client_a"), 404),
    ("/api/dashboards/clients/client_b", ("admin", "admin"), 200),
    ("/api/dashboards/clients/client_a", ("developer", "dev_alice"), 404),
    ("/api/dashboards/strategies/momentum_us", ("developer", "dev_alice"), 200),
    ("/api/dashboards/strategies/fx_carry", ("developer", "dev_alice"), 404),
    ("/api/dashboards/strategies/momentum_us", ("client", "client_a"), 403),
    ("/api/dashboards/strategies/fx_carry", ("admin", "admin"), 200),
    ("/api/dashboards/health", ("admin", "admin"), 200),
    ("/api/dashboards/health", ("developer", "dev_bob"), 403),
])
def test_the_api_serves_each_document_only_to_its_reader(client, path, who, status):
    answer = client.get(path, headers=bearer(*who))
    assert answer.status_code == status, answer.get_json()
    if status == 200 and "/clients/" in path:
        assert {a["account_id"] for a in answer.get_json()["accounts"]} == {
            "client_a": {"DEMO-CLIENT-A"}, "client_b": {"DEMO-CLIENT-B"}}[path.rsplit("/", 1)[1]]


def test_health_counts_dead_letters_and_work_in_flight(client, embedded):
    embedded.bus.publish(Topics.ORDERS.dead_letter, dead_letter(Topics.ORDERS, "invalid payload", {"x": 1}))
    assert embedded.bus.drain()
    health = admin_health(embedded.store, embedded.clock())
    assert health["dead_letters"] == {"trading-orders": 1}
    assert health["in_flight"] == {"unsettled_signals": 0, "orders_submitting": 0}
    assert {c["component"]: c["last_activity"] is not None for c in health["components"]} == {
        "webhook": True, "cerebro": True, "execution": True, "confirmations": True, "account poller": True}
    assert health["kill_switch"] == {"enabled": False}


@pytest.mark.parametrize(("who", "visible"), [
    (("admin", "admin"), ["DEMO-CLIENT-A", "DEMO-CLIENT-B"]),
    (("client", "client_b"), ["DEMO-CLIENT-B"]),
])
def test_the_account_data_service_shows_snapshots_with_their_age(client, embedded, clock, who, visible):
    clock.advance(42)
    answer = client.get("/api/accounts", headers=bearer(*who)).get_json()["accounts"]
    assert [a["account_id"] for a in answer] == visible
    stored = embedded.store.get(Collections.ACCOUNTS, visible[0])["snapshot"]
    assert answer[0]["snapshot"] == stored and answer[0]["snapshot_age_seconds"] == pytest.approx(42, abs=1)
    assert client.get(f"/api/accounts/{visible[0]}", headers=bearer(*who)).status_code == 200


def test_the_account_data_service_hides_what_is_not_yours(client):
    assert client.get("/api/accounts/DEMO-CLIENT-A", headers=bearer("client", "client_b")).status_code == 404
    assert client.get("/api/accounts", headers=bearer("developer", "dev_alice")).status_code == 403


def test_a_document_stored_by_older_code_is_rebuilt_not_served(embedded):
    fresh = embedded.dashboards.strategy("momentum_us")
    older = {key: value for key, value in fresh.items() if key not in ("executions", "shape")}
    embedded.store.put(Collections.DASHBOARDS, "strategy:momentum_us", older)  # as a deploy ago left it
    served = embedded.dashboards.strategy("momentum_us")
    assert "executions" in served and served["shape"] == fresh["shape"]
