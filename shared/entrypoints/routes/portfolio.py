"""Portfolio tests: run an optimisation with its backtests, read them, approve one (admin)."""

from __future__ import annotations

import flask

from shared.auth.api_keys import Principal
from shared.bootstrap import Services
from shared.entrypoints.http import JsonReply, Router, json_body, validated
from shared.services.portfolio_requests import Approval, OptimisationRequest

SUMMARY_FIELDS = ("test_id", "status", "created_at", "requested_by", "weights", "expected")


def register(app: flask.Flask, services: Services) -> None:
    api = Router("portfolio", services)
    portfolio = services.portfolio

    @api.route("/api/portfolio/tests", ["POST"], admin=True)
    def run_test(who: Principal) -> JsonReply:
        return portfolio.run_test(validated(OptimisationRequest, json_body()), who), 201

    @api.route("/api/portfolio/tests", ["GET"], admin=True)
    def list_tests(who: Principal) -> JsonReply:
        return {"tests": [{k: t.get(k) for k in SUMMARY_FIELDS} for t in portfolio.list_tests(who)]}, 200

    @api.route("/api/portfolio/tests/<test_id>", ["GET"], admin=True)
    def get_test(who: Principal, test_id: str) -> JsonReply:
        return portfolio.get_test(test_id, who), 200

    @api.route("/api/portfolio/tests/<test_id>/approve", ["POST"], admin=True)
    def approve(who: Principal, test_id: str) -> JsonReply:
        body = json_body() if flask.request.get_data(cache=True) else {}
        allocation = portfolio.approve(test_id, validated(Approval, body), who)
        return {"allocation": allocation.model_dump(mode="json")}, 200

    app.register_blueprint(api.blueprint)
