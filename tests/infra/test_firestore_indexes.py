"""Every Firestore query the code makes that needs a composite index has one in Terraform, and
Terraform declares no index nothing uses. The emulator does not enforce indexes, so a
missing one (strategies(owner, strategy_id) once) shows only in production, as an error.

Firestore serves equality filters alone, or one ordering alone, from its automatic
single-field indexes; equality filters plus an ordering on another field need a composite
index: the equality fields, then the ordered field in the query's direction."""

from __future__ import annotations

import ast
import importlib

from devstack.processes import REPO_ROOT
from tests.infra.terraform_model import platform_locals, unquote


def _constant(module: str, node: ast.AST | None, imports: dict[str, str]) -> object:
    """A literal, Collections.X, or a module-level constant; None when it is not one."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        owner = _constant(module, node.value, imports)
        value = getattr(owner, node.attr, None)
        return getattr(value, "value", value)
    if isinstance(node, ast.Name):
        source = imports.get(node.id, f"{module}.{node.id}")
        owner, _, name = source.rpartition(".")
        try:
            return getattr(importlib.import_module(owner), name)
        except (ImportError, AttributeError):
            return None
    return None


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
                descending = _constant(module, keywords.get("descending"), imports) or False
                variants = _where_variants(func, where)
                order_by = _constant(module, order, imports) if order is not None else None
                place = f"{path.relative_to(REPO_ROOT)}:{call.lineno}"
                if variants is None or (order is not None and not isinstance(order_by, str)):
                    if order is not None and where is not None:
                        unreadable.append(place)
                    continue
                if order_by is None:
                    continue
                collection = _constant(module, call.args[0], imports)
                for fields in variants:
                    if fields and order_by not in fields:
                        if not isinstance(collection, str):
                            unreadable.append(place)
                            continue
                        needed.add((collection, fields, order_by, "DESCENDING" if descending else "ASCENDING"))
    return needed, unreadable


def declared_indexes() -> set[tuple[str, frozenset[str], str, str]]:
    declared = set()
    for spec in platform_locals()["composite_indexes"].values():
        fields = [(unquote(f), unquote(o)) for f, o in spec["fields"]]
        *equalities, (ordered, direction) = fields
        assert all(o == "ASCENDING" for _f, o in equalities)
        declared.add((unquote(spec["collection"]), frozenset(f for f, _o in equalities), ordered, direction))
    return declared


def test_every_query_shape_is_readable():
    assert code_queries()[1] == []


def test_every_query_that_needs_a_composite_index_has_one_and_no_other_is_declared():
    needed, _ = code_queries()
    assert ("strategies", frozenset({"owner"}), "strategy_id", "ASCENDING") in needed
    assert needed == declared_indexes()
