"""A strategy's daily return series, uploaded as CSV: the portfolio tests' input."""

from __future__ import annotations

import flask

from shared.auth.api_keys import Principal
from shared.bootstrap import Services
from shared.domain.errors import Refusal, RequestRejected
from shared.entrypoints.http import JsonReply, Router


def register(app: flask.Flask, services: Services) -> None:
    api = Router("returns", services)

    @api.route("/api/strategies/<strategy_id>/returns", ["PUT"])
    def upload_returns(who: Principal, strategy_id: str) -> JsonReply:
        if flask.request.mimetype not in ("text/csv", "text/plain"):
            raise RequestRejected("content_type", "must be text/csv", Refusal.UNSUPPORTED, "unsupported_media_type")
        return services.registry.upload_returns(strategy_id, flask.request.get_data(cache=False), who), 200

    app.register_blueprint(api.blueprint)
