"""Strategies: register, read, change and rotate the webhook passphrase (the registry service decides who may)."""

from __future__ import annotations

import flask

from shared.auth.api_keys import Principal
from shared.bootstrap import Services
from shared.entrypoints.http import JsonReply, Router, json_body, validated
from shared.services.strategy_registry import StrategyChanges, StrategySpec, public


def register(app: flask.Flask, services: Services) -> None:
    api = Router("strategies", services)
    registry = services.registry

    @api.route("/api/strategies", ["GET"])
    def list_strategies(who: Principal) -> JsonReply:
        return {"strategies": [public(s, who) for s in registry.list(who)]}, 200

    @api.route("/api/strategies", ["POST"])
    def create_strategy(who: Principal) -> JsonReply:
        strategy, passphrase = registry.create(validated(StrategySpec, json_body()), who)
        return {"strategy": public(strategy, who), "passphrase": passphrase,
                "note": "store the passphrase now: it is not shown again"}, 201

    @api.route("/api/strategies/<strategy_id>", ["GET"])
    def get_strategy(who: Principal, strategy_id: str) -> JsonReply:
        return {"strategy": public(registry.get(strategy_id, who), who)}, 200

    @api.route("/api/strategies/<strategy_id>", ["PATCH"])
    def update_strategy(who: Principal, strategy_id: str) -> JsonReply:
        changes = validated(StrategyChanges, json_body())
        return {"strategy": public(registry.update(strategy_id, changes, who), who)}, 200

    @api.route("/api/strategies/<strategy_id>/passphrase", ["POST"])
    def rotate_passphrase(who: Principal, strategy_id: str) -> JsonReply:
        return {"passphrase": registry.rotate_passphrase(strategy_id, who)}, 200

    app.register_blueprint(api.blueprint)
