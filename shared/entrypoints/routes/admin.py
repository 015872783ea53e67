"""Admin controls under /api/admin/: the kill switch, flatten, trading states, recent refusals,
the paper market's marks and Kite's daily login. Every path here is admin-only (see Router)."""

from __future__ import annotations

from typing import Annotated

import flask
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from shared.adapters.brokers.zerodha.tokens import TokenKeyError
from shared.auth.api_keys import Principal
from shared.bootstrap import Services
from shared.domain.errors import Refusal, RequestRejected
from shared.domain.models import TradingState
from shared.domain.risk import MAX_PRICE
from shared.entrypoints.http import JsonReply, Router, json_body, validated, whole_number
from shared.ports.broker import BrokerError
from shared.services.admin import FLATTEN_CONFIRMATION
from shared.services.refusals import REFUSALS_KEPT, recent_refusals


class KillSwitchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: StrictBool
    reason: Annotated[str, Field(max_length=500)] = ""


class FlattenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    confirm: Annotated[str, Field(max_length=50, json_schema_extra={"const": FLATTEN_CONFIRMATION})]
    strategy_ids: list[Annotated[str, Field(max_length=64)]] | None = None  # default: every strategy
    account_ids: list[Annotated[str, Field(max_length=64)]] | None = None  # default: every account
    reason: Annotated[str, Field(max_length=300)] = ""  # kept with each flatten signal and announced


class TradingStateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: TradingState
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class MarkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    instrument: Annotated[str, Field(min_length=1, max_length=60)]
    price: Annotated[float, Field(gt=0, le=MAX_PRICE)]  # orders are also capped in units and notional


class ZerodhaLogin(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: Annotated[str, Field(min_length=1, max_length=64)]
    request_token: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]


def register(app: flask.Flask, services: Services) -> None:
    api = Router("admin", services)
    admin = services.admin

    @api.route("/api/admin/kill-switch", ["GET"])
    def kill_switch(who: Principal) -> JsonReply:
        return admin.kill_switch(), 200

    @api.route("/api/admin/kill-switch", ["POST"])
    def set_kill_switch(who: Principal) -> JsonReply:
        body = validated(KillSwitchRequest, json_body())
        return admin.set_kill_switch(body.enabled, body.reason, who), 200

    @api.route("/api/admin/flatten", ["POST"])
    def flatten(who: Principal) -> JsonReply:
        body = validated(FlattenRequest, json_body())
        return admin.flatten(body.confirm, who, body.strategy_ids, body.account_ids, body.reason), 202

    @api.route("/api/admin/trading-states", ["GET"])
    def trading_states(who: Principal) -> JsonReply:
        return {"kill_switch": admin.kill_switch(), "states": admin.trading_states(who)}, 200

    @api.route("/api/admin/trading-states/<scope_id>", ["PUT"])
    def set_trading_state(who: Principal, scope_id: str) -> JsonReply:
        body = validated(TradingStateRequest, json_body())
        return admin.set_trading_state(scope_id, body.state, body.reason, who), 200

    @api.route("/api/admin/refusals", ["GET"])
    def refusals(who: Principal) -> JsonReply:
        """Recent refused webhook and API deliveries, newest first: TradingView never shows its
        sender the answer, so this is where a misconfigured alert shows up."""
        return {"refusals": recent_refusals(services.store, whole_number("limit", 50, REFUSALS_KEPT))}, 200

    @api.route("/api/admin/mock/marks", ["POST"])
    def move_mark(who: Principal) -> JsonReply:
        """The paper market's price feed: move a Mock mark; the resting orders it crosses fill."""
        body = validated(MarkRequest, json_body())
        catalog = services.instruments
        spec = catalog.get(body.instrument) or catalog.resolve(body.instrument)
        if spec is None:
            raise RequestRejected("instrument", f"unknown instrument {body.instrument!r}", Refusal.NOT_FOUND,
                                  "not_found")
        updates = services.mock_broker.mark_price(spec.key, body.price)
        services.execution.publish_broker_updates()
        return {"instrument": spec.key, "price": body.price,
                "triggered": [{"client_order_id": u.client_order_id, "status": u.status} for u in updates]}, 200

    @api.route("/api/admin/brokers/zerodha/session", ["POST"])
    def zerodha_login(who: Principal) -> JsonReply:
        """Kite's daily login: paste the request_token from the login redirect."""
        body = validated(ZerodhaLogin, json_body())
        broker = services.brokers.get("zerodha")
        if broker is None:
            raise RequestRejected("account_id", "no Zerodha accounts are configured", Refusal.CONFLICT, "conflict")
        try:
            broker.sessions.login(body.account_id, body.request_token)  # type: ignore[attr-defined]
        except TokenKeyError as error:  # the server's configuration, not the caller's request
            raise RequestRejected("BROKER_TOKEN_KEY", str(error), Refusal.UNAVAILABLE, "unavailable") from None
        except BrokerError as error:
            raise RequestRejected("account_id", str(error), Refusal.NOT_FOUND, "not_found") from None
        except Exception as error:  # noqa: BLE001 - Kite's refusal of the token or checksum
            raise RequestRejected("request_token", f"Kite refused the login: {type(error).__name__}") from None
        services.poller.poll_all()
        return {"status": "logged_in", "account_id": body.account_id}, 200

    app.register_blueprint(api.blueprint)
