"""A signal for a Zerodha account through the whole embedded pipeline to a fill in the store."""

from __future__ import annotations

import json

from devstack.embedded import create_app
from shared.adapters.bus_inprocess import InProcessBus
from shared.adapters.store_sqlite import SqliteStore
from shared.bootstrap import build_services
from shared.config import Settings
from shared.demo import DEMO_API_KEYS, seed_demo_fund
from shared.domain.models import Account, Allocation, Collections, Topics
from shared.services.cerebro_service import CURRENT_ALLOCATION_DOC
from tests.brokers.fake_kite import FakeKite, running
from tests.conftest import signal_body

ADMIN = {"Authorization": f"Bearer {DEMO_API_KEYS['admin', 'admin']}"}


def test_zerodha_account_trades_after_the_daily_login(tmp_path, clock):
    fake = FakeKite(net_positions=[])  # a flat account: the broker-allocation cap leaves room
    with running(fake) as url:
        accounts = {"ZD-1": {"api_key": fake.api_key, "api_secret": fake.api_secret}}
        settings = Settings(sqlite_path=str(tmp_path / "s.sqlite"), log_dir=tmp_path / "logs",
                            zerodha_accounts=json.dumps(accounts), kite_api_url=url)
        services = build_services(settings, store=SqliteStore(settings.sqlite_path), bus=InProcessBus(0.01),
                                  clock=clock)
        seed_demo_fund(services.store, services.mock_broker)
        services.store.put(Collections.ACCOUNTS, "ZD-1", Account(account_id="ZD-1", broker="zerodha",
                                                                 client_id="client_in", base_currency="INR")
                           .model_dump(mode="json"))
        allocation = Allocation.model_validate(services.store.get(Collections.ALLOCATION, CURRENT_ALLOCATION_DOC))
        weights = {**allocation.weights, "ZD-1": {"momentum_us": 0.5}}
        services.store.put(Collections.ALLOCATION, CURRENT_ALLOCATION_DOC,
                           allocation.model_copy(update={"weights": weights}).model_dump(mode="json"))
        alerts = []
        services.bus.subscribe(Topics.NOTIFICATIONS, lambda message: alerts.append(message.data))
        services.subscribe_pipeline()
        client = create_app(services).test_client()

        assert "expired" in services.poller.poll_all()["ZD-1"]  # no session yet: refused, and alerted
        services.bus.drain()
        assert {"kind": "broker_session_expired", "broker": "zerodha", "account_id": "ZD-1"} in alerts
        login = client.post("/api/admin/brokers/zerodha/session", headers=ADMIN,
                            json={"account_id": "ZD-1", "request_token": fake.request_token})
        assert login.status_code == 200, login.get_json()

        answer = client.post("/webhook", data=signal_body(ticker="NSE:RELIANCE", action="buy", quantity=1,
                                                          price=1300, signal_id="in-1"),
                             content_type="application/json")
        assert answer.status_code == 202
        services.bus.drain()
        signal_id = answer.get_json()["signal_id"]
        fills = services.store.query(Collections.CONFIRMATIONS, where={"signal_id": signal_id})
        zerodha = [f for f in fills if f["account_id"] == "ZD-1"]
        # 500,000 net + 15,000 holdings = 515,000 equity x 0.5 / 100,000 reference = 2.575 -> 2 shares
        assert [(f["broker"], f["quantity"], f["price"]) for f in zerodha] == [("zerodha", 2, 1300.0)]
        assert fake.placements[0]["tag"] == zerodha[0]["client_order_id"]
        position = services.store.query(Collections.POSITIONS, where={"account_id": "ZD-1"})
        assert [p["quantity"] for p in position] == [2]

        # The instrument master loads from Kite's own instruments dump.
        imported = client.post("/api/instruments/import", headers=ADMIN,
                               json={"broker": "zerodha", "symbols": ["NSE:INFY", "NIFTY1!"]})
        assert imported.status_code == 200, imported.get_json()
        assert sorted(imported.get_json()["imported"]) == ["NSE:INFY", "NSE:NIFTY1!"]
        nifty = client.get("/api/instruments/NFO:NIFTY26NOVFUT", headers=ADMIN).get_json()
        assert (nifty["key"], nifty["multiplier"], nifty["broker_ids"]["zerodha"]["exchange"]) == (
            "NSE:NIFTY1!", 75, "NFO")
        unknown = client.post("/api/instruments/import", headers=ADMIN,
                              json={"broker": "zerodha", "symbols": ["NSE:TSLA"]})
        assert unknown.status_code == 422 and "NSE:TSLA" in unknown.get_json()["reason"]
        services.close()
