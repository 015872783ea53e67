"""The signal webhook: TradingView alerts and HTTP API JSON, authenticated by the strategy's passphrase.

Served by the ``webhook`` Cloud Function (``handle_webhook``) and the embedded stack (``register``).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import flask
from flask.typing import ResponseReturnValue

from shared.bootstrap import Services
from shared.domain.errors import Refusal, RequestRejected, retry_after_header
from shared.domain.signal_parsing import MAX_BODY_BYTES
from shared.entrypoints.http import client_address, http_status
from shared.services.refusals import HEAD_BYTES

log = logging.getLogger("shared.http_api")  # the logger name operators' log filters know

JsonReply = tuple[dict[str, Any], int]
# The webhook's answer: the JSON body, the status and its headers (Retry-After on a 429).
WebhookReply = tuple[dict[str, Any], int, dict[str, str]]


def register(app: flask.Flask, services: Services) -> None:
    @app.post("/webhook")
    def webhook() -> ResponseReturnValue:
        return handle_webhook(flask.request, services)


def handle_webhook(request: flask.Request, services: Services) -> WebhookReply | flask.Response:
    """A refusal is answered as a streamed response: functions-framework reads the whole request
    after any other answer (its read_request hook), so a huge body would be read in full before
    its 413 left; streamed, the body stays unread, as on the embedded server."""
    body, status, headers = _webhook_answer(request, services)
    if status >= 400:
        return flask.Response(iter([json.dumps(body)]), status=status, headers=headers, mimetype="application/json")
    return body, status, headers


def _webhook_answer(request: flask.Request, services: Services) -> WebhookReply:
    if request.method != "POST":
        return {"error": "method_not_allowed", "field": "method", "reason": "send signals with POST"}, 405, {}
    source_ip = client_address(request, services.settings.trusted_proxy_hops)
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return (*refused(services, request, RequestRejected("body", f"larger than {MAX_BODY_BYTES} bytes",
                                                            Refusal.TOO_LARGE, "too_large"), source_ip, "webhook"), {})
    allowlist = services.settings.webhook_ip_allowlist
    if allowlist and source_ip not in allowlist:
        log.warning("webhook refused from %s: not in WEBHOOK_IP_ALLOWLIST", source_ip)
        return (*refused(services, request, RequestRejected(
            "source_ip", f"{source_ip or 'unknown'} is not an allowed sender", Refusal.FORBIDDEN, "forbidden_source"),
            source_ip, "webhook"), {})
    body = request.stream.read(MAX_BODY_BYTES + 1)
    result = services.ingest.ingest(body, request.content_type or "", request.args.to_dict(), source_ip)
    return result.body, result.status, retry_after_header(result.retry_after)


def refused(services: Services, request: flask.Request, rejection: RequestRejected, source: str,
            channel: str) -> JsonReply:
    """A refusal decided before ingest reads the body: recorded in the audit trail like
    ingest's own, from the body's first bytes only."""
    services.ingest.refusals.record(rejection, body=request.stream.read(HEAD_BYTES), query=request.args.to_dict(),
                                    source=source, channel=channel, content_type=request.content_type or "",
                                    body_bytes=request.content_length)
    return rejection.as_json(), http_status(rejection)
