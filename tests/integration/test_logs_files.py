"""Logging as an operator sees it: LOG_LEVEL, LOG_FORMAT and per-service files in real processes."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devstack.processes import REPO_ROOT, free_port
from shared.config import CLOUD_SETTINGS, GATEWAY_SETTINGS, LOCAL_ONLY_SETTINGS, SECRET_SETTINGS, Settings

ORIGINAL_LINE = re.compile(r"^\|(DEBUG|INFO|WARNING|ERROR|CRITICAL)\|(?:[^|\\]|\\.)*\|"
                           r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\|file:[\w.]+\.py:line No\.\d+\|$")


def clean_env(**extra: str) -> dict[str, str]:
    """No exported setting reaches the process: only the test's .env and ``extra`` count."""
    tunable = {*CLOUD_SETTINGS, *SECRET_SETTINGS, *GATEWAY_SETTINGS, *LOCAL_ONLY_SETTINGS, "FUNCTION_TARGET"}
    env = {k: v for k, v in os.environ.items() if k not in tunable}
    return {**env, "PYTHONPATH": str(REPO_ROOT), **extra}


@contextlib.contextmanager
def embedded_stack(cwd: Path, env: dict[str, str]) -> Iterator[Path]:
    """`python -m devstack.embedded` run from ``cwd`` until healthy, then stopped; yields its console file."""
    port, console = free_port(), cwd / "console.out"
    with console.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "devstack.embedded", "--port", str(port), "--dashboards-port", "0"],
            cwd=cwd, env=env, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, console.read_text()
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok:
                    break
            assert time.monotonic() < deadline, console.read_text()
            time.sleep(0.2)
        yield console
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)


def test_the_embedded_stack_takes_its_logging_and_store_from_dotenv(tmp_path: Path):
    (tmp_path / ".env").write_text("LOG_FORMAT=original\nLOG_DIR=service-logs\nMT_SQLITE_PATH=store.sqlite\n"
                                   "MT_LOG_DIR=journey\n")
    with embedded_stack(tmp_path, clean_env()) as console:
        pass
    assert (tmp_path / "store.sqlite").is_file()
    service_log = (tmp_path / "service-logs" / "embedded.log").read_text()
    seeded = [line for line in service_log.splitlines() if "seeded the demo fund" in line]
    assert len(seeded) == 1 and ORIGINAL_LINE.match(seeded[0]), service_log
    assert seeded[0].startswith("|INFO|seeded the demo fund|") and "|file:embedded.py:line No." in seeded[0]
    assert all(ORIGINAL_LINE.match(line) for line in service_log.splitlines()), service_log
    assert seeded[0] in console.read_text()  # the console uses the same format


def test_log_level_warning_silences_info_and_the_environment_beats_dotenv(tmp_path: Path):
    (tmp_path / ".env").write_text("LOG_LEVEL=DEBUG\nLOG_DIR=service-logs\nMT_SQLITE_PATH=store.sqlite\n"
                                   "MT_LOG_DIR=journey\n")
    with embedded_stack(tmp_path, clean_env(LOG_LEVEL="WARNING")) as console:
        pass
    output = console.read_text()
    assert "Mathematricks embedded stack: webhook on" in output  # it ran, and printed its banner
    assert (tmp_path / "store.sqlite").is_file()
    assert "seeded the demo fund" not in output and " INFO " not in output and " DEBUG " not in output, output
    assert "seeded the demo fund" not in (tmp_path / "service-logs" / "embedded.log").read_text()


FORGE = "x\n|CRITICAL|forged|2026-01-01 00:00:00.000|file:a.py:line No.1|\r\x00\u2028end"
LOGGING_PROBE = f"""
import logging
from shared.logs import configure_logging
path = configure_logging("cerebro")
log = logging.getLogger("probe")
log.warning("evil %s", {FORGE!r})
try:
    raise ValueError({FORGE!r})
except ValueError:
    log.exception("failed")
log.info("quiet")
print(path)
"""


@pytest.mark.parametrize("log_format", ["original", "plain"])
def test_a_message_with_control_characters_stays_on_one_line(tmp_path: Path, log_format: str):
    (tmp_path / "probe.py").write_text(LOGGING_PROBE)
    done = subprocess.run([sys.executable, "probe.py"], cwd=tmp_path, capture_output=True, text=True,
                          env=clean_env(LOG_DIR=str(tmp_path / "logs"), LOG_FORMAT=log_format, LOG_LEVEL="WARNING"),
                          timeout=60)
    assert done.returncode == 0, done.stderr
    path = tmp_path / "logs" / "cerebro.log"
    assert done.stdout.strip() == str(path)
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "" and len(lines) == 3, lines  # two records, two lines; INFO was below the level
    evil, failed = lines[0], lines[1]
    assert "\r" not in evil and "\x00" not in evil and "\u2028" not in evil
    assert "\\n" in evil and "\\r\\0\\u2028end" in evil
    assert "Traceback" in failed and "ValueError" in failed
    assert done.stderr.splitlines() == lines[:2]  # the console carries the same two lines
    if log_format == "original":
        assert ORIGINAL_LINE.match(evil) and ORIGINAL_LINE.match(failed), lines
        assert evil.startswith("|WARNING|evil x\\n\\|CRITICAL\\|forged\\|")
        assert evil.endswith("|file:probe.py:line No.6|")
        assert evil.count("|") - evil.count("\\|") == 5
    else:
        assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} WARNING probe: evil x\\n\|CRITICAL\|forged", evil)


def test_a_cloud_function_logs_under_its_name_without_a_dotenv_and_never_its_secrets(tmp_path: Path):
    probe = ("import logging; from shared.runtime import services; services(); "
             "logging.getLogger('functions').info('handled one event')")
    secret = "123456:SECRET-token-never-logged"
    env = clean_env(FUNCTION_TARGET="execution", LOG_DIR=str(tmp_path / "logs"), LOG_LEVEL="DEBUG",
                    MT_SQLITE_PATH=str(tmp_path / "s.sqlite"), MT_LOG_DIR=str(tmp_path / "journey"),
                    TELEGRAM_BOT_TOKEN=secret, TELEGRAM_CHAT_ID="-100", TELEGRAM_API_URL="http://127.0.0.1:9/bot")
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    log = (tmp_path / "logs" / "execution.log").read_text()
    assert " INFO functions: handled one event" in log and "handled one event" in done.stderr
    assert secret not in log and secret not in done.stderr and secret not in done.stdout


def test_service_files_are_bounded_by_rotation(tmp_path: Path, monkeypatch):
    from shared import logs

    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    monkeypatch.setattr(logs, "MAX_LOG_BYTES", 4000)
    try:
        path = logs.configure_logging("webhook", Settings(service_log_dir=tmp_path, log_level="DEBUG"))
        assert path == tmp_path / "webhook.log"
        for number in range(400):
            logging.getLogger("rotation").debug("line %d %s", number, "x" * 80)
    finally:
        for handler in [h for h in root.handlers if h not in saved[1]]:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(saved[0])
    files = sorted(tmp_path.glob("webhook.log*"))
    assert [f.name for f in files] == ["webhook.log", *(f"webhook.log.{n}" for n in range(1, logs.LOG_BACKUPS + 1))]
    assert all(f.stat().st_size <= 4000 for f in files)
    assert "line 399 " in (tmp_path / "webhook.log").read_text()
