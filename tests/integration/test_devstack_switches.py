"""The broker switches of `devstack up` (--use-mock-broker, --live): refused combinations at
the CLI, and the settings the services read (MT_USE_MOCK_BROKER, MT_LIVE_TRADING)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from devstack.processes import free_port
from devstack.switches import open_paper_accounts
from shared.adapters.brokers import known_brokers
from shared.bootstrap import build_services
from shared.config import Settings
from shared.demo import seed_demo_fund
from shared.domain.models import Account, Collections
from tests.devstack_cli import cli, stack_env

ZERODHA = json.dumps({"ZD1234": {"api_key": "key", "api_secret": "secret"}})



@pytest.fixture
def cli_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = stack_env(tmp_path, ZERODHA_ACCOUNTS=ZERODHA)
    yield env
    cli("down", env=env)


def test_settings_read_the_switches():
    assert Settings.from_env({}).live_trading and not Settings.from_env({}).use_mock_broker
    switched = Settings.from_env({"MT_LIVE_TRADING": "0", "MT_USE_MOCK_BROKER": "1"})
    assert not switched.live_trading and switched.use_mock_broker


def test_real_broker_credentials_without_live_refuse_to_start(cli_env: dict[str, str]):
    started = cli("up", f"--port={free_port()}", "--dashboards-port=0", env=cli_env)
    assert started.returncode == 2, started.stdout
    assert "ZERODHA_ACCOUNTS" in started.stderr and "--live" in started.stderr
    assert not (Path(cli_env["MT_STACK_DIR"]) / "stack.json").exists()
    both = cli("up", "--live", "--use-mock-broker", env=cli_env)
    assert both.returncode == 2 and "not allowed with" in both.stderr


def test_services_refuse_real_credentials_when_live_trading_is_off(tmp_path: Path):
    settings = Settings(sqlite_path=str(tmp_path / "s.sqlite"), log_dir=tmp_path, zerodha_accounts=ZERODHA,
                        live_trading=False)
    with pytest.raises(RuntimeError, match="MT_LIVE_TRADING"):
        build_services(settings)
    services = build_services(replace(settings, live_trading=True))
    try:
        assert services.brokers["zerodha"] is not services.mock_broker  # --live: the real Zerodha adapter
    finally:
        services.close()


def test_use_mock_broker_sends_every_account_to_the_mock(tmp_path: Path):
    settings = Settings(sqlite_path=str(tmp_path / "s.sqlite"), log_dir=tmp_path, zerodha_accounts=ZERODHA,
                        live_trading=False, use_mock_broker=True)
    services = build_services(settings)  # the credentials are never used, so no --live is needed
    try:
        assert all(services.brokers[broker] is services.mock_broker for broker in known_brokers())
        seed_demo_fund(services.store, services.mock_broker)
        services.store.create(Collections.ACCOUNTS, "ZD1234", Account(
            account_id="ZD1234", broker="zerodha", base_currency="INR").model_dump(mode="json"))
        assert open_paper_accounts(services) == ["ZD1234"]
        assert open_paper_accounts(services) == []  # once
        assert services.poller.poll_all()["ZD1234"].startswith("ok")
        snapshot = Account.model_validate(services.store.get(Collections.ACCOUNTS, "ZD1234")).snapshot
        assert snapshot is not None and snapshot.equity == 1_000_000.0
    finally:
        services.close()


def test_up_with_use_mock_broker_reaches_the_server(cli_env: dict[str, str]):
    port = free_port()
    started = cli("up", "--use-mock-broker", f"--port={port}", "--dashboards-port=0", env=cli_env)
    assert started.returncode == 0, started.stdout + started.stderr
    assert "every account's orders go to the Mock broker" in started.stdout
    health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json()
    assert health["status"] == "ok" and health["use_mock_broker"] is True
    assert cli("down", env=cli_env).returncode == 0
