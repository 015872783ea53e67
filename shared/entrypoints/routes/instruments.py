"""The instrument master: every role reads it (a developer needs to know which tickers trade);
only an admin writes it or imports it from a broker's listings."""

from __future__ import annotations

from typing import Annotated, Literal

import flask
from pydantic import BaseModel, ConfigDict, Field

from shared.auth.api_keys import Principal
from shared.bootstrap import Services
from shared.domain.errors import Refusal, RequestRejected
from shared.domain.instruments import InstrumentSpec
from shared.entrypoints.http import JsonReply, Router, json_body, validated
from shared.ports.broker import BrokerError


class InstrumentImport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    broker: Literal["mock", "zerodha"]  # IBKR's contract details are imported on the gateway VM
    symbols: list[Annotated[str, Field(min_length=1, max_length=60)]] = Field(
        default_factory=list, max_length=500)  # Kite: which tickers to take from its dump


def register(app: flask.Flask, services: Services) -> None:
    api = Router("instruments", services)
    catalog = services.instruments

    @api.route("/api/instruments", ["GET"])
    def list_instruments(who: Principal) -> JsonReply:
        """Every role may read the master: a developer needs to know which tickers trade."""
        return {"instruments": [spec.document() for spec in catalog.list()]}, 200

    @api.route("/api/instruments/<key>", ["GET"])
    def get_instrument(who: Principal, key: str) -> JsonReply:
        spec = catalog.get(key) or catalog.resolve(key)
        if spec is None:
            raise RequestRejected("key", f"unknown instrument {key!r}", Refusal.NOT_FOUND, "not_found")
        return spec.document(), 200

    @api.route("/api/instruments/<key>", ["PUT"], admin=True)
    def put_instrument(who: Principal, key: str) -> JsonReply:
        spec = validated(InstrumentSpec, {**json_body(), "updated_at": None, "updated_by": ""})
        if spec.key != key:
            raise RequestRejected("key", f"the body's key {spec.key!r} is not the path's {key!r}")
        return catalog.put(spec, who).document(), 200

    @api.route("/api/instruments/import", ["POST"], admin=True)
    def import_instruments(who: Principal) -> JsonReply:
        """Load the master from a broker's own listings."""
        body = validated(InstrumentImport, json_body())
        if body.broker == "mock":
            specs = services.mock_broker.instrument_specs()
        else:
            zerodha = services.brokers.get("zerodha")
            if zerodha is None:
                raise RequestRejected("broker", "no Zerodha accounts are configured", Refusal.CONFLICT, "conflict")
            if not body.symbols:
                raise RequestRejected("symbols", "name the tickers to import from Kite's dump (e.g. NSE:RELIANCE)")
            try:
                specs = zerodha.instrument_specs(body.symbols)  # type: ignore[attr-defined]
            except BrokerError as error:
                raise RequestRejected("symbols", str(error)) from None
        saved = catalog.put_all(specs, who)
        return {"imported": [spec.key for spec in saved]}, 200

    app.register_blueprint(api.blueprint)
