"""The precomputed dashboard documents: a client's, a strategy's, and the system's health."""

from __future__ import annotations

import flask

from shared.auth.api_keys import Principal
from shared.bootstrap import Services
from shared.dashboards.documents import admin_health
from shared.domain.errors import Refusal, RequestRejected
from shared.entrypoints.http import JsonReply, Router


def register(app: flask.Flask, services: Services) -> None:
    api = Router("dashboards", services)

    @api.route("/api/dashboards/clients/<client_id>", ["GET"])
    def client_dashboard(who: Principal, client_id: str) -> JsonReply:
        """A client's precomputed dashboard: the client themself or an admin."""
        if who.role != "admin" and not (who.role == "client" and who.subject == client_id):
            raise RequestRejected("client_id", f"no dashboard for client {client_id!r}", Refusal.NOT_FOUND,
                                  "not_found")
        return services.dashboards.client(client_id), 200

    @api.route("/api/dashboards/strategies/<strategy_id>", ["GET"])
    def strategy_dashboard(who: Principal, strategy_id: str) -> JsonReply:
        """A strategy's precomputed dashboard: its developer or an admin."""
        services.registry.get(strategy_id, who)
        return services.dashboards.strategy(strategy_id), 200

    @api.route("/api/dashboards/health", ["GET"], admin=True)
    def health_dashboard(who: Principal) -> JsonReply:
        return admin_health(services.store, services.clock()), 200

    app.register_blueprint(api.blueprint)
