"""Pub/Sub function: record fills and move positions."""

import functions_framework
from cloudevents.http import CloudEvent

from shared.domain.models import Topics
from shared.http_api import run_handler
from shared.runtime import services


@functions_framework.cloud_event
def confirmations(event: CloudEvent) -> None:
    app = services()
    run_handler(app, Topics.CONFIRMATIONS, event.data, app.on_confirmation)
