"""Telegram alerts through the real python-telegram-bot client and a local Bot API."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from devstack.embedded import create_app
from shared.adapters.bus_inprocess import InProcessBus
from shared.adapters.store_sqlite import SqliteStore
from shared.bootstrap import Services, build_services
from shared.config import Settings
from shared.demo import seed_demo_fund
from shared.domain.models import Environment, Instrument, Order, Side, Topics, client_order_id
from shared.notify.telegram import NotificationError, TelegramSender
from shared.services.notifier import NotifierService, OverBudget
from tests.conftest import FakeClock, signal_body
from tests.notify.fake_bot_api import FakeBotApi

TOKEN = "123456:TEST-token-that-must-never-be-logged"
CHAT = "-1001234567"


@pytest.fixture
def bot_api() -> Iterator[FakeBotApi]:
    api = FakeBotApi(TOKEN).start()
    yield api
    api.stop()


@pytest.fixture
def fund(tmp_path: Path, clock: FakeClock, bot_api: FakeBotApi) -> Iterator[Services]:
    settings = Settings(sqlite_path=str(tmp_path / "s.sqlite"), log_dir=tmp_path, telegram_bot_token=TOKEN,
                        telegram_chat_id=CHAT, telegram_api_url=bot_api.base_url)
    services = build_services(settings, store=SqliteStore(settings.sqlite_path), bus=InProcessBus(0.001), clock=clock)
    seed_demo_fund(services.store, services.mock_broker)
    services.poller.poll_all()
    services.subscribe_pipeline()
    yield services
    services.close()


def test_fills_are_announced_once_each(fund: Services, bot_api: FakeBotApi):
    client = create_app(fund).test_client()
    body = signal_body(ticker="AAPL", action="buy", quantity=10, price=190, signal_id="tg-1")
    client.post("/webhook", data=body, content_type="application/json")
    assert fund.bus.drain()
    for order in fund.store.query("orders"):  # a redelivery republishes the confirmations
        fund.bus.publish(Topics.ORDERS, {"order": order["order"]})
    assert fund.bus.drain()
    fills = [t for t in bot_api.texts() if t.startswith("✅")]
    assert sorted(fills) == sorted([
        "✅ DEMO-CLIENT-A buy 40 AAPL @ 190.019 (momentum_us)",
        "✅ DEMO-CLIENT-B buy 15 AAPL @ 190.019 (momentum_us)",
    ])


def test_rejections_and_dead_letters_are_announced(fund: Services, bot_api: FakeBotApi):
    # An order the Mock refuses (it does not list ZZZZ: the webhook would refuse the alert itself).
    refused = Order(client_order_id=client_order_id("tg-2", "DEMO-CLIENT-A", "ZZZZ"), signal_id="tg-2",
                    strategy_id="momentum_us", account_id="DEMO-CLIENT-A", broker="mock",
                    instrument=Instrument(symbol="ZZZZ"), side=Side.BUY, quantity=1)
    fund.bus.publish(Topics.ORDERS, {"order": refused.model_dump(mode="json")})
    fund.bus.publish(Topics.ORDERS, {"order": {"not": "an order"}})  # poison: dead-lettered after 5 attempts
    assert fund.bus.drain()
    texts = bot_api.texts()
    assert any(t.startswith("❌ Order rejected DEMO-CLIENT-A ZZZZ: unknown symbol ZZZZ") for t in texts), texts
    assert any(t.startswith("⚠️ Dead letter from trading-orders:") for t in texts), texts


def test_alerts_on_the_notifications_topic(fund: Services, bot_api: FakeBotApi):
    fund.bus.publish(Topics.NOTIFICATIONS, {"kind": "reconciliation_break", "account_id": "DEMO-CLIENT-A",
                                            "symbol": "AAPL", "broker_quantity": 40, "our_quantity": 30})
    fund.bus.publish(Topics.NOTIFICATIONS, {"kind": "broker_session_expired", "broker": "zerodha",
                                            "account_id": "ZD-1"})
    fund.bus.publish(Topics.NOTIFICATIONS, {"kind": "daily_summary"})
    assert fund.bus.drain()
    assert bot_api.texts() == [
        "🔴 Reconciliation break in DEMO-CLIENT-A: AAPL broker 40 vs ours 30",
        "🔑 zerodha session expired for ZD-1: log in again before trading",
        "📊 Last 24h: 0 signals, 0 fills (0 notional), 0 account decisions rejected",
    ]


def test_per_chat_budget_defers_the_excess(tmp_path: Path, clock: FakeClock, bot_api: FakeBotApi):
    store = SqliteStore(tmp_path / "n.sqlite")
    notifier = NotifierService(store, TelegramSender(TOKEN, bot_api.base_url), CHAT, Environment.STAGING, clock,
                               per_chat_per_minute=2)
    alert = {"kind": "broker_session_expired", "broker": "zerodha", "account_id": "ZD-1"}
    notifier.handle("e1", alert)
    notifier.handle("e2", alert)
    with pytest.raises(OverBudget):
        notifier.handle("e3", alert)
    clock.advance(60)
    notifier.handle("e3", alert)  # the redelivery, a minute later
    notifier.handle("e3", alert)  # and a duplicate of it changes nothing
    assert len(bot_api.messages) == 3
    assert all(t.startswith("[STAGING] 🔑") for t in bot_api.texts())


def test_telegram_rate_limit_asks_for_a_retry(bot_api: FakeBotApi):
    bot_api.rate_limit_next = 1
    sender = TelegramSender(TOKEN, bot_api.base_url)
    with pytest.raises(NotificationError) as caught:
        sender.send(CHAT, "hello")
    assert caught.value.retry_after == 3
    assert sender.send(CHAT, "hello") == 1


def test_a_wrong_token_is_a_clear_error(bot_api: FakeBotApi):
    with pytest.raises(NotificationError):
        TelegramSender("999:wrong", bot_api.base_url).send(CHAT, "hello")


def test_the_bot_token_never_reaches_a_log(fund: Services, bot_api: FakeBotApi, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    client = create_app(fund).test_client()
    client.post("/webhook", data=signal_body(ticker="MSFT", action="buy", quantity=1, price=420, signal_id="tg-3"),
                content_type="application/json")
    assert fund.bus.drain()
    assert bot_api.messages
    journey = (fund.settings.log_dir / "signal_processing.log").read_text()
    assert TOKEN not in caplog.text and TOKEN not in journey
    assert TOKEN not in repr(fund.settings) and TOKEN not in repr(replace(fund.settings))
    # The guard matters: httpx itself would log the URL, token included.
    logging.getLogger("httpx").setLevel(logging.INFO)
    try:
        TelegramSender(TOKEN, bot_api.base_url).send(CHAT, "probe")
        assert TOKEN in caplog.text
    finally:
        logging.getLogger("httpx").setLevel(logging.WARNING)
