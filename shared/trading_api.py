"""The authenticated HTTP API for trading controls: the instrument master, trading
states, cancelling a signal's working orders, and the paper market's marks.

Served beside the registry routes by the embedded stack and the ``strategy_registry``
Cloud Function; every route authenticates a bearer API key.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import flask
from pydantic import BaseModel, ConfigDict, Field

from shared.auth.api_keys import Principal
from shared.bootstrap import Services
from shared.domain.errors import RequestRejected
from shared.domain.instruments import InstrumentSpec
from shared.domain.models import TradingState
from shared.domain.risk import MAX_PRICE
from shared.ports.broker import BrokerError
from shared.registry_api import authenticated_routes, json_body, require_admin, whole_number
from shared.services.refusals import REFUSALS_KEPT, recent_refusals
from shared.services.strategy_registry import validated

JsonReply = tuple[Any, int]


class TradingStateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: TradingState
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class InstrumentImport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    broker: Literal["mock", "zerodha"]  # IBKR's contract details are imported on the gateway VM
    symbols: list[Annotated[str, Field(min_length=1, max_length=60)]] = Field(
        default_factory=list, max_length=500)  # Kite: which tickers to take from its dump


class MarkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    instrument: Annotated[str, Field(min_length=1, max_length=60)]
    price: Annotated[float, Field(gt=0, le=MAX_PRICE)]  # orders are also capped in units and notional


def trading_blueprint(services: Services) -> flask.Blueprint:
    api = flask.Blueprint("trading", __name__)
    route = authenticated_routes(api, services)
    catalog = services.instruments

    @route("/api/instruments", ["GET"])
    def list_instruments(who: Principal) -> JsonReply:
        """Every role may read the master: a developer needs to know which tickers trade."""
        return {"instruments": [spec.document() for spec in catalog.list()]}, 200

    @route("/api/instruments/<key>", ["GET"])
    def get_instrument(who: Principal, key: str) -> JsonReply:
        spec = catalog.get(key) or catalog.resolve(key)
        if spec is None:
            raise RequestRejected("key", f"unknown instrument {key!r}", 404, "not_found")
        return spec.document(), 200

    @route("/api/instruments/<key>", ["PUT"], admin=True)
    def put_instrument(who: Principal, key: str) -> JsonReply:
        require_admin(who)
        spec = validated(InstrumentSpec, {**json_body(), "updated_at": None, "updated_by": ""})
        if spec.key != key:
            raise RequestRejected("key", f"the body's key {spec.key!r} is not the path's {key!r}")
        return catalog.put(spec, who).document(), 200

    @route("/api/instruments/import", ["POST"], admin=True)
    def import_instruments(who: Principal) -> JsonReply:
        """Load the master from a broker's own listings."""
        require_admin(who)
        body = validated(InstrumentImport, json_body())
        if body.broker == "mock":
            specs = services.mock_broker.instrument_specs()
        else:
            zerodha = services.brokers.get("zerodha")
            if zerodha is None:
                raise RequestRejected("broker", "no Zerodha accounts are configured", 409, "conflict")
            if not body.symbols:
                raise RequestRejected("symbols", "name the tickers to import from Kite's dump (e.g. NSE:RELIANCE)")
            try:
                specs = zerodha.instrument_specs(body.symbols)  # type: ignore[attr-defined]
            except BrokerError as error:
                raise RequestRejected("symbols", str(error), 422) from None
        saved = catalog.put_all(specs, who)
        return {"imported": [spec.key for spec in saved]}, 200

    @route("/api/admin/trading-states", ["GET"])
    def trading_states(who: Principal) -> JsonReply:
        return {"kill_switch": services.admin.kill_switch(), "states": services.admin.trading_states(who)}, 200

    @route("/api/admin/trading-states/<scope_id>", ["PUT"])
    def set_trading_state(who: Principal, scope_id: str) -> JsonReply:
        require_admin(who)
        body = validated(TradingStateRequest, json_body())
        return services.admin.set_trading_state(scope_id, body.state, body.reason, who), 200

    @route("/api/admin/refusals", ["GET"])
    def refusals(who: Principal) -> JsonReply:
        """Recent refused webhook and API deliveries, newest first: TradingView never shows its
        sender the answer, so this is where a misconfigured alert shows up."""
        require_admin(who)
        return {"refusals": recent_refusals(services.store, whole_number("limit", 50, REFUSALS_KEPT))}, 200

    @route("/api/signals/<signal_id>/cancel", ["POST"])
    def cancel_signal(who: Principal, signal_id: str) -> JsonReply:
        return services.admin.cancel_signal_orders(signal_id, who), 202

    @route("/api/admin/mock/marks", ["POST"])
    def move_mark(who: Principal) -> JsonReply:
        """The paper market's price feed: move a Mock mark; the resting orders it crosses fill."""
        require_admin(who)
        body = validated(MarkRequest, json_body())
        spec = catalog.get(body.instrument) or catalog.resolve(body.instrument)
        if spec is None:
            raise RequestRejected("instrument", f"unknown instrument {body.instrument!r}", 404, "not_found")
        updates = services.mock_broker.mark_price(spec.key, body.price)
        services.execution.publish_broker_updates()
        return {"instrument": spec.key, "price": body.price,
                "triggered": [{"client_order_id": u.client_order_id, "status": u.status} for u in updates]}, 200

    return api
