"""Pub/Sub function: fills, rejections, alerts and dead letters to Telegram."""

import functions_framework
from cloudevents.http import CloudEvent

from shared.http_api import decode_pubsub_event
from shared.runtime import services


@functions_framework.cloud_event
def notifier(event: CloudEvent) -> None:
    services().notifier.handle(event["id"], decode_pubsub_event(event.data))
