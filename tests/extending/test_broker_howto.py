"""docs/extending.md's "Add a broker", followed step by step: the paper venue in
``tests/extending/example_broker/`` is laid out as the how-to says (config, execution, parsing,
factory), registered with one ``BrokerEntry`` line, and driven through the real pipeline: an
account at the venue gets an allocation, a webhook alert trades it, and the fill is in the
venue's own book and in the fund's execution confirmations."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

import pytest

import shared.adapters.brokers.registry as registry
from devstack.embedded import create_app
from shared.adapters.brokers.registry import BrokerEntry, BrokerFactory, UnknownBroker, broker_entry
from shared.adapters.bus_inprocess import InProcessBus
from shared.adapters.store_sqlite import SqliteStore
from shared.bootstrap import build_brokers, build_services
from shared.config import Settings
from shared.demo import DEMO_API_KEYS, seed_demo_fund
from shared.domain.models import Account, Allocation, Collections
from shared.services.cerebro_service import CURRENT_ALLOCATION_DOC
from tests.conftest import signal_body
from tests.extending.example_broker import PaperVenueBroker

ADMIN = {"Authorization": f"Bearer {DEMO_API_KEYS['admin', 'admin']}"}


@dataclass(frozen=True)
class PaperVenueSettings(Settings):
    """Step 1's settings. A real broker adds these two fields to ``Settings`` in shared/config.py
    and reads them in ``from_env``; the example keeps them here so shared/ names no test broker."""

    paper_venue_accounts: str = ""  # JSON: account id -> opening cash
    paper_venue_commission: float = 1.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PaperVenueSettings:
        settings = super().from_env(env)
        env = os.environ if env is None else env
        return replace(settings, paper_venue_accounts=env.get("PAPER_VENUE_ACCOUNTS", ""),
                       paper_venue_commission=float(env.get("PAPER_VENUE_COMMISSION", "1.0")))


def _paper_venue() -> BrokerFactory:  # step 2: the loader, as registry.py writes _mock and _zerodha
    from tests.extending.example_broker import factory

    return factory.build


@pytest.fixture
def paper_venue_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.BROKERS, "paper_venue",  # step 2: one line in BROKERS
                        BrokerEntry("paper_venue", _paper_venue, configured=lambda s: bool(s.paper_venue_accounts)))


def test_a_new_broker_trades_an_alert_through_the_pipeline(paper_venue_registered, tmp_path, clock):
    settings = PaperVenueSettings.from_env({
        "MT_SQLITE_PATH": str(tmp_path / "store.sqlite"), "MT_LOG_DIR": str(tmp_path / "logs"),
        "PAPER_VENUE_ACCOUNTS": json.dumps({"PV-1": 100_000}), "PAPER_VENUE_COMMISSION": "2.5"})
    assert not settings.use_mock_broker  # a paper run would send the account's orders to the Mock
    services = build_services(settings, store=SqliteStore(settings.sqlite_path), bus=InProcessBus(0.01), clock=clock)
    try:
        venue = services.brokers["paper_venue"]
        assert isinstance(venue, PaperVenueBroker) and services.brokers["mock"] is not venue
        seed_demo_fund(services.store, services.mock_broker)
        venue.set_last_price("NASDAQ:AAPL", 191.0)
        services.store.put(Collections.ACCOUNTS, "PV-1", Account(account_id="PV-1", broker="paper_venue",
                                                                 client_id="client_pv").model_dump(mode="json"))
        allocation = Allocation.model_validate(services.store.get(Collections.ALLOCATION, CURRENT_ALLOCATION_DOC))
        services.store.put(Collections.ALLOCATION, CURRENT_ALLOCATION_DOC, allocation.model_copy(update={
            "weights": {**allocation.weights, "PV-1": {"momentum_us": 0.5}}}).model_dump(mode="json"))
        assert services.poller.poll_all()["PV-1"] == "ok"
        services.subscribe_pipeline()

        answer = create_app(services).test_client().post(
            "/webhook", data=signal_body(ticker="AAPL", exchange="NASDAQ", action="buy", quantity=10, price=190,
                                         signal_id="howto-broker"), content_type="application/json")
        assert answer.status_code == 202
        services.bus.drain()

        # 100,000 equity x 0.5 / 100,000 reference capital x 10 = 5 shares, at the venue's last price.
        fills = services.store.query(Collections.CONFIRMATIONS, where={"signal_id": answer.get_json()["signal_id"]})
        mine = [f for f in fills if f["account_id"] == "PV-1"]
        assert [(f["broker"], f["quantity"], f["price"], f["commission"]) for f in mine] == [
            ("paper_venue", 5, 191.0, 2.5)]
        book = venue.account_snapshot("PV-1")  # the venue's own book
        assert book.positions == {"NASDAQ:AAPL": 5} and book.cash == 100_000 - 5 * 191.0 - 2.5
        assert venue.find_order("PV-1", mine[0]["client_order_id"]).status == "filled"
        assert services.mock_broker.find_order("PV-1", mine[0]["client_order_id"]) is None  # not the Mock's
        position = services.store.query(Collections.POSITIONS, where={"account_id": "PV-1"})
        assert [p["quantity"] for p in position] == [5]

        # A paper run (MT_USE_MOCK_BROKER=1) sends this broker's accounts to the Mock as well.
        paper = build_brokers(replace(settings, use_mock_broker=True), services.store, clock)
        assert paper["paper_venue"] is paper["mock"]
    finally:
        services.close()


def test_the_registry_knows_the_new_broker_and_refuses_an_unknown_one(embedded, paper_venue_registered):
    with pytest.raises(UnknownBroker, match="no broker 'saxo': the known brokers are mock, zerodha, ibkr, "
                                            "paper_venue"):
        broker_entry("saxo")
    client = create_app(embedded).test_client()
    known = client.patch("/api/strategies/fx_carry", headers=ADMIN, json={"eligible_brokers": ["paper_venue"]})
    assert known.status_code == 200, known.get_json()
    unknown = client.patch("/api/strategies/fx_carry", headers=ADMIN, json={"eligible_brokers": ["saxo"]})
    assert unknown.status_code == 422 and "no broker 'saxo'" in json.dumps(unknown.get_json())
