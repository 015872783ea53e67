"""The deployable zips: reproducible, self-contained, and each serves its entry point
under functions-framework with nothing but the zip on its path."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import requests

from devstack.package_functions import build_zip, function_names, package_all
from devstack.processes import free_port, start_process, wait_for_port
from tests.infra.terraform_model import declared_functions


def test_every_declared_function_is_packaged_and_zips_are_reproducible(tmp_path: Path):
    manifest = package_all(tmp_path)
    assert set(manifest) == set(declared_functions()) == set(function_names())
    assert build_zip("webhook") == build_zip("webhook")
    assert json.loads((tmp_path / "manifest.json").read_text()) == manifest
    assert (tmp_path / "gateway_vm.zip").exists()


def test_each_zip_imports_from_itself_and_serves_its_entry_point(tmp_path: Path):
    manifest = package_all(tmp_path / "dist")
    executable = Path(sys.executable).with_name("functions-framework")
    # Only the unpacked zip on the path, so a missing module fails here, not in GCP.
    env = {"PATH": os.environ["PATH"], "MT_LOG_DIR": str(tmp_path / "logs")}
    processes = {}
    try:
        for name, filename in manifest.items():
            folder = tmp_path / name
            with zipfile.ZipFile(tmp_path / "dist" / filename) as archive:
                archive.extractall(folder)
            origin = subprocess.run([sys.executable, "-c", "import main, shared; print(shared.__file__)"],
                                    cwd=folder, env={**env, "PYTHONPATH": str(folder)},
                                    capture_output=True, text=True, timeout=60)
            assert origin.returncode == 0, origin.stderr
            assert Path(origin.stdout.strip()).is_relative_to(folder)
            signature = next(s for s in ("http", "cloudevent") if _declares(folder / "main.py", s))
            port = free_port()
            processes[name] = start_process(
                f"packaged-{name}",
                [str(executable), f"--source={folder / 'main.py'}", f"--target={name}", f"--signature-type={signature}",
                 "--host=127.0.0.1", f"--port={port}"],
                tmp_path / "logs", port,
                {**env, "PYTHONPATH": str(folder), "MT_SQLITE_PATH": str(folder / "store.sqlite")},
            )
        for name, process in processes.items():
            wait_for_port(process)
            answer = _call(name, process.port)
            assert answer.status_code < 500, (name, answer.status_code, answer.text, process.log_path.read_text())
    finally:
        for process in processes.values():
            process.stop()


def _declares(main: Path, signature: str) -> bool:
    decorator = "functions_framework.http" if signature == "http" else "functions_framework.cloud_event"
    return decorator in main.read_text()


def _call(name: str, port: int) -> requests.Response:
    url = f"http://127.0.0.1:{port}/"
    if name == "webhook":
        answer = requests.post(url + "webhook", data=b"{broken", headers={"Content-Type": "application/json"},
                               timeout=30)
        assert answer.status_code == 400 and answer.json()["field"] == "body"
        return answer
    if name == "account_poller":
        return requests.post(url, timeout=30)
    if name == "strategy_registry":
        answer = requests.get(url + "api/strategies", timeout=30)
        assert answer.status_code == 401 and answer.json()["field"] == "authorization"
        return answer
    # A Pub/Sub push body, as the push subscription sends it.
    envelope = {"subscription": f"projects/p/subscriptions/{name}",
                "message": {"data": base64.b64encode(b'{"unexpected": true}').decode(), "messageId": "1",
                            "attributes": {}, "publishTime": "2026-11-24T00:00:00Z"}}
    return requests.post(url, json=envelope, timeout=30)
