"""The allocation in force, any pending one, and every approved version (admin)."""

from __future__ import annotations

import flask

from shared.auth.api_keys import Principal
from shared.bootstrap import Services
from shared.entrypoints.http import JsonReply, Router


def register(app: flask.Flask, services: Services) -> None:
    api = Router("allocation", services)

    @api.route("/api/allocation", ["GET"], admin=True)
    def allocation(who: Principal) -> JsonReply:
        return services.portfolio.current_allocation(who), 200

    @api.route("/api/allocation/history", ["GET"], admin=True)
    def allocation_history(who: Principal) -> JsonReply:
        return {"versions": services.portfolio.history(who)}, 200

    app.register_blueprint(api.blueprint)
