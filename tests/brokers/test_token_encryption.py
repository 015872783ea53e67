"""Kite access tokens are sealed at rest (AES-GCM, BROKER_TOKEN_KEY): the store never holds one in
clear, a missing key is a clear error only when a token is needed, and keys rotate."""

from __future__ import annotations

import base64
import json
import logging
import sqlite3
from pathlib import Path

import pytest

from devstack.embedded import create_app
from shared.adapters.brokers.zerodha import (
    TokenCipher,
    TokenKeyError,
    ZerodhaAccountConfig,
    ZerodhaBroker,
    ZerodhaConfig,
    load_instruments,
)
from shared.adapters.brokers.zerodha.session import SESSIONS
from shared.adapters.brokers.zerodha.tokens import key_id
from shared.adapters.bus_inprocess import InProcessBus
from shared.adapters.store_sqlite import SqliteStore
from shared.bootstrap import build_services
from shared.config import Settings
from shared.demo import DEMO_API_KEYS, seed_demo_fund
from shared.domain.models import Account, Allocation, Collections, Instrument, Order, Side, client_order_id
from shared.services.cerebro_service import CURRENT_ALLOCATION_DOC
from tests.brokers.fake_kite import TOKEN_KEY, FakeKite, running
from tests.conftest import FakeClock, signal_body

ADMIN = {"Authorization": f"Bearer {DEMO_API_KEYS['admin', 'admin']}"}
NEW_KEY = base64.urlsafe_b64encode(b"n" * 32).decode()
RELIANCE = Instrument(symbol="RELIANCE", exchange="NSE", currency="INR")


def every_stored_text(path: Path) -> str:
    """Every row of every table of the SQLite store (every document of every collection), and
    the raw file with its journal, as text: a token in clear anywhere shows up here."""
    connection = sqlite3.connect(str(path))
    tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    rows = [repr(row) for table in tables for row in connection.execute(f"SELECT * FROM {table}")]
    connection.close()
    files = [p for p in path.parent.iterdir() if p.name.startswith(path.name)]
    return "\n".join(rows) + "".join(p.read_bytes().decode("latin-1") for p in files)


def zerodha_broker(url: str, fake: FakeKite, store: SqliteStore, cipher: TokenCipher | None = None) -> ZerodhaBroker:
    config = ZerodhaConfig(root=url, accounts={
        "ZD-1": ZerodhaAccountConfig(account_id="ZD-1", api_key=fake.api_key, api_secret=fake.api_secret)})
    return ZerodhaBroker(store, config, load_instruments, FakeClock(), cipher)


def buy(signal: str) -> Order:
    return Order(client_order_id=client_order_id(signal, "ZD-1", RELIANCE.key), signal_id=signal,
                 strategy_id="india_momo", account_id="ZD-1", broker="zerodha", instrument=RELIANCE,
                 side=Side.BUY, quantity=1)


def test_a_login_through_the_api_stores_no_token_in_clear_and_the_account_still_trades(tmp_path, clock, caplog):
    caplog.set_level(logging.DEBUG)
    fake = FakeKite(net_positions=[])
    with running(fake) as url:
        settings = Settings(sqlite_path=str(tmp_path / "s.sqlite"), log_dir=tmp_path / "logs", kite_api_url=url,
                            zerodha_accounts=json.dumps({"ZD-1": {"api_key": fake.api_key,
                                                                  "api_secret": fake.api_secret}}))
        services = build_services(settings, store=SqliteStore(settings.sqlite_path), bus=InProcessBus(0.01),
                                  clock=clock)
        seed_demo_fund(services.store, services.mock_broker)
        account = Account(account_id="ZD-1", broker="zerodha", client_id="client_in", base_currency="INR")
        services.store.put(Collections.ACCOUNTS, "ZD-1", account.model_dump(mode="json"))
        allocation = Allocation.model_validate(services.store.get(Collections.ALLOCATION, CURRENT_ALLOCATION_DOC))
        services.store.put(Collections.ALLOCATION, CURRENT_ALLOCATION_DOC, allocation.model_copy(update={
            "weights": {**allocation.weights, "ZD-1": {"momentum_us": 0.5}}}).model_dump(mode="json"))
        services.subscribe_pipeline()
        client = create_app(services).test_client()

        login = client.post("/api/admin/brokers/zerodha/session", headers=ADMIN,
                            json={"account_id": "ZD-1", "request_token": fake.request_token})
        assert login.status_code == 200, login.get_json()
        answer = client.post("/webhook", data=signal_body(ticker="NSE:RELIANCE", action="buy", quantity=1,
                                                          price=1300, signal_id="sealed-1"),
                             content_type="application/json")
        assert answer.status_code == 202
        services.bus.drain()
        fills = services.store.query(Collections.CONFIRMATIONS, where={"signal_id": answer.get_json()["signal_id"]})
        assert [f["broker"] for f in fills if f["account_id"] == "ZD-1"] == ["zerodha"]  # the token worked
        services.close()

    (token,) = fake.access_tokens
    stored = every_stored_text(tmp_path / "s.sqlite")
    assert "sealed_token" in stored and "AES-256-GCM" in stored  # the scan reads the session document
    assert token not in stored
    assert token.encode().hex() not in stored and base64.b64encode(token.encode()).decode() not in stored
    assert not [r.getMessage() for r in caplog.records if token in r.getMessage()]


