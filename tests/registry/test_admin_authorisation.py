"""Authorise before validating: every admin route answers a non-admin 403 whatever the body.

The routes are walked from the app's url_map (every view the route decorator marked
``admin_only``, and every path under /api/admin/), so a new admin route is covered the
day it is added; DECLARED pins the ones we know, so unmarking one fails here.
"""

from __future__ import annotations

import re

import pytest

from devstack.embedded import create_app
from shared.bootstrap import Services
from shared.demo import DEMO_API_KEYS

DECLARED = {
    ("GET", "/api/admin/kill-switch"), ("POST", "/api/admin/kill-switch"), ("POST", "/api/admin/flatten"),
    ("POST", "/api/admin/brokers/zerodha/session"), ("GET", "/api/admin/trading-states"),
    ("PUT", "/api/admin/trading-states/<scope_id>"), ("GET", "/api/admin/refusals"),
    ("POST", "/api/admin/mock/marks"), ("PUT", "/api/instruments/<key>"), ("POST", "/api/instruments/import"),
    ("POST", "/api/portfolio/tests"), ("GET", "/api/portfolio/tests"), ("GET", "/api/portfolio/tests/<test_id>"),
    ("POST", "/api/portfolio/tests/<test_id>/approve"), ("GET", "/api/dashboards/health"),
    ("GET", "/api/allocation"), ("GET", "/api/allocation/history"), ("GET", "/api/orders"),
    ("POST", "/api/orders/<client_order_id>/cancel"), ("GET", "/api/positions"),
}
NON_ADMINS = [DEMO_API_KEYS["developer", "dev_alice"], DEMO_API_KEYS["client", "client_a"]]
# Bodies no admin route accepts: not JSON, the wrong JSON type, unknown fields, the wrong media type.
INVALID_BODIES = [("{not json", "application/json"), ("[1, 2]", "application/json"),
                  ('{"unknown": true, "enabled": "yes"}', "application/json"), ("a,b\n1,2", "text/csv")]


def admin_routes(services: Services) -> set[tuple[str, str]]:
    app = create_app(services)
    found = set()
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if getattr(view, "admin_only", False) or rule.rule.startswith("/api/admin/"):
                found.add((method, rule.rule))
    return found


def test_every_declared_admin_route_is_marked_and_every_admin_path_is_admin(embedded):
    marked = admin_routes(embedded)
    assert marked >= DECLARED
    app = create_app(embedded)
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/admin/"):
            assert getattr(app.view_functions[rule.endpoint], "admin_only", False), rule.rule


@pytest.mark.parametrize("key", NON_ADMINS, ids=["developer", "client"])
def test_a_non_admin_gets_403_before_any_body_is_looked_at(embedded, clock, key):
    client = create_app(embedded).test_client()
    routes = admin_routes(embedded)
    assert len(routes) >= len(DECLARED)
    for method, rule in sorted(routes):
        path = re.sub(r"<(?:\w+:)?\w+>", "x", rule)
        clock.advance(60)  # a fresh minute of the key's request limit for each route
        for body, content_type in INVALID_BODIES:
            answer = client.open(path, method=method, data=body, content_type=content_type,
                                 headers={"Authorization": f"Bearer {key}"})
            assert answer.status_code == 403, (method, rule, body, answer.get_json())
            assert answer.get_json()["error"] == "forbidden"
