"""Open positions and P&L, per account and per strategy (admin)."""

from __future__ import annotations

import flask

from shared.auth.api_keys import Principal
from shared.bootstrap import Services
from shared.dashboards.fund_views import positions_book
from shared.entrypoints.http import JsonReply, Router


def register(app: flask.Flask, services: Services) -> None:
    api = Router("positions", services)

    @api.route("/api/positions", ["GET"], admin=True)
    def positions(who: Principal) -> JsonReply:
        """Open positions per account and strategy, and P&L per account and per strategy."""
        return positions_book(services.store), 200

    app.register_blueprint(api.blueprint)