def test_a_missing_key_is_a_clear_error_when_a_token_is_needed_and_not_before(kite_fake, tmp_path, monkeypatch):
    fake, url = kite_fake
    monkeypatch.delenv("BROKER_TOKEN_KEY")
    store = SqliteStore(str(tmp_path / "z.sqlite"))
    broker = zerodha_broker(url, fake, store)  # a stack that never logs in starts without the key
    assert broker.sessions.logged_in() == []
    with pytest.raises(TokenKeyError, match="setting BROKER_TOKEN_KEY is not set"):
        broker.sessions.login("ZD-1", fake.request_token)
    assert fake.access_tokens == set()  # refused before Kite spent the one-time request token

    monkeypatch.setenv("BROKER_TOKEN_KEY", TOKEN_KEY)
    zerodha_broker(url, fake, store).sessions.login("ZD-1", fake.request_token)
    monkeypatch.delenv("BROKER_TOKEN_KEY")
    with pytest.raises(TokenKeyError, match="BROKER_TOKEN_KEY"):
        zerodha_broker(url, fake, store).place_order(buy("nokey"))
    assert fake.placements == []
    monkeypatch.setenv("BROKER_TOKEN_KEY", "not-a-key")
    with pytest.raises(TokenKeyError, match="BROKER_TOKEN_KEY must be urlsafe base64 of 32 random bytes"):
        zerodha_broker(url, fake, store).place_order(buy("badkey"))


def test_rotation_opens_old_tokens_with_the_previous_key_and_seals_them_with_the_new_one(kite_fake, tmp_path,
                                                                                          monkeypatch):
    fake, url = kite_fake
    store = SqliteStore(str(tmp_path / "z.sqlite"))
    zerodha_broker(url, fake, store).sessions.login("ZD-1", fake.request_token)  # sealed with the old key
    old_id, new_id = key_id(base64.urlsafe_b64decode(TOKEN_KEY)), key_id(base64.urlsafe_b64decode(NEW_KEY))
    assert store.get(SESSIONS, "zerodha:ZD-1")["sealed_token"]["kid"] == old_id

    monkeypatch.setenv("BROKER_TOKEN_KEY", NEW_KEY)  # the new key, before the old one is kept as previous
    with pytest.raises(TokenKeyError, match="BROKER_TOKEN_KEY_PREVIOUS"):
        zerodha_broker(url, fake, store).place_order(buy("rot-0"))
    monkeypatch.setenv("BROKER_TOKEN_KEY_PREVIOUS", TOKEN_KEY)
    assert zerodha_broker(url, fake, store).place_order(buy("rot-1")).status == "filled"
    assert store.get(SESSIONS, "zerodha:ZD-1")["sealed_token"]["kid"] == new_id  # sealed again on read

    monkeypatch.delenv("BROKER_TOKEN_KEY_PREVIOUS")  # the rotation is done: the old key can go
    assert zerodha_broker(url, fake, store).place_order(buy("rot-2")).status == "filled"
    zerodha_broker(url, fake, store).sessions.login("ZD-1", fake.request_token)  # the next write: the new key
    assert store.get(SESSIONS, "zerodha:ZD-1")["sealed_token"]["kid"] == new_id
    assert not any(token in every_stored_text(tmp_path / "z.sqlite") for token in fake.access_tokens)


def test_a_clear_token_from_before_is_sealed_on_first_read(kite_fake, tmp_path):
    fake, url = kite_fake
    store = SqliteStore(str(tmp_path / "z.sqlite"))
    zerodha_broker(url, fake, store).sessions.login("ZD-1", fake.request_token)
    (token,) = fake.access_tokens
    legacy = {k: v for k, v in store.get(SESSIONS, "zerodha:ZD-1").items() if k != "sealed_token"}
    store.put(SESSIONS, "zerodha:ZD-1", {**legacy, "access_token": token})  # as stored before sealing
    assert zerodha_broker(url, fake, store).place_order(buy("legacy")).status == "filled"
    document = store.get(SESSIONS, "zerodha:ZD-1")
    assert "access_token" not in document and token not in json.dumps(document)


def test_a_sealed_token_moved_to_another_account_does_not_open(kite_fake, tmp_path):
    fake, url = kite_fake
    store = SqliteStore(str(tmp_path / "z.sqlite"))
    zerodha_broker(url, fake, store).sessions.login("ZD-1", fake.request_token)
    sealed = store.get(SESSIONS, "zerodha:ZD-1")["sealed_token"]
    cipher = TokenCipher.from_settings(TOKEN_KEY)
    with pytest.raises(TokenKeyError, match="altered or moved"):
        cipher.open(sealed, "zerodha:ZD-2")
    assert "set" in repr(cipher) and TOKEN_KEY not in repr(cipher)


@pytest.fixture
def kite_fake():
    fake = FakeKite()
    with running(fake) as url:
        yield fake, url
