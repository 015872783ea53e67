"""The process handling under `devstack up/down`: a health wait that another server's
listener cannot fool, and a stop that leaves no child behind, stubborn or escaped."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest

from devstack.processes import is_running, process_start_time, start_process, stop_process_group, wait_healthy
from devstack.status import clean, table

TREE = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
sleeper = [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"]
child = subprocess.Popen(sleeper)
escaped = subprocess.Popen(sleeper, start_new_session=True)
print("pids", child.pid, escaped.pid, flush=True)
time.sleep(600)
"""


def test_a_server_dying_on_a_port_someone_else_answers_is_a_failure(tmp_path: Path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        dying = start_process("server", [sys.executable, "-c", "import sys, time; time.sleep(0.5); "
                                         "sys.exit('OSError: [Errno 98] Address already in use')"], tmp_path, port)
        with pytest.raises(RuntimeError, match="server exited with code 1") as failure:
            wait_healthy(dying)
    assert "Address already in use" in str(failure.value)  # the log's tail comes with the reason


def test_stop_leaves_no_child_behind_even_one_ignoring_sigterm_or_in_its_own_session(tmp_path: Path):
    leader = start_process("tree", [sys.executable, "-c", TREE], tmp_path, 0)
    deadline = time.monotonic() + 30
    log = tmp_path / "tree.log"
    while "pids" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    child, escaped = (int(pid) for pid in log.read_text().split("pids", 1)[1].split())
    assert all(is_running(pid) for pid in (leader.pid, child, escaped))
    assert stop_process_group(leader.pid) == set()
    assert [pid for pid in (leader.pid, child, escaped) if is_running(pid)] == []


def test_process_start_time_is_the_real_one(tmp_path: Path):
    before = time.time()
    process = start_process("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path, 0)
    try:
        started = process_start_time(process.pid)
        assert started is not None and before - 2 <= started <= time.time() + 1
    finally:
        process.stop()


def test_columns_fit_their_content_and_control_characters_stay_on_one_row():
    lines = table(["component", "state"], [["function-strategy_registry", "running"], ["x", "DEAD"]])
    assert lines[1] == "function-strategy_registry  running"
    assert lines[2].index("DEAD") == lines[1].index("running")
    assert clean("AB\nCD\x1b[31m") == "AB\\nCD\\x1b[31m"
