"""Risk refusals reach Telegram grouped: the first at once, the rest of a burst as one digest.

NotifierService with the real TelegramSender against the local Bot API, over a
SQLite store shared by two service instances (as Cloud Function instances share
Firestore), with a clock the tests move.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.adapters.bus_inprocess import InProcessBus
from shared.adapters.store_sqlite import SqliteStore
from shared.bootstrap import build_services
from shared.config import Settings
from shared.domain.models import Environment, Topics
from shared.notify.telegram import NotificationError, TelegramSender
from shared.services.notifier import NotifierService, OverBudget
from tests.conftest import FakeClock
from tests.notify.fake_bot_api import FakeBotApi

TOKEN = "123456:TEST-token-that-must-never-be-logged"
CHAT = "-1001234567"
FLUSH = {"kind": "flush_risk_refusals"}
POSITION = "max_position_size: account position 5,200 AAPL would be 11.3% of equity, cap 10%"
COLLAR = "price_collar: limit 212.40 is 4.1% from last 204.00, collar 3%"


@pytest.fixture
def bot_api() -> Iterator[FakeBotApi]:
    api = FakeBotApi(TOKEN).start()
    yield api
    api.stop()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "n.sqlite")
    yield store
    store.close()


def notifier(store: SqliteStore, clock: FakeClock, bot_api: FakeBotApi,
             environment: Environment = Environment.PRODUCTION, budget: int = 20) -> NotifierService:
    return NotifierService(store, TelegramSender(TOKEN, bot_api.base_url), CHAT, environment, clock,
                           per_chat_per_minute=budget)


def refusal(signal_id: str, strategy_id: str = "momentum_us", symbol: str = "AAPL",
            *refusals: tuple[str, str, str]) -> dict:
    return {"kind": "risk_refusal", "signal_id": signal_id, "strategy_id": strategy_id, "symbol": symbol,
            "at": "2026-11-24T14:30:00+00:00",
            "refusals": [{"account_id": a, "status": s, "reason": r} for a, s, r in refusals]
            or [{"account_id": "DEMO-CLIENT-A", "status": "rejected", "reason": POSITION}]}


def test_a_burst_makes_the_first_message_and_one_digest(store: SqliteStore, clock: FakeClock, bot_api: FakeBotApi):
    first, second = notifier(store, clock, bot_api), notifier(store, clock, bot_api)  # two function instances
    first.handle("m0", refusal("sig_0"))
    assert bot_api.texts() == [f"⚠️ Risk refused momentum_us AAPL (sig_0): DEMO-CLIENT-A rejected - {POSITION}"]
    for i in range(1, 30):
        clock.advance(1.5)
        if i % 3 == 0:  # fx_carry: a collar rejection for one account, a clip for the other
            data = refusal(f"sig_{i}", "fx_carry", "EURUSD", ("DEMO-CLIENT-A", "rejected", COLLAR),
                           ("DEMO-CLIENT-B", "capped", "max_gross_exposure: capped to 40,000 notional"))
        else:
            data = refusal(f"sig_{i}")
        (second if i % 2 else first).handle(f"m{i}", data)
    second.handle("m0", refusal("sig_0"))  # the lead's redelivery: already sent
    first.handle(f"m{i}", data)  # the last one's redelivery: already counted
    first.handle("tick-1", FLUSH)  # the window is still open: nothing yet
    assert len(bot_api.messages) == 1

    clock.advance(30)
    second.handle("tick-2", FLUSH)
    second.handle("tick-2", FLUSH)  # the tick's redelivery
    first.handle("tick-3", FLUSH)  # and the next tick: nothing left
    texts = bot_api.texts()
    assert len(texts) == 2, texts
    digest = texts[1].splitlines()
    assert digest[0] == ("⚠️ 38 more risk refusals (29 signals, 9 capped) within 60s of the one at 14:30:00 UTC: "
                         "momentum_us 20 (max_position_size 20), fx_carry 18 (max_gross_exposure 9, price_collar 9)")
    assert digest[1:] == [
        f"• momentum_us AAPL (sig_1): DEMO-CLIENT-A rejected - {POSITION}",
        f"• momentum_us AAPL (sig_2): DEMO-CLIENT-A rejected - {POSITION}",
        f"• fx_carry EURUSD (sig_3): DEMO-CLIENT-A rejected - {COLLAR}; DEMO-CLIENT-B capped - "
        "max_gross_exposure: capped to 40,000 notional",
        "… and 26 more signals",
    ]


def test_redelivered_refusals_are_counted_once(store: SqliteStore, clock: FakeClock, bot_api: FakeBotApi):
    service = notifier(store, clock, bot_api, Environment.STAGING)
    for message_id in ("m0", "m1", "m2", "m1", "m0", "m3", "m2"):
        clock.advance(2)
        service.handle(message_id, refusal(f"sig_{message_id}"))
    clock.advance(60)
    service.handle("tick", FLUSH)
    service.handle("m2", refusal("sig_m2"))  # redelivered after its digest went: neither sent nor counted again
    clock.advance(120)
    service.handle("tick-2", FLUSH)
    texts = bot_api.texts()
    assert len(texts) == 2, texts
    assert texts[0].startswith("[STAGING] ⚠️ Risk refused momentum_us AAPL (sig_m0): DEMO-CLIENT-A rejected")
    assert texts[1].startswith("[STAGING] ⚠️ 3 more risk refusals (3 signals) within 60s of the one at 14:30:02 UTC: "
                               "momentum_us 3 (max_position_size 3)")


def test_a_refusal_after_a_quiet_period_is_sent_at_once(store: SqliteStore, clock: FakeClock, bot_api: FakeBotApi):
    service = notifier(store, clock, bot_api)
    service.handle("m0", refusal("sig_0"))
    clock.advance(300)
    service.handle("m1", refusal("sig_1", "fx_carry", "EURUSD", ("DEMO-CLIENT-B", "capped", COLLAR)))
    clock.advance(10)
    service.handle("m2", refusal("sig_2"))  # inside m1's window
    clock.advance(60)
    service.handle("m3", refusal("sig_3"))  # no flush came: the window's digest goes first, then m3 at once
    assert bot_api.texts() == [
        f"⚠️ Risk refused momentum_us AAPL (sig_0): DEMO-CLIENT-A rejected - {POSITION}",
        f"⚠️ Risk capped fx_carry EURUSD (sig_1): DEMO-CLIENT-B capped - {COLLAR}",
        "⚠️ 1 more risk refusal (1 signal) within 60s of the one at 14:35:00 UTC: momentum_us 1 (max_position_size 1)"
        f"\n• momentum_us AAPL (sig_2): DEMO-CLIENT-A rejected - {POSITION}",
        f"⚠️ Risk refused momentum_us AAPL (sig_3): DEMO-CLIENT-A rejected - {POSITION}",
    ]


def test_a_flush_with_nothing_pending_sends_nothing(store: SqliteStore, clock: FakeClock, bot_api: FakeBotApi):
    service = notifier(store, clock, bot_api)
    assert service.handle("tick-1", FLUSH) is None  # nothing ever refused
    service.handle("m0", refusal("sig_0"))
    clock.advance(61)
    assert service.handle("tick-2", FLUSH) is None  # a lone refusal: its window closes empty
    assert len(bot_api.messages) == 1


def test_a_digest_that_fails_to_send_waits_for_the_next_flush(store: SqliteStore, clock: FakeClock,
                                                              bot_api: FakeBotApi):
    service = notifier(store, clock, bot_api, budget=2)
    service.handle("m0", refusal("sig_0"))
    clock.advance(5)
    service.handle("m1", refusal("sig_1"))
    clock.advance(55)  # 14:31:00, a new budget minute, and m0's window has ended
    service.handle("e1", {"kind": "broker_session_expired", "broker": "zerodha", "account_id": "ZD-1"})
    service.handle("e2", {"kind": "broker_session_expired", "broker": "zerodha", "account_id": "ZD-2"})
    with pytest.raises(OverBudget):
        service.handle("tick-1", FLUSH)
    clock.advance(60)
    bot_api.rate_limit_next = 1
    with pytest.raises(NotificationError):
        service.handle("tick-2", FLUSH)
    assert service.handle("tick-3", FLUSH) is not None
    assert service.handle("tick-4", FLUSH) is None
    digests = [t for t in bot_api.texts() if "more risk refusal" in t]
    assert digests == ["⚠️ 1 more risk refusal (1 signal) within 60s of the one at 14:30:00 UTC: "
                       f"momentum_us 1 (max_position_size 1)\n• momentum_us AAPL (sig_1): DEMO-CLIENT-A rejected - "
                       f"{POSITION}"]


def test_without_a_bot_nothing_is_kept(store: SqliteStore, clock: FakeClock):
    service = NotifierService(store, None, "", Environment.PRODUCTION, clock)
    assert service.handle("m0", refusal("sig_0")) is None
    assert service.handle("tick", FLUSH) is None
    assert store.query("risk_refusal_digest") == []


def test_the_embedded_stack_routes_refusals_and_ticks(tmp_path: Path, clock: FakeClock, bot_api: FakeBotApi):
    settings = Settings(sqlite_path=str(tmp_path / "s.sqlite"), log_dir=tmp_path, telegram_bot_token=TOKEN,
                        telegram_chat_id=CHAT, telegram_api_url=bot_api.base_url)
    services = build_services(settings, store=SqliteStore(settings.sqlite_path), bus=InProcessBus(0.001), clock=clock)
    try:
        services.subscribe_pipeline()
        for i in range(3):
            services.bus.publish(Topics.NOTIFICATIONS, refusal(f"sig_{i}"))
        assert services.bus.drain()
        clock.advance(61)
        services.bus.publish(Topics.NOTIFICATIONS, FLUSH)
        assert services.bus.drain()
    finally:
        services.close()
    texts = bot_api.texts()
    assert len(texts) == 2, texts
    assert texts[1].startswith("⚠️ 2 more risk refusals (2 signals)")


def test_a_flatten_all_is_announced_with_who_asked_and_why(store: SqliteStore, clock: FakeClock,
                                                          bot_api: FakeBotApi):
    notifier(store, clock, bot_api).handle("f1", {"kind": "flatten_all", "requested_by": "admin",
                                                  "strategies": ["fx_carry", "momentum_us"],
                                                  "reason": "broker outage drill"})
    assert bot_api.texts() == ["🧯 Flatten-all by admin (broker outage drill): fx_carry, momentum_us"]
