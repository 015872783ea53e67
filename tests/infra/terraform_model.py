"""Read infra/terraform with python-hcl2 into what the cross-check tests compare."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2

from devstack.processes import REPO_ROOT

TERRAFORM = REPO_ROOT / "infra" / "terraform"
PLATFORM = TERRAFORM / "modules" / "platform"


def load(path: Path) -> dict[str, Any]:
    """Parsed once per file and content (python-hcl2 is slow); callers must not mutate it."""
    return _load(str(path), path.stat().st_mtime_ns)


@functools.cache
def _load(path: str, _mtime: int) -> dict[str, Any]:
    with open(path) as handle:
        return _bare_keys(hcl2.load(handle))


def _bare_keys(value: Any) -> Any:
    """python-hcl2 8 keeps the quotes of labels and keys ('"google_pubsub_topic"'); older
    parsers drop them. The tests compare bare names either way."""
    if isinstance(value, dict):
        return {_strip_quotes(k): _bare_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_bare_keys(v) for v in value]
    return value


def _strip_quotes(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def one(value: Any) -> Any:
    """python-hcl2 wraps every attribute and block in a one-element list."""
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value


def unquote(value: Any) -> Any:
    """Literal strings come back bare; expressions as ${...}."""
    value = one(value)
    return _strip_quotes(value) if isinstance(value, str) else value


@dataclass(frozen=True)
class DeclaredFunction:
    name: str
    entry_point: str
    trigger_topics: tuple[str, ...]
    publishes: tuple[str, ...]
    secret_env: tuple[str, ...]
    public: bool
    firestore_trigger: str | None = None  # the document path whose creations trigger it (Eventarc)


def _locals(path: Path) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for block in load(path).get("locals", []):
        merged.update({k: one(v) for k, v in block.items() if not k.startswith("__")})
    return merged


def declared_functions() -> dict[str, DeclaredFunction]:
    functions = _locals(PLATFORM / "functions.tf")["functions"]
    declared = {}
    for name, spec in functions.items():
        triggers = spec["trigger_topics"]
        publishes = spec["publishes"]
        declared[unquote(name)] = DeclaredFunction(
            name=unquote(name),
            entry_point=unquote(spec["entry_point"]),
            trigger_topics=tuple(unquote(t) for t in (triggers if isinstance(triggers, list) else [triggers])),
            publishes=tuple(unquote(t) for t in publishes),
            secret_env=tuple(unquote(s) for s in spec["secret_env"]),
            public=one(spec["public"]) is True,
            firestore_trigger=unquote(one(spec["firestore_trigger"])) if spec.get("firestore_trigger") else None,
        )
    return declared


def declared_environment() -> set[str]:
    return {unquote(k) for k in _locals(PLATFORM / "functions.tf")["common_env"]}


def declared_topics() -> set[str]:
    """The names inside `topics = toset([...])`."""
    return set(re.findall(r"""["']([a-z0-9-]+)["']""", str(_locals(PLATFORM / "pubsub.tf")["topics"])))


def resource(path: Path, kind: str, name: str) -> dict[str, Any]:
    for block in load(path)["resource"]:
        if name in block.get(kind, {}):
            return block[kind][name]
    raise KeyError(f"{kind}.{name} not in {path.name}")


def platform_locals() -> dict[str, Any]:
    """Every ``locals`` value of the platform module, by name."""
    merged: dict[str, Any] = {}
    for path in sorted(PLATFORM.glob("*.tf")):
        merged.update(_locals(path))
    return merged


def resources(folder: Path) -> list[tuple[str, str, dict[str, Any], Path]]:
    """(type, name, body, file) of every resource block in a module folder."""
    found = []
    for path in sorted(folder.glob("*.tf")):
        for block in load(path).get("resource", []):
            for kind, named in block.items():
                for name, body in named.items():
                    found.append((kind, name, body, path))
    return found


def variables(folder: Path) -> dict[str, dict[str, Any]]:
    """Every variable of a module or root folder, with its body (``default`` when optional)."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.tf")):
        for block in load(path).get("variable", []):
            found.update({k: v for k, v in block.items() if not k.startswith("__")})
    return found


def tfvars(path: Path) -> dict[str, Any]:
    """A .tfvars file's assignments."""
    return {k: v for k, v in load(path).items() if not k.startswith("__")}


def module_call(path: Path, name: str) -> dict[str, Any]:
    for block in load(path).get("module", []):
        if name in block:
            return {k: v for k, v in block[name].items() if not k.startswith("__")}
    raise KeyError(f"module.{name} not in {path.name}")


def strings(value: Any) -> list[str]:
    """A literal list of strings (``["a", "b"]``) as bare strings."""
    value = one(value) if not isinstance(value, list) or len(value) == 1 else value
    items = value if isinstance(value, list) else [value]
    return [unquote(item) for item in items]
