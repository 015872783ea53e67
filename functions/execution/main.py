"""Pub/Sub function: place each decided order at its broker, once."""

import functions_framework
from cloudevents.http import CloudEvent

from shared.domain.models import Topics
from shared.http_api import run_handler
from shared.runtime import services


@functions_framework.cloud_event
def execution(event: CloudEvent) -> None:
    app = services()
    run_handler(app, Topics.ORDERS, event.data, app.on_order)
