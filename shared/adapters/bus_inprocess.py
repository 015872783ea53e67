"""In-process bus: the embedded default.

One dispatcher thread delivers every topic's messages in publish order. Under
the GIL, a thread per subscription buys no parallelism, only contention: each
hand-off between threads can wait out Python's switch interval. Delivery is
at-least-once with Pub/Sub's rules: a handler that raises gets the message again
(after a short backoff) until ``max_attempts``, then it goes to the topic's
dead-letter topic. A handler that raises ``RetryLater`` is waiting on other work, not
failing: it gets the message again after the wait it asked for.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

from shared.ports.bus import RETRY_LATER_LIMIT_SECONDS, Bus, Handler, Message, RetryLater, dead_letter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Subscription:
    topic: str
    handler: Handler
    max_attempts: int


class InProcessBus(Bus):
    def __init__(self, retry_backoff_seconds: float = 0.05):
        self.retry_backoff_seconds = retry_backoff_seconds
        self._subscriptions: dict[str, list[_Subscription]] = {}
        self._queue: queue.SimpleQueue[tuple[_Subscription, Message] | None] = queue.SimpleQueue()
        self._pending = 0
        self._idle = threading.Condition()
        self._dispatcher: threading.Thread | None = None
        self._abandoned = False
        self._waiting_since: dict[str, float] = {}  # message id -> when it first asked to be retried later
        self.published: dict[str, int] = {}

    def publish(self, topic: str, data: dict[str, Any], attributes: dict[str, str] | None = None,
                ordering_key: str | None = None) -> str:
        """One dispatcher delivers in publish order; a message that waits (``RetryLater``) is
        re-queued, and the handlers themselves keep a book's order (cerebro waits for the
        book's earlier signals), so ``ordering_key`` needs nothing more here."""
        message = Message(uuid.uuid4().hex, topic, data, dict(attributes or {}))
        self.published[topic] = self.published.get(topic, 0) + 1
        for subscription in self._subscriptions.get(topic, []):
            self._enqueue(subscription, message)
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
            self._queue.put(None)
            self._dispatcher.join(timeout=5)
            self._dispatcher = None
        self._subscriptions.clear()

    def abandon(self) -> int:
        """Stop as a crashed process would: queued and retrying messages are lost (the
        store survives; `PipelineRecovery` picks up from it). Returns how many were lost."""
        self._abandoned = True
        self._subscriptions.clear()
        lost = 0
        while True:
            try:
                lost += self._queue.get_nowait() is not None
            except queue.Empty:
                break
        self.close()
        return lost

    def _enqueue(self, subscription: _Subscription, message: Message) -> None:
        with self._idle:
            self._pending += 1
        self._queue.put((subscription, message))

    def _dispatch(self) -> None:
        while (item := self._queue.get()) is not None:
            subscription, message = item
            if self._abandoned:
                continue
            try:
                subscription.handler(message)
                self._waiting_since.pop(message.message_id, None)
            except RetryLater as wait:
                self._retry_later(subscription, message, wait)
            except Exception as error:  # noqa: BLE001 - any failure means redeliver
                self._retry_or_dead_letter(subscription, message, error)
            finally:
                with self._idle:
                    self._pending -= 1
                    if not self._pending:
                        self._idle.notify_all()

    def _retry_or_dead_letter(self, subscription: _Subscription, message: Message, error: Exception) -> None:
        if message.delivery_attempt >= subscription.max_attempts:
            log.error("dead-lettering %s on %s after %d attempts: %s",
                      message.message_id, subscription.topic, message.delivery_attempt, error)
            self.publish(
                f"{subscription.topic}-dead-letter",
                dead_letter(subscription.topic, str(error), message.data),
                {**message.attributes, "error": str(error)[:500], "source_message_id": message.message_id},
            )
            return
        log.warning("redelivering %s on %s (attempt %d): %s",
                    message.message_id, subscription.topic, message.delivery_attempt, error)
        retry = replace(message, delivery_attempt=message.delivery_attempt + 1)
        with self._idle:
            self._pending += 1  # counted now, so drain() waits for the retry
        delay = self.retry_backoff_seconds * message.delivery_attempt
        timer = threading.Timer(delay, self._redeliver, args=(subscription, retry))
        timer.daemon = True
        timer.start()

    def _retry_later(self, subscription: _Subscription, message: Message, wait: RetryLater) -> None:
        """Not a failure: deliver again after the wait, without using up an attempt, until the
        message has waited RETRY_LATER_LIMIT_SECONDS (then it counts as failing)."""
        first = self._waiting_since.setdefault(message.message_id, time.monotonic())
        if time.monotonic() - first > RETRY_LATER_LIMIT_SECONDS:
            self._waiting_since.pop(message.message_id, None)
            self._retry_or_dead_letter(subscription, message, wait)
            return
        with self._idle:
            self._pending += 1
        timer = threading.Timer(wait.after_seconds, self._redeliver, args=(subscription, message))
        timer.daemon = True
        timer.start()

    def _redeliver(self, subscription: _Subscription, message: Message) -> None:
        self._queue.put((subscription, message))
