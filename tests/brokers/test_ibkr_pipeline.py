"""Signals for an IBKR account and a Zerodha account through the whole pipeline to fills in
the store: execution routes the IBKR order to the ibkr-orders topic, the bridge places it
through ib_async at a local TWS API server and publishes the confirmation."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import requests

from devstack.embedded import create_app
from gateway_vm.bridge import IbkrBridge
from shared.adapters.brokers.ibkr import IbkrBroker, IbkrConfig, IbkrConnection
from shared.adapters.bus_inprocess import InProcessBus
from shared.adapters.store_sqlite import SqliteStore
from shared.bootstrap import Services, build_services
from shared.config import Settings
from shared.demo import DEMO_API_KEYS, seed_demo_fund
from shared.domain.models import Account, Allocation, Collections, Topics
from shared.services.cerebro_service import CURRENT_ALLOCATION_DOC
from tests.brokers.fake_kite import FakeKite, running
from tests.brokers.fake_tws import FakeTws
from tests.conftest import signal_body
from tests.integration.stack_helpers import eventually

ADMIN = {"Authorization": f"Bearer {DEMO_API_KEYS['admin', 'admin']}"}


def add_account(services: Services, account_id: str, broker: str, weight: float, currency: str = "USD") -> None:
    services.store.put(Collections.ACCOUNTS, account_id, Account(
        account_id=account_id, broker=broker, client_id=f"client_{account_id}", base_currency=currency,
    ).model_dump(mode="json"))
    allocation = Allocation.model_validate(services.store.get(Collections.ALLOCATION, CURRENT_ALLOCATION_DOC))
    services.store.put(Collections.ALLOCATION, CURRENT_ALLOCATION_DOC, allocation.model_copy(
        update={"weights": {**allocation.weights, account_id: {"momentum_us": weight}}}).model_dump(mode="json"))


def test_ibkr_and_zerodha_accounts_trade_through_the_pipeline(tmp_path, clock, decoder_errors):
    tws, kite = FakeTws(), FakeKite(net_positions=[])
    tws_port = tws.start()
    with running(kite) as kite_url:
        settings = Settings(sqlite_path=str(tmp_path / "s.sqlite"), log_dir=tmp_path / "logs",
                            zerodha_accounts=json.dumps({"ZD-1": {"api_key": kite.api_key,
                                                                  "api_secret": kite.api_secret}}),
                            kite_api_url=kite_url)
        store, bus = SqliteStore(settings.sqlite_path), InProcessBus(0.01)
        services = build_services(settings, store=store, bus=bus, clock=clock)
        seed_demo_fund(services.store, services.mock_broker)
        add_account(services, "DU111111", "ibkr", 0.5)
        add_account(services, "ZD-1", "zerodha", 0.5, currency="INR")
        services.subscribe_pipeline()
        broker = IbkrBroker(store, IbkrConnection(IbkrConfig(port=tws_port, answer_timeout_seconds=2)),
                            lambda: datetime.now(UTC))
        bridge = IbkrBridge(store, bus, broker, clock, settings.order_claim_lease_seconds)
        bridge.start(health_port=0)
        try:
            client = create_app(services).test_client()
            assert client.post("/api/admin/brokers/zerodha/session", headers=ADMIN, json={
                "account_id": "ZD-1", "request_token": kite.request_token}).status_code == 200
            polled = bridge.poll_once()["accounts"]
            assert polled == {"DU111111": "ok"}  # the bridge polls its own accounts only
            assert "DU111111" not in services.poller.poll_all()  # and the cloud poller leaves them to it

            answers = [client.post("/webhook", data=signal_body(ticker=ticker, action="buy", quantity=2, price=price,
                                                                signal_id=f"two-brokers-{ticker}"),
                                   content_type="application/json") for ticker, price in
                       [("AAPL", 190.0), ("NSE:RELIANCE", 1300.0)]]
            assert [a.status_code for a in answers] == [202, 202]
            assert bus.drain(timeout=30)
            fills = {(f["broker"], f["instrument"]["symbol"]): f for f in store.query(Collections.CONFIRMATIONS)}
            # IBKR: 1,000,000 net liquidation x 0.5 / 100,000 reference = 5x -> 10 shares
            assert fills["ibkr", "AAPL"]["quantity"] == 10 and fills["ibkr", "AAPL"]["commission"] == 1.0
            assert fills["zerodha", "RELIANCE"]["quantity"] > 0
            assert tws.placed_with_ref(fills["ibkr", "AAPL"]["client_order_id"]) == 1
            ibkr_order = store.get(Collections.ORDERS, fills["ibkr", "AAPL"]["client_order_id"])
            assert ibkr_order["status"] == "filled"
            positions = {p["account_id"]: p["quantity"] for p in store.query(
                Collections.POSITIONS, where={"instrument_key": "NASDAQ:AAPL"})}
            assert positions["DU111111"] == 10

            # Redelivered to the bridge: still one IBKR order.
            bus.publish(Topics.IBKR_ORDERS, {"order": ibkr_order["order"]})
            assert bus.drain(timeout=30)
            assert tws.placed_with_ref(fills["ibkr", "AAPL"]["client_order_id"]) == 1
            # IB's position and ours agree: no reconciliation break.
            assert bridge.poll_once()["accounts"] == {"DU111111": "ok"}
            snapshot = store.get(Collections.ACCOUNTS, "DU111111")["snapshot"]
            assert snapshot["positions"] == {"NASDAQ:AAPL": 10} and snapshot["equity"] == 1_000_000
            journey = (settings.log_dir / "signal_processing.log").read_text()
            assert "routed to the ibkr bridge" in journey
            assert bridge.health()["connected"] and bridge.health()["orders_handled"] >= 2
        finally:
            bridge.stop()
            services.close()
            tws.stop()


def test_the_bridge_health_check_follows_the_gateway_connection(tmp_path, clock, decoder_errors):
    tws = FakeTws()
    port = tws.start()
    store, bus = SqliteStore(str(tmp_path / "s.sqlite")), InProcessBus(0.01)
    broker = IbkrBroker(store, IbkrConnection(IbkrConfig(port=port, max_backoff_seconds=0.5)),
                        lambda: datetime.now(UTC))
    bridge = IbkrBridge(store, bus, broker, clock, 60.0)
    bridge.start(health_port=0)
    url = f"http://127.0.0.1:{bridge.health_port}/healthz"
    try:
        answer = requests.get(url, timeout=5)
        assert answer.status_code == 200 and answer.json()["connected"] is True
        tws.stop()  # IB Gateway goes away (its nightly restart)
        assert eventually(lambda: requests.get(url, timeout=5).status_code == 503)
        tws.start_on(port)  # and comes back on the same port
        assert eventually(lambda: requests.get(url, timeout=5).status_code == 200, timeout=30)
        assert bridge.health()["connects"] == 2
    finally:
        bridge.stop()
        tws.stop()
