"""The blotter: every working order, and cancelling one (admin)."""

from __future__ import annotations

import flask

from shared.auth.api_keys import Principal
from shared.bootstrap import Services
from shared.dashboards.fund_views import working_orders
from shared.entrypoints.http import JsonReply, Router


def register(app: flask.Flask, services: Services) -> None:
    api = Router("orders", services)

    @api.route("/api/orders", ["GET"], admin=True)
    def orders(who: Principal) -> JsonReply:
        """The blotter: every order not yet final, at any broker, oldest first."""
        return {"orders": working_orders(services.store)}, 200

    @api.route("/api/orders/<client_order_id>/cancel", ["POST"], admin=True)
    def cancel_order(who: Principal, client_order_id: str) -> JsonReply:
        return services.admin.cancel_order(client_order_id, who), 202

    app.register_blueprint(api.blueprint)
