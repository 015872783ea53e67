"""A full run of the embedded stack, at DEBUG, with every kind of secret in play: the
Telegram bot token, a Zerodha app's key, secret, request and access tokens, webhook
passphrases (right and wrong), API keys (valid and invalid). Afterwards the process's
output and every file under its log directory are scanned for each of them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from devstack.processes import free_port
from shared.adapters.bus_inprocess import InProcessBus
from shared.adapters.store_sqlite import SqliteStore
from shared.bootstrap import build_services
from shared.config import Settings
from shared.demo import DEMO_API_KEYS, seed_demo_fund
from shared.domain.models import Account, Allocation, Collections
from shared.services.cerebro_service import CURRENT_ALLOCATION_DOC
from tests.brokers.fake_kite import TOKEN_KEY, FakeKite, running
from tests.notify.fake_bot_api import FakeBotApi

ROOT = Path(__file__).resolve().parents[2]
BOT_TOKEN = "987654:BOTTOKEN-secret-aaaaaaaaaaaaaaaa"
ADMIN = {"Authorization": f"Bearer {DEMO_API_KEYS['admin', 'admin']}"}
WRONG_PASSPHRASE = "wrong-passphrase-SECRET-bbbbbbbb"
WRONG_KEY = "mt_0123456789abcdef.SECRET-not-a-key-cccccccc"


def prepare_fund(sqlite_path: str) -> str:
    """The demo fund plus a Zerodha account, and a freshly issued developer key (returned)."""
    services = build_services(Settings(sqlite_path=sqlite_path), store=SqliteStore(sqlite_path),
                              bus=InProcessBus(0.01))
    seed_demo_fund(services.store, services.mock_broker)
    services.store.put(Collections.ACCOUNTS, "ZD-1", Account(
        account_id="ZD-1", broker="zerodha", client_id="client_in", base_currency="INR").model_dump(mode="json"))
    allocation = Allocation.model_validate(services.store.get(Collections.ALLOCATION, CURRENT_ALLOCATION_DOC))
    weights = {**allocation.weights, "ZD-1": {"momentum_us": 0.5}}
    services.store.put(Collections.ALLOCATION, CURRENT_ALLOCATION_DOC,
                       allocation.model_copy(update={"weights": weights}).model_dump(mode="json"))
    _, developer_key = services.api_keys.issue("developer", "dev_alice", label="scan")
    services.close()
    return developer_key


def wait_until(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
        except requests.ConnectionError:
            result = None
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError("timed out")


@pytest.mark.timeout(120)
def test_a_full_run_logs_no_secret(tmp_path: Path):
    kite = FakeKite(api_key="kiteKEYsecretdddddd", api_secret="kiteSECRETeeeeeeeeee",
                    request_token="reqTOKENffffffffff", net_positions=[])
    bot = FakeBotApi(BOT_TOKEN).start()
    developer_key = prepare_fund(str(tmp_path / "store.sqlite"))
    port = free_port()
    output = tmp_path / "process.out"
    with running(kite) as kite_url, output.open("w") as sink:
        env = {**os.environ, "MT_SQLITE_PATH": str(tmp_path / "store.sqlite"), "MT_LOG_DIR": str(tmp_path / "logs"),
               "TELEGRAM_BOT_TOKEN": BOT_TOKEN, "TELEGRAM_CHAT_ID": "-100200300", "TELEGRAM_API_URL": bot.base_url,
               "ZERODHA_ACCOUNTS": json.dumps({"ZD-1": {"api_key": kite.api_key, "api_secret": kite.api_secret}}),
               "KITE_API_URL": kite_url, "BROKER_TOKEN_KEY": TOKEN_KEY}
        process = subprocess.Popen(
            [sys.executable, "-m", "devstack.embedded", "--port", str(port), "--poll-seconds", "0.5",
             "--dashboards-port", str(free_port()),
             "--log-level", "DEBUG"], cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until(lambda: requests.get(f"{base}/healthz", timeout=2).ok)
            login = requests.post(f"{base}/api/admin/brokers/zerodha/session", headers=ADMIN, timeout=10,
                                  json={"account_id": "ZD-1", "request_token": kite.request_token})
            assert login.status_code == 200, login.text
            passphrase = requests.post(f"{base}/api/strategies/momentum_us/passphrase", headers=ADMIN,
                                       timeout=10).json()["passphrase"]
            signal = {"strategy_id": "momentum_us", "ticker": "NSE:RELIANCE", "action": "buy", "quantity": 1,
                      "price": 1300}
            sent = requests.post(f"{base}/webhook", json={**signal, "passphrase": passphrase, "signal_id": "s-1"},
                                 timeout=10)
            assert sent.status_code == 202, sent.text
            assert requests.post(f"{base}/webhook", json={**signal, "passphrase": WRONG_PASSPHRASE}, timeout=10
                                 ).status_code == 401
            by_api = requests.post(f"{base}/api/signals", json={**signal, "ticker": "AAPL", "price": 190},
                                   headers={"Authorization": f"Bearer {developer_key}"}, timeout=10)
            assert by_api.status_code == 202, by_api.text
            assert requests.get(f"{base}/api/strategies", headers={"Authorization": f"Bearer {WRONG_KEY}"},
                                timeout=10).status_code == 401
            journey = f"{base}/api/signals/{sent.json()['signal_id']}"
            wait_until(lambda: any(f["broker"] == "zerodha" for f in requests.get(
                journey, headers=ADMIN, timeout=5).json()["fills"]))
            wait_until(lambda: len(bot.messages) >= 2)
        finally:
            process.terminate()
            process.wait(timeout=20)
            bot.stop()
    access_tokens = set(kite.access_tokens) or {"<none issued>"}
    assert kite.placements, "the Zerodha account never traded: the scan would prove nothing"

    logs = output.read_text() + "".join(path.read_text() for path in (tmp_path / "logs").rglob("*") if path.is_file())
    assert "DEBUG" in logs and sent.json()["signal_id"] in logs  # the scan reads real, verbose output
    secrets = {"bot token": BOT_TOKEN, "Kite api_secret": kite.api_secret, "Kite request_token": kite.request_token,
               "rotated passphrase": passphrase, "wrong passphrase": WRONG_PASSPHRASE, "developer key": developer_key,
               "invalid key": WRONG_KEY, "admin key": DEMO_API_KEYS["admin", "admin"], "broker token key": TOKEN_KEY,
               **{f"Kite access token {i}": token for i, token in enumerate(access_tokens)}}
    leaked = {name for name, value in secrets.items() if value in logs or value.split(".")[-1] in logs}
    assert not leaked, f"secrets in the logs: {sorted(leaked)}"
