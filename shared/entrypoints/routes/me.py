"""Whose key this is: the dashboards log in and re-check revocation with it."""

from __future__ import annotations

import flask

from shared.auth.api_keys import Principal
from shared.bootstrap import Services
from shared.entrypoints.http import JsonReply, Router


def register(app: flask.Flask, services: Services) -> None:
    api = Router("me", services)

    @api.route("/api/me", ["GET"])
    def me(who: Principal) -> JsonReply:
        """Whose key this is: the dashboards log in and re-check revocation with it."""
        return {"subject": who.subject, "role": who.role, "key_id": who.key_id}, 200

    app.register_blueprint(api.blueprint)
