"""Where `up` records what it started, so `status` and `down` work from any later shell.

``$MT_STACK_DIR/stack.json`` (default ``logs/``) lists the components in start order, each
with its PID (also its process group), port, log and the process's start time from /proc:
a PID the kernel has since reused for something else is then not mistaken for ours.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from devstack.processes import REPO_ROOT, ManagedProcess, is_running, process_start_time

LOG_DIR = Path(os.environ.get("MT_STACK_DIR", REPO_ROOT / "logs"))
STATE_FILE = LOG_DIR / "stack.json"


def record(process: ManagedProcess, health_url: str = "", expect: str | None = None) -> dict[str, Any]:
    """A component as stack.json keeps it; ``health_url``/``expect`` are what `status` probes."""
    return {"name": process.name, "pid": process.pid, "port": process.port, "log": str(process.log_path),
            "started_at": process_start_time(process.pid), "health_url": health_url, "expect": expect}


def load() -> dict[str, Any] | None:
    try:
        return json.loads(STATE_FILE.read_text())
    except (OSError, ValueError):
        return None


def save(state: dict[str, Any]) -> None:
    STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
    temporary = STATE_FILE.with_suffix(".tmp")
    temporary.write_text(json.dumps(state, indent=2))
    temporary.replace(STATE_FILE)


def remove() -> None:
    STATE_FILE.unlink(missing_ok=True)


def component_alive(component: dict[str, Any]) -> bool:
    """Running, and the same process `up` started (its /proc start time unchanged)."""
    pid = component["pid"]
    if not is_running(pid):
        return False
    recorded, actual = component.get("started_at"), process_start_time(pid)
    return recorded is None or actual is None or abs(actual - recorded) < 2.0
