"""Tools for crash tests of the embedded stack run as a real subprocess.

The server is started exactly as an operator would start it (``python -m devstack.embedded``),
at the settings it ships with: every setting the environment could tune is removed from the
child's environment, so a crash test proves the defaults, not a tuned lease or limit.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from shared.config import CLOUD_SETTINGS, GATEWAY_SETTINGS, LOCAL_ONLY_SETTINGS, SECRET_SETTINGS

ROOT = Path(__file__).resolve().parents[2]


def default_env(sqlite_path: Path, log_dir: Path) -> dict[str, str]:
    """The inherited environment minus every setting Settings reads, plus the store and log paths:
    a developer's exported ORDER_CLAIM_LEASE_SECONDS must not make the test prove something else."""
    tunable = {*CLOUD_SETTINGS, *SECRET_SETTINGS, *GATEWAY_SETTINGS, *LOCAL_ONLY_SETTINGS}
    env = {name: value for name, value in os.environ.items() if name not in tunable}
    return {**env, "MT_SQLITE_PATH": str(sqlite_path), "MT_LOG_DIR": str(log_dir), "MT_ENV_FILE": ""}


class EmbeddedServer:
    """One port and one store file, served by successive lives of the embedded process.

    Each life writes its output to its own file (``server-<n>.out``), so what a life said
    just before it was killed can be read afterwards.
    """

    def __init__(self, port: int, env: dict[str, str], output_dir: Path, poll_seconds: float = 2.0):
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self._env = env
        self._output_dir = output_dir
        self._poll_seconds = poll_seconds
        self.process: subprocess.Popen[bytes] | None = None
        self.outputs: list[Path] = []

    def start(self, healthy_within: float = 60.0) -> float:
        """Start a new life and wait for /healthz; returns how long it took."""
        assert self.process is None or self.process.poll() is not None, "the previous life is still running"
        began = time.monotonic()
        output = self._output_dir / f"server-{len(self.outputs) + 1}.out"
        self.outputs.append(output)
        with output.open("wb") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "devstack.embedded", "--host", "127.0.0.1", "--port", str(self.port),
                 "--dashboards-port", "0", "--poll-seconds", f"{self._poll_seconds:g}"],
                cwd=ROOT, env=self._env, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = began + healthy_within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode} while starting:\n"
                                   f"{self.tail()}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.base_url}/healthz", timeout=2).ok:
                    return time.monotonic() - began
            time.sleep(0.1)
        raise RuntimeError(f"the server was not healthy within {healthy_within:g}s:\n{self.tail()}")

    def kill9(self) -> None:
        """SIGKILL this life (only the process we started) and reap it."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def terminate(self, timeout: float = 30.0) -> bool:
        """SIGTERM, as an operator stops it; True if it exited by itself within ``timeout``."""
        if self.process is None or self.process.poll() is not None:
            return True
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            self.kill9()
            return False

    def stop_quietly(self) -> None:
        """For ``finally``: whatever state it is in, leave no process behind."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(OSError):
                os.kill(self.process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)

    def tail(self, characters: int = 3000) -> str:
        return self.outputs[-1].read_text(errors="replace")[-characters:] if self.outputs else ""

    def output_lines(self, containing: str) -> list[tuple[int, str]]:
        """(life, line) for every line of every life's output that contains ``containing``."""
        return [(life, line) for life, path in enumerate(self.outputs, 1)
                for line in path.read_text(errors="replace").splitlines() if containing in line]


Alert = tuple[str, dict[str, Any], bool]  # (alert id, webhook body, delivered twice at once)


@dataclass
class Tally:
    """What the senders saw, shared between their threads."""

    accepted: dict[str, str] = field(default_factory=dict)  # our alert id -> the server's signal id
    answers: Counter = field(default_factory=Counter)  # HTTP status -> count
    refused: dict[str, str] = field(default_factory=dict)  # alert id -> the 4xx answer
    resends: Counter = field(default_factory=Counter)  # why a delivery was sent again
    lock: threading.Lock = field(default_factory=threading.Lock)


