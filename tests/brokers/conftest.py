"""Fixtures for the broker tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


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
