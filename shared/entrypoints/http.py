"""The one place HTTP meets the services: the app factory, refusal kinds to statuses, and the
request helpers every route shares (the JSON body, validation, the caller's API key).

Every Flask app goes through ``create_app``: the ``strategy_registry`` Cloud Function's and the
embedded stack's (which adds the webhook and /healthz). The webhook function and the Pub/Sub
functions are plain functions-framework handlers and build no app.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import flask
from pydantic import BaseModel, ValidationError

from shared.auth.api_keys import TOKEN_PATTERN, Principal
from shared.auth.roles import require_admin
from shared.auth.throttle import AuthThrottle
from shared.domain.errors import Refusal, RequestRejected

if TYPE_CHECKING:
    from shared.bootstrap import Services

JsonReply = tuple[Any, int] | tuple[Any, int, dict[str, str]]  # headers: Retry-After on a 429
View = Callable[..., JsonReply]

# The only map from the domain's refusal kinds to HTTP statuses.
STATUS: dict[Refusal, int] = {
    Refusal.MALFORMED: 400,
    Refusal.UNAUTHENTICATED: 401,
    Refusal.FORBIDDEN: 403,
    Refusal.NOT_FOUND: 404,
    Refusal.CONFLICT: 409,
    Refusal.TOO_LARGE: 413,
    Refusal.UNSUPPORTED: 415,
    Refusal.INVALID: 422,
    Refusal.TOO_MANY: 429,
    Refusal.UNAVAILABLE: 503,
}

MAX_JSON_BYTES = 64 * 1024
ADMIN_PREFIX = "/api/admin/"


def http_status(rejection: RequestRejected) -> int:
    """The status a refusal is answered with."""
    return STATUS[rejection.kind]


def rejected_reply(rejection: RequestRejected) -> tuple[dict[str, Any], int, dict[str, str]]:
    """A refusal as its JSON answer: body, status, and Retry-After when it has a wait."""
    return rejection.as_json(), http_status(rejection), rejection.headers()


def create_app(services: Services, name: str = "strategy-registry", *, webhook: bool = False,
               poller_alive: Callable[[], bool] | None = None, json_errors: bool = False) -> flask.Flask:
    """Every authenticated API route; with ``webhook`` the signal webhook, with ``poller_alive``
    /healthz (the embedded stack), with ``json_errors`` JSON answers for unknown routes and
    methods (the Cloud Function, which serves nothing else)."""
    # Imported here: the route modules import the services, and the services import this module.
    # Each registrar is named, not looked up, so tests/infra/code_routes.py can follow the calls.
    from shared.entrypoints.routes.accounts import register as accounts
    from shared.entrypoints.routes.admin import register as admin
    from shared.entrypoints.routes.allocation import register as allocation
    from shared.entrypoints.routes.dashboards import register as dashboards
    from shared.entrypoints.routes.health import register as health
    from shared.entrypoints.routes.instruments import register as instruments
    from shared.entrypoints.routes.me import register as me
    from shared.entrypoints.routes.orders import register as orders
    from shared.entrypoints.routes.portfolio import register as portfolio
    from shared.entrypoints.routes.positions import register as positions
    from shared.entrypoints.routes.returns import register as returns
    from shared.entrypoints.routes.signals import register as signals
    from shared.entrypoints.routes.strategies import register as strategies
    from shared.entrypoints.routes.webhook import register as webhook_route

    app = flask.Flask(name)
    for register in (strategies, returns, portfolio, allocation, signals, accounts, dashboards,
                     admin, instruments, orders, positions, me):
        register(app, services)
    if webhook:
        webhook_route(app, services)
    if poller_alive is not None:
        health(app, services, poller_alive)
    if json_errors:
        _json_errors(app)
    return app


def _json_errors(app: flask.Flask) -> None:
    @app.errorhandler(404)
    def not_found(_: Exception) -> JsonReply:
        return {"error": "not_found", "field": "path", "reason": f"no route {flask.request.path}"}, 404

    @app.errorhandler(405)
    def wrong_method(_: Exception) -> JsonReply:
        return {"error": "method_not_allowed", "field": "method", "reason": f"{flask.request.method} not allowed"}, 405


class Router:
    """Authenticated routes on one resource's blueprint.

    Every route authenticates a bearer API key; an admin route (``admin=True``, and every path
    under /api/admin/) refuses any other role before its view reads the body, so a bad body never
    tells a non-admin the route's shape; the services check what the role may do beyond that.
    A ``RequestRejected`` becomes its JSON 4xx. Views are marked ``admin_only`` for the test
    that walks them.
    """

    def __init__(self, name: str, services: Services):
        self.blueprint = flask.Blueprint(name, __name__)
        self._services = services
        self._throttle = AuthThrottle(services.store, services.bus, services.clock)

    def route(self, rule: str, methods: list[str], admin: bool = False) -> Callable[[View], Callable[..., Any]]:
        admin_only = admin or rule.startswith(ADMIN_PREFIX)

        def wrap(view: View) -> Callable[..., Any]:
            def guarded(**kwargs: Any) -> Any:
                try:
                    who = caller(self._services, self._throttle)
                    if admin_only:
                        require_admin(who)
                    return view(who, **kwargs)
                except RequestRejected as error:
                    return rejected_reply(error)

            guarded.__name__ = view.__name__
            guarded.__doc__ = view.__doc__
            guarded.admin_only = admin_only  # type: ignore[attr-defined]
            self.blueprint.add_url_rule(rule, view_func=guarded, methods=methods)
            return guarded

        return wrap


def caller(services: Services, throttle: AuthThrottle) -> Principal:
    """The key's owner. Wrong keys back off per (source address, key id): see shared/auth/throttle.py."""
    header = flask.request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise RequestRejected("authorization", "send 'Authorization: Bearer <API key>'", Refusal.UNAUTHENTICATED,
                              "unauthenticated")
    token = token.strip()
    match = TOKEN_PATTERN.match(token)
    source = client_address(flask.request, services.settings.trusted_proxy_hops)
    lock = throttle.check("api", source, match["key_id"] if match else "malformed", "authorization")
    found = services.api_keys.authenticate(token)
    if found is None:
        raise throttle.failed(lock, RequestRejected("authorization", "unknown, revoked or malformed API key",
                                                    Refusal.UNAUTHENTICATED, "unauthenticated"))
    throttle.succeeded(lock)
    principal, key = found
    services.rate_limiter.check(key.key_id, key.rate_limit_per_minute)
    return principal


