"""The authenticated HTTP API for strategies, portfolio tests and the allocation.

One Flask blueprint serves both the ``strategy_registry`` Cloud Function and the
embedded stack. Every route authenticates a bearer API key; an admin route (declared
``admin=True``, and every path under /api/admin/) refuses any other role before its view
reads the body, so a bad body never tells a non-admin the route's shape; the services
check what the caller's role may do beyond that.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import flask
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from shared.adapters.brokers.zerodha.tokens import TokenKeyError
from shared.auth.api_keys import TOKEN_PATTERN, Principal
from shared.auth.throttle import AuthThrottle
from shared.bootstrap import Services
from shared.dashboards.documents import admin_health
from shared.dashboards.fund_views import reason_counts
from shared.domain.errors import RequestRejected, retry_after_header
from shared.domain.models import Collections
from shared.domain.signal_parsing import MAX_BODY_BYTES
from shared.http_api import client_address, refused, signal_journey_reply
from shared.ports.broker import BrokerError
from shared.services.admin import FLATTEN_CONFIRMATION
from shared.services.portfolio_requests import Approval, OptimisationRequest
from shared.services.strategy_registry import StrategyChanges, StrategySpec, public, validated

MAX_JSON_BYTES = 64 * 1024


class KillSwitchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: StrictBool
    reason: Annotated[str, Field(max_length=500)] = ""


class ZerodhaLogin(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: Annotated[str, Field(min_length=1, max_length=64)]
    request_token: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]


class FlattenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    confirm: Annotated[str, Field(max_length=50, json_schema_extra={"const": FLATTEN_CONFIRMATION})]
    strategy_ids: list[Annotated[str, Field(max_length=64)]] | None = None  # default: every strategy
    account_ids: list[Annotated[str, Field(max_length=64)]] | None = None  # default: every account
    reason: Annotated[str, Field(max_length=300)] = ""  # kept with each flatten signal and announced
JsonReply = tuple[Any, int] | tuple[Any, int, dict[str, str]]  # headers: Retry-After on a 429


ADMIN_PREFIX = "/api/admin/"


def caller(services: Services, throttle: AuthThrottle) -> Principal:
    """The key's owner. Wrong keys back off per (source address, key id): see shared/auth/throttle.py."""
    header = flask.request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise RequestRejected("authorization", "send 'Authorization: Bearer <API key>'", 401, "unauthenticated")
    token = token.strip()
    match = TOKEN_PATTERN.match(token)
    source = client_address(flask.request, services.settings.trusted_proxy_hops)
    lock = throttle.check("api", source, match["key_id"] if match else "malformed", "authorization")
    found = services.api_keys.authenticate(token)
    if found is None:
        raise throttle.failed(lock, RequestRejected("authorization", "unknown, revoked or malformed API key", 401,
                                                    "unauthenticated"))
    throttle.succeeded(lock)
    principal, key = found
    services.rate_limiter.check(key.key_id, key.rate_limit_per_minute)
    return principal


def require_admin(who: Principal) -> None:
    if who.role != "admin":
        raise RequestRejected("authorization", "only an admin may do this", 403, "forbidden")


def whole_number(name: str, default: int, highest: int) -> int:
    """A query-string count, 1..highest, or a 422 naming it."""
    raw = flask.request.args.get(name, str(default))
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6) or not 1 <= int(raw) <= highest:
        raise RequestRejected(name, f"must be a whole number from 1 to {highest}")
    return int(raw)


def json_body() -> Any:
    if flask.request.content_length and flask.request.content_length > MAX_JSON_BYTES:
        raise RequestRejected("body", f"larger than {MAX_JSON_BYTES} bytes", 413, "too_large")
    body = flask.request.get_data(cache=False)
    if len(body) > MAX_JSON_BYTES:
        raise RequestRejected("body", f"larger than {MAX_JSON_BYTES} bytes", 413, "too_large")
    if not flask.request.mimetype == "application/json":
        raise RequestRejected("content_type", "must be application/json", 415, "unsupported_media_type")
    try:
        return flask.json.loads(body)
    except ValueError as error:
        raise RequestRejected("body", f"is not valid JSON ({error})", 400, "malformed_json") from None


