"""Failed authentication backs off per (address, strategy or key), through the real Flask app.

The guesser is throttled with growing waits; the real sender, at another address or at
TradingView's shared address, still trades; an alert reaches the admin once per window.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from devstack.embedded import create_app
from shared.auth.throttle import (
    ALERT_FAILURES,
    FREE_FAILURES,
    MAX_DELAY_SECONDS,
    PASSPHRASE_GUESSING,
    backoff_seconds,
    prune_auth_failures,
)
from shared.bootstrap import Services
from shared.config import TRADINGVIEW_IPS
from shared.demo import DEMO_API_KEYS, DEMO_PASSPHRASES
from shared.domain.models import Collections, Topics
from tests.conftest import FakeClock, signal_body

GUESSER = "203.0.113.66"
REAL_SENDER = "198.51.100.7"
TRADINGVIEW = TRADINGVIEW_IPS[0]
WRONG = "guess-0123456789-not-the-passphrase"
ADMIN_KEY = DEMO_API_KEYS["admin", "admin"]


@pytest.fixture
def client(embedded: Services):
    embedded.settings = replace(embedded.settings, trusted_proxy_hops=1)  # the functions' setting: From = last hop
    return create_app(embedded).test_client()


@pytest.fixture
def alerts(embedded: Services, monkeypatch) -> list[dict]:
    """Every notification published, as the notifier would receive it."""
    published: list[dict] = []
    real = embedded.bus.publish

    def recording(topic, data, *args, **kwargs):
        if topic == Topics.NOTIFICATIONS:
            published.append(data)
        return real(topic, data, *args, **kwargs)

    monkeypatch.setattr(embedded.bus, "publish", recording)
    return published


def webhook(client, source: str, passphrase: str, signal_id: str):
    body = json.loads(signal_body(ticker="AAPL", action="buy", quantity=1, price=190, signal_id=signal_id))
    body["passphrase"] = passphrase
    return client.post("/webhook", data=json.dumps(body), content_type="application/json",
                       headers={"X-Forwarded-For": source})


def test_the_backoff_doubles_after_the_free_failures_up_to_its_cap():
    assert [backoff_seconds(n) for n in range(1, FREE_FAILURES + 5)] == [0] * FREE_FAILURES + [1, 2, 4, 8]
    assert backoff_seconds(10_000) == MAX_DELAY_SECONDS


def test_a_guessing_loop_backs_off_while_the_real_sender_still_trades(client, embedded, clock: FakeClock):
    right = DEMO_PASSPHRASES["momentum_us"]
    answers = [webhook(client, GUESSER, WRONG, f"g{n}") for n in range(FREE_FAILURES)]
    assert [a.status_code for a in answers] == [401] * FREE_FAILURES
    waits = []
    for n in range(4):  # each guess waits as told, and is told to wait twice as long
        answer = webhook(client, GUESSER, WRONG, f"w{n}")
        assert answer.status_code == 429 and answer.get_json()["error"] == "throttled"
        waits.append(int(answer.headers["Retry-After"]))
        locked = webhook(client, GUESSER, right, f"locked{n}")  # even the right one: not checked while locked
        assert locked.status_code == 429 and int(locked.headers["Retry-After"]) == waits[-1]
        clock.advance(waits[-1])
    assert waits == [1, 2, 4, 8]

    real = webhook(client, REAL_SENDER, right, "real-1")  # same strategy, its own address
    assert real.status_code == 202
    embedded.bus.drain()
    orders = embedded.store.query(Collections.ORDERS, where={"signal_id": real.get_json()["signal_id"]})
    assert orders and all(o["status"] == "filled" for o in orders)

    webhook(client, GUESSER, WRONG, "w-last")  # locks for 16 s
    clock.advance(backoff_seconds(FREE_FAILURES + 5))
    assert webhook(client, GUESSER, right, "after-backoff").status_code == 202  # the lock expired: right works


def test_guessing_through_tradingviews_shared_address_never_locks_out_the_fund(client, embedded):
    """An attacker's own TradingView alerts come from the fund's TradingView address: there a
    lock refuses only wrong passphrases, and the right one is still accepted."""
    right = DEMO_PASSPHRASES["momentum_us"]
    statuses = [webhook(client, TRADINGVIEW, WRONG, f"tv{n}").status_code for n in range(FREE_FAILURES + 3)]
    assert statuses == [401] * FREE_FAILURES + [429] * 3
    real = webhook(client, TRADINGVIEW, right, "tv-real")
    assert real.status_code == 202
    assert webhook(client, TRADINGVIEW, WRONG, "tv-after").status_code == 429  # still locked for guesses
    embedded.bus.drain()
    assert embedded.store.query(Collections.ORDERS, where={"signal_id": real.get_json()["signal_id"]})


def test_the_admin_is_alerted_once_per_window_and_never_sees_a_guess(client, embedded, alerts, clock):
    guesses = [f"guess-{n}-secret" for n in range(ALERT_FAILURES + 5)]
    for n, guess in enumerate(guesses):  # spread over addresses, as a distributed guesser would
        webhook(client, f"203.0.113.{n}", guess, f"a{n}")
    [alert] = [a for a in alerts if a.get("kind") == PASSPHRASE_GUESSING]
    assert alert["strategy_id"] == "momentum_us" and alert["failures"] == ALERT_FAILURES
    text = embedded.notifier.format(alert)
    assert text and "momentum_us" in text and str(ALERT_FAILURES) in text
    for guess in guesses:
        assert guess not in json.dumps(alert) and guess not in text
    clock.advance(alert["window_seconds"])  # the next window alerts again, once
    for n in range(ALERT_FAILURES):
        webhook(client, f"203.0.114.{n}", WRONG, f"b{n}")
    assert len([a for a in alerts if a.get("kind") == PASSPHRASE_GUESSING]) == 2


def test_wrong_api_keys_back_off_per_address_and_key_id(client, clock: FakeClock):
    wrong = ADMIN_KEY.split(".")[0] + ".a-wrong-secret-of-the-right-shape"
    for _ in range(FREE_FAILURES):
        answer = client.get("/api/me", headers={"Authorization": f"Bearer {wrong}", "X-Forwarded-For": GUESSER})
        assert answer.status_code == 401
    answer = client.get("/api/me", headers={"Authorization": f"Bearer {wrong}", "X-Forwarded-For": GUESSER})
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "1"
    owner = client.get("/api/me", headers={"Authorization": f"Bearer {ADMIN_KEY}", "X-Forwarded-For": REAL_SENDER})
    assert owner.status_code == 200 and owner.get_json()["role"] == "admin"
    other_key = DEMO_API_KEYS["developer", "dev_alice"]  # another key from the guesser's own address
    assert client.get("/api/me", headers={"Authorization": f"Bearer {other_key}",
                                          "X-Forwarded-For": GUESSER}).status_code == 200
    clock.advance(1)
    assert client.get("/api/me", headers={"Authorization": f"Bearer {ADMIN_KEY}",
                                          "X-Forwarded-For": GUESSER}).status_code == 200


def test_the_api_rate_limit_says_when_to_retry(client, clock: FakeClock):
    headers = {"Authorization": f"Bearer {DEMO_API_KEYS['client', 'client_a']}"}
    statuses = [client.get("/api/me", headers=headers) for _ in range(121)]  # the shipped 120 a minute
    limited = statuses[-1]
    assert limited.status_code == 429 and limited.get_json()["error"] == "rate_limited"
    assert limited.headers["Retry-After"] == str(60 - clock().second)


def test_counters_are_in_the_store_and_pruned_when_expired(client, embedded, clock: FakeClock):
    webhook(client, GUESSER, WRONG, "p1")
    stored = embedded.store.query("auth_failures")
    assert {d.get("scope") for d in stored} == {"webhook", "strategy"}
    assert WRONG not in json.dumps(stored)
    assert prune_auth_failures(embedded.store, clock()) == 0
    clock.advance(2 * 3600)
    assert prune_auth_failures(embedded.store, clock()) == 2
    assert embedded.store.query("auth_failures") == []


def test_a_success_costs_one_read_and_a_failure_one_transaction(tmp_path, clock: FakeClock):
    from shared.adapters.bus_inprocess import InProcessBus
    from shared.adapters.store_sqlite import SqliteStore
    from shared.auth.throttle import AuthThrottle
    from shared.domain.errors import RequestRejected

    class Counting(SqliteStore):
        calls: list[str] = []

        def get(self, collection, doc_id):
            self.calls.append(f"get {collection}")
            return super().get(collection, doc_id)

        def transaction(self, work):
            self.calls.append("transaction")
            return super().transaction(work)

        def delete(self, collection, doc_id):
            self.calls.append(f"delete {collection}")
            return super().delete(collection, doc_id)

    store = Counting(str(tmp_path / "counting.sqlite"))
    throttle = AuthThrottle(store, InProcessBus(), clock)
    lock = throttle.check("webhook", GUESSER, "momentum_us", "passphrase")
    throttle.succeeded(lock)
    assert store.calls == ["get auth_failures"]
    store.calls.clear()
    wrong = RequestRejected("passphrase", "wrong", 401, "unauthorized")
    assert throttle.failed(throttle.check("webhook", GUESSER, "momentum_us", "passphrase"), wrong,
                           "momentum_us") is wrong
    assert store.calls.count("transaction") == 1 and "get auth_failures" in store.calls


def test_the_cloud_functions_429_carries_retry_after(tmp_path, monkeypatch):
    """The webhook function, as functions-framework serves it, behind Google's front end (1 hop)."""
    import functions_framework

    from shared import runtime
    from shared.bootstrap import build_services
    from shared.config import Settings
    from shared.demo import seed_demo_fund

    path = str(tmp_path / "function.sqlite")
    seeding = build_services(Settings(sqlite_path=path, log_dir=tmp_path / "logs"))
    seed_demo_fund(seeding.store, seeding.mock_broker)
    seeding.close()
    for name, value in {"MT_STORE": "sqlite", "MT_SQLITE_PATH": path, "MT_BUS": "inprocess",
                        "MT_LOG_DIR": str(tmp_path / "logs"), "TRUSTED_PROXY_HOPS": "1"}.items():
        monkeypatch.setenv(name, value)
    runtime.services.cache_clear()
    try:
        client = functions_framework.create_app("webhook", "functions/webhook/main.py").test_client()
        statuses = []
        for n in range(FREE_FAILURES + 1):
            body = json.loads(signal_body(ticker="AAPL", action="buy", quantity=1, signal_id=f"f{n}"))
            answer = client.post("/webhook", data=json.dumps({**body, "passphrase": WRONG}),
                                 content_type="application/json", headers={"X-Forwarded-For": f"1.2.3.4, {GUESSER}"})
            statuses.append(answer.status_code)
        assert statuses == [401] * FREE_FAILURES + [429]
        assert answer.headers["Retry-After"] == "1"
    finally:
        runtime.services().close()
        runtime.services.cache_clear()
