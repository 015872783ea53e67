"""HTTPS function: strategies, portfolio tests and allocation approval (API-key authenticated)."""

import functools

import flask
import functions_framework

from shared.entrypoints.http import create_app
from shared.runtime import services


@functools.cache
def app() -> flask.Flask:
    return create_app(services(), "strategy-registry", json_errors=True)


@functions_framework.http
def strategy_registry(request: flask.Request) -> flask.Response:
    registry = app()
    with registry.request_context(request.environ):
        return registry.full_dispatch_request()
