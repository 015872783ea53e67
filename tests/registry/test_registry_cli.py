"""The registry CLI as an admin runs it: short summaries, --json for everything, --url beside MT_API_URL."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from devstack.embedded import create_app
from devstack.processes import REPO_ROOT, free_port
from devstack.registry_cli import portfolio_test_summary
from shared.bootstrap import Services
from shared.demo import DEMO_API_KEYS

ADMIN_KEY = DEMO_API_KEYS["admin", "admin"]


@pytest.fixture
def server_url(embedded: Services) -> Iterator[str]:
    """The embedded stack's API on a 127.0.0.1 port the OS picks."""
    server = make_server("127.0.0.1", 0, create_app(embedded), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


def cli(*args: str, cwd: Path, key: str = ADMIN_KEY, api_url: str | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m devstack.registry_cli ...` in a fresh process run from ``cwd`` (no .env there)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MT_API_URL", "MT_API_KEY", "MT_ENV_FILE")}
    env |= {"PYTHONPATH": str(REPO_ROOT), "MT_API_KEY": key, **({"MT_API_URL": api_url} if api_url else {})}
    return subprocess.run([sys.executable, "-m", "devstack.registry_cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_an_optimisation_is_a_short_summary_and_json_gives_all_of_it(server_url: str, tmp_path: Path):
    nowhere = f"http://127.0.0.1:{free_port()}"  # MT_API_URL points nowhere: --url must win
    run = cli("optimise", "risk_parity", "momentum_us", "fx_carry", "--url", server_url, cwd=tmp_path,
              api_url=nowhere)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert 6 <= len(lines) <= 12 and "{" not in run.stdout, run.stdout
    test_id = lines[0].split()[0]
    assert test_id.startswith("pt_") and "proposed  method risk_parity  by admin" in lines[0]
    assert lines[1].startswith("expected") and "sharpe " in lines[1]
    assert lines[2].startswith("in sample") and "cagr " in lines[2] and "max drawdown" in lines[2]
    assert lines[3].startswith("walk forward") and "windows)" in lines[3]
    assert lines[4].startswith("before costs") and "turnover " in lines[4] and "/yr, costs " in lines[4]
    assert "weights (top 2 of 2):" in lines
    weights = {line.split()[0]: line.split()[1] for line in lines if line.startswith("  ")}
    assert set(weights) == {"momentum_us", "fx_carry"} and all(w.endswith("%") for w in weights.values())
    assert lines[-1] == f"approve with: python -m devstack.registry_cli approve {test_id}"

    full = cli("--json", "test", test_id, "--url", server_url, cwd=tmp_path, api_url=nowhere)
    assert full.returncode == 0, full.stderr
    document = json.loads(full.stdout)
    assert document["test_id"] == test_id and document["in_sample"]["equity"]["dates"]
    assert len(full.stdout.splitlines()) > 20 * len(lines)
    summed = sum(float(w.rstrip("%")) for w in weights.values())
    assert abs(summed - 100 * sum(document["weights"].values())) < 0.2

    listed = cli("tests", "--url", server_url, cwd=tmp_path, api_url=nowhere)
    assert listed.returncode == 0 and listed.stdout.splitlines()[0].split() == [
        "TEST", "STATUS", "CREATED", "SHARPE", "WEIGHTS"]
    assert any(line.startswith(test_id) for line in listed.stdout.splitlines())

    approved = cli("approve", test_id, "--accounts", "DEMO-CLIENT-B", "--url", server_url, cwd=tmp_path)
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.startswith(f"approved allocation v2  from test {test_id}  approved by admin")
    assert "DEMO-CLIENT-B" in approved.stdout and "momentum_us" in approved.stdout


def test_mt_api_url_is_used_without_the_flag_and_errors_are_one_line(server_url: str, tmp_path: Path):
    listing = cli("strategies", cwd=tmp_path, api_url=server_url)
    assert listing.returncode == 0, listing.stderr
    rows = listing.stdout.splitlines()
    assert rows[0].split() == ["STRATEGY", "STATUS", "OWNER", "CAPITAL", "NAME"]
    assert any(row.split()[:2] == ["momentum_us", "live"] for row in rows[1:])
    assert rows[-1] == f"{len(rows) - 2} strategies"
    paused = cli("status", "fx_carry", "paused", cwd=tmp_path, api_url=server_url)
    assert paused.stdout.strip() == "fx_carry is now paused"

    refused = cli("strategies", cwd=tmp_path, api_url=server_url, key="mt_0000000000000000.revoked-or-never-issued")
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.startswith("error 401: ") and len(refused.stderr.splitlines()) == 1
    unreachable = cli("strategies", "--url", f"http://127.0.0.1:{free_port()}", cwd=tmp_path, api_url=server_url)
    assert unreachable.returncode == 2 and "cannot reach" in unreachable.stderr


def test_mt_api_url_and_key_may_come_from_dotenv(server_url: str, tmp_path: Path):
    (tmp_path / ".env").write_text(f"MT_API_URL={server_url}\nMT_API_KEY=from-the-file-loses\n")
    run = cli("allocation", cwd=tmp_path)  # the environment's MT_API_KEY beats the file's
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("in effect v1") and "DEMO-CLIENT-A" in run.stdout


def test_the_summary_shows_only_the_top_weights():
    weights = {f"strategy_{n:02d}": (n + 1) / 120 for n in range(15)}
    body = {"test_id": "pt_x", "status": "approved", "request": {"method": "max_sharpe"}, "weights": weights,
            "expected": {"annual_return": 0.1234, "annual_volatility": 0.08, "sharpe": 1.23456}}
    lines = portfolio_test_summary(body, argparse.Namespace(top=3))
    assert lines[1] == "expected      return 12.3%  volatility 8.0%  sharpe 1.23"
    assert lines[2:] == ["weights (top 3 of 15):", "  strategy_14   12.5%", "  strategy_13   11.7%",
                         "  strategy_12   10.8%"]