def authenticated_routes(api: flask.Blueprint, services: Services) -> Callable[..., Callable]:
    """A route decorator: the view gets the authenticated caller; a RequestRejected becomes its
    JSON 4xx (with Retry-After on a 429). ``admin=True`` (implied under /api/admin/) checks the
    role before the view runs; the view is marked ``admin_only`` for the test that walks them."""
    throttle = AuthThrottle(services.store, services.bus, services.clock)

    def route(rule: str, methods: list[str], admin: bool = False) -> Callable:
        admin_only = admin or rule.startswith(ADMIN_PREFIX)

        def wrap(view: Callable[..., JsonReply]) -> Callable[..., Any]:
            def guarded(**kwargs: Any) -> Any:
                try:
                    who = caller(services, throttle)
                    if admin_only:
                        require_admin(who)
                    return view(who, **kwargs)
                except RequestRejected as error:
                    return error.as_json(), error.status, error.headers()

            guarded.__name__ = view.__name__
            guarded.admin_only = admin_only  # type: ignore[attr-defined]
            api.add_url_rule(rule, view_func=guarded, methods=methods)
            return guarded

        return wrap

    return route


def registry_blueprint(services: Services) -> flask.Blueprint:
    api = flask.Blueprint("registry", __name__)
    registry = services.registry
    route = authenticated_routes(api, services)

    @route("/api/strategies", ["GET"])
    def list_strategies(who: Principal) -> JsonReply:
        return {"strategies": [public(s, who) for s in registry.list(who)]}, 200

    @route("/api/strategies", ["POST"])
    def create_strategy(who: Principal) -> JsonReply:
        strategy, passphrase = registry.create(validated(StrategySpec, json_body()), who)
        return {"strategy": public(strategy, who), "passphrase": passphrase,
                "note": "store the passphrase now: it is not shown again"}, 201

    @route("/api/strategies/<strategy_id>", ["GET"])
    def get_strategy(who: Principal, strategy_id: str) -> JsonReply:
        return {"strategy": public(registry.get(strategy_id, who), who)}, 200

    @route("/api/strategies/<strategy_id>", ["PATCH"])
    def update_strategy(who: Principal, strategy_id: str) -> JsonReply:
        changes = validated(StrategyChanges, json_body())
        return {"strategy": public(registry.update(strategy_id, changes, who), who)}, 200

    @route("/api/strategies/<strategy_id>/passphrase", ["POST"])
    def rotate_passphrase(who: Principal, strategy_id: str) -> JsonReply:
        return {"passphrase": registry.rotate_passphrase(strategy_id, who)}, 200

    @route("/api/strategies/<strategy_id>/returns", ["PUT"])
    def upload_returns(who: Principal, strategy_id: str) -> JsonReply:
        if flask.request.mimetype not in ("text/csv", "text/plain"):
            raise RequestRejected("content_type", "must be text/csv", 415, "unsupported_media_type")
        return registry.upload_returns(strategy_id, flask.request.get_data(cache=False), who), 200

    @route("/api/portfolio/tests", ["POST"], admin=True)
    def run_test(who: Principal) -> JsonReply:
        return services.portfolio.run_test(validated(OptimisationRequest, json_body()), who), 201

    @route("/api/portfolio/tests", ["GET"], admin=True)
    def list_tests(who: Principal) -> JsonReply:
        summaries = [{k: t.get(k) for k in ("test_id", "status", "created_at", "requested_by", "weights", "expected")}
                     for t in services.portfolio.list_tests(who)]
        return {"tests": summaries}, 200

    @route("/api/portfolio/tests/<test_id>", ["GET"], admin=True)
    def get_test(who: Principal, test_id: str) -> JsonReply:
        return services.portfolio.get_test(test_id, who), 200

    @route("/api/portfolio/tests/<test_id>/approve", ["POST"], admin=True)
    def approve(who: Principal, test_id: str) -> JsonReply:
        body = json_body() if flask.request.get_data(cache=True) else {}
        allocation = services.portfolio.approve(test_id, validated(Approval, body), who)
        return {"allocation": allocation.model_dump(mode="json")}, 200

    @route("/api/signals", ["POST"])
    def send_signal(who: Principal) -> JsonReply:
        """The HTTP API for strategy developers: the webhook's JSON body, authenticated by
        the API key instead of a passphrase."""
        if flask.request.content_length and flask.request.content_length > MAX_BODY_BYTES:
            return refused(services, flask.request, RequestRejected("body", f"larger than {MAX_BODY_BYTES} bytes",
                                                                    413, "too_large"), f"api:{who.subject}", "api")
        body = flask.request.stream.read(MAX_BODY_BYTES + 1)
        result = services.ingest.ingest_from_api(body, flask.request.content_type or "", who.role, who.subject)
        return result.body, result.status, retry_after_header(result.retry_after)

    @route("/api/signals/<signal_id>", ["GET"])
    def journey(who: Principal, signal_id: str) -> JsonReply:
        """An admin gets the whole journey; the strategy's developer only the signal's aggregates,
        since every decision, order and fill belongs to one client's account."""
        record = services.store.get(Collections.SIGNALS, signal_id)
        if record is not None and who.role != "admin":
            registry.get(record["strategy_id"], who)  # a developer sees only their own strategies' signals
        reply, status = signal_journey_reply(services, signal_id)
        if status != 200 or who.role == "admin":
            return reply, status
        return developer_signal_view(reply), 200

    @route("/api/accounts", ["GET"])
    def accounts(who: Principal) -> JsonReply:
        """The account data service: each account's latest snapshot and its age."""
        return {"accounts": [_account_view(a, services.clock()) for a in _visible_accounts(who)]}, 200

    @route("/api/accounts/<account_id>", ["GET"])
    def account(who: Principal, account_id: str) -> JsonReply:
        found = [a for a in _visible_accounts(who) if a["account_id"] == account_id]
        if not found:
            raise RequestRejected("account_id", f"no account {account_id!r}", 404, "not_found")
        return _account_view(found[0], services.clock()), 200

    def _visible_accounts(who: Principal) -> list[dict[str, Any]]:
        if who.role == "admin":
            return services.store.query(Collections.ACCOUNTS, order_by="account_id")
        if who.role == "client":
            return services.store.query(Collections.ACCOUNTS, where={"client_id": who.subject})
        raise RequestRejected("authorization", "accounts are for admins and their clients", 403, "forbidden")

    @route("/api/dashboards/clients/<client_id>", ["GET"])
    def client_dashboard(who: Principal, client_id: str) -> JsonReply:
        """A client's precomputed dashboard: the client themself or an admin."""
        if who.role != "admin" and not (who.role == "client" and who.subject == client_id):
            raise RequestRejected("client_id", f"no dashboard for client {client_id!r}", 404, "not_found")
        return services.dashboards.client(client_id), 200

    @route("/api/dashboards/strategies/<strategy_id>", ["GET"])
    def strategy_dashboard(who: Principal, strategy_id: str) -> JsonReply:
        """A strategy's precomputed dashboard: its developer or an admin."""
        registry.get(strategy_id, who)
        return services.dashboards.strategy(strategy_id), 200

    @route("/api/dashboards/health", ["GET"], admin=True)
    def health_dashboard(who: Principal) -> JsonReply:
        require_admin(who)
        return admin_health(services.store, services.clock()), 200

    @route("/api/admin/kill-switch", ["GET"])
    def kill_switch(who: Principal) -> JsonReply:
        require_admin(who)
        return services.admin.kill_switch(), 200

    @route("/api/admin/kill-switch", ["POST"])
    def set_kill_switch(who: Principal) -> JsonReply:
        body = validated(KillSwitchRequest, json_body())
        return services.admin.set_kill_switch(body.enabled, body.reason, who), 200

    @route("/api/admin/flatten", ["POST"])
    def flatten(who: Principal) -> JsonReply:
        body = validated(FlattenRequest, json_body())
        return services.admin.flatten(body.confirm, who, body.strategy_ids, body.account_ids, body.reason), 202

    @route("/api/admin/brokers/zerodha/session", ["POST"])
    def zerodha_login(who: Principal) -> JsonReply:
        """Kite's daily login: paste the request_token from the login redirect."""
        require_admin(who)
        body = validated(ZerodhaLogin, json_body())
        broker = services.brokers.get("zerodha")
        if broker is None:
            raise RequestRejected("account_id", "no Zerodha accounts are configured", 409, "conflict")
        try:
            broker.sessions.login(body.account_id, body.request_token)  # type: ignore[attr-defined]
        except TokenKeyError as error:  # the server's configuration, not the caller's request
            raise RequestRejected("BROKER_TOKEN_KEY", str(error), 503, "unavailable") from None
        except BrokerError as error:
            raise RequestRejected("account_id", str(error), 404, "not_found") from None
        except Exception as error:  # noqa: BLE001 - Kite's refusal of the token or checksum
            raise RequestRejected("request_token", f"Kite refused the login: {type(error).__name__}", 422) from None
        services.poller.poll_all()
        return {"status": "logged_in", "account_id": body.account_id}, 200

    @route("/api/allocation", ["GET"], admin=True)
    def allocation(who: Principal) -> JsonReply:
        return services.portfolio.current_allocation(who), 200

    @route("/api/allocation/history", ["GET"], admin=True)
    def allocation_history(who: Principal) -> JsonReply:
        return {"versions": services.portfolio.history(who)}, 200

    return api


