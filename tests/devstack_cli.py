"""The operator's CLI as the tests drive it: ``python -m devstack ...`` in a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devstack.processes import REPO_ROOT, free_port


def cli(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "devstack", *args], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def stack_env(root: Path, **extra: str) -> dict[str, str]:
    """A stack of its own under ``root`` at the shipped defaults: no developer's .env, no live credentials."""
    env = {name: value for name, value in os.environ.items() if name != "ZERODHA_ACCOUNTS"}
    return {**env, "MT_STACK_DIR": str(root / "logs"), "MT_LOG_DIR": str(root / "logs"),
            "MT_SQLITE_PATH": str(root / "data" / "store.sqlite"), "MT_ENV_FILE": "", **extra}


@contextmanager
def cli_stack(root: Path) -> Iterator[tuple[dict[str, str], int, int]]:
    """The embedded stack with its dashboards, started by ``devstack up`` under ``root`` and
    brought down afterwards: (its environment, the webhook's port, the dashboards' port)."""
    env = stack_env(root)
    port, dashboards = free_port(), free_port()
    started = cli("up", f"--port={port}", f"--dashboards-port={dashboards}", env=env)
    assert started.returncode == 0, started.stderr
    try:
        yield env, port, dashboards
    finally:
        cli("down", env=env)
