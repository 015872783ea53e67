"""Cerebro's per-signal shortcuts keep what it publishes exactly as before.

Cerebro publishes an order from the JSON its decision was recorded with instead of building
and dumping an ``OrderMessage`` again: the message must stay what that model dumps to.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.bootstrap import Services
from shared.domain.messages import OrderMessage
from shared.domain.models import Collections, Topics
from tests.conftest import signal_body


@pytest.fixture
def published(embedded: Services, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every order message put on the bus, as published."""
    seen: list[dict[str, Any]] = []
    publish = embedded.bus.publish

    def recording(topic: str, data: dict[str, Any], *args: Any, **kwargs: Any) -> str:
        if topic == Topics.ORDERS and "order" in data:
            seen.append(data)
        return publish(topic, data, *args, **kwargs)

    monkeypatch.setattr(embedded.bus, "publish", recording)
    return seen


def accept(services: Services, **fields: object) -> str:
    result = services.ingest.ingest(signal_body(**fields), "application/json", {})
    assert services.bus.drain()
    assert result.status == 202, result.body
    return str(result.body["signal_id"])


def test_an_order_message_is_what_the_order_message_model_dumps(embedded, published):
    signal_id = accept(embedded, ticker="AAPL", exchange="NASDAQ", action="buy", quantity=50, price=190)
    booked = {doc["client_order_id"]: doc["order"] for doc in embedded.store.query(Collections.ORDERS)}
    assert len(published) == len(booked) == 2
    for message in published:
        assert message == OrderMessage.model_validate(message).model_dump(mode="json")
        assert message == {"order": booked[message["order"]["client_order_id"]]}

    first = list(published)
    record = embedded.store.get(Collections.SIGNALS, signal_id)
    assert record is not None
    embedded.bus.publish(Topics.SIGNALS, {"signal": record["signal"]})  # a redelivery republishes the same
    assert embedded.bus.drain()
    assert published[len(first):] == first
    assert len(embedded.store.query(Collections.ORDERS)) == 2
