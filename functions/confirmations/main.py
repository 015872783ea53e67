"""Pub/Sub function: record fills and move positions."""

import functions_framework
from cloudevents.http import CloudEvent

from shared.entrypoints.pubsub import serve


@functions_framework.cloud_event
def confirmations(event: CloudEvent) -> None:
    serve("confirmations", event)
