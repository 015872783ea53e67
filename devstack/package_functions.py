"""Build one deployable zip per Cloud Function: its main.py at the root, the first-party
modules it can run, and a requirements.txt of the distributions those modules import.

Both are derived from the code, never hand-listed: an AST walk from the function's main.py
through every `shared` module it can reach (lazy imports inside functions included when
that function can run), then each third-party module mapped to its installed distribution
and to the version specifier pyproject.toml declares for it. So a function installs what
its own imports need (the webhook no scipy or streamlit), and a new import updates its zip.

Zips are byte-for-byte reproducible (sorted entries, fixed timestamps), so the
content hash in each file name changes only when the code does, and Terraform
redeploys exactly the functions whose code changed.
"""

from __future__ import annotations

import argparse
import ast
import functools
import hashlib
import importlib.metadata
import io
import json
import re
import sys
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from devstack.processes import REPO_ROOT

FIXED_TIME = (2020, 1, 1, 0, 0, 0)
FIRST_PARTY = "shared"
# Decorators that only wrap a def (it still runs only when called by name); any other
# decorator may register it (a route, a validator), so its def counts as reachable.
_WRAPPERS = {"property", "cached_property", "cache", "lru_cache", "staticmethod", "classmethod", "abstractmethod",
             "setter", "override", "wraps"}


def function_names(root: Path = REPO_ROOT) -> list[str]:
    return sorted(p.parent.name for p in (root / "functions").glob("*/main.py"))


def runtime_requirements(root: Path = REPO_ROOT) -> str:
    """Every runtime dependency: the gateway VM's bundle (and the reference install)."""
    return "\n".join(_project(root)["dependencies"]) + "\n"


# --- the import graph --------------------------------------------------------------------------

@dataclass
class _Unit:
    """Code that runs together: a module's top level (on import), or one def's body (when
    something names it). Nested defs and lambdas belong to the def around them."""

    name: str | None  # None: the module's top level
    always: bool
    imports: list[tuple[str, int]] = field(default_factory=list)  # (dotted module, line)
    names: set[str] = field(default_factory=set)  # names and attributes it uses


@dataclass(frozen=True)
class FunctionImports:
    modules: tuple[str, ...]  # first-party modules the function can import, "main" first
    third_party: dict[str, tuple[str, ...]]  # imported third-party module -> "module:line" sites


def function_imports(name: str, root: Path = REPO_ROOT) -> FunctionImports:
    """Walk to a fixed point: a reached module's top level runs; a def in it runs when
    reached code names it (by name or attribute, so over-approximated), when a non-wrapping
    decorator registers it, when it is a dunder, or when its class has a base class (whose
    machinery may call it). Imports in running code reach further modules. The handler the
    routing table names for the function (imported by name when it runs) is reached too."""
    units: dict[str, list[_Unit]] = {}
    files = {"main": root / "functions" / name / "main.py"}
    units["main"] = [*_units(files["main"], "main", False), *_routed_handler(name)]
    names: set[str] = set()
    done: set[tuple[str, int]] = set()
    third: dict[str, set[str]] = {}
    changed = True
    while changed:
        changed = False
        for module, module_units in list(units.items()):
            for index, unit in enumerate(module_units):
                if (module, index) in done or not (unit.always or unit.name in names):
                    continue
                done.add((module, index))
                changed = True
                names |= unit.names
                for imported, line in unit.imports:
                    top = imported.split(".")[0]
                    if top == FIRST_PARTY:
                        for dotted, path in _first_party_chain(imported, root):
                            if dotted not in units:
                                files[dotted] = path
                                units[dotted] = _units(path, dotted, path.name == "__init__.py")
                    elif top not in sys.stdlib_module_names and top != "__future__" and _is_module_name(imported):
                        third.setdefault(imported, set()).add(f"{module}:{line}")
    modules = ("main", *sorted(m for m in units if m != "main"))
    return FunctionImports(modules, {m: tuple(sorted(s)) for m, s in sorted(third.items())})


def _routed_handler(name: str) -> list[_Unit]:
    """The routing table's handler for this function, as code main.py runs (``serve`` imports
    it from its "module:function" name, which no import statement shows)."""
    from shared.entrypoints.routing import FUNCTIONS

    function = FUNCTIONS.get(name)
    if function is None or not function.handler:
        return []
    return [_Unit(None, True, [(function.handler_module, 0)], {function.handler_name})]


