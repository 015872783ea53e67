"""Each Cloud Function's cold start from its own package, beside the "everything" install.

    .venv/bin/python -m bench.cold_start [--repeats 5] [--work build/cold_start]

Per function: build its zip (devstack/package_functions.py), install its requirements.txt
from PyPI into a fresh virtualenv (one per distinct requirement set; wheels cached between
them), and in fresh processes time importing its main module and its first call (building
its services as shared/runtime.py does, with the embedded settings: SQLite store, in-process
bus, no cloud). The reference is the same package run in a virtualenv with every runtime
dependency of pyproject.toml, which is what each function installed before. Medians of
`--repeats` runs; wall time on a shared machine is noisy, so CPU time is shown beside it.
Not a test: it asserts nothing. The first run takes a few minutes (pip); later runs reuse
the virtualenvs under --work.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from bench.machine import describe
from devstack.package_functions import build_zip, function_names, function_requirements, runtime_requirements
from devstack.processes import REPO_ROOT

TRADINGVIEW_TIMEOUT_SECONDS = 3.0
ADMIN_KEY = "mt_00000000000000a1.demo-admin-key-not-secret"  # shared/demo.py's public demo key
DEMO_SIGNAL = {"strategy_id": "momentum_us", "passphrase": "demo-momentum-us-passphrase", "ticker": "AAPL",
               "exchange": "NASDAQ", "action": "buy", "quantity": 100, "price": 190.0, "order_type": "market"}
# Runs inside the function's virtualenv, in its unpacked package: import main, then the first
# call: build the services (shared/runtime.py) and answer one request as the platform sends it.
_PROBE = """
import base64, json, sys, time
name, signal, key = sys.argv[1:4]
clocks = [(time.perf_counter(), time.process_time())]
import main
clocks.append((time.perf_counter(), time.process_time()))
from shared.runtime import services
services()
if name in ("webhook", "strategy_registry", "account_poller"):
    import flask
    path, method, options = {
        "webhook": ("/webhook", "POST", {"data": signal, "content_type": "application/json"}),
        "strategy_registry": ("/api/strategies", "GET", {"headers": {"Authorization": "Bearer " + key}}),
        "account_poller": ("/", "POST", {}),
    }[name]
    with flask.Flask("probe").test_request_context(path, method=method, **options):
        answer = getattr(main, name)(flask.request)
    status = answer[1] if isinstance(answer, tuple) else answer.status_code
else:
    from cloudevents.http import CloudEvent
    body = {"refresh": "all"} if name == "dashboard_creator" else {"unexpected": True}
    message = {"data": base64.b64encode(json.dumps(body).encode()).decode(), "messageId": "1", "attributes": {}}
    data = b"not a firestore event" if name == "raw_signals" else {"message": message, "subscription": "s"}
    getattr(main, name)(CloudEvent({"type": "google.cloud.pubsub.topic.v1.messagePublished",
                                    "source": "//pubsub.googleapis.com/bench", "id": "1"}, data))
    status = 200
clocks.append((time.perf_counter(), time.process_time()))
print(json.dumps({"status": status, "import": [b - a for a, b in zip(clocks[0], clocks[1])],
                  "first_call": [b - a for a, b in zip(clocks[1], clocks[2])]}))