def client_address(request: flask.Request, trusted_proxy_hops: int) -> str:
    """The sender's address, as far as we can trust it (TRUSTED_PROXY_HOPS).

    Each proxy appends the address that connected to it to X-Forwarded-For, so behind n
    proxies of ours the n-th entry from the right is the client; anything to its left was
    written by the client and proves nothing. With 0 (a server reached directly) the header
    is the client's own words and is ignored: the socket's address is used. A header with
    fewer entries than hops did not come through all of them: the leftmost is the best we have.
    """
    if trusted_proxy_hops <= 0:
        return request.remote_addr or ""
    entries = [entry.strip() for entry in request.headers.get("X-Forwarded-For", "").split(",") if entry.strip()]
    if not entries:
        return request.remote_addr or ""
    return entries[-min(trusted_proxy_hops, len(entries))]


def json_body() -> Any:
    """The request's JSON document: over 64 KiB, not JSON or not sent as JSON is refused before parsing."""
    if flask.request.content_length and flask.request.content_length > MAX_JSON_BYTES:
        raise RequestRejected("body", f"larger than {MAX_JSON_BYTES} bytes", Refusal.TOO_LARGE, "too_large")
    body = flask.request.get_data(cache=False)
    if len(body) > MAX_JSON_BYTES:
        raise RequestRejected("body", f"larger than {MAX_JSON_BYTES} bytes", Refusal.TOO_LARGE, "too_large")
    if not flask.request.mimetype == "application/json":
        raise RequestRejected("content_type", "must be application/json", Refusal.UNSUPPORTED,
                              "unsupported_media_type")
    try:
        return flask.json.loads(body)
    except ValueError as error:
        raise RequestRejected("body", f"is not valid JSON ({error})", Refusal.MALFORMED, "malformed_json") from None


def validated(model: type[BaseModel], document: Any) -> Any:
    """Parse a request body, turning the first pydantic error into a 422 naming the field."""
    if not isinstance(document, dict):
        raise RequestRejected("body", "must be a JSON object", Refusal.MALFORMED, "malformed_json")
    try:
        return model.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "body"
        reason = {"missing": "is required", "extra_forbidden": "is not a known field"}.get(first["type"], first["msg"])
        raise RequestRejected(field, reason) from None


def whole_number(name: str, default: int, highest: int) -> int:
    """A query-string count, 1..highest, or a 422 naming it."""
    raw = flask.request.args.get(name, str(default))
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6) or not 1 <= int(raw) <= highest:
        raise RequestRejected(name, f"must be a whole number from 1 to {highest}")
    return int(raw)
