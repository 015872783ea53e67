"""`devstack up`'s prerequisite checks: each prints one line, and any failure stops `up`
before it starts anything (a busy port found after the start looks like a success)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from devstack.processes import REPO_ROOT, port_free
from devstack.switches import broker_mode, broker_mode_problem
from shared.config import Settings

# What each stack imports in the processes it starts.
MODULES = {
    "embedded": ("flask", "waitress"),
    "emulators": ("flask", "functions_framework", "google.cloud.pubsub_v1", "google.cloud.firestore"),
}


@dataclass(frozen=True)
class Check:
    ok: bool
    label: str
    detail: str = ""

    def line(self) -> str:
        return f"  [{'ok' if self.ok else 'FAIL'}] {self.label}" + (f": {self.detail}" if self.detail else "")


def _writable(label: str, directory: Path) -> Check:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return Check(False, f"{label} {directory}", f"cannot create it ({error.strerror})")
    if not os.access(directory, os.W_OK | os.X_OK):
        return Check(False, f"{label} {directory}", "not writable")
    return Check(True, f"{label} {directory} writable")


def _module_present(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a missing parent package
        return False


def run_checks(stack: str, ports: dict[str, int], log_dir: Path, settings_env: dict[str, str],
               live: bool, use_mock_broker: bool) -> list[Check]:
    """Every prerequisite, in the order a newcomer would fix them."""
    checks = []
    for label, port in ports.items():
        free = port_free(port)
        checks.append(Check(free, f"{label} port {port} " + ("free" if free else "busy"),
                            "" if free else "address already in use: stop what listens there or pick another"))
    modules = [*MODULES[stack], *(("streamlit",) if "dashboards" in ports else ())]
    missing = [name for name in modules if not _module_present(name)]
    checks.append(Check(not missing, "python packages", f"missing {', '.join(missing)} (pip install -e .[dev])"
                        if missing else f"{len(modules)} found in {sys.prefix}"))
    tools = [*(("functions-framework",) if stack == "emulators" else ()),
             *(("streamlit",) if "dashboards" in ports else ())]
    absent = [tool for tool in tools if not Path(sys.executable).with_name(tool).exists()]
    if tools:
        checks.append(Check(not absent, "console scripts", f"missing {', '.join(absent)} beside {sys.executable}"
                            if absent else ", ".join(tools)))
    if stack == "emulators":
        found = {tool: shutil.which(tool) for tool in ("gcloud", "java")}
        lacking = [tool for tool, where in found.items() if where is None]
        checks.append(Check(not lacking, "gcloud and java for the emulators",
                            f"{', '.join(lacking)} not on PATH" if lacking else ""))
    checks.append(_writable("log dir", log_dir))
    try:
        settings = Settings.from_env(settings_env)
    except (ValueError, OSError) as error:
        checks.append(Check(False, "settings", str(error)))
        return checks
    journey_dir = REPO_ROOT / settings.log_dir  # the stack's processes run in the repository root
    if journey_dir.resolve() != log_dir.resolve():
        checks.append(_writable("journey log dir", journey_dir))
    if stack == "embedded":
        checks.append(_writable("data dir", (REPO_ROOT / settings.sqlite_path).parent))
    problem = broker_mode_problem(settings, live, use_mock_broker)
    checks.append(Check(problem is None, "brokers", problem or broker_mode(settings, live, use_mock_broker)))
    return checks
