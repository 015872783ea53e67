"""docs/architecture.md's import rules, checked: each room of ``shared/`` imports only the rooms
the document allows, so the pure core stays pure and the wiring stays in one place. The few
exceptions are listed here, each with why, so a new one is a decision rather than a drift."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Room -> the rooms it may import (besides itself). Rooms are shared/<name> (package or module).
ALLOWED: dict[str, set[str]] = {
    "domain": set(),
    "portfolio": set(),  # pure maths over return series
    "ports": {"domain"},
    "config": {"domain"},
    "logs": {"config"},
    "journey": set(),
    "auth": {"domain", "ports", "config"},
    "notify": {"domain", "auth"},
    "services": {"domain", "ports", "portfolio", "auth", "journey", "notify", "config"},
    "adapters": {"domain", "ports", "config"},
    "dashboards": {"domain", "ports", "portfolio", "services"},
    "demo_instruments": {"domain"},
    "demo": {"domain", "ports", "services", "auth", "adapters", "demo_instruments"},
    # The outer rooms: the composition root and the entry points may use everything.
    "bootstrap": {"*"},
    "runtime": {"*"},
    "entrypoints": {"*"},
    "openapi": {"*"},
}

# Known exceptions: (importing file, imported room) -> why it is tolerated for now.
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("shared/services/ingest.py", "entrypoints"):
        "ingest builds the webhook's HTTP answer; it asks entrypoints.http for the refusal's status",
    ("shared/services/refusals.py", "entrypoints"):
        "the refusal audit record stores the status the delivery was answered with",
    ("shared/services/execution_service.py", "adapters"):
        "which brokers are reached over a bridge topic comes from the broker registry",
    ("shared/services/strategy_registry.py", "adapters"):
        "a strategy's eligible brokers are validated against the broker registry",
    ("shared/dashboards/documents.py", "adapters"): "the Mock's own FX table values paper accounts",
}


def _room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "shared" and len(parts) > 1 else None


def _imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def test_each_room_imports_only_what_the_architecture_allows():
    found, used = [], set()
    for path in sorted((REPO / "shared").rglob("*.py")):
        if path.parent == REPO / "shared" and path.name == "__init__.py":
            continue
        relative = path.relative_to(REPO).as_posix()
        source = _room(".".join(path.relative_to(REPO).with_suffix("").parts))
        assert source in ALLOWED, f"{relative}: room {source!r} is not in docs/architecture.md's table"
        for module in _imports(path):
            target = _room(module)
            if target is None or target == source or "*" in ALLOWED[source] or target in ALLOWED[source]:
                continue
            if (relative, target) in EXCEPTIONS:
                used.add((relative, target))
                continue
            found.append(f"{relative} imports {module} ({source} -> {target})")
    assert not found, "\n".join(found)
    assert used == set(EXCEPTIONS), f"exceptions no longer needed: {set(EXCEPTIONS) - used}"


def test_the_domain_imports_no_third_party_io():
    """The pure core: models and rules, no store, bus, network or clock of its own."""
    forbidden = ("google", "pymongo", "sqlite3", "requests", "flask", "kiteconnect", "ib_async", "socket")
    for path in sorted((REPO / "shared" / "domain").rglob("*.py")):
        for module in _imports(path):
            assert not module.startswith(forbidden), f"{path.name} imports {module}"
