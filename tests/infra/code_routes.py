"""Which Pub/Sub topics each deployed entry point publishes to, read from the code.

A service publishes wherever its code calls ``bus.publish``. So this walks the AST from each
entry point (``functions/<name>/main.py`` and the gateway VM's bridge) through the calls it can
reach, resolving receivers by their type annotations (``self._bus: Bus``, dataclass fields,
return annotations, constructors), and collects every ``publish`` whose topic it can evaluate
(``Topics.X``, ``Topics.X.dead_letter``, ``BRIDGED[...]``, or a parameter such as ``run_handler``'s
``f"{topic}-dead-letter"``, filled in at each call site). A Pub/Sub function's main.py hands its
event to ``serve``, which dispatches through the routing table (shared/entrypoints/routing.py):
there the walk follows the table, from the handler it names, and adds the dead letters of the
function's topics when its poison is dead-lettered. A ``publish`` whose topic it cannot
evaluate is reported, never guessed.
"""

from __future__ import annotations

import ast
import functools
import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from devstack.processes import REPO_ROOT
from shared.entrypoints.routing import FUNCTIONS, Function, OnPoison

# The deployed stack runs MT_BUS=pubsub (functions.tf's common_env), so an abstract Bus is PubSubBus.
IMPLEMENTATIONS = {"shared.ports.bus.Bus": "shared.adapters.bus_pubsub.PubSubBus"}
BUS_TYPES = {"shared.ports.bus.Bus", "shared.adapters.bus_pubsub.PubSubBus",
             "shared.adapters.bus_inprocess.InProcessBus"}
BRIDGE_ENTRY = "gateway_vm.bridge.__main__.main"
# The table's dispatcher: opaque to the walk, which follows the table instead (Routes.published).
SERVE = "shared.entrypoints.pubsub.serve"
RUN_HANDLER = "shared.entrypoints.pubsub.run_handler"


@dataclass(frozen=True)
class Param:
    """A topic that is the caller's argument ``name`` (plus ``suffix``)."""

    name: str
    suffix: str = ""


@dataclass(frozen=True)
class Unknown:
    where: str


Fact = str | Param | Unknown


@dataclass
class Module:
    name: str
    tree: ast.Module
    path: Path
    names: dict[str, str] = field(default_factory=dict)  # local name -> qualified name


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