class Sender:
    """Delivers one alert like a patient TradingView: every transport failure or 5xx is resent
    (after a short sleep) until the server answers 2xx or 4xx. A server being down loses nothing."""

    def __init__(self, url: str, tally: Tally, give_up_at: float, retry_sleep: float = 0.1):
        self._url = url
        self._tally = tally
        self._give_up_at = give_up_at
        self._retry_sleep = retry_sleep
        self.abort = threading.Event()  # set when the test gives up, so no sender outlives it

    def deliver(self, alert_id: str, body: dict[str, Any]) -> int:
        data = json.dumps(body)
        while True:
            if self.abort.is_set() or time.monotonic() > self._give_up_at:
                raise TimeoutError(f"alert {alert_id} was still not answered 2xx/4xx when the sending stopped")
            try:
                answer = requests.post(self._url, data=data, headers={"Content-Type": "application/json"},
                                       timeout=15)
            except requests.RequestException as error:
                self._resent(type(error).__name__)
                continue
            if answer.status_code >= 500:
                self._resent(f"HTTP {answer.status_code}")
                continue
            self._record(alert_id, answer)
            return answer.status_code

    def _resent(self, reason: str) -> None:
        with self._tally.lock:
            self._tally.resends[reason] += 1
        time.sleep(self._retry_sleep)

    def _record(self, alert_id: str, answer: requests.Response) -> None:
        with self._tally.lock:
            self._tally.answers[answer.status_code] += 1
            if answer.status_code in (200, 202):
                signal_id = answer.json()["signal_id"]
                earlier = self._tally.accepted.setdefault(alert_id, signal_id)
                assert earlier == signal_id, f"{alert_id} was given two signal ids: {earlier} and {signal_id}"
            else:
                self._tally.refused[alert_id] = f"{answer.status_code} {answer.text[:300]}"


def send_all(alerts: list[Alert], sender: Sender, errors: list[str], senders: int) -> list[threading.Thread]:
    """Start ``senders`` threads over the alerts; a twice-delivered alert is posted by two threads
    released together. What a thread could not deliver is added to ``errors``."""
    work = iter(alerts)
    take = threading.Lock()

    def deliver_together(alert_id: str, body: dict[str, Any]) -> None:
        gate = threading.Barrier(2, timeout=30)

        def post() -> None:
            gate.wait()
            sender.deliver(alert_id, body)

        twin = threading.Thread(target=guarded, args=(post,), name=f"twin-{alert_id}")
        twin.start()
        post()
        twin.join()

    def guarded(action: Any, *args: Any) -> None:
        try:
            action(*args)
        except Exception as error:  # noqa: BLE001 - reported by the test, not lost in a thread
            errors.append(f"{threading.current_thread().name}: {type(error).__name__}: {error}")

    def run() -> None:
        while True:
            with take:
                alert = next(work, None)
            if alert is None:
                return
            alert_id, body, twice = alert
            if twice:
                guarded(deliver_together, alert_id, body)
            else:
                guarded(sender.deliver, alert_id, body)

    threads = [threading.Thread(target=run, name=f"sender-{i}") for i in range(senders)]
    for thread in threads:
        thread.start()
    return threads


class StoreReader:
    """Read-only look at the store file while the server owns it: no writes, no schema or index
    creation (SqliteStore would create indexes), so the reader cannot perturb what it watches."""

    def __init__(self, sqlite_path: Path):
        self._path = sqlite_path

    def documents(self, collection: str) -> list[dict[str, Any]]:
        if not self._path.exists():
            return []
        connection = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True, timeout=5)
        try:
            rows = connection.execute("SELECT data FROM documents WHERE collection=?", (collection,)).fetchall()
        except sqlite3.OperationalError:
            return []  # not created yet, or busy: the caller polls again
        finally:
            connection.close()
        return [json.loads(row[0]) for row in rows]


def journey_lines(log_dir: Path, ids: list[str], per_id: int = 12) -> list[str]:
    """The journey of each of ``ids`` (signal or client order ids), a repeated step shown once
    with its count, so a signal swept fifty times reads as one line."""
    path = log_dir / "signal_processing.log"
    if not path.exists() or not ids:
        return []
    lines = path.read_text(errors="replace").splitlines()
    shown: list[str] = []
    for wanted in ids:
        steps: dict[str, tuple[str, int]] = {}  # step without its time -> (first line, count)
        for line in (line for line in lines if wanted in line):
            step = line.split(" | ", 1)[-1]
            first, count = steps.get(step, (line, 0))
            steps[step] = (first, count + 1)
        shown.append(f"{wanted}:")
        shown.extend(f"    {first}" + (f"  (x{count})" if count > 1 else "")
                     for first, count in list(steps.values())[:per_id])
    return shown


def journey_counts(log_dir: Path, phrases: tuple[str, ...]) -> dict[str, int]:
    """How often each phrase occurs in the journey log: resumes, sweeps, redeliveries."""
    path = log_dir / "signal_processing.log"
    text = path.read_text(errors="replace") if path.exists() else ""
    return {phrase: text.count(phrase) for phrase in phrases}
