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
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, replace
from typing import Any

from shared.domain.models import Topics
from shared.ports.bus import RETRY_LATER_LIMIT_SECONDS, Bus, Handler, Message, RetryLater, dead_letter

log = logging.getLogger(__name__)
MAX_WAIT_SECONDS = 0.5  # the longest pause between two deliveries of a waiting message
# Lower goes first; every other topic (notifications, dead letters, the bridge's) sits between.
STAGE_PRIORITY = {Topics.CONFIRMATIONS.value: 0, Topics.ORDERS.value: 1, Topics.SIGNALS.value: 3}


@dataclass(frozen=True)
class _Subscription:
    topic: str
    handler: Handler
    max_attempts: int


@dataclass(frozen=True)
class _Delivery:
    subscription: _Subscription
    message: Message
    head: bool = False  # the retried message its key's later messages are parked behind


class InProcessBus(Bus):
    def __init__(self, retry_backoff_seconds: float = 0.05):
        self.retry_backoff_seconds = retry_backoff_seconds
        self._subscriptions: dict[str, list[_Subscription]] = {}
        self._queue: queue.PriorityQueue[tuple[int, int, _Delivery | None]] = queue.PriorityQueue()
        self._sequence = itertools.count()  # FIFO within a stage
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
        self._subscriptions.setdefault(topic, []).append(_Subscription(topic, handler, max_attempts))
        if self._dispatcher is None:
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
            self._queue.put((-1, next(self._sequence), None))
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
        while True:
            try:
                lost += self._queue.get_nowait()[2] is not None
            except queue.Empty:
                break
        self.close()
        return lost

    def _enqueue(self, delivery: _Delivery) -> None:
        with self._idle:
            self._pending += 1
        self._put(delivery)

    def _put(self, delivery: _Delivery) -> None:
        self._queue.put((STAGE_PRIORITY.get(delivery.message.topic, 2), next(self._sequence), delivery))

    def _done(self) -> None:
        with self._idle:
            self._pending -= 1
            if not self._pending:
                self._idle.notify_all()

    def _dispatch(self) -> None:
        while (delivery := self._queue.get()[2]) is not None:
            if self._abandoned:
                continue
            parking = self._parking(delivery)
            if parking is not None and not delivery.head:
                parking.append(delivery)  # still pending: it runs when its head is done
                continue
            self._deliver(delivery)

    def _parking(self, delivery: _Delivery) -> deque[_Delivery] | None:
        key = delivery.message.ordering_key
        return self._parked.get((id(delivery.subscription), key)) if key else None

    def _deliver(self, delivery: _Delivery) -> None:
        subscription, message = delivery.subscription, delivery.message
        try:
            subscription.handler(message)
            self._waits.pop(message.message_id, None)
            self._release(delivery)
        except RetryLater as wait:
            self._retry_later(delivery, wait)
        except Exception as error:  # noqa: BLE001 - any failure means redeliver
            self._retry_or_dead_letter(delivery, error)
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
