"""In-process bus: the embedded default.

One dispatcher thread delivers every topic's messages in publish order. Under the GIL, a
thread per subscription buys no parallelism, only contention: each hand-off between threads
can wait out Python's switch interval. Delivery is at-least-once with Pub/Sub's rules: a
handler that raises gets the message again (after a short backoff) until ``max_attempts``,
then it goes to the topic's dead-letter topic. A handler that raises ``RetryLater`` is
waiting on other work, not failing: it gets the message again after a growing wait.

Ordering keys behave as Pub/Sub's: while a message is being retried, later messages with
its key wait behind it (parked), and follow it in order once it is done.

Later stages go first: a confirmation before an order, an order before a new signal. Work
already started finishes before new work starts, so the next signal of a book usually finds
the previous one's fills already booked (on Pub/Sub each stage has its own subscribers).

A batch subscription (``subscribe_batch``) gets every message of its topic waiting at once,
at most one per ordering key, in one call: at a bar close execution places and records a
signal's whole fan-out in a few store transactions instead of several per order. Each
message still succeeds, waits or fails on its own.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, replace
from typing import Any

from shared.domain.models import Topics
from shared.ports.bus import (
    RETRY_LATER_LIMIT_SECONDS,
    BatchHandler,
    Bus,
    Handler,
    Message,
    RetryLater,
    dead_letter,
    one_at_a_time,
)

log = logging.getLogger(__name__)
MAX_WAIT_SECONDS = 0.5  # the longest pause between two deliveries of a waiting message
# Lower goes first; every other topic (notifications, dead letters, the bridge's) sits between.
STAGE_PRIORITY = {Topics.CONFIRMATIONS.value: 0, Topics.ORDERS.value: 1, Topics.SIGNALS.value: 3}
OTHER_PRIORITY = 2
MAX_BATCH = 500  # messages handed to a batch subscription at once


@dataclass(frozen=True)
class _Subscription:
    topic: str
    handler: Handler
    max_attempts: int
    batch: BatchHandler | None = None  # takes every waiting message at once


@dataclass(frozen=True)
class _Delivery:
    subscription: _Subscription
    message: Message
    head: bool = False  # the retried message its key's later messages are parked behind


class InProcessBus(Bus):
    def __init__(self, retry_backoff_seconds: float = 0.05):
        self.retry_backoff_seconds = retry_backoff_seconds
        self._subscriptions: dict[str, list[_Subscription]] = {}
        # One FIFO lane per stage priority; the dispatcher serves the lowest non-empty lane.
        self._lanes: dict[int, deque[_Delivery]] = {p: deque() for p in (*STAGE_PRIORITY.values(), OTHER_PRIORITY)}
        self._ready = threading.Condition()
        self._closing = False
        self._pending = 0
        self._idle = threading.Condition()
        self._dispatcher: threading.Thread | None = None
        self._abandoned = False
        self._waits: dict[str, tuple[float, int]] = {}  # message id -> (first wait, waits so far)
        self._parked: dict[tuple[int, str], deque[_Delivery]] = {}  # (subscription, key) -> behind its head
        self.published: dict[str, int] = {}

    def publish(self, topic: str, data: dict[str, Any], attributes: dict[str, str] | None = None,
                ordering_key: str | None = None) -> str:
        message = Message(uuid.uuid4().hex, topic, data, dict(attributes or {}), ordering_key=ordering_key or "")
        self.published[topic] = self.published.get(topic, 0) + 1
        for subscription in self._subscriptions.get(topic, []):
            self._enqueue(_Delivery(subscription, message))
        return message.message_id

    def subscribe(self, topic: str, handler: Handler, max_attempts: int = 5) -> None:
        self._add(_Subscription(topic, handler, max_attempts))

    def subscribe_batch(self, topic: str, handler: BatchHandler, max_attempts: int = 5) -> None:
        self._add(_Subscription(topic, one_at_a_time(handler), max_attempts, batch=handler))

    def _add(self, subscription: _Subscription) -> None:
        self._subscriptions.setdefault(subscription.topic, []).append(subscription)
        if self._dispatcher is None:
            self._closing = False
            self._dispatcher = threading.Thread(target=self._dispatch, name="bus-dispatcher", daemon=True)
            self._dispatcher.start()

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every delivered message (and its consequences) has been handled."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def close(self) -> None:
        if self._dispatcher is not None:
            with self._ready:
                self._closing = True
                self._ready.notify()
            self._dispatcher.join(timeout=5)
            self._dispatcher = None
        self._subscriptions.clear()

    def abandon(self) -> int:
        """Stop as a crashed process would: queued, parked and retrying messages are lost (the
        store survives; `PipelineRecovery` picks up from it). Returns how many were lost."""
        self._abandoned = True
        self._subscriptions.clear()
        lost = sum(len(parked) for parked in self._parked.values())
        self._parked.clear()
        with self._ready:
            lost += sum(len(lane) for lane in self._lanes.values())
            for lane in self._lanes.values():
                lane.clear()
        self.close()
        return lost

    def _enqueue(self, delivery: _Delivery) -> None:
        with self._idle:
            self._pending += 1
        self._put(delivery)

    def _put(self, delivery: _Delivery) -> None:
        with self._ready:
            self._lanes[STAGE_PRIORITY.get(delivery.message.topic, OTHER_PRIORITY)].append(delivery)
            self._ready.notify()

    def _done(self) -> None:
        with self._idle:
            self._pending -= 1
            if not self._pending:
                self._idle.notify_all()

    def _dispatch(self) -> None:
        while (taken := self._take()) is not None:
            if self._abandoned:
                continue
            runnable: dict[int, list[_Delivery]] = {}  # per subscription, in arrival order
            for delivery in taken:
                parking = self._parking(delivery)
                if parking is not None and not delivery.head:
                    parking.append(delivery)  # still pending: it runs when its head is done
                else:
                    runnable.setdefault(id(delivery.subscription), []).append(delivery)
            for deliveries in runnable.values():
                if deliveries[0].subscription.batch is not None and len(deliveries) > 1:
                    self._deliver_batch(deliveries)
                else:
                    for delivery in deliveries:
                        self._deliver(delivery)

    def _take(self) -> list[_Delivery] | None:
        """The next lane's first delivery and, for batch subscriptions, the rest of that lane's
        deliveries of the same subscription, at most one per ordering key (a second one of a
        key waits for the next round, behind the first); None once closed."""
        with self._ready:
            while not self._closing and not any(self._lanes.values()):
                self._ready.wait()
            if self._closing:
                return None
            lane = next(lane for _, lane in sorted(self._lanes.items()) if lane)
            first = lane.popleft()
            if first.subscription.batch is None:
                return [first]
            taken, kept, keys = [first], deque[_Delivery](), {first.message.ordering_key}
            while lane and len(taken) < MAX_BATCH:
                delivery = lane.popleft()
                key = delivery.message.ordering_key
                if delivery.subscription is first.subscription and (not key or key not in keys):
                    taken.append(delivery)
                    keys.add(key)
                else:
                    kept.append(delivery)
            lane.extendleft(reversed(kept))
            return taken

    def _parking(self, delivery: _Delivery) -> deque[_Delivery] | None:
        key = delivery.message.ordering_key
        return self._parked.get((id(delivery.subscription), key)) if key else None

    def _deliver(self, delivery: _Delivery) -> None:
        try:
            delivery.subscription.handler(delivery.message)
        except Exception as error:  # noqa: BLE001 - any failure means redeliver
            self._outcome(delivery, error)
        else:
            self._outcome(delivery, None)

    def _deliver_batch(self, deliveries: list[_Delivery]) -> None:
        batch = deliveries[0].subscription.batch
        assert batch is not None
        try:
            outcomes = batch([delivery.message for delivery in deliveries])
        except Exception as error:  # noqa: BLE001 - the whole batch failed: each is redelivered
            outcomes = [error] * len(deliveries)
        for delivery, outcome in zip(deliveries, outcomes, strict=True):
            self._outcome(delivery, outcome)

    def _outcome(self, delivery: _Delivery, outcome: Exception | None) -> None:
        """A delivery's outcome: done, wait (RetryLater), or redeliver / dead-letter."""
        try:
            if outcome is None:
                self._waits.pop(delivery.message.message_id, None)
                self._release(delivery)
            elif isinstance(outcome, RetryLater):
                self._retry_later(delivery, outcome)
            else:
                self._retry_or_dead_letter(delivery, outcome)
        finally:
            self._done()

    def _hold_key(self, delivery: _Delivery) -> _Delivery:
        """The message will be retried: its key's later messages wait behind it."""
        key = delivery.message.ordering_key
        if key:
            self._parked.setdefault((id(delivery.subscription), key), deque())
        return replace(delivery, head=bool(key))

    def _release(self, delivery: _Delivery) -> None:
        """Done with a head (handled or dead-lettered): its parked followers go next, in order."""
        key = delivery.message.ordering_key
        if not key or not delivery.head:
            return
        parked = self._parked.pop((id(delivery.subscription), key), deque())
        for follower in parked:
            with self._idle:
                self._pending -= 1  # re-counted by _enqueue
            self._enqueue(follower)

    def _retry_or_dead_letter(self, delivery: _Delivery, error: Exception) -> None:
        subscription, message = delivery.subscription, delivery.message
        if message.delivery_attempt >= subscription.max_attempts:
            log.error("dead-lettering %s on %s after %d attempts: %s",
                      message.message_id, subscription.topic, message.delivery_attempt, error)
            self.publish(
                f"{subscription.topic}-dead-letter",
                dead_letter(subscription.topic, str(error), message.data),
                {**message.attributes, "error": str(error)[:500], "source_message_id": message.message_id},
            )
            self._release(delivery)
            return
        log.warning("redelivering %s on %s (attempt %d): %s",
                    message.message_id, subscription.topic, message.delivery_attempt, error)
        retry = self._hold_key(replace(delivery, message=replace(message,
                                                                 delivery_attempt=message.delivery_attempt + 1)))
        self._later(retry, self.retry_backoff_seconds * message.delivery_attempt)

    def _retry_later(self, delivery: _Delivery, wait: RetryLater) -> None:
        """Not a failure: deliver again after a wait that doubles up to MAX_WAIT_SECONDS, without
        using up an attempt, until the message has waited RETRY_LATER_LIMIT_SECONDS."""
        message = delivery.message
        first, waits = self._waits.get(message.message_id, (time.monotonic(), 0))
        if time.monotonic() - first > RETRY_LATER_LIMIT_SECONDS:
            self._waits.pop(message.message_id, None)
            self._retry_or_dead_letter(delivery, wait)
            return
        self._waits[message.message_id] = (first, waits + 1)
        self._later(self._hold_key(delivery), min(wait.after_seconds * 2 ** waits, MAX_WAIT_SECONDS))

    def _later(self, delivery: _Delivery, delay: float) -> None:
        with self._idle:
            self._pending += 1  # counted now, so drain() waits for the retry
        timer = threading.Timer(delay, self._put, args=(delivery,))
        timer.daemon = True
        timer.start()

