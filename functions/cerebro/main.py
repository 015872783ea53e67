"""Pub/Sub function: size standardized signals per account and decide."""

import functions_framework
from cloudevents.http import CloudEvent

from shared.domain.models import Topics
from shared.http_api import run_handler
from shared.runtime import services


@functions_framework.cloud_event
def cerebro(event: CloudEvent) -> None:
    app = services()
    run_handler(app, Topics.SIGNALS, event.data, app.on_signal)
