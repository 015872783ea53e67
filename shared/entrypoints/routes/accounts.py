"""The account data service: each account's latest snapshot and its age (admins: all; clients: their own)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import flask

from shared.auth.api_keys import Principal
from shared.bootstrap import Services
from shared.domain.errors import Refusal, RequestRejected
from shared.domain.models import Collections
from shared.entrypoints.http import JsonReply, Router


def register(app: flask.Flask, services: Services) -> None:
    api = Router("accounts", services)

    @api.route("/api/accounts", ["GET"])
    def accounts(who: Principal) -> JsonReply:
        """The account data service: each account's latest snapshot and its age."""
        return {"accounts": [_account_view(a, services.clock()) for a in _visible_accounts(services, who)]}, 200

    @api.route("/api/accounts/<account_id>", ["GET"])
    def account(who: Principal, account_id: str) -> JsonReply:
        found = [a for a in _visible_accounts(services, who) if a["account_id"] == account_id]
        if not found:
            raise RequestRejected("account_id", f"no account {account_id!r}", Refusal.NOT_FOUND, "not_found")
        return _account_view(found[0], services.clock()), 200

    app.register_blueprint(api.blueprint)


def _visible_accounts(services: Services, who: Principal) -> list[dict[str, Any]]:
    if who.role == "admin":
        return services.store.query(Collections.ACCOUNTS, order_by="account_id")
    if who.role == "client":
        return services.store.query(Collections.ACCOUNTS, where={"client_id": who.subject})
    raise RequestRejected("authorization", "accounts are for admins and their clients", Refusal.FORBIDDEN, "forbidden")


def _account_view(account: dict[str, Any], now: datetime) -> dict[str, Any]:
    snapshot = account.get("snapshot")
    age = (now - datetime.fromisoformat(snapshot["as_of"])).total_seconds() if snapshot else None
    return {"account_id": account["account_id"], "broker": account.get("broker"), "client_id": account.get("client_id"),
            "name": account.get("name", ""), "currency": account.get("base_currency", "USD"), "snapshot": snapshot,
            "snapshot_age_seconds": age}
