"""Fixtures for the broker tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from shared.adapters.brokers.ibkr import IbkrConfig, IbkrConnection
from tests.brokers.fake_kite import TOKEN_KEY
from tests.brokers.fake_tws import FakeTws


@pytest.fixture(autouse=True)
def broker_token_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """Kite sessions are sealed with BROKER_TOKEN_KEY, read from the environment as in production."""
    monkeypatch.setenv("BROKER_TOKEN_KEY", TOKEN_KEY)
    monkeypatch.delenv("BROKER_TOKEN_KEY_PREVIOUS", raising=False)
    return TOKEN_KEY


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def decoder_errors() -> Iterator[list[logging.LogRecord]]:
    """ib_async only logs what it cannot decode (the ``ib_async.Decoder`` logger): a test
    using this fails if anything was logged there, so the fake TWS must speak exactly."""
    handler = _Records()
    logger = logging.getLogger("ib_async.Decoder")
    logger.addHandler(handler)
    yield handler.records
    logger.removeHandler(handler)
    assert not handler.records, [r.getMessage() for r in handler.records]


@pytest.fixture
def tws() -> Iterator[FakeTws]:
    """A local TWS API server; a test module may define its own with different books."""
    fake = FakeTws()
    fake.port = fake.start()
    yield fake
    fake.stop()


def ibkr_connection(tws: FakeTws, **options: object) -> IbkrConnection:
    """The real ib_async connection to the fake, at the shipped timeouts."""
    connection = IbkrConnection(IbkrConfig(port=tws.port, **options))  # type: ignore[arg-type]
    connection.connect()
    return connection
