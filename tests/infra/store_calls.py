"""The store calls in the code, read from its AST, and the constants their arguments name: the
schema check needs the collection each call names, the index check the same constants."""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from devstack.processes import REPO_ROOT

STORE_METHODS = frozenset({"get", "put", "create", "replace_if", "delete", "query", "put_many", "update", "set"})
# A receiver that is a Store or a Transaction: store, self._store, services.store, tx, ...
_RECEIVER = re.compile(r"(^|\.)_?store$|^(tx|transaction)$")


@dataclass(frozen=True)
class StoreCall:
    path: Path
    module: str
    call: ast.Call
    imports: dict[str, str]

    @property
    def place(self) -> str:
        return f"{self.path.relative_to(REPO_ROOT)}:{self.call.lineno}"

    @property
    def method(self) -> str:
        return self.call.func.attr  # type: ignore[attr-defined]


def constant(module: str, node: ast.AST | None, imports: dict[str, str]) -> object:
    """A literal, Collections.X, or a module-level constant; None when it is not one."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        owner = constant(module, node.value, imports)
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


def _imports(tree: ast.Module, module: str) -> dict[str, str]:
    """Local name -> dotted source, resolving relative imports against the module."""
    package = module.rpartition(".")[0]
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = node.module or ""
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                source = f"{base}.{source}" if source else base
            for alias in node.names:
                found[alias.asname or alias.name] = f"{source}.{alias.name}"
    return found


def store_calls(*roots: str) -> Iterator[StoreCall]:
    """Every call of a Store or Transaction method under the given top-level folders."""
    for root in roots:
        for path in sorted((REPO_ROOT / root).rglob("*.py")):
            module = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts)
            tree = ast.parse(path.read_text())
            imports = _imports(tree, module)
            for call in ast.walk(tree):
                if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.args
                        and call.func.attr in STORE_METHODS and _RECEIVER.search(ast.unparse(call.func.value))):
                    yield StoreCall(path, module, call, imports)
