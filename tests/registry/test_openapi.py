"""The OpenAPI document covers exactly the routes the code serves, and is up to date."""

from __future__ import annotations

import json
import re

from devstack.embedded import create_app
from devstack.processes import REPO_ROOT
from shared.openapi import document


def test_every_served_route_is_documented_and_nothing_else(embedded):
    app = create_app(embedded)
    served = {(method.lower(), re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule))
              for rule in app.url_map.iter_rules() if rule.endpoint != "static"
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(method, path) for path, operations in document()["paths"].items() for method in operations}
    assert served == documented


def test_the_committed_document_is_the_generated_one():
    committed = json.loads((REPO_ROOT / "docs" / "openapi.json").read_text())
    assert committed == json.loads(json.dumps(document())), "run: python -m shared.openapi > docs/openapi.json"


def test_request_schemas_come_from_the_validating_models():
    spec = document()
    schema = spec["components"]["schemas"]["StrategySpec"]
    assert schema["additionalProperties"] is False and "strategy_id" in schema["required"]
    webhook = spec["paths"]["/webhook"]["post"]["requestBody"]["content"]
    assert set(webhook) == {"application/json", "text/plain"}


def test_the_intake_documents_duplicates_a_busy_bus_and_retry_after():
    paths = document()["paths"]
    for path in ("/webhook", "/api/signals"):
        responses = paths[path]["post"]["responses"]
        assert {"202", "200", "503", "429", "4XX"} <= set(responses), path
        assert "Retry-After" in responses["429"]["headers"]
    assert all("Retry-After" in operation["responses"]["429"]["headers"]
               for operations in paths.values() for operation in operations.values() if "security" in operation)
