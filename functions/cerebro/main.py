"""Pub/Sub function: size standardized signals per account and decide."""

import functions_framework
from cloudevents.http import CloudEvent

from shared.entrypoints.pubsub import serve


@functions_framework.cloud_event
def cerebro(event: CloudEvent) -> None:
    serve("cerebro", event)
