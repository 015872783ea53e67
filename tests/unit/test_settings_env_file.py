"""`.env` reaches the settings of a fresh process; the real environment beats it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from devstack.processes import REPO_ROOT
from shared.config import CLOUD_SETTINGS, GATEWAY_SETTINGS, LOCAL_ONLY_SETTINGS, SECRET_SETTINGS, load_env_file

PROBE = ("import json; from shared.config import Settings; s = Settings.from_env(); "
         "print(json.dumps({'notional': s.limits.max_order_notional, 'sqlite': s.sqlite_path, "
         "'level': s.log_level, 'format': s.log_format, 'log_dir': str(s.service_log_dir)}))")


def clean_env(**extra: str) -> dict[str, str]:
    """The inherited environment without any setting, so only the test's .env and ``extra`` count."""
    tunable = {*CLOUD_SETTINGS, *SECRET_SETTINGS, *GATEWAY_SETTINGS, *LOCAL_ONLY_SETTINGS}
    env = {k: v for k, v in os.environ.items() if k not in tunable}
    return {**env, "PYTHONPATH": str(REPO_ROOT), **extra}


def settings_in(cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", PROBE], cwd=cwd, env=clean_env(**extra), capture_output=True,
                          text=True, timeout=60)


def read(cwd: Path, **extra: str) -> dict[str, object]:
    done = settings_in(cwd, **extra)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_dotenv_in_the_working_directory_changes_the_settings(tmp_path: Path):
    assert read(tmp_path) == {"notional": 5_000_000.0, "sqlite": "data/mtrader.sqlite", "level": "INFO",
                              "format": "plain", "log_dir": "None"}
    (tmp_path / ".env").write_text("# a comment\nMAX_ORDER_NOTIONAL=1234\nMT_SQLITE_PATH='my store.sqlite'\n"
                                   "LOG_LEVEL=warning\nLOG_FORMAT=original\nLOG_DIR=service-logs\n")
    assert read(tmp_path) == {"notional": 1234.0, "sqlite": "my store.sqlite", "level": "WARNING",
                              "format": "original", "log_dir": "service-logs"}


def test_a_real_environment_variable_beats_the_dotenv(tmp_path: Path):
    (tmp_path / ".env").write_text("MAX_ORDER_NOTIONAL=1234\nLOG_LEVEL=DEBUG\n")
    assert read(tmp_path, MAX_ORDER_NOTIONAL="999", LOG_LEVEL="ERROR") == {
        "notional": 999.0, "sqlite": "data/mtrader.sqlite", "level": "ERROR", "format": "plain", "log_dir": "None"}
    # Set but empty is still the environment's word: the default, not the file's value.
    assert read(tmp_path, MAX_ORDER_NOTIONAL="")["notional"] == 5_000_000.0


def test_mt_env_file_names_another_file_or_none(tmp_path: Path):
    (tmp_path / ".env").write_text("MAX_ORDER_NOTIONAL=1234\n")
    elsewhere = tmp_path / "conf" / "fund.env"
    elsewhere.parent.mkdir()
    elsewhere.write_text("MAX_ORDER_NOTIONAL=777\n")
    assert read(tmp_path, MT_ENV_FILE=str(elsewhere))["notional"] == 777.0
    assert read(tmp_path, MT_ENV_FILE="")["notional"] == 5_000_000.0  # explicitly no file
    missing = settings_in(tmp_path, MT_ENV_FILE=str(tmp_path / "typo.env"))
    assert missing.returncode != 0 and "MT_ENV_FILE" in missing.stderr


def test_a_bad_value_in_the_dotenv_fails_at_startup_naming_the_setting(tmp_path: Path):
    (tmp_path / ".env").write_text("LOG_FORMAT=fancy\n")
    done = settings_in(tmp_path)
    assert done.returncode != 0 and "LOG_FORMAT" in done.stderr and "plain, original" in done.stderr
    (tmp_path / ".env").write_text("LOG_LEVEL=LOUD\n")
    assert "LOG_LEVEL" in settings_in(tmp_path).stderr


def test_load_env_file_fills_only_what_is_missing(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    environ = {"KEEP": "from-environment"}
    assert load_env_file(environ) is None  # no .env: nothing read, nothing changed (a Cloud Function)
    assert environ == {"KEEP": "from-environment"}
    (tmp_path / ".env").write_text("KEEP=from-file\nADDED=from-file\nexport EXPORTED=yes\n")
    assert load_env_file(environ) == tmp_path / ".env"
    assert environ == {"KEEP": "from-environment", "ADDED": "from-file", "EXPORTED": "yes"}
