"""The Bus port: publish to a topic; subscribers get at-least-once delivery.

Handlers must be idempotent: every adapter may deliver a message more than once.
A handler that raises asks for redelivery; after ``max_attempts`` the message
goes to the topic's dead-letter topic.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Message:
    message_id: str
    topic: str
    data: dict[str, Any]
    attributes: dict[str, str] = field(default_factory=dict)
    delivery_attempt: int = 1
    ordering_key: str = ""


Handler = Callable[[Message], None]
# Handles several messages at once; answers each one's outcome in order: None when it was
# handled, else the exception it would have raised (a RetryLater to wait, anything else to
# have it redelivered).
BatchHandler = Callable[[list[Message]], list[Exception | None]]


def one_at_a_time(batch: BatchHandler) -> Handler:
    """A batch handler as a one-message handler: it raises what the batch answered."""

    def handle(message: Message) -> None:
        if (outcome := batch([message])[0]) is not None:
            raise outcome

    return handle


class RetryLater(Exception):
    """Not yet: deliver this message again after ``after_seconds``.

    For work that waits on other work (a claim another delivery holds, an earlier signal of
    the same book still in flight). Unlike a failure it does not use up delivery attempts on
    the in-process bus, which keeps asking until ``RETRY_LATER_LIMIT_SECONDS`` have passed;
    Pub/Sub redelivers it with the subscription's backoff.
    """

    def __init__(self, reason: str, after_seconds: float = 0.5):
        super().__init__(reason)
        self.after_seconds = after_seconds


# How long a message may keep asking to be retried later before it is treated as poison.
RETRY_LATER_LIMIT_SECONDS = 900.0


def dead_letter(source_topic: str, error: str, payload: object) -> dict[str, Any]:
    """The one shape of a dead letter, whichever bus or handler gave up on the message."""
    return {"dead_letter": {"source_topic": source_topic, "error": error[:1000], "payload": payload}}


class Bus(ABC):
    @abstractmethod
    def publish(self, topic: str, data: dict[str, Any], attributes: dict[str, str] | None = None,
                ordering_key: str | None = None) -> str:
        """Publish and wait until the bus has accepted it; returns the message id.

        Messages with the same ``ordering_key`` are delivered in publish order, and a later one
        waits while an earlier one is being retried (one book's signals, one account's orders)."""

    @abstractmethod
    def subscribe(self, topic: str, handler: Handler, max_attempts: int = 5) -> None:
        """Deliver the topic's messages to ``handler``."""

    def subscribe_batch(self, topic: str, handler: BatchHandler, max_attempts: int = 5) -> None:
        """Deliver the topic's messages to ``handler``, several at once where the bus can
        (the in-process bus); this default delivers them one at a time."""
        self.subscribe(topic, one_at_a_time(handler), max_attempts)

    def close(self) -> None:  # noqa: B027 - optional for buses with workers
        """Stop delivering and release resources."""