class CodeIndex:
    """Every module under shared/, functions/ and gateway_vm/bridge/, with its classes and functions."""

    def __init__(self) -> None:
        self.modules: dict[str, Module] = {}
        self.defs: dict[str, tuple[Module, ast.AST]] = {}  # qualified name -> (module, FunctionDef/ClassDef)
        paths = [*(REPO_ROOT / "shared").rglob("*.py"), *(REPO_ROOT / "functions").glob("*/main.py"),
                 *(REPO_ROOT / "gateway_vm" / "bridge").glob("*.py")]
        for path in sorted(paths):
            module = Module(_module_name(path), ast.parse(path.read_text()), path)
            self.modules[module.name] = module
            for node in module.tree.body:
                if isinstance(node, ast.FunctionDef | ast.ClassDef):
                    self.defs[f"{module.name}.{node.name}"] = (module, node)
                    module.names[node.name] = f"{module.name}.{node.name}"
                    if isinstance(node, ast.ClassDef):
                        for item in node.body:
                            if isinstance(item, ast.FunctionDef):
                                self.defs[f"{module.name}.{node.name}.{item.name}"] = (module, item)
        for module in self.modules.values():
            for node in ast.walk(module.tree):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    for alias in node.names:
                        module.names.setdefault(alias.asname or alias.name, f"{node.module}.{alias.name}")
        for module in self.modules.values():  # re-exports: `from shared.x import Y` where x/__init__ imports Y
            for local, qualified in list(module.names.items()):
                module.names[local] = self.canonical(qualified)

    def canonical(self, qualified: str, depth: int = 0) -> str:
        if qualified in self.defs or depth > 5:
            return qualified
        owner, _, name = qualified.rpartition(".")
        if owner in self.modules and name in self.modules[owner].names:
            return self.canonical(self.modules[owner].names[name], depth + 1)
        return qualified

    def is_class(self, qualified: str) -> bool:
        return isinstance(self.defs.get(qualified, (None, None))[1], ast.ClassDef)

    def bases(self, cls: str) -> Iterator[str]:
        yield cls
        module, node = self.defs[cls]
        assert isinstance(node, ast.ClassDef)
        for base in node.bases:
            resolved = self.annotation(module, base)
            if resolved and self.is_class(resolved) and resolved != cls:
                yield from self.bases(resolved)

    def method(self, cls: str, name: str) -> str | None:
        cls = IMPLEMENTATIONS.get(cls, cls)
        for owner in self.bases(cls):
            if f"{owner}.{name}" in self.defs:
                return f"{owner}.{name}"
        return None

    def annotation(self, module: Module, node: ast.AST | None) -> str | None:
        """The class an annotation names (``X | None`` -> X; quoted names parsed)."""
        if node is None:
            return None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return self.annotation(module, ast.parse(node.value, mode="eval").body)
        if isinstance(node, ast.BinOp):
            return self.annotation(module, node.left) or self.annotation(module, node.right)
        if isinstance(node, ast.Name):
            return self.canonical(module.names.get(node.id, f"{module.name}.{node.id}"))
        if isinstance(node, ast.Attribute):
            return None
        return None

    def attribute_type(self, cls: str, attr: str) -> str | None:
        """A field's, an attribute's (set in __init__) or a property's class."""
        for owner in self.bases(IMPLEMENTATIONS.get(cls, cls)):
            module, node = self.defs[owner]
            assert isinstance(node, ast.ClassDef)
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) and item.target.id == attr:
                    return self.annotation(module, item.annotation)
                if isinstance(item, ast.FunctionDef) and item.name == attr:
                    return self.annotation(module, item.returns)
            init = self.defs.get(f"{owner}.__init__")
            if init is None:
                continue
            params = {a.arg: a.annotation for a in init[1].args.args}  # type: ignore[union-attr]
            for stmt in ast.walk(init[1]):
                if isinstance(stmt, ast.Assign | ast.AnnAssign):
                    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                    if any(isinstance(t, ast.Attribute) and t.attr == attr and isinstance(t.value, ast.Name)
                           and t.value.id == "self" for t in targets):
                        if isinstance(stmt, ast.AnnAssign):
                            return self.annotation(module, stmt.annotation)
                        value = stmt.value
                        if isinstance(value, ast.BoolOp):
                            value = value.values[-1]
                        if isinstance(value, ast.Name) and value.id in params:
                            return self.annotation(module, params[value.id])
                        if isinstance(value, ast.Call):
                            return _Scope(self, module, owner, init[1]).type_of(value)
        return None


@functools.cache
def code_index() -> CodeIndex:
    """Parsed once per test session: the code does not change under the tests."""
    return CodeIndex()