def _is_module_name(imported: str) -> bool:
    """`from x import Name` is recorded as both x and x.Name; keep only what can be a module."""
    last = imported.rsplit(".", 1)[-1]
    return not last[:1].isupper() and last != "*"


def _first_party_chain(dotted: str, root: Path) -> list[tuple[str, Path]]:
    """The module and every package above it (importing a.b.c runs a/__init__ and a/b/__init__)."""
    parts = dotted.split(".")
    chain = []
    for end in range(1, len(parts) + 1):
        path = root.joinpath(*parts[:end])
        if (path / "__init__.py").is_file():
            chain.append((".".join(parts[:end]), path / "__init__.py"))
        elif path.with_suffix(".py").is_file():
            chain.append((".".join(parts[:end]), path.with_suffix(".py")))
    return chain


def _units(path: Path, module: str, is_package: bool) -> list[_Unit]:
    return _parse(path, path.stat().st_mtime_ns, module, is_package)


@functools.lru_cache(maxsize=512)
def _parse(path: Path, _mtime: int, module: str, is_package: bool) -> list[_Unit]:
    top = _Unit(None, True)
    units = [top]
    top_nodes: list[ast.AST] = []

    def visit(statements: list[ast.stmt], in_class: bool, based: bool) -> None:
        for statement in statements:
            if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
                wrappers = [_decorator_name(d) in _WRAPPERS for d in statement.decorator_list]
                always = statement.name.startswith("__") or not all(wrappers) or based
                units.append(_collect(_Unit(statement.name, always), [statement], module, is_package))
                top_nodes.extend([*statement.decorator_list, *statement.args.defaults])
            elif isinstance(statement, ast.ClassDef) and not in_class:
                top_nodes.extend([*statement.bases, *statement.keywords, *statement.decorator_list])
                visit(statement.body, True, bool(statement.bases))
            elif not (isinstance(statement, ast.If) and "TYPE_CHECKING" in ast.unparse(statement.test)):
                top_nodes.append(statement)  # imports under TYPE_CHECKING never run

    visit(ast.parse(path.read_text(), str(path)).body, False, False)
    _collect(top, top_nodes, module, is_package)
    return units


def _collect(unit: _Unit, nodes: list[ast.AST], module: str, is_package: bool) -> _Unit:
    for root_node in nodes:
        for node in ast.walk(root_node):
            if isinstance(node, ast.Name):
                unit.names.add(node.id)
            elif isinstance(node, ast.Attribute):
                unit.names.add(node.attr)
            elif isinstance(node, ast.Import):
                unit.imports.extend((alias.name, node.lineno) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(node, module, is_package)
                unit.imports.append((base, node.lineno))
                for alias in node.names:  # the name may be a submodule: try it as one
                    unit.imports.append((f"{base}.{alias.name}", node.lineno))
                    unit.names.add(alias.name)
    return unit


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".") if is_package else module.split(".")[:-1]
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join([*parts, *([node.module] if node.module else [])])


def _decorator_name(decorator: ast.expr) -> str:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    if isinstance(target, ast.Attribute):
        return target.attr
    return target.id if isinstance(target, ast.Name) else ""


# --- modules to distributions to requirements ------------------------------------------------

def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_requirements(root: Path = REPO_ROOT) -> dict[str, str]:
    """pyproject.toml's runtime dependencies by canonical distribution name, as written."""
    lines = _project(root)["dependencies"]
    return {canonical(re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line).group()): line for line in lines}


def distribution_of(module: str) -> str | None:
    """The installed distribution that provides an imported module. A namespace package such as
    `google` is shared by many: the deepest module path any of them ships decides, and a path
    several ship (`google.cloud` itself) is None: the module imported from it names the owner."""
    candidates = _packages_distributions().get(module.split(".")[0], [])
    if len(candidates) == 1:
        return canonical(candidates[0])
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        prefix = "/".join(parts[:end])
        owners = {canonical(d) for d in candidates if prefix in _shipped_paths(d)}
        if owners:
            return owners.pop() if len(owners) == 1 else None
    raise LookupError(f"no installed distribution provides {module!r}: install the project (pip install -e .)")


