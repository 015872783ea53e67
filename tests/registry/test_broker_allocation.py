"""MAX_BROKER_ALLOCATION_PCT: the share of the fund's equity placed at one broker, at the
original system's default of 40%, checked on approval and on every risk-adding order."""

from __future__ import annotations

import pytest

from devstack.embedded import create_app
from shared.bootstrap import Services
from shared.demo import DEMO_API_KEYS
from shared.domain.models import RISK_LIMITS_DOC, Account, AccountSnapshot, Collections
from tests.conftest import signal_body

ADMIN = {"Authorization": f"Bearer {DEMO_API_KEYS['admin', 'admin']}"}


@pytest.fixture
def fund(embedded: Services, clock) -> Services:
    """The demo fund at the shipped 40%, plus an IBKR account and a Zerodha account (INR)."""
    embedded.store.delete(Collections.SETTINGS, RISK_LIMITS_DOC)
    now = clock()
    for account_id, broker, currency, equity in (("IB-1", "ibkr", "USD", 1_250_000.0),
                                                  ("ZD-1", "zerodha", "INR", 105_625_000.0)):
        snapshot = AccountSnapshot(equity=equity, cash=equity, margin_available=equity, as_of=now)
        account = Account(account_id=account_id, broker=broker, base_currency=currency, snapshot=snapshot)
        embedded.store.put(Collections.ACCOUNTS, account_id, account.model_dump(mode="json"))
    # Zerodha's INR rate, as a broker this process cannot reach publishes it.
    embedded.store.put(Collections.MARKET_PRICES, "zerodha|FX:USDINR",
                       {"price": 84.5, "as_of": now.isoformat(), "source": "kite"})
    return embedded


def optimised(client) -> str:
    answer = client.post("/api/portfolio/tests", headers=ADMIN, json={
        "method": "max_sharpe", "strategy_ids": ["momentum_us", "trend_futures", "fx_carry"]})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["test_id"]


def test_an_allocation_that_puts_too_much_at_one_broker_is_refused_naming_it(fund):
    client = create_app(fund).test_client()
    test_id = optimised(client)
    # Every account fully allocated: Mock, IBKR and Zerodha each hold 1,250,000 of 3,750,000 = 33%.
    spread = client.post(f"/api/portfolio/tests/{test_id}/approve", headers=ADMIN, json={})
    assert spread.status_code == 200, spread.get_json()

    fund.store.put(Collections.ACCOUNTS, "IB-1", {**fund.store.get(Collections.ACCOUNTS, "IB-1"), "snapshot": {
        **fund.store.get(Collections.ACCOUNTS, "IB-1")["snapshot"], "equity": 3_000_000.0}})
    refused = client.post(f"/api/portfolio/tests/{optimised(client)}/approve", headers=ADMIN,
                          json={"account_ids": ["IB-1"]})
    assert refused.status_code == 409
    error = refused.get_json()
    assert error["field"] == "account_ids"
    assert error["reason"] == ("max_broker_allocation: ibkr would hold 54.5% of fund equity (3,000,000 of "
                               "5,500,000), cap 40%")
    assert client.get("/api/allocation", headers=ADMIN).get_json()["in_effect"]["version"] == 2


def test_orders_stop_adding_at_a_broker_once_it_holds_its_share(fund):
    client = create_app(fund).test_client()
    # The Mock's accounts already carry 1,490,000 of gross exposure: 39.7% of the 3,750,000 fund.
    for account_id, gross in (("DEMO-CLIENT-A", 1_240_000.0), ("DEMO-CLIENT-B", 250_000.0)):
        document = fund.store.get(Collections.ACCOUNTS, account_id)
        fund.store.put(Collections.ACCOUNTS, account_id, {**document, "snapshot": {
            **document["snapshot"], "gross_exposure": gross}})
    answer = client.post("/webhook", data=signal_body(ticker="AAPL", action="buy", quantity=50, signal_id="b1"),
                         content_type="application/json")
    assert answer.status_code == 202
    fund.bus.drain()
    journey = client.get(f"/api/signals/{answer.get_json()['signal_id']}", headers=ADMIN).get_json()
    decisions = {d["account_id"]: d for d in journey["signal"]["decisions"]}
    # 40% of 3,750,000 = 1,500,000: 10,000 of room at about 190 a share -> 52 shares in all, A asks for 200.
    first = decisions["DEMO-CLIENT-A"]
    assert first["status"] == "approved" and first["orders"][0]["quantity"] == 52
    assert "max_broker_allocation" in first["reason"] and "cap 40%" in first["reason"]
    # B decides after A in the same signal: A's order used the room.
    second = decisions["DEMO-CLIENT-B"]
    assert second["status"] == "rejected" and second["orders"] == []
    assert second["reason"].startswith("max_broker_allocation: no room to add to AAPL")
