"""Start, wait for and stop the local stack's processes (used by the CLI and the tests).

Each process gets its own session, so stopping it stops its whole process group:
killing only the gcloud wrapper would leave the emulator's Java child running.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class ManagedProcess:
    name: str
    pid: int
    port: int
    log_path: Path
    popen: subprocess.Popen | None = None

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        try:
            os.kill(self.pid, 0)
        except OSError:
            return False
        return True

    def stop(self, timeout: float = 10.0) -> None:
        stop_process_group(self.pid, timeout)
        if self.popen is not None:
            self.popen.wait(timeout=timeout)


def start_process(name: str, argv: Sequence[str], log_dir: Path, port: int,
                  env: Mapping[str, str] | None = None) -> ManagedProcess:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with open(log_path, "ab") as log:
        popen = subprocess.Popen(
            list(argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=REPO_ROOT, env={**os.environ, **(env or {})}, start_new_session=True,
        )
    return ManagedProcess(name, popen.pid, port, log_path, popen)


def stop_process_group(pid: int, timeout: float = 10.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.05)


def wait_for_log(process: ManagedProcess, marker: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if marker in process.log_path.read_text(errors="replace"):
            return
        if not process.alive():
            break
        time.sleep(0.1)
    tail = process.log_path.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"{process.name} did not report {marker!r}; log tail:\n{tail}")


def wait_for_port(process: ManagedProcess, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", process.port)) == 0:
                return
        if not process.alive():
            break
        time.sleep(0.05)
    tail = process.log_path.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"{process.name} is not listening on {process.port}; log tail:\n{tail}")


def gcloud_available() -> bool:
    return shutil.which("gcloud") is not None and shutil.which("java") is not None


def start_pubsub_emulator(log_dir: Path, project: str, port: int | None = None) -> ManagedProcess:
    port = port or free_port()
    data_dir = log_dir / f"pubsub-data-{port}"
    data_dir.mkdir(parents=True, exist_ok=True)
    process = start_process(
        "pubsub-emulator",
        ["gcloud", "beta", "emulators", "pubsub", "start", f"--host-port=127.0.0.1:{port}",
         f"--project={project}", f"--data-dir={data_dir}", "--quiet"],
        log_dir, port,
    )
    wait_for_log(process, "Server started")
    return process


def start_firestore_emulator(log_dir: Path, port: int | None = None) -> ManagedProcess:
    port = port or free_port()
    process = start_process(
        "firestore-emulator",
        ["gcloud", "emulators", "firestore", "start", f"--host-port=127.0.0.1:{port}", "--quiet"],
        log_dir, port,
    )
    wait_for_log(process, "Dev App Server is now running")
    return process


def start_dashboards(port: int, env: Mapping[str, str], log_dir: Path) -> ManagedProcess:
    """The Streamlit dashboards, reading the store ``env`` names and writing through MT_API_URL."""
    executable = Path(sys.executable).with_name("streamlit")
    process = start_process("dashboards", [
        str(executable), "run", str(REPO_ROOT / "dashboards_streamlit" / "app.py"), f"--server.port={port}",
        "--server.address=127.0.0.1", "--server.headless=true", "--browser.gatherUsageStats=false",
        "--client.toolbarMode=viewer"], log_dir, port, env)
    wait_for_port(process, timeout=60)
    return process
