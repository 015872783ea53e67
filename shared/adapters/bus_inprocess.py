"""In-process bus: the embedded default.

Each subscription has its own queue and worker thread, so a slow execution never
blocks cerebro. Delivery is at-least-once with the same rules as Pub/Sub: a
handler that raises gets the message again (with a short backoff) until
``max_attempts``, then it goes to the topic's dead-letter topic.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from dataclasses import replace
from typing import Any

from shared.ports.bus import Bus, Handler, Message

log = logging.getLogger(__name__)


class _Subscription:
    def __init__(self, bus: InProcessBus, topic: str, handler: Handler, max_attempts: int):
        self.bus = bus
        self.topic = topic
        self.handler = handler
        self.max_attempts = max_attempts
        self.queue: queue.Queue[Message | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name=f"bus-{topic}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (message := self.queue.get()) is not None:
            try:
                self.handler(message)
            except Exception as error:  # noqa: BLE001 - any failure means redeliver
                self._retry_or_dead_letter(message, error)
            finally:
                self.bus._settle()
                self.queue.task_done()
        self.queue.task_done()

    def _retry_or_dead_letter(self, message: Message, error: Exception) -> None:
        if message.delivery_attempt >= self.max_attempts:
            log.error("dead-lettering %s on %s after %d attempts: %s",
                      message.message_id, self.topic, message.delivery_attempt, error)
            self.bus.publish(
                f"{self.topic}-dead-letter",
                message.data,
                {**message.attributes, "error": str(error)[:500], "source_message_id": message.message_id},
            )
            return
        log.warning("redelivering %s on %s (attempt %d): %s",
                    message.message_id, self.topic, message.delivery_attempt, error)
        retry = replace(message, delivery_attempt=message.delivery_attempt + 1)
        self.bus._pending_add()
        delay = self.bus.retry_backoff_seconds * message.delivery_attempt
        threading.Timer(delay, self.queue.put, args=(retry,)).start()


class InProcessBus(Bus):
    def __init__(self, retry_backoff_seconds: float = 0.05):
        self.retry_backoff_seconds = retry_backoff_seconds
        self._subscriptions: dict[str, list[_Subscription]] = {}
        self._pending = 0
        self._idle = threading.Condition()
        self.published: dict[str, int] = {}

    def publish(self, topic: str, data: dict[str, Any], attributes: dict[str, str] | None = None) -> str:
        message = Message(uuid.uuid4().hex, topic, data, dict(attributes or {}))
        self.published[topic] = self.published.get(topic, 0) + 1
        for subscription in self._subscriptions.get(topic, []):
            self._pending_add()
            subscription.queue.put(message)
        return message.message_id

    def subscribe(self, topic: str, handler: Handler, max_attempts: int = 5) -> None:
        self._subscriptions.setdefault(topic, []).append(_Subscription(self, topic, handler, max_attempts))

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

    def _pending_add(self) -> None:
        with self._idle:
            self._pending += 1

    def _settle(self) -> None:
        with self._idle:
            self._pending -= 1
            if not self._pending:
                self._idle.notify_all()

    def close(self) -> None:
        for subscriptions in self._subscriptions.values():
            for subscription in subscriptions:
                subscription.queue.put(None)
        for subscriptions in self._subscriptions.values():
            for subscription in subscriptions:
                subscription.thread.join(timeout=5)
        self._subscriptions.clear()
