"""The local stack CLI, as a newcomer uses it: up, send a signal, status, down."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from devstack.processes import REPO_ROOT, free_port
from tests.devstack_cli import cli, stack_env


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    return stack_env(tmp_path)


def wait_for_fills(env: dict[str, str], expected: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while True:
        output = cli("status", env=env).stdout
        if expected in output or time.monotonic() > deadline:
            return output
        time.sleep(0.5)


@pytest.mark.parametrize("stack", ["embedded", "emulators"])
def test_up_send_status_down(stack: str, cli_env: dict[str, str], request: pytest.FixtureRequest):
    if stack == "emulators":
        from tests.emulators import require_gcloud

        require_gcloud()
    port, dashboards = free_port(), free_port()
    started = cli("up", f"--stack={stack}", f"--port={port}", f"--dashboards-port={dashboards}", env=cli_env)
    try:
        assert started.returncode == 0, started.stderr
        again = cli("up", f"--stack={stack}", f"--port={port}", env=cli_env)
        assert again.returncode == 1 and "already running" in again.stderr
        sent = subprocess.run([sys.executable, "tests/signals_testing/send_test_signal.py", "--file",
                               "sample_signals/equity_buy.json", "--url", f"http://127.0.0.1:{port}/webhook"],
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
        assert sent.returncode == 0 and sent.stdout.startswith("202 "), sent.stdout + sent.stderr
        output = wait_for_fills(cli_env, "orders 2/2 filled")
        assert "orders 2/2 filled" in output, output
        assert json.loads(sent.stdout.partition(" ")[2])["signal_id"] in output
        assert "DEAD" not in output and "running" in output and "dashboards" in output
        assert re.search(r"^(\d+)/\1 running, 0 issues$", output, re.MULTILINE), output  # every component
        assert requests.get(f"http://127.0.0.1:{dashboards}/_stcore/health", timeout=10).text == "ok"
    finally:
        stopped = cli("down", env=cli_env)
    assert stopped.returncode == 0
    state = Path(cli_env["MT_STACK_DIR"]) / "stack.json"
    assert not state.exists()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
