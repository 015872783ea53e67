"""The composite indexes the schema lists (shared/domain/schema.py INDEXES) are exactly the ones
Terraform declares, and exactly the ones the code's queries need: no query lacks one, and no
index is kept that nothing uses. The emulator does not enforce indexes, so a missing one
(strategies(owner, strategy_id) once) shows only in production, as an error.

Firestore serves equality filters alone, or one ordering alone, from its automatic
single-field indexes; equality filters plus an ordering on another field need a composite
index: the equality fields, then the ordered field in the query's direction."""

from __future__ import annotations

import ast
import dataclasses
import functools

import pytest

from devstack.processes import REPO_ROOT
from shared.domain import schema
from tests.infra.store_calls import constant
from tests.infra.terraform_model import platform_locals, unquote

IndexShape = tuple[str, frozenset[str], str, str]  # collection, equality fields, ordered field, direction


def _where_variants(func: ast.AST, node: ast.AST | None) -> list[frozenset[str]] | None:
    """The sets of equality fields a `where` argument can hold; None when unknown."""
    if node is None or (isinstance(node, ast.Constant) and node.value is None):
        return [frozenset()]
    if isinstance(node, ast.Dict):
        if not all(isinstance(k, ast.Constant) for k in node.keys):
            return None
        return [frozenset(k.value for k in node.keys)]  # type: ignore[union-attr]
    if isinstance(node, ast.IfExp):
        body, orelse = _where_variants(func, node.body), _where_variants(func, node.orelse)
        return None if body is None or orelse is None else body + orelse
    if isinstance(node, ast.Name):
        variants: list[frozenset[str]] = []
        added: set[str] = set()
        for stmt in ast.walk(func):
            if isinstance(stmt, ast.Assign):
                for target in stmt.targets:
                    if isinstance(target, ast.Name) and target.id == node.id:
                        found = _where_variants(func, stmt.value)
                        if found is None:
                            return None
                        variants += found
                    elif (isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name)
                          and target.value.id == node.id and isinstance(target.slice, ast.Constant)):
                        added.add(target.slice.value)
        if not variants:
            return None
        return variants + [v | added for v in variants if added]
    return None


@functools.cache
def code_queries() -> tuple[set[tuple[str, frozenset[str], str, str]], list[str]]:
    """(collection, equality fields, ordered field, direction) of each query needing a composite
    index, and the queries whose shape cannot be read (reported, never guessed)."""
    needed, unreadable = set(), []
    for path in sorted((REPO_ROOT / "shared").rglob("*.py")):
        module = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts)
        tree = ast.parse(path.read_text())
        imports = {a.asname or a.name: f"{n.module}.{a.name}" for n in ast.walk(tree)
                   if isinstance(n, ast.ImportFrom) and n.module for a in n.names}
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef):
                continue
            for call in ast.walk(func):
                if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                        and call.func.attr == "query" and "store" in ast.unparse(call.func.value)):
                    continue
                keywords = {k.arg: k.value for k in call.keywords}
                where = keywords.get("where", call.args[1] if len(call.args) > 1 else None)
                order = keywords.get("order_by", call.args[2] if len(call.args) > 2 else None)
                descending = constant(module, keywords.get("descending"), imports) or False
                variants = _where_variants(func, where)
                order_by = constant(module, order, imports) if order is not None else None
                place = f"{path.relative_to(REPO_ROOT)}:{call.lineno}"
                if variants is None or (order is not None and not isinstance(order_by, str)):
                    if order is not None and where is not None:
                        unreadable.append(place)
                    continue
                if order_by is None:
                    continue
                collection = constant(module, call.args[0], imports)
                for fields in variants:
                    if fields and order_by not in fields:
                        if not isinstance(collection, str):
                            unreadable.append(place)
                            continue
                        needed.add((collection, fields, order_by, "DESCENDING" if descending else "ASCENDING"))
    return needed, unreadable


def declared_indexes() -> dict[str, IndexShape]:
    """Terraform's local.composite_indexes (firestore.tf), by key."""
    declared = {}
    for name, spec in platform_locals()["composite_indexes"].items():
        fields = [(unquote(f), unquote(o)) for f, o in spec["fields"]]
        *equalities, (ordered, direction) = fields
        assert all(o == "ASCENDING" for _f, o in equalities)
        collection = unquote(spec["collection"])
        declared[unquote(name)] = (collection, frozenset(f for f, _o in equalities), ordered, direction)
    return declared


def schema_indexes(indexes: tuple[schema.CompositeIndex, ...] | None = None) -> dict[str, IndexShape]:
    """The schema's INDEXES, by name, in the shape the other two sources give."""
    return {i.name: (i.collection.value, frozenset(i.equalities), i.ordered, i.direction)
            for i in (schema.INDEXES if indexes is None else indexes)}


def index_mismatches(indexes: tuple[schema.CompositeIndex, ...] | None = None) -> list[str]:
    """Where the schema's indexes differ from Terraform's and from what the queries need."""
    listed, declared, (needed, _) = schema_indexes(indexes), declared_indexes(), code_queries()
    problems = [f"{name}: schema {listed.get(name)} != terraform {declared.get(name)}"
                for name in sorted(set(listed) | set(declared)) if listed.get(name) != declared.get(name)]
    problems += [f"a query needs {shape}, the schema lists none"
                 for shape in sorted(needed - set(listed.values()), key=str)]
    problems += [f"the schema lists {name}, no query needs it" for name, shape in sorted(listed.items())
                 if shape not in needed]
    return problems


def test_every_query_shape_is_readable():
    assert code_queries()[1] == []


def test_every_query_that_needs_a_composite_index_has_one_and_no_other_is_declared():
    needed, _ = code_queries()
    assert ("strategies", frozenset({"owner"}), "strategy_id", "ASCENDING") in needed
    assert set(declared_indexes().values()) == needed


def test_the_schema_lists_exactly_terraforms_indexes_and_the_queries_needs():
    assert index_mismatches() == []


@pytest.mark.parametrize("index", schema.INDEXES, ids=lambda i: i.name)
def test_the_check_reads_the_schema(index: schema.CompositeIndex):
    """Dropping or changing an index in the schema alone is caught: the check reads the schema."""
    without = tuple(i for i in schema.INDEXES if i is not index)
    assert any(index.name in problem for problem in index_mismatches(without))
    flipped = dataclasses.replace(index, direction="ASCENDING" if index.direction == "DESCENDING" else "DESCENDING")
    assert index_mismatches((*without, flipped))