@functools.cache
def _packages_distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


@functools.cache
def _shipped_paths(distribution: str) -> frozenset[str]:
    """Every module path a distribution ships: 'google/cloud/firestore', 'google/cloud', ..."""
    paths = set()
    for file in importlib.metadata.files(distribution) or []:
        parts = file.with_suffix("").parts if file.suffix == ".py" else file.parts[:-1]
        parts = parts[:-1] if parts and parts[-1] == "__init__" else parts
        paths.update("/".join(parts[:end]) for end in range(1, len(parts) + 1))
    return frozenset(paths)


def imported_distributions(name: str, root: Path = REPO_ROOT) -> dict[str, tuple[str, ...]]:
    """Distribution -> the third-party modules the function imports from it."""
    found: dict[str, set[str]] = {}
    for module in function_imports(name, root).third_party:
        if (dist := distribution_of(module)) is not None:
            found.setdefault(dist, set()).add(module)
    return {dist: tuple(sorted(modules)) for dist, modules in sorted(found.items())}


def function_requirements(name: str, root: Path = REPO_ROOT) -> list[str]:
    """The declared requirement of every distribution the function imports directly. One it
    imports but pyproject.toml does not declare (cloudevents, protobuf) is left to the declared
    distribution that installs it; tests/infra/test_function_requirements.py checks that one does."""
    declared = declared_requirements(root)
    return [declared[dist] for dist in imported_distributions(name, root) if dist in declared]


def requirements_txt(name: str, root: Path = REPO_ROOT) -> str:
    header = f"# Derived from the imports of functions/{name}/main.py by devstack/package_functions.py.\n"
    return header + "".join(f"{line}\n" for line in function_requirements(name, root))


def module_files(name: str, root: Path = REPO_ROOT) -> dict[str, Path]:
    """Zip path -> source file of every first-party module the function can import."""
    chains = (_first_party_chain(m, root) for m in function_imports(name, root).modules if m != "main")
    return {path.relative_to(root).as_posix(): path for chain in chains for _, path in chain}


# --- zips ----------------------------------------------------------------------------------------

def build_zip(name: str, root: Path = REPO_ROOT) -> bytes:
    entries = {
        "main.py": (root / "functions" / name / "main.py").read_bytes(),
        "requirements.txt": requirements_txt(name, root).encode(),
        **{zip_path: path.read_bytes() for zip_path, path in module_files(name, root).items()},
    }
    return _zip(entries)


def build_gateway_bundle(root: Path = REPO_ROOT) -> bytes:
    """gateway_vm/ (bridge, compose file, units, scripts) and shared/, for the VM's startup script."""
    return _zip({"requirements.txt": runtime_requirements(root).encode(),
                 **_tree(root, "gateway_vm", "*"), **_tree(root, "shared", "*.py")})


def _project(root: Path) -> dict:
    return tomllib.loads((root / "pyproject.toml").read_text())["project"]


def _tree(root: Path, folder: str, pattern: str) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted((root / folder).rglob(pattern))
        if path.is_file() and "__pycache__" not in path.parts
    }


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for filename in sorted(entries):
            info = zipfile.ZipInfo(filename, date_time=FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entries[filename])
    return buffer.getvalue()


def package_all(out_dir: Path, root: Path = REPO_ROOT) -> dict[str, str]:
    """Write <name>-<sha256[:16]>.zip per function, a manifest.json Terraform reads,
    and gateway_vm.zip."""
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for name in function_names(root):
        content = build_zip(name, root)
        filename = f"{name}-{hashlib.sha256(content).hexdigest()[:16]}.zip"
        (out_dir / filename).write_bytes(content)
        manifest[name] = filename
    (out_dir / "gateway_vm.zip").write_bytes(build_gateway_bundle(root))
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "functions")
    parser.add_argument("--show", action="store_true", help="print each function's derived requirements")
    args = parser.parse_args(argv)
    if args.show:
        for name in function_names():
            print(f"{name}: {', '.join(function_requirements(name))}")
        return
    for name, filename in package_all(args.out).items():
        print(f"{name}: {args.out / filename}")


if __name__ == "__main__":
    main()
