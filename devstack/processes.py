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
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
STOP_GRACE_SECONDS = 10.0  # SIGTERM's grace before SIGKILL: waitress and the emulators shut down within it


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could bind ``port`` now (SO_REUSEADDR as servers set it, so only a
    live listener, not a TIME_WAIT leftover, makes it busy)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        probe.settimeout(1.0)
        return probe.connect_ex((host, port)) == 0


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name (field 3, the state, is index 0)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def is_running(pid: int) -> bool:
    """Alive and not a zombie (a killed child nobody reaped still answers kill(pid, 0))."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def process_start_time(pid: int) -> float | None:
    """The process's real start (epoch seconds), from /proc: not when some CLI recorded it."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    try:
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
    except (OSError, StopIteration):
        return None
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def _all_stats() -> dict[int, list[str]]:
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))) is not None:
            stats[int(entry.name)] = fields
    return stats


def group_members(pgid: int) -> set[int]:
    """Every running process started under ``pgid``: the group, plus descendants that left it."""
    stats = {pid: f for pid, f in _all_stats().items() if f[0] not in ("Z", "X")}
    members = {pid for pid, fields in stats.items() if int(fields[2]) == pgid}
    children: dict[int, list[int]] = {}
    for pid, fields in stats.items():
        children.setdefault(int(fields[1]), []).append(pid)
    pending = list(members | ({pgid} if pgid in stats else set()))
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in members:
                members.add(child)
                pending.append(child)
    return members


def group_rss_kib(pgid: int) -> int:
    """Resident memory of the whole group (the gcloud wrapper and its Java child)."""
    page_kib = os.sysconf("SC_PAGE_SIZE") // 1024
    return sum(int(fields[21]) * page_kib for pid in group_members(pgid)
               if (fields := _stat_fields(pid)) is not None)


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def listens_on(pgid: int, port: int) -> bool:
    """Whether a process of this group owns the listener on ``port`` (not some other server)."""
    targets = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    for pid in group_members(pgid) if targets else ():
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in targets:
                        return True
    return False


def http_answers(url: str, expect: str | None = None, timeout: float = 2.0) -> bool:
    """Any HTTP answer at all (``expect`` None), or a 200 whose body contains ``expect``."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            body = answer.read(65536).decode(errors="replace")
            return expect is None or (answer.status == 200 and expect in body)
    except urllib.error.HTTPError:
        return expect is None  # the server answered, with an error status
    except (OSError, ValueError):
        return False


def log_tail(path: Path, chars: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


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
        return is_running(self.pid)

    def stop(self, timeout: float = STOP_GRACE_SECONDS) -> None:
        stop_process_group(self.pid, timeout)
        if self.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)

    def died(self) -> str:
        """Why it is not alive, for error messages."""
        code = self.popen.poll() if self.popen is not None else None
        return f"{self.name} exited" + (f" with code {code}" if code is not None else "")


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


def stop_process_group(pid: int, timeout: float = STOP_GRACE_SECONDS) -> set[int]:
    """SIGTERM the group (and descendants that left it), SIGKILL what outlives ``timeout``;
    returns the survivors (empty unless something ignored SIGKILL)."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        members = group_members(pid)
        if not members:
            return set()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        for member in members:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(member, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and group_members(pid):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.05)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    return group_members(pid)


def wait_for_log(process: ManagedProcess, marker: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if marker in log_tail(process.log_path, 1_000_000):
            return
        if not process.alive():
            break
        time.sleep(0.1)
    raise RuntimeError(f"{process.name} did not report {marker!r}; log tail:\n{log_tail(process.log_path)}")


def wait_healthy(process: ManagedProcess, health: Callable[[], bool] | None = None, timeout: float = 30.0) -> None:
    """Healthy means alive, owning the listener on its port (another server already there does
    not count) and, when given, its own health check answering."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(f"{process.died()} while starting; log tail:\n{log_tail(process.log_path)}")
        listening = not process.port or listens_on(process.pid, process.port)
        # alive() again: it may have died while the check ran
        if listening and (health is None or health()) and process.alive():
            return
        time.sleep(0.1)
    what = f"healthy on port {process.port}" if process.port else "healthy"
    raise RuntimeError(f"{process.name} did not become {what} within {timeout:.0f}s; "
                       f"log tail:\n{log_tail(process.log_path)}")


def wait_for_port(process: ManagedProcess, timeout: float = 30.0) -> None:
    """Alive and listening on its own port (see ``wait_healthy``)."""
    wait_healthy(process, None, timeout)


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
    return _ready_or_stopped(process, lambda: wait_for_log(process, "Server started"))


def start_firestore_emulator(log_dir: Path, port: int | None = None) -> ManagedProcess:
    port = port or free_port()
    process = start_process(
        "firestore-emulator",
        ["gcloud", "emulators", "firestore", "start", f"--host-port=127.0.0.1:{port}", "--quiet"],
        log_dir, port,
    )
    return _ready_or_stopped(process, lambda: wait_for_log(process, "Dev App Server is now running"))


def start_dashboards(port: int, env: Mapping[str, str], log_dir: Path) -> ManagedProcess:
    """The Streamlit dashboards, reading the store ``env`` names and writing through MT_API_URL."""
    executable = Path(sys.executable).with_name("streamlit")
    process = start_process("dashboards", [
        str(executable), "run", str(REPO_ROOT / "dashboards_streamlit" / "app.py"), f"--server.port={port}",
        "--server.address=127.0.0.1", "--server.headless=true", "--browser.gatherUsageStats=false",
        "--client.toolbarMode=viewer"], log_dir, port, env)
    return _ready_or_stopped(process, lambda: wait_healthy(
        process, lambda: http_answers(f"http://127.0.0.1:{port}/_stcore/health", "ok"), timeout=60))


def _ready_or_stopped(process: ManagedProcess, wait: Callable[[], None]) -> ManagedProcess:
    """The process once ``wait`` saw it ready; stopped (nothing left behind) when it did not."""
    try:
        wait()
    except BaseException:
        process.stop()
        raise
    return process
