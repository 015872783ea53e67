"""Pub/Sub function: keep the per-client and per-strategy dashboard documents current
(on each execution confirmation, and on Cloud Scheduler's refresh tick)."""

import functions_framework
from cloudevents.http import CloudEvent

from shared.entrypoints.pubsub import serve


@functions_framework.cloud_event
def dashboard_creator(event: CloudEvent) -> None:
    serve("dashboard_creator", event)
