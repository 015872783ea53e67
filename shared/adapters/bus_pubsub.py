"""Google Cloud Pub/Sub bus. The emulator is found through PUBSUB_EMULATOR_HOST.

In GCP the subscriptions that drive the functions are push subscriptions that
Terraform owns; ``subscribe`` here is a streaming-pull worker used by the
conformance tests and by long-running processes such as the IBKR bridge.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from typing import Any

from google.api_core.exceptions import AlreadyExists, PermissionDenied
from google.cloud import pubsub_v1
from google.cloud.pubsub_v1.types import BatchSettings, PublisherOptions

from shared.ports.bus import RETRY_LATER_LIMIT_SECONDS, Bus, Handler, Message, RetryLater, dead_letter

log = logging.getLogger(__name__)


class PubSubBus(Bus):
    def __init__(self, project: str, subscriber_name: str = "worker"):
        self._project = project
        self._subscriber_name = subscriber_name
        # One message per batch, sent at once: latency matters more than throughput here.
        # Ordering keys keep one book's signals and one account's orders in sequence.
        self._publisher = pubsub_v1.PublisherClient(
            batch_settings=BatchSettings(max_messages=1, max_latency=0),
            publisher_options=PublisherOptions(enable_message_ordering=True),
        )
        self._subscriber: pubsub_v1.SubscriberClient | None = None
        self._streams: list[Any] = []
        self._attempts: dict[str, int] = {}
        self._waiting_since: dict[str, float] = {}  # message id -> when it first asked to be retried later
        self._lock = threading.Lock()

    def topic_path(self, topic: str) -> str:
        return self._publisher.topic_path(self._project, topic)

    def ensure_topics(self, *topics: str) -> None:
        """Create topics and their dead-letter topics (Terraform does this in GCP)."""
        for topic in topics:
            for name in (topic, f"{topic}-dead-letter"):
                with contextlib.suppress(AlreadyExists):
                    self._publisher.create_topic(name=self.topic_path(name))

    def publish(self, topic: str, data: dict[str, Any], attributes: dict[str, str] | None = None,
                ordering_key: str | None = None) -> str:
        payload = json.dumps(data, separators=(",", ":")).encode()
        path = self.topic_path(topic)
        future = self._publisher.publish(path, payload, ordering_key=ordering_key or "", **(attributes or {}))
        try:
            return future.result(timeout=30)
        except Exception:
            if ordering_key:  # a failed publish pauses its key until resumed; the caller retries
                self._publisher.resume_publish(path, ordering_key)
            raise

    def subscribe(self, topic: str, handler: Handler, max_attempts: int = 5) -> None:
        if self._subscriber is None:
            self._subscriber = pubsub_v1.SubscriberClient()
        subscription = self._subscriber.subscription_path(self._project, f"{topic}.{self._subscriber_name}")
        with contextlib.suppress(AlreadyExists, PermissionDenied):  # in GCP Terraform made it; workers may not
            self._subscriber.create_subscription(
                name=subscription, topic=self.topic_path(topic), ack_deadline_seconds=30
            )

        def deliver(received: Any) -> None:
            with self._lock:
                attempt = self._attempts.get(received.message_id, 0) + 1
                self._attempts[received.message_id] = attempt
            try:
                data = json.loads(received.data)
                handler(Message(received.message_id, topic, data, dict(received.attributes), attempt))
            except Exception as error:  # noqa: BLE001 - any failure means redeliver or dead-letter
                if self._may_retry(received.message_id, error, attempt, max_attempts):
                    received.nack()
                    return
                log.error("dead-lettering %s on %s: %s", received.message_id, topic, error)
                self.publish(f"{topic}-dead-letter",
                             dead_letter(topic, str(error), received.data.decode(errors="replace")),
                             {**received.attributes, "error": str(error)[:500]})
            received.ack()
            with self._lock:
                self._attempts.pop(received.message_id, None)
                self._waiting_since.pop(received.message_id, None)

        self._streams.append(self._subscriber.subscribe(subscription, callback=deliver))

    def _may_retry(self, message_id: str, error: Exception, attempt: int, max_attempts: int) -> bool:
        """A failure is retried until ``max_attempts``; waiting on other work (``RetryLater``) uses
        no attempt, until it has waited RETRY_LATER_LIMIT_SECONDS."""
        if not isinstance(error, RetryLater):
            return attempt < max_attempts
        with self._lock:
            self._attempts[message_id] = attempt - 1
            first = self._waiting_since.setdefault(message_id, time.monotonic())
        return time.monotonic() - first < RETRY_LATER_LIMIT_SECONDS

    def close(self) -> None:
        for stream in self._streams:
            stream.cancel()
        for stream in self._streams:
            # A cancelled stream ends with an error by design.
            with contextlib.suppress(Exception):
                stream.result(timeout=5)
        self._streams.clear()
        if self._subscriber is not None:
            self._subscriber.close()
        self._publisher.stop()
