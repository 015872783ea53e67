"""The schema module (shared/domain/schema.py) names every collection the code uses, once: no
store call spells a collection as a string, no module keeps its own collection-name constant
outside Collections, and every collection has one spec saying what its document ids are."""

from __future__ import annotations

import ast

import pytest

from devstack.processes import REPO_ROOT
from shared.domain import models, schema
from shared.domain.schema import Collections
from tests.infra.store_calls import constant, store_calls

CODE = ("shared", "functions", "gateway_vm", "devstack")
NAMES = frozenset(c.value for c in Collections)


def test_every_collection_has_one_spec_and_every_spec_a_collection():
    assert [spec.name for spec in schema.SCHEMA] == list(dict.fromkeys(spec.name for spec in schema.SCHEMA))
    assert set(schema.BY_NAME) == set(Collections)
    assert all(spec.key for spec in schema.SCHEMA)


def test_every_index_is_on_fields_its_collection_lists():
    for index in schema.INDEXES:
        fields = schema.BY_NAME[index.collection].fields
        assert {*index.equalities, index.ordered} <= set(fields), index.name


def test_models_still_exports_what_moved_to_the_schema():
    assert models.Collections is Collections
    assert models.KILL_SWITCH_DOC == schema.KILL_SWITCH_DOC and models.RISK_LIMITS_DOC == schema.RISK_LIMITS_DOC
    with pytest.raises(AttributeError):
        _ = models.NOT_A_NAME


def test_every_store_call_names_its_collection_through_collections():
    """A literal, or a constant that is not a Collections member, is a collection the schema may miss."""
    literals, outside, resolved = [], [], set()
    for found in store_calls(*CODE):
        argument = found.call.args[0]
        if isinstance(argument, ast.Constant):
            literals.append(f"{found.place}: {ast.unparse(argument)}")
            continue
        if not isinstance(argument, ast.Name | ast.Attribute):
            continue
        value = constant(found.module, argument, found.imports)
        if isinstance(value, str):  # a module-level constant or Collections.X (its value)
            resolved.add(value)
            if value not in NAMES:
                outside.append(f"{found.place}: {ast.unparse(argument)} = {value!r}")
    assert literals == []
    assert outside == []
    assert {"orders", "auth_failures", "mock_broker_orders", "zerodha_gtts"} <= resolved  # the scan sees them


def test_no_module_spells_a_collection_name_as_its_own_constant():
    spelled = []
    for root in CODE:
        for path in sorted((REPO_ROOT / root).rglob("*.py")):
            if path == REPO_ROOT / "shared" / "domain" / "schema.py":
                continue
            for node in ast.parse(path.read_text()).body:
                if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                        and node.value.value in NAMES):
                    spelled.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert spelled == []
