"""Fixtures shared by the whole suite."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.adapters.bus_inprocess import InProcessBus
from shared.adapters.store_sqlite import SqliteStore
from shared.bootstrap import Services, build_services
from shared.config import Settings
from shared.demo import DEMO_PASSPHRASES, seed_demo_fund

# Tests run at the shipped defaults: a developer's .env in the checkout must not reach them
# (set before anything reads settings; a test that wants a .env points MT_ENV_FILE at its own).
os.environ["MT_ENV_FILE"] = ""


class FakeClock:
    """A clock tests move by hand; the services read time only through it."""

    def __init__(self, start: datetime | None = None):
        self.now = start or datetime(2026, 11, 24, 14, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def embedded(tmp_path: Path, clock: FakeClock) -> Iterator[Services]:
    """The embedded pipeline (SQLite, in-process bus, Mock broker) seeded with the demo fund."""
    settings = Settings(sqlite_path=str(tmp_path / "store.sqlite"), log_dir=tmp_path / "logs")
    services = build_services(settings, store=SqliteStore(settings.sqlite_path), bus=InProcessBus(0.01), clock=clock)
    seed_demo_fund(services.store, services.mock_broker)
    services.poller.poll_all()
    services.subscribe_pipeline()
    yield services
    services.close()


def signal_body(strategy: str = "momentum_us", **fields: object) -> bytes:
    payload = {"strategy_id": strategy, "passphrase": DEMO_PASSPHRASES[strategy], **fields}
    return json.dumps(payload).encode()