# What a developer sees of their own standardized signal: what they asked for. Not `accounts`
# (an admin's flatten of chosen accounts names them there).
DEVELOPER_SIGNAL_FIELDS = ("signal_id", "strategy_id", "action", "instrument", "order_type", "sizing", "price",
                           "limit_price", "stop_price", "stop_loss", "take_profit", "signal_time", "received_at",
                           "source", "environment")


def developer_signal_view(journey: dict[str, Any]) -> dict[str, Any]:
    """A signal's journey as its developer may see it: built up from aggregates (an allow-list,
    not a deny-list), so no account id, client, per-account figure or decision text (which
    quotes equity, margin and an admin's trading-state reason) can reach them."""
    record = journey["signal"]
    signal = record["signal"]
    decisions = record.get("decisions") or []
    by_status = Counter(d["status"] for d in decisions)
    orders = journey["orders"]
    return {
        "view": "developer: totals over every account the signal reached",
        "signal_id": record["signal_id"], "strategy_id": record["strategy_id"], "status": record["status"],
        "received_at": record.get("received_at"), "decided_at": record.get("decided_at"),
        "source": (journey.get("raw") or {}).get("source"),
        "signal": {k: signal.get(k) for k in DEVELOPER_SIGNAL_FIELDS},
        "decisions": {"total": len(decisions), **{s: by_status.get(s, 0) for s in ("approved", "rejected", "skipped")}},
        "reasons": [{"reason": r, "decisions": n} for r, n in reason_counts(decisions)],
        "orders": {"total": len(orders), "by_status": dict(sorted(Counter(o["status"] for o in orders).items()))},
        "executions": _executions(signal, orders, journey["fills"]),
    }


