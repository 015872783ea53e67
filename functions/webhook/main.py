"""HTTPS function: TradingView alerts and HTTP API signals."""

import flask
import functions_framework

from shared.http_api import handle_webhook
from shared.runtime import services


@functions_framework.http
def webhook(request: flask.Request) -> tuple[dict, int]:
    return handle_webhook(request, services())
