"""Signals: send one with an API key, list them, follow one's journey, cancel its working orders.

An admin sees every strategy's signals in full; a strategy's developer only their own
strategies', as totals over accounts (see signal_views.py), never an account or client.
"""

from __future__ import annotations

from datetime import UTC, datetime

import flask

from shared.auth.api_keys import Principal
from shared.bootstrap import Services
from shared.dashboards.documents import signal_journey
from shared.dashboards.fund_views import IN_FLIGHT, SignalFilter, signal_list
from shared.domain.errors import Refusal, RequestRejected, retry_after_header
from shared.domain.models import SIGNAL_STATUSES, Collections
from shared.domain.signal_parsing import MAX_BODY_BYTES
from shared.entrypoints.http import JsonReply, Router, whole_number
from shared.entrypoints.routes.signal_views import developer_signal_view
from shared.entrypoints.routes.webhook import refused

MAX_LISTED = 500


def register(app: flask.Flask, services: Services) -> None:
    api = Router("signals", services)

    @api.route("/api/signals", ["POST"])
    def send_signal(who: Principal) -> JsonReply:
        """The HTTP API for strategy developers: the webhook's JSON body, authenticated by
        the API key instead of a passphrase."""
        if flask.request.content_length and flask.request.content_length > MAX_BODY_BYTES:
            return refused(services, flask.request, RequestRejected("body", f"larger than {MAX_BODY_BYTES} bytes",
                                                                    Refusal.TOO_LARGE, "too_large"),
                           f"api:{who.subject}", "api")
        body = flask.request.stream.read(MAX_BODY_BYTES + 1)
        result = services.ingest.ingest_from_api(body, flask.request.content_type or "", who.role, who.subject)
        return result.body, result.status, retry_after_header(result.retry_after)

    @api.route("/api/signals", ["GET"])
    def signals(who: Principal) -> JsonReply:
        """Newest first. An admin sees every strategy's signals; a developer only their own
        strategies', as counts over accounts (no account or client is named in a row)."""
        if who.role not in ("admin", "developer"):
            raise RequestRejected("authorization", "signals are for admins and strategy developers",
                                  Refusal.FORBIDDEN, "forbidden")
        visible = None if who.role == "admin" else {s.strategy_id for s in services.registry.list(who)}
        asked = [s for s in flask.request.args.getlist("strategy_id") if s]
        if asked and visible is not None and not set(asked) <= visible:
            unknown = sorted(set(asked) - visible)[0]
            raise RequestRejected("strategy_id", f"no strategy {unknown!r}", Refusal.NOT_FOUND, "not_found")
        status = flask.request.args.get("status", "").strip() or None
        if status is not None and status not in (IN_FLIGHT, *SIGNAL_STATUSES):
            raise RequestRejected("status", f"must be one of {', '.join((IN_FLIGHT, *SIGNAL_STATUSES))}")
        wanted = SignalFilter(strategy_ids=set(asked) if asked else visible, status=status,
                              symbol=flask.request.args.get("symbol", "")[:30], since=moment("since"),
                              until=moment("until"), limit=whole_number("limit", 100, MAX_LISTED),
                              for_developer=who.role != "admin")
        return signal_list(services.store, wanted), 200

    @api.route("/api/signals/<signal_id>", ["GET"])
    def journey(who: Principal, signal_id: str) -> JsonReply:
        """An admin gets the whole journey; the strategy's developer only the signal's aggregates,
        since every decision, order and fill belongs to one client's account."""
        record = services.store.get(Collections.SIGNALS, signal_id)
        if record is not None and who.role != "admin":
            services.registry.get(record["strategy_id"], who)  # a developer sees only their own strategies' signals
        found = signal_journey(services.store, signal_id)
        if found is None:
            raise RequestRejected("signal_id", f"no signal {signal_id!r}", Refusal.NOT_FOUND, "not_found")
        return (found if who.role == "admin" else developer_signal_view(found)), 200

    @api.route("/api/signals/<signal_id>/cancel", ["POST"])
    def cancel_signal(who: Principal, signal_id: str) -> JsonReply:
        return services.admin.cancel_signal_orders(signal_id, who), 202

    app.register_blueprint(api.blueprint)


def moment(name: str) -> str | None:
    """An ISO 8601 time from the query string, with its zone (a bare date or a naive time is
    ambiguous across the fund's timezones), as the store writes times: UTC ISO."""
    raw = flask.request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise RequestRejected(name, "must be an ISO 8601 time, e.g. 2026-11-27T09:30:00+00:00") from None
    if parsed.tzinfo is None:
        raise RequestRejected(name, "must name its timezone, e.g. +00:00 or Z")
    return parsed.astimezone(UTC).isoformat()
