"""The authenticated read API the dashboards are built on: who am I, signals with filters,
the working-order blotter with cancel, and positions with P&L.

The dashboards read only through this API and the registry's, with the viewer's own key,
so who may see what is decided here, once, for the pages and for every other client alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import flask

from shared.auth.api_keys import Principal
from shared.bootstrap import Services
from shared.dashboards.fund_views import IN_FLIGHT, SignalFilter, positions_book, signal_list, working_orders
from shared.domain.errors import RequestRejected
from shared.domain.models import SIGNAL_STATUSES
from shared.registry_api import authenticated_routes, require_admin, whole_number

JsonReply = tuple[Any, int]
MAX_LISTED = 500


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


def fund_blueprint(services: Services) -> flask.Blueprint:
    api = flask.Blueprint("fund", __name__)
    route = authenticated_routes(api, services)

    @route("/api/me", ["GET"])
    def me(who: Principal) -> JsonReply:
        """Whose key this is: the dashboards log in and re-check revocation with it."""
        return {"subject": who.subject, "role": who.role, "key_id": who.key_id}, 200

    @route("/api/signals", ["GET"])
    def signals(who: Principal) -> JsonReply:
        """Newest first. An admin sees every strategy's signals; a developer only their own
        strategies', as counts over accounts (no account or client is named in a row)."""
        if who.role not in ("admin", "developer"):
            raise RequestRejected("authorization", "signals are for admins and strategy developers", 403,
                                  "forbidden")
        visible = None if who.role == "admin" else {s.strategy_id for s in services.registry.list(who)}
        asked = [s for s in flask.request.args.getlist("strategy_id") if s]
        if asked and visible is not None and not set(asked) <= visible:
            unknown = sorted(set(asked) - visible)[0]
            raise RequestRejected("strategy_id", f"no strategy {unknown!r}", 404, "not_found")
        status = flask.request.args.get("status", "").strip() or None
        if status is not None and status not in (IN_FLIGHT, *SIGNAL_STATUSES):
            raise RequestRejected("status", f"must be one of {', '.join((IN_FLIGHT, *SIGNAL_STATUSES))}")
        wanted = SignalFilter(strategy_ids=set(asked) if asked else visible, status=status,
                              symbol=flask.request.args.get("symbol", "")[:30], since=moment("since"),
                              until=moment("until"), limit=whole_number("limit", 100, MAX_LISTED),
                              for_developer=who.role != "admin")
        return signal_list(services.store, wanted), 200

    @route("/api/orders", ["GET"], admin=True)
    def orders(who: Principal) -> JsonReply:
        """The blotter: every order not yet final, at any broker, oldest first."""
        require_admin(who)
        return {"orders": working_orders(services.store)}, 200

    @route("/api/orders/<client_order_id>/cancel", ["POST"], admin=True)
    def cancel_order(who: Principal, client_order_id: str) -> JsonReply:
        return services.admin.cancel_order(client_order_id, who), 202

    @route("/api/positions", ["GET"], admin=True)
    def positions(who: Principal) -> JsonReply:
        """Open positions per account and strategy, and P&L per account and per strategy."""
        require_admin(who)
        return positions_book(services.store), 200

    return api
