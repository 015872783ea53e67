"""The read API the dashboards are built on: who am I, signals with filters, the blotter with
cancel, positions with P&L. Driven over HTTP against the embedded stack; the cancel is checked
at the Mock broker's own book, the P&L against figures computed by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest

from devstack.embedded import create_app
from shared.bootstrap import Services
from shared.demo import DEMO_API_KEYS
from tests.conftest import FakeClock, signal_body
from tests.registry.test_signal_privacy import fund_identities, leaks

KEYS = {name: {"Authorization": f"Bearer {DEMO_API_KEYS[role, name]}"} for role, name in DEMO_API_KEYS}
ADMIN, ALICE, CLIENT = KEYS["admin"], KEYS["dev_alice"], KEYS["client_a"]  # alice owns momentum_us only


@pytest.fixture
def client(embedded: Services):
    return create_app(embedded).test_client()


def alert(client, embedded: Services, strategy: str = "momentum_us", **fields: object) -> str:
    answer = client.post("/webhook", data=signal_body(strategy, **fields), content_type="application/json")
    assert answer.status_code == 202, answer.get_json()
    assert embedded.bus.drain()
    return answer.get_json()["signal_id"]


def test_me_names_the_keys_owner_and_role(client):
    for role, name in DEMO_API_KEYS:
        answer = client.get("/api/me", headers=KEYS[name])
        assert answer.status_code == 200 and answer.get_json()["subject"] == name
        assert answer.get_json()["role"] == role
    assert client.get("/api/me", headers={"Authorization": "Bearer mt_0000000000000000.wrong"}).status_code == 401


def test_signals_filter_by_strategy_symbol_status_and_time(client, embedded: Services, clock: FakeClock):
    first = alert(client, embedded, ticker="AAPL", action="buy", quantity=3, price=190.0)
    clock.advance(3600)
    second = alert(client, embedded, ticker="MSFT", action="buy", quantity=2, price=420.0)
    clock.advance(1)
    carry = alert(client, embedded, "fx_carry", ticker="EURUSD", action="buy", quantity=1000, price=1.08)

    listed = client.get("/api/signals", headers=ADMIN).get_json()
    assert [row["signal_id"] for row in listed["signals"]] == [carry, second, first]
    assert listed["matched"] is None and listed["more"] is False  # unfiltered: only the rows shown are read
    counted = client.get("/api/signals", headers=ADMIN, query_string={"symbol": "s", "limit": "1"}).get_json()
    assert counted["matched"] == 2 and counted["more"] is True  # MSFT and EURUSD, of the newest read
    assert listed["signals"][2]["symbol"] == "AAPL" and listed["signals"][2]["accounts_approved"] >= 1
    stale = listed["signals"][1]  # an hour later the accounts' snapshots are too old to size against
    assert stale["symbol"] == "MSFT" and stale["accounts_rejected"] >= 1 and stale["reasons"], stale

    def ids(**query: str) -> list[str]:
        answer = client.get("/api/signals", headers=ADMIN, query_string=query)
        assert answer.status_code == 200, answer.get_json()
        return [row["signal_id"] for row in answer.get_json()["signals"]]

    assert ids(strategy_id="momentum_us") == [second, first]
    assert ids(symbol="aap") == [first]
    assert ids(since=(clock() - timedelta(seconds=2)).isoformat().replace("+00:00", "Z")) == [carry, second]
    assert ids(status="decided", limit="1") == [carry]
    assert ids(status="open") == []


def test_a_developer_lists_only_their_own_signals_and_no_account(client, embedded: Services):
    own = alert(client, embedded, ticker="AAPL", action="buy", quantity=3, price=190.0)
    alert(client, embedded, "fx_carry", ticker="EURUSD", action="buy", quantity=1000, price=1.08)
    answer = client.get("/api/signals", headers=ALICE).get_json()
    assert [row["signal_id"] for row in answer["signals"]] == [own]
    assert leaks(answer["signals"], fund_identities(embedded), set()) == []
    refused = client.get("/api/signals", headers=ALICE, query_string={"strategy_id": "fx_carry"})
    assert refused.status_code == 404 and refused.get_json()["field"] == "strategy_id"
    assert client.get("/api/signals", headers=CLIENT).status_code == 403


@pytest.mark.parametrize(("query", "field"), [
    ({"since": "yesterday"}, "since"), ({"until": "2026-11-27T10:00"}, "until"), ({"limit": "0"}, "limit"),
    ({"limit": "501"}, "limit"), ({"status": "<script>"}, "status")])
def test_a_bad_filter_is_refused_naming_it(client, query: dict[str, str], field: str):
    answer = client.get("/api/signals", headers=ADMIN, query_string=query)
    assert answer.status_code == 422 and answer.get_json()["field"] == field


def test_the_blotter_lists_a_resting_order_and_cancels_it_at_the_broker(client, embedded: Services):
    signal_id = alert(client, embedded, ticker="SPY", action="buy", quantity=10, order_type="limit",
                      limit_price=400.0)
    orders = client.get("/api/orders", headers=ADMIN).get_json()["orders"]
    resting = [o for o in orders if o["signal_id"] == signal_id]
    assert resting and all(o["status"] == "working" and o["limit_price"] == 400.0 for o in resting)
    target = resting[0]
    for caller in (ALICE, CLIENT):  # refused before anything is read
        assert client.get("/api/orders", headers=caller).status_code == 403
        assert client.post(f"/api/orders/{target['client_order_id']}/cancel", headers=caller).status_code == 403

    answer = client.post(f"/api/orders/{target['client_order_id']}/cancel", headers=ADMIN)
    assert answer.status_code == 202 and answer.get_json()["cancelling"] is True
    assert embedded.bus.drain()
    at_broker = embedded.mock_broker.find_order(target["account_id"], target["client_order_id"])
    assert at_broker is not None and at_broker.status == "cancelled"
    still = [o["client_order_id"] for o in client.get("/api/orders", headers=ADMIN).get_json()["orders"]]
    assert target["client_order_id"] not in still and len(still) == len(orders) - 1
    again = client.post(f"/api/orders/{target['client_order_id']}/cancel", headers=ADMIN)
    assert again.status_code == 409 and again.get_json()["field"] == "client_order_id"
    assert client.post("/api/orders/no-such-order/cancel", headers=ADMIN).status_code == 404


def test_positions_value_each_lot_at_the_mark_and_sum_per_account_and_strategy(client, embedded: Services):
    alert(client, embedded, ticker="AAPL", action="buy", quantity=10, price=190.0)
    moved = client.post("/api/admin/mock/marks", headers=ADMIN, json={"instrument": "AAPL", "price": 200.0})
    assert moved.status_code == 200
    book = client.get("/api/positions", headers=ADMIN).get_json()
    lots = [p for p in book["positions"] if p["symbol"] == "AAPL"]
    assert lots, book
    for lot in lots:
        assert lot["mark"] == 200.0 and lot["strategy_id"] == "momentum_us"
        assert lot["market_value"] == pytest.approx(lot["quantity"] * 200.0)
        assert lot["unrealized_pnl"] == pytest.approx(lot["quantity"] * (200.0 - lot["avg_price"]))
    per_strategy = {(row["strategy_id"], row["currency"]): row for row in book["by_strategy"]}
    momentum = per_strategy["momentum_us", "USD"]
    assert momentum["open_positions"] == len(lots)
    assert momentum["unrealized_pnl"] == pytest.approx(sum(lot["unrealized_pnl"] for lot in lots))
    assert momentum["total_pnl"] == pytest.approx(momentum["realized_pnl"] + momentum["unrealized_pnl"])
    per_account = {row["account_id"]: row for row in book["by_account"]}
    for lot in lots:
        assert per_account[lot["account_id"]]["market_value"] == pytest.approx(
            sum(p["market_value"] for p in book["positions"] if p["account_id"] == lot["account_id"]))
    assert client.get("/api/positions", headers=ALICE).status_code == 403