def _executions(signal: dict[str, Any], orders: list[dict[str, Any]],
                fills: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Orders and fills summed per instrument, side and purpose (the signal's own trade, or the
    protective stop/target placed after it): quantity ordered and filled, the average fill
    price, and the slippage of a trade against the signal's price in bps (positive = worse)."""
    purpose_of: dict[str, tuple[str, str, str]] = {}
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}

    def group(key: tuple[str, str, str]) -> dict[str, Any]:
        return groups.setdefault(key, {"symbol": key[0], "side": key[1], "purpose": key[2], "orders": 0,
                                       "quantity_ordered": 0.0, "quantity_filled": 0.0, "_notional": 0.0,
                                       "first_fill_at": None, "last_fill_at": None})

    for document in orders:
        order = document["order"]
        key = (order["instrument"]["symbol"], order["side"], "protective" if order.get("parent_order_id") else "trade")
        purpose_of[order["client_order_id"]] = key
        totals = group(key)
        totals["orders"] += 1
        totals["quantity_ordered"] += float(order["quantity"])
    for fill in fills:
        key = purpose_of.get(fill["client_order_id"], (fill["instrument"]["symbol"], fill["side"], "trade"))
        totals = group(key)
        totals["quantity_filled"] += float(fill["quantity"])
        totals["_notional"] += float(fill["quantity"]) * float(fill["price"])
        at = str(fill["filled_at"])
        totals["first_fill_at"] = min(filter(None, (totals["first_fill_at"], at)))
        totals["last_fill_at"] = max(filter(None, (totals["last_fill_at"], at)))
    reference = signal.get("price")
    answer = []
    for key in sorted(groups):
        totals = groups[key]
        notional = totals.pop("_notional")
        average = notional / totals["quantity_filled"] if totals["quantity_filled"] else None
        sign = 1 if totals["side"] == "buy" else -1
        measurable = (average is not None and reference and totals["purpose"] == "trade"
                      and totals["symbol"] == signal["instrument"]["symbol"])
        answer.append({**totals, "average_fill_price": average,
                       "slippage_bps": sign * (average - reference) / reference * 1e4 if measurable else None})
    return answer


def _account_view(account: dict[str, Any], now: datetime) -> dict[str, Any]:
    snapshot = account.get("snapshot")
    age = (now - datetime.fromisoformat(snapshot["as_of"])).total_seconds() if snapshot else None
    return {"account_id": account["account_id"], "broker": account.get("broker"), "client_id": account.get("client_id"),
            "name": account.get("name", ""), "currency": account.get("base_currency", "USD"), "snapshot": snapshot,
            "snapshot_age_seconds": age}


def register_api(app: flask.Flask, services: Services) -> None:
    """Every authenticated route, on the Cloud Function's app and the embedded stack's alike."""
    from shared.fund_api import fund_blueprint
    from shared.trading_api import trading_blueprint

    for blueprint in (registry_blueprint(services), trading_blueprint(services), fund_blueprint(services)):
        app.register_blueprint(blueprint)


def standalone_app(services: Services) -> flask.Flask:
    """The Cloud Function's app: the API plus JSON answers for unknown routes."""
    app = flask.Flask("strategy-registry")
    register_api(app, services)

    @app.errorhandler(404)
    def not_found(_: Exception) -> JsonReply:
        return {"error": "not_found", "field": "path", "reason": f"no route {flask.request.path}"}, 404

    @app.errorhandler(405)
    def wrong_method(_: Exception) -> JsonReply:
        return {"error": "method_not_allowed", "field": "method", "reason": f"{flask.request.method} not allowed"}, 405

    return app
