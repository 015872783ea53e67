"""Pub/Sub function: place each decided order at its broker, once."""

import functions_framework
from cloudevents.http import CloudEvent

from shared.entrypoints.pubsub import serve


@functions_framework.cloud_event
def execution(event: CloudEvent) -> None:
    serve("execution", event)
