"""Pub/Sub function: keep the per-client and per-strategy dashboard documents current
(on each execution confirmation, and on Cloud Scheduler's refresh tick)."""

import logging

import functions_framework
from cloudevents.http import CloudEvent

from shared.http_api import PoisonMessage, decode_pubsub_event
from shared.runtime import services


@functions_framework.cloud_event
def dashboard_creator(event: CloudEvent) -> None:
    try:
        data = decode_pubsub_event(event.data)
    except PoisonMessage as error:  # derived data: the next scheduled refresh covers it
        logging.getLogger(__name__).error("dashboard creator dropped message %s: %s", event["id"], error)
        return
    services().dashboards.handle(data)
