"""`devstack up/status/down` through the real interface (`python -m devstack ...` as a
subprocess), on the embedded stack: refusing a busy port, failing loudly when the server
dies, reporting a killed component as DEAD, and leaving no process behind."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.processes import free_port, group_members, is_running
from tests.devstack_cli import cli, stack_env


@pytest.fixture
def cli_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = stack_env(tmp_path)
    yield env
    cli("down", env=env)  # whatever a failed assertion left running


def state(env: dict[str, str]) -> dict:
    return json.loads((Path(env["MT_STACK_DIR"]) / "stack.json").read_text())


def processes_mentioning(text: str) -> list[int]:
    """Running processes whose command line contains ``text`` (this test's unique port)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text in cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                pid = int(cmdline.parent.name)
                if pid != os.getpid() and is_running(pid):
                    found.append(pid)
        except OSError:
            continue
    return found


def test_up_on_a_busy_port_exits_non_zero_with_the_reason_and_starts_nothing(cli_env: dict[str, str]):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        started = cli("up", f"--port={port}", "--dashboards-port=0", env=cli_env)
    assert started.returncode != 0, started.stdout
    assert f"webhook port {port} busy" in started.stderr and "address already in use" in started.stderr
    assert "is up" not in started.stdout
    assert not (Path(cli_env["MT_STACK_DIR"]) / "stack.json").exists()
    assert processes_mentioning(f"--port={port}") == []


def test_up_fails_loudly_when_the_server_dies_while_starting(cli_env: dict[str, str], tmp_path: Path):
    unopenable = tmp_path / "a-directory-not-a-database"
    unopenable.mkdir()
    port = free_port()
    started = cli("up", f"--port={port}", "--dashboards-port=0", env={**cli_env, "MT_SQLITE_PATH": str(unopenable)})
    assert started.returncode == 1, started.stdout
    assert "embedded exited with code" in started.stderr and "log tail" in started.stderr
    assert "unable to open database file" in started.stderr  # the server's own error, from its log
    assert "is up" not in started.stdout
    assert not (Path(cli_env["MT_STACK_DIR"]) / "stack.json").exists()
    assert processes_mentioning(f"--port={port}") == []


def test_status_reports_a_killed_component_as_dead(cli_env: dict[str, str]):
    port = free_port()
    started = cli("up", f"--port={port}", "--dashboards-port=0", env=cli_env)
    assert started.returncode == 0, started.stdout + started.stderr
    healthy = cli("status", env=cli_env)
    assert healthy.returncode == 0, healthy.stdout
    assert "1/1 running, 0 issues" in healthy.stdout and "open" in healthy.stdout

    from shared.adapters.store_sqlite import SqliteStore
    from shared.domain.models import Collections

    store = SqliteStore(cli_env["MT_SQLITE_PATH"])
    store.create(Collections.SIGNALS, "sig-newline", {
        "signal_id": "sig-newline", "received_at": "2026-01-01T00:00:00", "strategy_id": "demo", "status": "open",
        "signal": {"action": "BUY", "instrument": {"symbol": "AB\nCD"}}})
    store.close()
    pid = state(cli_env)["components"][0]["pid"]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while is_running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)

    dead = cli("status", env=cli_env)
    assert dead.returncode == 1, dead.stdout
    row = next(line for line in dead.stdout.splitlines() if line.startswith("embedded ") and str(pid) in line)
    assert row.split()[1] == "DEAD"
    assert "0/1 running, " in dead.stdout and "1/1 running" not in dead.stdout
    summary = next(line for line in dead.stdout.splitlines() if " running, " in line)
    assert int(summary.split(", ")[1].split()[0]) >= 1  # the dead server is an issue (and its health check)
    signal_row = next(line for line in dead.stdout.splitlines() if "sig-newline" in line)
    assert "AB\\nCD" in signal_row  # the ticker's newline is escaped, on the signal's own row
    stopped = cli("down", env=cli_env)
    assert stopped.returncode == 0 and f"embedded ({pid}) was already dead" in stopped.stdout


def test_down_stops_every_process_and_child_in_reverse_order(cli_env: dict[str, str]):
    port, dashboards = free_port(), free_port()
    started = cli("up", f"--port={port}", f"--dashboards-port={dashboards}", env=cli_env)
    assert started.returncode == 0, started.stdout + started.stderr
    components = state(cli_env)["components"]
    assert [c["name"] for c in components] == ["embedded", "dashboards"]
    everything = set().union(*(group_members(c["pid"]) for c in components))
    assert {c["pid"] for c in components} <= everything

    stopped = cli("down", env=cli_env)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert stopped.stdout.index("stopped dashboards") < stopped.stdout.index("stopped embedded")
    assert [pid for pid in everything if is_running(pid)] == []
    assert processes_mentioning(f"--port={port}") == [] and processes_mentioning(f"port={dashboards}") == []
    assert not (Path(cli_env["MT_STACK_DIR"]) / "stack.json").exists()
    assert cli("status", env=cli_env).returncode == 1  # not running


def test_up_checks_every_prerequisite_with_a_line_each(cli_env: dict[str, str]):
    started = cli("up", "--stack=emulators", f"--port={free_port()}", "--dashboards-port=0",
                  env={**cli_env, "PATH": "/nonexistent"})
    assert started.returncode == 2, started.stdout
    lines = started.stdout.splitlines()
    assert any(line.startswith("  [ok] webhook port") for line in lines)
    assert any(line.startswith("  [ok] log dir") for line in lines)
    assert "  [FAIL] gcloud and java for the emulators: gcloud, java not on PATH" in lines
    assert "gcloud, java not on PATH" in started.stderr
    assert not (Path(cli_env["MT_STACK_DIR"]) / "stack.json").exists()
