"""One suite, every Bus adapter: in-process, Google Cloud Pub/Sub (emulator)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from shared.ports.bus import Bus, Message


class Inbox:
    """Collects deliveries and lets a test wait for them."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._changed = threading.Condition()

    def add(self, message: Message) -> None:
        with self._changed:
            self.messages.append(message)
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Message]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"got {len(self.messages)} of {count} messages")
                self._changed.wait(remaining)
            return list(self.messages)


@pytest.fixture(params=["inprocess", "pubsub"])
def bus(request: pytest.FixtureRequest) -> Iterator[Bus]:
    if request.param == "inprocess":
        from shared.adapters.bus_inprocess import InProcessBus

        backend: Bus = InProcessBus(retry_backoff_seconds=0.01)
    else:
        from shared.adapters.bus_pubsub import PubSubBus

        request.getfixturevalue("emulator_env")
        backend = PubSubBus(project=f"bus-{uuid.uuid4().hex[:10]}")
        backend.ensure_topics("orders", "events")
    yield backend
    backend.close()


def test_publish_delivers_data_and_attributes(bus: Bus):
    inbox = Inbox()
    bus.subscribe("orders", inbox.add)
    message_id = bus.publish("orders", {"qty": 5, "symbol": "AAPL"}, {"signal_id": "s1"})
    [message] = inbox.wait_for(1)
    assert message.message_id == message_id
    assert message.data == {"qty": 5, "symbol": "AAPL"}
    assert message.attributes == {"signal_id": "s1"}


def test_a_failing_handler_gets_the_message_again(bus: Bus):
    inbox = Inbox()

    def flaky(message: Message) -> None:
        inbox.add(message)
        if len(inbox.messages) < 3:
            raise ConnectionError("broker timed out")

    bus.subscribe("orders", flaky, max_attempts=5)
    bus.publish("orders", {"n": 1})
    deliveries = inbox.wait_for(3)
    assert [m.data for m in deliveries] == [{"n": 1}] * 3
    assert [m.delivery_attempt for m in deliveries] == [1, 2, 3]


def test_poison_goes_to_the_dead_letter_topic(bus: Bus):
    dead = Inbox()
    bus.subscribe("events-dead-letter", dead.add)

    def always_fails(message: Message) -> None:
        raise ValueError("cannot parse")

    bus.subscribe("events", always_fails, max_attempts=2)
    bus.publish("events", {"bad": True})
    [letter] = dead.wait_for(1)
    assert "cannot parse" in letter.attributes["error"]
