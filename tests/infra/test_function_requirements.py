"""Each function's requirements are derived from its imports (devstack/package_functions.py):
they must cover everything it can import, keep the heavy libraries where they are used, and be
exactly what its zip ships. The last test runs each packaged function with every distribution
outside its requirements made unimportable, the way its slim install behaves in the cloud."""

from __future__ import annotations

import importlib.metadata
import io
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from functools import cache
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from devstack.package_functions import (
    build_zip,
    canonical,
    declared_requirements,
    function_imports,
    function_names,
    function_requirements,
    imported_distributions,
    module_files,
    requirements_txt,
)

# Big libraries no Cloud Function imports: the dashboards image and the gateway VM use them.
NEVER_IN_FUNCTIONS = {"streamlit", "pyarrow", "ib-async", "altair"}
# shared/portfolio (numpy, scipy) is imported only by the dashboard documents and the portfolio
# optimiser. pandas (and numpy under it) reaches every function: shared/domain/sessions.py imports
# it with exchange_calendars at module level, and every function imports cerebro_service.
PORTFOLIO_USERS = {"dashboard_creator", "strategy_registry"}


@cache
def installs(requirements: frozenset[str]) -> frozenset[str]:
    """The distributions pip installs for these requirement lines (with the extras they name)."""
    found: set[str] = set()
    pending = [Requirement(line) for line in requirements]
    while pending:
        requirement = pending.pop()
        name = canonical(requirement.name)
        if name in found:
            continue
        found.add(name)
        for line in importlib.metadata.requires(requirement.name) or []:
            child = Requirement(line)
            if child.marker is None or any(child.marker.evaluate({"extra": e}) for e in {"", *requirement.extras}):
                pending.append(child)
    return frozenset(found)


@cache
def installed_for(name: str) -> frozenset[str]:
    return installs(frozenset(function_requirements(name)))


def listed(name: str) -> set[str]:
    return {canonical(Requirement(line).name) for line in function_requirements(name)}


@pytest.mark.parametrize("name", function_names())
def test_requirements_cover_every_import_the_function_can_reach(name: str):
    declared = declared_requirements()
    assert all(line in declared.values() for line in function_requirements(name))
    installed = installed_for(name)
    imports = function_imports(name).third_party
    for distribution, modules in imported_distributions(name).items():
        sites = [site for module in modules for site in imports[module]]
        assert distribution in installed, f"{name} imports {modules} ({sites}) but nothing installs {distribution}"
        if distribution in declared:
            assert distribution in listed(name), f"{name} imports {distribution} ({sites}) without requiring it"


def test_heavy_libraries_reach_only_the_functions_that_import_them():
    for name in function_names():
        assert not installed_for(name) & NEVER_IN_FUNCTIONS, name
    assert {name for name in function_names() if "scipy" in installed_for(name)} == PORTFOLIO_USERS
    assert {name for name in function_names() if "numpy" in listed(name)} == PORTFOLIO_USERS
    webhook = installed_for("webhook")
    assert not webhook & {"streamlit", "scipy", "pyarrow", "ib-async", "altair"}
    assert {"flask", "functions-framework", "pydantic", "google-cloud-firestore", "google-cloud-pubsub"} <= webhook


@pytest.mark.parametrize("name", function_names())
def test_each_zip_ships_exactly_its_derivation(name: str):
    with zipfile.ZipFile(io.BytesIO(build_zip(name))) as archive:
        entries = set(archive.namelist())
        shipped = archive.read("requirements.txt").decode()
    assert shipped == requirements_txt(name)
    assert [line for line in shipped.splitlines() if not line.startswith("#")] == function_requirements(name)
    assert entries == {"main.py", "requirements.txt", *module_files(name)}
    assert ("shared/entrypoints/routes/strategies.py" in entries) == (name == "strategy_registry")
    assert ("shared/portfolio/optimisers.py" in entries) == (name in PORTFOLIO_USERS)


def test_the_walk_follows_a_lazy_import_only_where_its_code_can_run(tmp_path: Path):
    _write(tmp_path, "functions/f/main.py", """
        import flask
        from shared.app import App
        App().wired.go()
    """)
    _write(tmp_path, "shared/__init__.py", "")
    _write(tmp_path, "shared/app.py", """
        import functools
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            import streamlit
        class App:
            @functools.cached_property
            def wired(self):
                from shared.wired import Wired
                return Wired()
            @functools.cached_property
            def heavy(self):
                import scipy
                return scipy
        def never_called():
            import pyarrow
    """)
    _write(tmp_path, "shared/wired.py", """
        class Wired:
            def go(self):
                import pandas
            def __repr__(self):
                import numpy
    """)
    found = function_imports("f", tmp_path)
    assert found.modules == ("main", "shared", "shared.app", "shared.wired")
    assert set(found.third_party) == {"flask", "pandas", "numpy"}


@pytest.mark.parametrize("name", function_names())
def test_the_packaged_function_runs_with_only_its_requirements(name: str, tmp_path: Path):
    """Unpack the zip, hide every installed distribution its requirements do not install, build
    its services and call it as the packaging test does: a missing requirement fails here."""
    with zipfile.ZipFile(io.BytesIO(build_zip(name))) as archive:
        archive.extractall(tmp_path / "pkg")
    installed = installed_for(name)
    provided = importlib.metadata.packages_distributions()
    allowed = sorted(top for top, dists in provided.items() if {canonical(d) for d in dists} & installed)
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(tmp_path / "pkg"), "MT_ENV_FILE": "", "MT_STORE": "sqlite",
           "MT_BUS": "inprocess", "MT_SQLITE_PATH": str(tmp_path / "store.sqlite"), "MT_LOG_DIR": str(tmp_path),
           "FUNCTION_TARGET": name}
    run = subprocess.run([sys.executable, "-c", _RUN, name, json.dumps(allowed)], cwd=tmp_path / "pkg", env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    answer = json.loads(run.stdout.strip().splitlines()[-1])
    assert answer["status"] < 500, answer


_RUN = textwrap.dedent("""
    import base64, importlib.abc, importlib.machinery, json, site, sys
    name, allowed = sys.argv[1], set(json.loads(sys.argv[2]))
    installed = tuple(site.getsitepackages())

    class Hide(importlib.abc.MetaPathFinder):
        # installed distributions outside the function requirements are not there
        def find_spec(self, fullname, path, target=None):
            if fullname.partition(".")[0] in allowed:
                return None
            spec = importlib.machinery.PathFinder.find_spec(fullname, path)
            if spec is not None and (spec.origin or "").startswith(installed):
                raise ModuleNotFoundError(f"No module named {fullname!r} (not in {name}'s requirements)",
                                          name=fullname)
            return None

    sys.meta_path.insert(0, Hide())
    import functions_framework
    client = functions_framework.create_app(name, "main.py").test_client()
    if name == "webhook":
        answer = client.post("/webhook", data=b"{broken", content_type="application/json")
    elif name == "strategy_registry":
        answer = client.get("/api/strategies")
    elif name == "account_poller":
        answer = client.post("/")
    else:
        message = {"data": base64.b64encode(b'{"unexpected": true}').decode(), "messageId": "1", "attributes": {},
                   "publishTime": "2026-11-24T00:00:00Z"}
        answer = client.post("/", json={"subscription": "projects/p/subscriptions/s", "message": message})
    print(json.dumps({"status": answer.status_code}))
""")


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
