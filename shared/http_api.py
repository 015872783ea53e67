"""Pub/Sub glue shared by the Pub/Sub Cloud Functions: decoding a push delivery, running its
handler, dead-lettering poison.

The HTTP code that lived here is in shared/entrypoints/ (http.py, routes/webhook.py); its
names are re-exported below for older importers.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from typing import Any

from pydantic import ValidationError

from shared.bootstrap import Services
from shared.entrypoints.http import client_address
from shared.entrypoints.routes.webhook import WebhookReply, handle_webhook, refused
from shared.ports.bus import RetryLater, dead_letter

__all__ = ["PUSH_WAIT_BUDGET_SECONDS", "PoisonMessage", "WebhookReply", "client_address", "decode_pubsub_event",
           "handle_webhook", "refused", "run_handler"]

log = logging.getLogger(__name__)


class PoisonMessage(Exception):
    """A bus message that can never be processed; retrying it would not help."""


def decode_pubsub_event(envelope: dict[str, Any]) -> dict[str, Any]:
    """The JSON payload of a Pub/Sub message, from a CloudEvent's data or a push body."""
    try:
        encoded = envelope["message"]["data"]
        return json.loads(base64.b64decode(encoded))
    except (KeyError, TypeError, ValueError, binascii.Error) as error:
        raise PoisonMessage(f"undecodable Pub/Sub message: {error}") from None


# How long a push delivery keeps waiting in the function (RetryLater) before it hands the
# message back to Pub/Sub. Every answer but a 2xx costs the message a delivery attempt, so a
# short wait here saves attempts; a long one would hold push slots other stages need.
PUSH_WAIT_BUDGET_SECONDS = 3.0


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
