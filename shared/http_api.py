"""Flask glue shared by the webhook Cloud Function and the embedded server."""

from __future__ import annotations

import json
import logging
from typing import Any

import flask

from shared.bootstrap import Services
from shared.dashboards.documents import signal_journey
from shared.domain.errors import RequestRejected, retry_after_header
from shared.domain.signal_parsing import MAX_BODY_BYTES
from shared.services.refusals import HEAD_BYTES

log = logging.getLogger(__name__)

JsonReply = tuple[dict[str, Any], int]
# The webhook's answer: the JSON body, the status and its headers (Retry-After on a 429).
WebhookReply = tuple[dict[str, Any], int, dict[str, str]]


def _error(status: int, code: str, field: str, reason: str) -> JsonReply:
    return {"error": code, "field": field, "reason": reason}, status


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
        return (*_error(405, "method_not_allowed", "method", "send signals with POST"), {})
    source_ip = client_address(request, services.settings.trusted_proxy_hops)
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return (*refused(services, request, RequestRejected("body", f"larger than {MAX_BODY_BYTES} bytes", 413,
                                                            "too_large"), source_ip, "webhook"), {})
    allowlist = services.settings.webhook_ip_allowlist
    if allowlist and source_ip not in allowlist:
        log.warning("webhook refused from %s: not in WEBHOOK_IP_ALLOWLIST", source_ip)
        return (*refused(services, request, RequestRejected(
            "source_ip", f"{source_ip or 'unknown'} is not an allowed sender", 403, "forbidden_source"),
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
    return rejection.as_json(), rejection.status


def client_address(request: flask.Request, trusted_proxy_hops: int) -> str:
    """The sender's address, as far as we can trust it (TRUSTED_PROXY_HOPS).

    Each proxy appends the address that connected to it to X-Forwarded-For, so behind n
    proxies of ours the n-th entry from the right is the client; anything to its left was
    written by the client and proves nothing. With 0 (a server reached directly) the header
    is the client's own words and is ignored: the socket's address is used. A header with
    fewer entries than hops did not come through all of them: the leftmost is the best we have.
    """
    if trusted_proxy_hops <= 0:
        return request.remote_addr or ""
    entries = [entry.strip() for entry in request.headers.get("X-Forwarded-For", "").split(",") if entry.strip()]
    if not entries:
        return request.remote_addr or ""
    return entries[-min(trusted_proxy_hops, len(entries))]


def signal_journey_reply(services: Services, signal_id: str) -> JsonReply:
    journey = signal_journey(services.store, signal_id)
    if journey is None:
        return _error(404, "not_found", "signal_id", f"no signal {signal_id!r}")
    return journey, 200
