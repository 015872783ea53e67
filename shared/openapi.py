"""The OpenAPI 3.1 document of the HTTP APIs, built from the same pydantic models that
validate the requests, so the document cannot drift from the code.

    python -m shared.openapi > docs/openapi.json
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from shared.domain.instruments import InstrumentSpec
from shared.domain.signal_parsing import SignalPayload
from shared.entrypoints.routes.admin import (
    FlattenRequest,
    KillSwitchRequest,
    MarkRequest,
    TradingStateRequest,
    ZerodhaLogin,
)
from shared.entrypoints.routes.instruments import InstrumentImport
from shared.entrypoints.routes.signals import MAX_LISTED
from shared.services.portfolio_requests import Approval, OptimisationRequest
from shared.services.refusals import REFUSALS_KEPT
from shared.services.strategy_registry import StrategyChanges, StrategySpec

ERROR = {"type": "object", "required": ["error", "field", "reason"],
         "properties": {"error": {"type": "string"}, "field": {"type": "string"}, "reason": {"type": "string"}}}
ERROR_BODY = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
CSV = "text/csv"
SIGNAL_INTAKE = {("post", "/webhook"), ("post", "/api/signals")}  # they answer duplicates and a busy bus too

# (method, path, summary, request body: model | content type | None, success status, authenticated)
ROUTES: list[tuple[str, str, str, type[BaseModel] | str | None, int, bool]] = [
    ("post", "/webhook", "Receive a signal (TradingView JSON, TradingView text, or HTTP API JSON)", SignalPayload,
     202, False),
    ("get", "/healthz", "Liveness of the embedded server", None, 200, False),
    ("post", "/api/signals", "Send a signal with a developer API key, for the caller's own strategies only",
     SignalPayload, 202, True),
    ("get", "/api/signals/{signal_id}", "A signal's journey. Admin: raw, standardized, every account's decision "
     "with its checks, orders, fills. The strategy's developer: totals only, never an account or client: decisions "
     "by status, reasons by check, orders by status, and per instrument and side the quantity ordered and filled, "
     "the average fill price and the slippage against the signal's price in bps", None, 200, True),
    ("get", "/api/strategies", "Strategies the caller may see", None, 200, True),
    ("post", "/api/strategies", "Register a strategy; its webhook passphrase is returned once", StrategySpec, 201,
     True),
    ("get", "/api/strategies/{strategy_id}", "One strategy", None, 200, True),
    ("patch", "/api/strategies/{strategy_id}", "Rename, pause, retire, put live, change capital", StrategyChanges,
     200, True),
    ("post", "/api/strategies/{strategy_id}/passphrase", "Rotate the webhook passphrase", None, 200, True),
    ("put", "/api/strategies/{strategy_id}/returns", "Upload a daily return series (date,return or date,equity)",
     CSV, 200, True),
    ("post", "/api/portfolio/tests", "Run and store an optimisation with its backtests", OptimisationRequest, 201,
     True),
    ("get", "/api/portfolio/tests", "Recent portfolio tests", None, 200, True),
    ("get", "/api/portfolio/tests/{test_id}", "One portfolio test, in full", None, 200, True),
    ("post", "/api/portfolio/tests/{test_id}/approve", "Approve a test as the next allocation version", Approval,
     200, True),
    ("get", "/api/allocation", "The allocation in force and any pending one", None, 200, True),
    ("get", "/api/allocation/history", "Every approved allocation version", None, 200, True),
    ("get", "/api/accounts", "Accounts with their latest snapshot and its age (admin: all; client: own)", None,
     200, True),
    ("get", "/api/accounts/{account_id}", "One account's latest snapshot", None, 200, True),
    ("get", "/api/dashboards/clients/{client_id}", "A client's dashboard document (that client or an admin)",
     None, 200, True),
    ("get", "/api/dashboards/strategies/{strategy_id}", "A strategy's dashboard document, without client "
     "identities (its developer or an admin)", None, 200, True),
    ("get", "/api/dashboards/health", "System health: each stage's last activity, work in flight, dead letters, "
     "breaks", None, 200, True),
    ("get", "/api/admin/kill-switch", "Kill switch state", None, 200, True),
    ("post", "/api/admin/kill-switch", "Throw or release the kill switch", KillSwitchRequest, 200, True),
    ("post", "/api/admin/flatten", "Cancel working orders, then close positions: every strategy and account, or "
     "those named (confirm with 'FLATTEN ALL')", FlattenRequest, 202, True),
    ("post", "/api/signals/{signal_id}/cancel", "Cancel a signal's orders still working at the broker "
     "(admin; the strategy's developer)", None, 202, True),
    ("get", "/api/instruments", "The instrument master: every tradable instrument with its aliases", None, 200,
     True),
    ("get", "/api/instruments/{key}", "One instrument, by canonical key or any alias", None, 200, True),
    ("put", "/api/instruments/{key}", "Create or replace an instrument and its aliases (admin)", InstrumentSpec,
     200, True),
    ("post", "/api/instruments/import", "Load the instrument master from a broker's listings (admin)",
     InstrumentImport, 200, True),
    ("get", "/api/admin/trading-states", "The kill switch and every fund, account and strategy trading state",
     None, 200, True),
    ("put", "/api/admin/trading-states/{scope_id}", "Set the fund ('fund'), an account ('account:ID') or a "
     "strategy ('strategy:ID') ACTIVE, REDUCING or HALTED", TradingStateRequest, 200, True),
    ("get", "/api/admin/refusals", "Recent refused webhook and API deliveries, newest first (admin; "
     f"?limit=1..{REFUSALS_KEPT}, default 50): "
     "time, source, strategy, status, field, reason and a body excerpt without passphrases", None, 200, True),
    ("post", "/api/admin/mock/marks", "Move a paper-market mark at the Mock broker; crossed resting orders fill",
     MarkRequest, 200, True),
    ("post", "/api/admin/brokers/zerodha/session", "Kite's daily login with the redirect's request_token",
     ZerodhaLogin, 200, True),
    ("get", "/api/me", "Whose key this is: subject, role and key id", None, 200, True),
    ("get", "/api/signals", "Signals, newest first (admin: every strategy; developer: their own, counted over "
     "accounts without naming any). Filters: ?strategy_id= (repeatable), ?status= (a status, or 'open' for "
     f"signals in flight), ?symbol=, ?since= and ?until= (ISO times with a zone), ?limit=1..{MAX_LISTED}", None, 200,
     True),
    ("get", "/api/orders", "The blotter: every order not yet final, oldest first (admin)", None, 200, True),
    ("post", "/api/orders/{client_order_id}/cancel", "Cancel one working order; the broker's answer arrives as "
     "an order update (admin)", None, 202, True),
    ("get", "/api/positions", "Open positions per account and strategy at the broker's marks, and realized and "
     "unrealized P&L per account and per strategy, in each account's currency (admin)", None, 200, True),
]


def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": ERROR}
    for method, path, summary, body, status, authenticated in ROUTES:
        operation: dict[str, Any] = {
            "summary": summary,
            "responses": {str(status): {"description": "success"},
                          "4XX": {"description": "refused; the field and reason are named", **ERROR_BODY}},
        }
        parameters = [{"name": part[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
                      for part in path.split("/") if part.startswith("{")]
        if parameters:
            operation["parameters"] = parameters
        if authenticated:
            operation["security"] = [{"apiKey": []}]
        if authenticated or path == "/webhook":
            operation["responses"]["429"] = {
                "description": "too many requests (the key's rate limit, or failed authentication from this "
                               "source): wait the seconds in Retry-After",
                "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}}, **ERROR_BODY}
        if (method, path) in SIGNAL_INTAKE:
            operation["responses"]["200"] = {"description": "a duplicate of a signal already accepted: its id, "
                                                            "nothing new is traded"}
            operation["responses"]["503"] = {"description": "accepted but not yet queued (the bus is unavailable): "
                                                            "send it again, the duplicate check keeps it single",
                                             **ERROR_BODY}
        if isinstance(body, type):
            schema = body.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[body.__name__] = schema
            operation["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{body.__name__}"}}}}
            if body is SignalPayload and path == "/webhook":
                operation["requestBody"]["content"]["text/plain"] = {"schema": {
                    "type": "string", "description": "TradingView's default strategy message; strategy_id and "
                                                     "passphrase in the query string"}}
        elif body == CSV:
            operation["requestBody"] = {"required": True, "content": {CSV: {"schema": {"type": "string"}}}}
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Mathematricks Trader", "version": "1.0.0",
                 "description": "Signals in; strategies, portfolio tests, allocation and admin controls."},
        "paths": paths,
        "components": {"schemas": schemas,
                       "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer",
                                                      "description": "mt_<key id>.<secret>"}}},
    }


if __name__ == "__main__":
    print(json.dumps(document(), indent=2, sort_keys=True))
