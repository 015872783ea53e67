"""Pub/Sub's edge: decode a push delivery, run its function's handler, and deal with poison.

A Cloud Function's main.py hands its CloudEvent to ``serve``; the routing table says which
handler runs and what a message that can never succeed becomes (dead letter, dropped, or
redelivered until Pub/Sub's own dead-letter policy takes it).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from shared.entrypoints.routing import FUNCTIONS, OnPoison, Stack
from shared.ports.bus import Message, RetryLater, dead_letter
from shared.runtime import services

if TYPE_CHECKING:
    from cloudevents.http import CloudEvent

    from shared.bootstrap import Services

log = logging.getLogger(__name__)

# How long a push delivery keeps waiting in the function (RetryLater) before it hands the
# message back to Pub/Sub. Every answer but a 2xx costs the message a delivery attempt, so a
# short wait here saves attempts; a long one would hold push slots other stages need.
PUSH_WAIT_BUDGET_SECONDS = 3.0


class PoisonMessage(Exception):
    """A bus message that can never be processed; retrying it would not help."""


def decode_pubsub_event(envelope: dict[str, Any]) -> dict[str, Any]:
    """The JSON payload of a Pub/Sub message, from a CloudEvent's data or a push body."""
    try:
        encoded = envelope["message"]["data"]
        return json.loads(base64.b64decode(encoded))
    except (KeyError, TypeError, ValueError, binascii.Error) as error:
        raise PoisonMessage(f"undecodable Pub/Sub message: {error}") from None


def serve(function: str, event: CloudEvent) -> None:
    """One push delivery to a Pub/Sub-triggered function, handled as its route says."""
    route = FUNCTIONS[function]
    handler = route.resolve()
    topics = route.topics(Stack.CLOUD)
    topic = topics[0] if len(topics) == 1 else ""  # a push does not say its topic; one trigger does
    if route.on_poison is OnPoison.DEAD_LETTER:
        app = services()
        run_handler(app, topic, event.data,
                    lambda data: handler(app, Message(event["id"], topic, data)))
        return
    try:
        data = decode_pubsub_event(event.data)
    except PoisonMessage as error:
        if route.on_poison is OnPoison.REDELIVER:
            raise
        log.error("%s dropped message %s: %s", function.replace("_", " "), event["id"], error)
        return
    handler(services(), Message(event["id"], topic, data))


def run_handler(services: Services, topic: str, envelope: dict[str, Any], handler: Any) -> None:
    """Decode and handle one delivery. Poison goes to the dead-letter topic and is acked; work
    that waits on other work (``RetryLater``) waits here, backing off; anything else that fails
    raises, so Pub/Sub redelivers it."""
    try:
        data = decode_pubsub_event(envelope)
        deadline = time.monotonic() + PUSH_WAIT_BUDGET_SECONDS
        pause = 0.05
        while True:
            try:
                handler(data)
                return
            except RetryLater as wait:
                if time.monotonic() + pause > deadline:
                    raise
                time.sleep(max(pause, min(wait.after_seconds, 2.0)))
                pause = min(pause * 2, 2.0)
            except (ValidationError, KeyError) as error:
                raise PoisonMessage(f"invalid payload: {error}") from None
    except PoisonMessage as error:
        message = envelope.get("message", {}) if isinstance(envelope, dict) else {}
        log.error("dead-lettering message %s from %s: %s", message.get("messageId"), topic, error)
        services.bus.publish(f"{topic}-dead-letter", dead_letter(topic, str(error), envelope),
                             {"source_topic": topic, "error": str(error)[:500]})