"""


@dataclass
class Timing:
    import_wall: float
    import_cpu: float
    call_wall: float
    call_cpu: float

    @property
    def cold_wall(self) -> float:
        return self.import_wall + self.call_wall

    @property
    def cold_cpu(self) -> float:
        return self.import_cpu + self.call_cpu


def virtualenv(requirements: str, work: Path) -> Path:
    """A fresh virtualenv holding exactly these requirements (and no pip), reused when it exists."""
    key = hashlib.sha256("".join(sorted(_lines(requirements))).encode()).hexdigest()[:12]
    target = work / "venvs" / key
    if (target / "installed").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(target)], check=True)
    (target / "requirements.txt").write_text(requirements)
    print(f"  installing {len(_lines(requirements))} requirements into {target} ...", flush=True)
    pip = subprocess.run([sys.executable, "-m", "pip", "--python", str(target / "bin" / "python"), "install",
                          "--quiet", "--disable-pip-version-check", "--cache-dir", str(work / "pip-cache"),
                          "-r", str(target / "requirements.txt")], capture_output=True, text=True)
    if pip.returncode != 0:
        raise RuntimeError(f"pip failed for {target / 'requirements.txt'}:\n{pip.stderr[-3000:]}")
    (target / "installed").touch()
    return target


def installed_megabytes(venv: Path) -> float:
    site = next(venv.glob("lib/python*/site-packages"))
    return sum(f.stat().st_size for f in site.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


def unpack(name: str, work: Path) -> Path:
    folder = work / "packages" / name
    shutil.rmtree(folder, ignore_errors=True)
    with zipfile.ZipFile(io.BytesIO(build_zip(name))) as archive:
        archive.extractall(folder)
    return folder


def seed_template(work: Path) -> Path:
    """The demo fund in a SQLite file (seeded once with this checkout's code), so each first call
    works on a fund: the webhook accepts a real signal, the registry lists real strategies."""
    template = work / "demo-fund.sqlite"
    template.unlink(missing_ok=True)
    seed = ("from shared.runtime import services\nfrom shared.demo import seed_demo_fund\n"
            "app = services()\nseed_demo_fund(app.store, app.mock_broker)\napp.close()\n")
    subprocess.run([sys.executable, "-c", seed], cwd=work, check=True, capture_output=True,
                   env={**_settings(template, work / "scratch"), "PYTHONPATH": str(REPO_ROOT)})
    return template


def time_cold_starts(name: str, package: Path, venvs: list[Path], template: Path, repeats: int,
                     work: Path) -> list[Timing]:
    """One fresh process per run, alternating between the virtualenvs so a busy moment of a
    shared machine falls on both; the first round is dropped (it also compiles the .pyc files
    a deployed function has)."""
    runs: list[list[dict]] = [[] for _ in venvs]
    for run in range(repeats + 1):
        for index, venv in enumerate(venvs):
            scratch = work / "scratch" / f"{name}-{index}-{run}"
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir(parents=True)
            shutil.copy(template, scratch / "store.sqlite")
            env = {**_settings(scratch / "store.sqlite", scratch), "PYTHONPATH": str(package),
                   "FUNCTION_TARGET": name}
            probe = [str(venv / "bin" / "python"), "-c", _PROBE, name, json.dumps(DEMO_SIGNAL), ADMIN_KEY]
            answer = subprocess.run(probe, cwd=package, env=env, capture_output=True, text=True, timeout=300)
            result = json.loads(answer.stdout.strip().splitlines()[-1]) if answer.returncode == 0 else {}
            if result.get("status", 500) >= 500:
                raise RuntimeError(f"{name} failed in {venv}: {result}\n{answer.stderr[-2000:]}")
            if run:
                runs[index].append(result)
            elif index == 0:
                print(f"  {name}: first call answered {result['status']}", flush=True)
    return [Timing(*(statistics.median(r[key][i] for r in results) for key in ("import", "first_call") for i in (0, 1)))
            for results in runs]


def _settings(store: Path, log_dir: Path) -> dict[str, str]:
    """The embedded settings: SQLite store, in-process bus, no cloud, no .env."""
    return {"PATH": os.environ["PATH"], "MT_ENV_FILE": "", "MT_STORE": "sqlite", "MT_BUS": "inprocess",
            "MT_SQLITE_PATH": str(store), "MT_LOG_DIR": str(log_dir)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--work", type=Path, default=REPO_ROOT / "build" / "cold_start")
    parser.add_argument("--functions", default=",".join(function_names()))
    args = parser.parse_args(argv)
    args.work = args.work.resolve()
    (args.work / "scratch").mkdir(parents=True, exist_ok=True)
    print(f"Machine: {describe()}", flush=True)
    reference = virtualenv(runtime_requirements(), args.work)
    reference_mb = installed_megabytes(reference)
    template = seed_template(args.work)
    rows = []
    for name in args.functions.split(","):
        package = unpack(name, args.work)
        venv = virtualenv((package / "requirements.txt").read_text(), args.work)
        slim, everything = time_cold_starts(name, package, [venv, reference], template, args.repeats, args.work)
        rows.append((name, len(function_requirements(name)), installed_megabytes(venv), slim, everything))
        print(f"  {name}: measured", flush=True)
    print(f"\nMachine at the end: load {os.getloadavg()[0]:.1f}. Reference: every runtime dependency "
          f"({len(_lines(runtime_requirements()))} requirements, {reference_mb:.0f} MB), the same package. "
          f"Median of {args.repeats} runs, wall (CPU) seconds; first call = build the services and answer "
          "one request; ratio = own package / reference, CPU time.\n")
    print("| function | requirements | installed MB (ratio) | import s | first call s | cold start s | "
          "reference cold start s | cold start ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for name, count, megabytes, slim, everything in rows:
        print(f"| {name} | {count} | {megabytes:.0f} ({megabytes / reference_mb:.2f}) "
              f"| {slim.import_wall:.2f} ({slim.import_cpu:.2f}) | {slim.call_wall:.2f} ({slim.call_cpu:.2f}) "
              f"| {slim.cold_wall:.2f} ({slim.cold_cpu:.2f}) | {everything.cold_wall:.2f} ({everything.cold_cpu:.2f}) "
              f"| {slim.cold_cpu / everything.cold_cpu:.2f} |")
    webhook = next((slim for name, _, _, slim, _ in rows if name == "webhook"), None)
    if webhook is not None:
        print(f"\nWebhook cold start (import + first request): {webhook.cold_wall:.2f} s wall, "
              f"{webhook.cold_cpu:.2f} s CPU: {webhook.cold_wall / TRADINGVIEW_TIMEOUT_SECONDS:.0%} of TradingView's "
              f"{TRADINGVIEW_TIMEOUT_SECONDS:.0f} s here, interpreter start-up not included.")


def _lines(requirements: str) -> list[str]:
    return [line for line in requirements.splitlines() if line.strip() and not line.startswith("#")]


if __name__ == "__main__":
    main()
