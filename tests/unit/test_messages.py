"""The typed bus messages (shared/domain/messages.py) put on the wire exactly the JSON the
publishers built by hand before them, for a sample of each topic's payload, so stored and
published payloads (and the Pub/Sub bytes) are unchanged; and the handlers refuse a payload
that breaks its model as poison."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from shared.bootstrap import Services
from shared.domain.messages import (
    NOTIFICATION_FIELDS,
    TOPIC_MESSAGES,
    ConfirmationMessage,
    DashboardRefreshMessage,
    NotificationKind,
    NotificationMessage,
    OrderMessage,
    SignalMessage,
)
from shared.domain.models import CancelRequest, Order, OrderUpdate, Topics
from tests.conftest import signal_body


def wire(data: dict[str, Any]) -> bytes:
    """What PubSubBus publishes (compact JSON, key order kept)."""
    return json.dumps(data, separators=(",", ":")).encode()


def same(new: dict[str, Any], old: dict[str, Any]) -> None:
    assert new == old
    assert wire(new) == wire(old)


@pytest.fixture
def published(embedded: Services) -> list[tuple[str, dict[str, Any]]]:
    """Every message the embedded pipeline publishes for a buy, a cancel-and-close and a sell."""
    seen: list[tuple[str, dict[str, Any]]] = []
    publish = embedded.bus.publish

    def recording(topic: str, data: dict[str, Any], *args: Any, **kwargs: Any) -> str:
        seen.append((topic, json.loads(json.dumps(data))))
        return publish(topic, data, *args, **kwargs)

    embedded.bus.publish = recording  # type: ignore[method-assign]
    for fields in ({"ticker": "AAPL", "action": "buy", "quantity": 10, "price": 190, "signal_id": "m-1"},
                   {"ticker": "AAPL", "action": "sell", "quantity": 10, "price": 191, "signal_id": "m-2"}):
        embedded.ingest.ingest(signal_body(**fields), "application/json", {}, "127.0.0.1")
        assert embedded.bus.drain()
    return seen


def test_pipeline_payloads_are_the_models_json(published: list[tuple[str, dict[str, Any]]]):
    topics = {topic for topic, _data in published}
    assert {Topics.SIGNALS, Topics.ORDERS, Topics.CONFIRMATIONS} <= topics
    for topic, data in published:
        model = TOPIC_MESSAGES[Topics(topic)]
        same(model.model_validate(data).model_dump(mode="json"), data)


def test_publishers_build_what_they_built_by_hand(published: list[tuple[str, dict[str, Any]]]):
    """The dicts the services wrote before, from the same domain objects."""
    for topic, data in published:
        if topic == Topics.SIGNALS:
            same(SignalMessage.model_validate(data).model_dump(mode="json"), {"signal": data["signal"]})
        elif topic == Topics.ORDERS and "order" in data:
            order = Order.model_validate(data["order"])
            same(OrderMessage(order=order).model_dump(mode="json"), {"order": order.model_dump(mode="json")})
        elif topic == Topics.CONFIRMATIONS:
            update = OrderUpdate.model_validate(data["update"])
            same(ConfirmationMessage(update=update).model_dump(mode="json"),
                 {"update": update.model_dump(mode="json")})


def test_a_cancel_travels_alone():
    cancel = CancelRequest(client_order_id="c-1", signal_id="s-1", account_id="A", broker="mock", reason="exit")
    same(OrderMessage(cancel=cancel).model_dump(mode="json"), {"cancel": cancel.model_dump(mode="json")})
    assert OrderMessage.model_validate({"cancel": cancel.model_dump(mode="json")}).cancel == cancel
    with pytest.raises(ValidationError):
        OrderMessage()


# Each notification as its publisher wrote it by hand (values as they publish them).
HAND_BUILT: dict[NotificationKind, dict[str, Any]] = {
    NotificationKind.RECONCILIATION_BREAK: {"kind": "reconciliation_break", "account_id": "A", "symbol": "NASDAQ:AAPL",
                                            "broker_quantity": 10.0, "our_quantity": 5.0},
    NotificationKind.BROKER_SESSION_EXPIRED: {"kind": "broker_session_expired", "broker": "zerodha",
                                              "account_id": "Z"},
    NotificationKind.KILL_SWITCH: {"kind": "kill_switch", "enabled": True, "reason": None, "changed_by": "admin",
                                   "changed_at": "2026-11-24T14:30:00+00:00", "cancelled": ["o-1"]},
    NotificationKind.FLATTEN_ALL: {"kind": "flatten_all", "requested_by": "admin", "strategies": ["m"],
                                   "reason": "drill"},
    NotificationKind.TRADING_STATE: {"kind": "trading_state", "scope_id": "m", "state": "halted", "reason": "x",
                                     "changed_by": "admin", "changed_at": "2026-11-24T14:30:00+00:00",
                                     "cancelled": []},
    NotificationKind.DAILY_LOSS_LIMIT: {"kind": "daily_loss_limit", "account_id": "A", "equity": 90000.5,
                                        "day_start_equity": 100000.0, "limit_pct": 5.0},
    NotificationKind.DAILY_SUMMARY: {"kind": "daily_summary"},
    NotificationKind.PASSPHRASE_GUESSING: {"kind": "passphrase_guessing", "strategy_id": "m", "failures": 20,
                                           "window_seconds": 600, "since": "2026-11-24T14:30:00+00:00",
                                           "sources": ["1.2.3.4"]},
    NotificationKind.RISK_REFUSAL: {"kind": "risk_refusal", "signal_id": "s", "strategy_id": "m",
                                    "symbol": "NASDAQ:AAPL", "at": "2026-11-24T14:30:00+00:00",
                                    "refusals": [{"account_id": "A", "status": "rejected", "reason": "r"}]},
    NotificationKind.FLUSH_RISK_REFUSALS: {"kind": "flush_risk_refusals"},
}


@pytest.mark.parametrize("kind", list(NotificationKind))
def test_notifications_keep_their_shape(kind: NotificationKind):
    old = HAND_BUILT[kind]
    fields = {key: value for key, value in old.items() if key != "kind"}
    same(NotificationMessage.of(kind, **fields).model_dump(mode="json"), old)
    same(NotificationMessage.model_validate(old).model_dump(mode="json"), old)
    for missing in NOTIFICATION_FIELDS[kind]:
        with pytest.raises(ValidationError):
            NotificationMessage.of(kind, **{k: v for k, v in fields.items() if k != missing})


def test_the_scheduled_refresh_keeps_its_shape():
    same(DashboardRefreshMessage().model_dump(mode="json"), {"refresh": "all"})


def test_the_http_entry_points_hold_no_pubsub_glue():
    import shared.entrypoints.http
    import shared.entrypoints.routes.webhook

    for module in (shared.entrypoints.http, shared.entrypoints.routes.webhook):
        assert not {"run_handler", "decode_pubsub_event", "PoisonMessage"} & set(vars(module))


def test_an_invalid_payload_is_dead_lettered_by_the_function(embedded: Services):
    """A stage's handler validates into its model; run_handler turns the failure into a dead letter."""
    import base64

    from shared.entrypoints.handlers import on_order
    from shared.entrypoints.pubsub import run_handler
    from shared.ports.bus import Message

    letters: list[dict[str, Any]] = []
    embedded.bus.subscribe(Topics.ORDERS.dead_letter, lambda message: letters.append(message.data))
    envelope = {"message": {"messageId": "m1", "data": base64.b64encode(b'{"order": {"nope": 1}}').decode()}}
    run_handler(embedded, Topics.ORDERS, envelope,
                lambda data: on_order(embedded, Message("m1", Topics.ORDERS, data)))
    assert embedded.bus.drain()
    assert [letter["dead_letter"]["source_topic"] for letter in letters] == [Topics.ORDERS]
    assert letters[0]["dead_letter"]["error"].startswith("invalid payload:")
