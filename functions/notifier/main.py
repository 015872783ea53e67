"""Pub/Sub function: fills, rejections, alerts and dead letters to Telegram."""

import functions_framework
from cloudevents.http import CloudEvent

from shared.entrypoints.pubsub import serve


@functions_framework.cloud_event
def notifier(event: CloudEvent) -> None:
    serve("notifier", event)
