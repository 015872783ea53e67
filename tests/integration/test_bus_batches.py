"""Batch subscriptions: several messages in one call, each with its own outcome.

The in-process bus hands a batch subscription every message of its topic waiting at once (at
most one per ordering key); Pub/Sub, through the port's default, one at a time. Either way a
message that fails or waits is redelivered by itself, in its key's order.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest

from shared.adapters.bus_inprocess import InProcessBus
from shared.ports.bus import Bus, Message, RetryLater
from tests.integration.test_bus_conformance import Inbox


class Batches:
    """A batch handler that records each call and answers per message from a script:
    ``script[name]`` lists the outcomes of its first deliveries (then None)."""

    def __init__(self, script: dict[str, list[Exception | None]] | None = None, fail_whole: int = 0):
        self.calls: list[list[str]] = []
        self.inbox = Inbox()
        self._script = {name: list(outcomes) for name, outcomes in (script or {}).items()}
        self._fail_whole = fail_whole  # this many first calls raise instead of answering
        self._lock = threading.Lock()

    def __call__(self, messages: list[Message]) -> list[Exception | None]:
        with self._lock:
            self.calls.append([m.data["name"] for m in messages])
            if self._fail_whole:
                self._fail_whole -= 1
                raise ConnectionError("the store went away mid-batch")
        outcomes = []
        for message in messages:
            pending = self._script.get(message.data["name"], [])
            outcomes.append(pending.pop(0) if pending else None)
            self.inbox.add(message)
        return outcomes

    def deliveries(self, name: str) -> int:
        return sum(call.count(name) for call in self.calls)


def publish_together(bus: InProcessBus, messages: list[tuple[str, str]]) -> None:
    """Publish every (name, ordering key) from inside one handler, so they all wait at once."""
    bus.subscribe("trigger", lambda _: [bus.publish("orders", {"name": name}, ordering_key=key)
                                        for name, key in messages] and None)
    bus.publish("trigger", {})


@pytest.fixture
def inprocess() -> Iterator[InProcessBus]:
    bus = InProcessBus()
    yield bus
    bus.close()


def test_messages_waiting_at_once_reach_a_batch_subscription_in_one_call(inprocess: InProcessBus):
    batches = Batches()
    inprocess.subscribe_batch("orders", batches)
    publish_together(inprocess, [(f"m{i}", "") for i in range(6)])
    batches.inbox.wait_for(6)
    assert inprocess.drain()
    assert batches.calls == [[f"m{i}" for i in range(6)]]


def test_a_batch_holds_one_message_per_ordering_key_and_keeps_its_order(inprocess: InProcessBus):
    # k1's first message fails once: k1's second waits behind its retry; k2 goes ahead.
    batches = Batches({"k1-first": [ValueError("broker hiccup")]})
    inprocess.subscribe_batch("orders", batches)
    publish_together(inprocess, [("k1-first", "k1"), ("k1-second", "k1"), ("k2-only", "k2")])
    batches.inbox.wait_for(4)
    assert inprocess.drain()
    assert batches.calls[0] == ["k1-first", "k2-only"]
    k1 = [name for call in batches.calls for name in call if name.startswith("k1")]
    assert k1 == ["k1-first", "k1-first", "k1-second"]


def test_a_batch_that_raises_is_redelivered_message_by_message(inprocess: InProcessBus):
    batches = Batches(fail_whole=1)
    inprocess.subscribe_batch("orders", batches)
    publish_together(inprocess, [("a", ""), ("b", ""), ("c", "")])
    batches.inbox.wait_for(3)
    assert inprocess.drain()
    assert batches.calls[0] == ["a", "b", "c"]  # the call that raised
    assert sorted(name for call in batches.calls[1:] for name in call) == ["a", "b", "c"]


@pytest.fixture(params=["inprocess", "pubsub"])
def bus(request: pytest.FixtureRequest) -> Iterator[Bus]:
    if request.param == "inprocess":
        backend: Bus = InProcessBus()
    else:
        from shared.adapters.bus_pubsub import PubSubBus

        request.getfixturevalue("emulator_env")
        backend = PubSubBus(project=f"batch-{uuid.uuid4().hex[:10]}")
        backend.ensure_topics("orders")
    yield backend
    backend.close()


def test_each_message_of_a_batch_has_its_own_outcome(bus: Bus):
    """On every bus: a message that fails is redelivered, one that asks to wait comes back,
    and the others are delivered once."""
    batches = Batches({"fails": [ValueError("bad luck")], "waits": [RetryLater("not yet")]})
    bus.subscribe_batch("orders", batches)
    for name in ("ok-1", "fails", "waits", "ok-2"):
        bus.publish("orders", {"name": name})
    batches.inbox.wait_for(6)
    assert {name: batches.deliveries(name) for name in ("ok-1", "fails", "waits", "ok-2")} == {
        "ok-1": 1, "fails": 2, "waits": 2, "ok-2": 1}