class _Scope:
    """Types of the names inside one function body."""

    def __init__(self, index: CodeIndex, module: Module, cls: str | None, func: ast.AST):
        self.index, self.module, self.cls, self.func = index, module, cls, func
        self.types: dict[str, str] = {}
        args = func.args  # type: ignore[attr-defined]
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
            if arg.arg == "self" and cls:
                self.types["self"] = cls
            elif (resolved := index.annotation(module, arg.annotation)) is not None:
                self.types[arg.arg] = resolved
        for node in ast.walk(func):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                if (resolved := self.type_of(node.value)) is not None:
                    self.types.setdefault(node.targets[0].id, resolved)
            elif isinstance(node, ast.NamedExpr) and (resolved := self.type_of(node.value)) is not None:
                self.types.setdefault(node.target.id, resolved)

    def target(self, node: ast.AST) -> str | None:
        """The function, method or class an expression names."""
        if isinstance(node, ast.Name):
            if node.id in self.types:
                return None
            qualified = self.index.canonical(self.module.names.get(node.id, f"{self.module.name}.{node.id}"))
            return qualified if qualified in self.index.defs else None
        if isinstance(node, ast.Attribute):
            owner = self.type_of(node.value)
            if owner and self.index.is_class(IMPLEMENTATIONS.get(owner, owner)):
                return self.index.method(owner, node.attr)
        return None

    def type_of(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            return self.types.get(node.id)
        if isinstance(node, ast.Attribute):
            owner = self.type_of(node.value)
            if owner and self.index.is_class(IMPLEMENTATIONS.get(owner, owner)):
                return self.index.attribute_type(owner, node.attr)
            return None
        if isinstance(node, ast.Call):
            called = self.target(node.func)
            if called is None:
                return None
            if self.index.is_class(called):
                return called
            module, func = self.index.defs[called]
            return self.index.annotation(module, func.returns)  # type: ignore[attr-defined]
        if isinstance(node, ast.BoolOp):
            return self.type_of(node.values[-1])
        return None


class Routes:
    """Publish facts per function, memoised; ``published(entry)`` is the closed set of topics."""

    def __init__(self, index: CodeIndex | None = None) -> None:
        self.index = index or code_index()
        self._facts: dict[str, frozenset[Fact]] = {}
        self._busy: set[str] = set()
        self._cut = 0
        self.publish_sites: dict[str, set[str]] = {}  # "module:line" -> entry points reaching it

    def published(self, entry: str, function: Function | None = None) -> set[Fact]:
        """What the entry point can publish; for a routed function, through its table handler too."""
        self._entry = entry
        found = set(self.facts(entry))
        if function is not None and function.handler:
            found |= self.facts(f"{function.handler_module}.{function.handler_name}")
            if function.on_poison is OnPoison.DEAD_LETTER:  # serve -> run_handler(topic=each trigger)
                for fact in self.facts(RUN_HANDLER):
                    found |= {t + fact.suffix for t in function.topics()} if isinstance(fact, Param) else {fact}
        return found

    def facts(self, qualified: str) -> frozenset[Fact]:
        if qualified in self._facts:
            return self._facts[qualified]
        if qualified == SERVE:
            return frozenset()
        if qualified in self._busy:
            self._cut += 1  # a recursive call: what depends on it is not memoised (it may be partial)
            return frozenset()
        if qualified not in self.index.defs:
            return frozenset()
        cuts = self._cut
        self._busy.add(qualified)
        module, node = self.index.defs[qualified]
        if isinstance(node, ast.ClassDef):
            init = self.index.method(qualified, "__init__")
            result = self.facts(init) if init else frozenset()
        else:
            cls = qualified.rsplit(".", 1)[0]
            result = frozenset(self._walk(module, cls if self.index.is_class(cls) else None, node))
        self._busy.discard(qualified)
        if self._cut == cuts or not self._busy:
            self._facts[qualified] = result
        return result

    def _walk(self, module: Module, cls: str | None, func: ast.AST) -> set[Fact]:
        scope = _Scope(self.index, module, cls, func)
        found: set[Fact] = set()
        call_funcs = {id(node.func) for node in ast.walk(func) if isinstance(node, ast.Call)}
        for node in ast.walk(func):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "publish":
                receiver = scope.type_of(node.func.value)
                if receiver is None or receiver in BUS_TYPES:
                    site = f"{module.name}:{node.lineno}"
                    self.publish_sites.setdefault(site, set()).add(getattr(self, "_entry", ""))
                    found |= self._topics(scope, node.args[0] if node.args else None, site)
                    continue
            if isinstance(node, ast.Call | ast.Attribute | ast.Name):
                called = scope.target(node.func if isinstance(node, ast.Call) else node)
                if called is None or (isinstance(node, ast.Attribute | ast.Name) and id(node) in call_funcs):
                    continue
                for fact in self.facts(called):
                    found |= self._bind(scope, fact, node, called) if isinstance(fact, Param) else {fact}
        return found

    def _bind(self, scope: _Scope, fact: Param, node: ast.AST, called: str) -> set[Fact]:
        """A callee's parameter topic, filled in with this call's argument."""
        if not isinstance(node, ast.Call):
            return set()
        callee = self.index.defs[called][1]
        if isinstance(callee, ast.ClassDef):
            return set()
        names = [a.arg for a in callee.args.args if a.arg != "self"]  # type: ignore[attr-defined]
        argument = next((k.value for k in node.keywords if k.arg == fact.name), None)
        if argument is None and fact.name in names and names.index(fact.name) < len(node.args):
            argument = node.args[names.index(fact.name)]
        site = f"{scope.module.name}:{getattr(node, 'lineno', 0)}"
        return {t + fact.suffix if isinstance(t, str) else (Param(t.name, t.suffix + fact.suffix)
                                                             if isinstance(t, Param) else t)
                for t in self._topics(scope, argument, site)}

    def _topics(self, scope: _Scope, node: ast.AST | None, site: str) -> set[Fact]:
        value = _evaluate(scope, node)
        if isinstance(value, str):
            return {value}
        if isinstance(value, Param):
            return {value}
        if isinstance(value, list | tuple | set):
            return {str(v) for v in value}
        return {Unknown(site)}


def _evaluate(scope: _Scope, node: ast.AST | None) -> object:
    """A topic expression's value: a topic name, several, a caller's parameter, or None."""
    params = {a.arg for a in scope.func.args.args}  # type: ignore[attr-defined]
    if isinstance(node, ast.Name) and node.id in params:
        return Param(node.id)
    if isinstance(node, ast.JoinedStr) and len(node.values) == 2:
        head, tail = node.values
        if isinstance(head, ast.FormattedValue) and isinstance(tail, ast.Constant):
            inner = _evaluate(scope, head.value)
            if isinstance(inner, Param):
                return Param(inner.name, inner.suffix + str(tail.value))
            if isinstance(inner, str):
                return inner + str(tail.value)
        return None
    if isinstance(node, ast.Subscript):  # BRIDGED[broker]: any of the table's topics
        table = _evaluate(scope, node.value)
        return [str(v) for v in table.values()] if isinstance(table, dict) else None
    if isinstance(node, ast.Attribute):
        owner = _evaluate(scope, node.value)
        attr = getattr(owner, node.attr, None) if owner is not None else None
        return attr.value if isinstance(attr, Enum) else attr
    if isinstance(node, ast.Name):
        qualified = scope.module.names.get(node.id, f"{scope.module.name}.{node.id}")
        module_name, _, name = qualified.rpartition(".")
        try:
            return getattr(importlib.import_module(module_name), name)
        except (ImportError, AttributeError):
            return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def entry_points() -> dict[str, str]:
    """Deployed entry point -> its qualified function: every functions/<name>/main.py, and the bridge."""
    found = {}
    for main in sorted((REPO_ROOT / "functions").glob("*/main.py")):
        for node in ast.parse(main.read_text()).body:
            if isinstance(node, ast.FunctionDef) and any("functions_framework" in ast.unparse(d)
                                                         for d in node.decorator_list):
                found[main.parent.name] = f"functions.{main.parent.name}.main.{node.name}"
    found["ibkr_bridge"] = BRIDGE_ENTRY
    return found


def handled_topics(name: str) -> set[str]:
    """Topics whose poison a function dead-letters itself (``serve`` -> ``run_handler``): its triggers."""
    function = FUNCTIONS.get(name)
    if function is None or function.on_poison is not OnPoison.DEAD_LETTER:
        return set()
    return {str(t) for t in function.topics()}


def bridge_subscriptions() -> set[str]:
    """Topics the bridge subscribes to (``self._bus.subscribe(Topics.X, ...)``)."""
    index = code_index()
    module = index.modules["gateway_vm.bridge.service"]
    found = set()
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "subscribe":
            scope = _Scope(index, module, None, ast.parse("def f(): pass").body[0])
            value = _evaluate(scope, node.args[0])
            if isinstance(value, str):
                found.add(value)
    return found


def published_by_entry() -> tuple[dict[str, set[Fact]], dict[str, set[str]]]:
    """Every entry point's topics, and which entry points reach each publish site."""
    routes = Routes()
    published = {name: routes.published(qualified, FUNCTIONS.get(name)) for name, qualified in entry_points().items()}
    return published, routes.publish_sites


def all_publish_sites() -> set[str]:
    """Every ``.publish(`` on a bus in shared/ and the bridge (the in-process bus's own re-publish aside)."""
    index = code_index()
    sites = set()
    for module in index.modules.values():
        if module.name == "shared.adapters.bus_inprocess" or module.name.startswith("functions."):
            continue
        for node in ast.walk(module.tree):
            if ((isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "publish"
                    and "bus" in ast.unparse(node.func.value).lower()) or _is_self_publish(module, node)):
                sites.add(f"{module.name}:{node.lineno}")
    return sites


def _is_self_publish(module: Module, node: ast.AST) -> bool:
    return (module.name == "shared.adapters.bus_pubsub" and isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute) and node.func.attr == "publish"
            and ast.unparse(node.func.value) == "self")
