"""HTTPS function: TradingView alerts and HTTP API signals."""

import flask
import functions_framework
from flask.typing import ResponseReturnValue

from shared.entrypoints.routes.webhook import handle_webhook
from shared.runtime import services


@functions_framework.http
def webhook(request: flask.Request) -> ResponseReturnValue:
    return handle_webhook(request, services())
