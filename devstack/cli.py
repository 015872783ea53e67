"""up / status / down for the local stack, as the seed's mvp_demo_start/status/stop.

State lives in ``logs/stack.json`` (components, PIDs, ports) beside each
component's log, so ``status`` and ``down`` work from any later shell.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from devstack.processes import (
    REPO_ROOT,
    ManagedProcess,
    start_dashboards,
    start_process,
    stop_process_group,
    wait_for_port,
)

LOG_DIR = Path(os.environ.get("MT_STACK_DIR", REPO_ROOT / "logs"))
STATE_FILE = LOG_DIR / "stack.json"


def _record(process: ManagedProcess) -> dict[str, Any]:
    return {"name": process.name, "pid": process.pid, "port": process.port, "log": str(process.log_path),
            "started_at": time.time()}


def up(stack: str, port: int, dashboards_port: int = 8501) -> int:
    if STATE_FILE.exists() and any(_alive(c["pid"]) for c in _state()["components"]):
        print("The stack is already running; `python -m devstack down` first.", file=sys.stderr)
        return 1
    started = _up_embedded(port) if stack == "embedded" else _up_emulators(port)
    if dashboards_port:
        api_url = f"http://127.0.0.1:{port}" if stack == "embedded" else started.pop("registry_url")
        env = {**started["env"], "MT_API_URL": api_url}
        if stack == "embedded":
            env["MT_SQLITE_PATH"] = started["sqlite_path"]
        started["components"].append(_record(start_dashboards(dashboards_port, env, LOG_DIR)))
        print(f"Dashboards: http://127.0.0.1:{dashboards_port} (log in with a key from shared/demo.py)")
    STATE_FILE.write_text(json.dumps(started, indent=2))
    print(f"{stack} stack is up. Webhook: http://127.0.0.1:{port}/webhook")
    print("Send a sample: .venv/bin/python tests/signals_testing/send_test_signal.py "
          f"--file sample_signals/equity_buy.json --url http://127.0.0.1:{port}/webhook")
    return 0


def _up_embedded(port: int) -> dict[str, Any]:
    process = start_process("embedded", [sys.executable, "-m", "devstack.embedded", f"--port={port}",
                                         "--dashboards-port=0"], LOG_DIR, port)
    wait_for_port(process)
    return {"stack": "embedded", "env": {}, "components": [_record(process)],
            "sqlite_path": os.environ.get("MT_SQLITE_PATH", str(REPO_ROOT / "data" / "mtrader.sqlite"))}


def _up_emulators(port: int) -> dict[str, Any]:
    from devstack.emulated import provision_pubsub, start_emulators, start_functions

    stack = start_emulators(f"mathematricks-local-{uuid.uuid4().hex[:6]}", LOG_DIR)
    try:
        os.environ.update(stack.env)
        start_functions(stack, webhook_port=port)
        provision_pubsub(stack)
        _seed(stack.env)
        scheduler = start_process("scheduler", [sys.executable, "-m", "devstack.scheduler",
                                                f"--url={stack.url('account_poller')}", "--every=15"], LOG_DIR, 0)
    except Exception:
        stack.stop()
        raise
    components = [_record(p) for p in [*stack.processes(), scheduler]]
    return {"stack": "emulators", "env": stack.env, "components": components,
            "registry_url": stack.url("strategy_registry").rstrip("/")}


def _seed(env: dict[str, str]) -> None:
    from shared.bootstrap import build_services
    from shared.config import Settings
    from shared.demo import seed_demo_fund

    services = build_services(Settings.from_env(env))
    seed_demo_fund(services.store, services.mock_broker)
    services.poller.poll_all()
    services.close()


def status() -> int:
    if not STATE_FILE.exists():
        print("The stack is not running (`python -m devstack up`).")
        return 1
    state = _state()
    print(f"{state['stack']} stack")
    print(f"{'component':<26}{'state':<9}{'pid':>8}{'port':>7}{'uptime':>10}{'memory':>10}  last log line")
    for component in state["components"]:
        alive = _alive(component["pid"])
        uptime = _duration(time.time() - component["started_at"]) if alive else "-"
        memory = f"{_group_rss_kib(component['pid']) / 1024:.0f} MiB" if alive else "-"
        print(f"{component['name']:<26}{'running' if alive else 'DEAD':<9}{component['pid']:>8}"
              f"{component['port'] or '-':>7}{uptime:>10}{memory:>10}  {_last_line(Path(component['log']))}")
    _print_recent_signals(state)
    return 0


def _print_recent_signals(state: dict[str, Any]) -> None:
    from shared.bootstrap import build_store
    from shared.config import Settings
    from shared.domain.models import Collections

    env = {**state["env"], "MT_SQLITE_PATH": state.get("sqlite_path", "")} if state["stack"] == "embedded" \
        else state["env"]
    os.environ.update({k: v for k, v in env.items() if v})
    store = build_store(Settings.from_env())
    try:
        signals = store.query(Collections.SIGNALS, order_by="received_at", descending=True, limit=10)
        print(f"\nrecent signals ({len(signals)})")
        for record in signals:
            signal = record["signal"]
            orders = store.query(Collections.ORDERS, where={"signal_id": record["signal_id"]})
            filled = sum(1 for o in orders if o["status"] == "filled")
            print(f"  {record['received_at'][:19]}  {record['signal_id']}  {record['strategy_id']:<14}"
                  f"{signal['action']:<5} {signal['instrument']['symbol']:<8} {record['status']:<9}"
                  f" orders {filled}/{len(orders)} filled")
    finally:
        store.close()


def down() -> int:
    if not STATE_FILE.exists():
        print("Nothing to stop.")
        return 0
    for component in reversed(_state()["components"]):
        stop_process_group(component["pid"])
        print(f"stopped {component['name']} ({component['pid']})")
    STATE_FILE.unlink()
    return 0


def _state() -> dict[str, Any]:
    return json.loads(STATE_FILE.read_text())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().split(")")[-1].split()[0] != "Z"


def _group_rss_kib(pgid: int) -> int:
    """Resident memory of the whole process group (the gcloud wrapper and its Java child)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                total += int(fields[21]) * os.sysconf("SC_PAGE_SIZE") // 1024
        except (OSError, IndexError, ValueError):
            continue
    return total


def _last_line(path: Path) -> str:
    try:
        with open(path, "rb") as log:
            log.seek(max(0, path.stat().st_size - 4096))
            lines = [line for line in log.read().decode(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][:80] if lines else ""


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up", help="start the local stack in the background")
    start.add_argument("--stack", choices=["embedded", "emulators"], default="embedded")
    start.add_argument("--port", type=int, default=8080, help="the webhook's port")
    start.add_argument("--dashboards-port", type=int, default=8501, help="Streamlit's port; 0: no dashboards")
    commands.add_parser("status", help="components, their health, and recent signals")
    commands.add_parser("down", help="stop everything `up` started")
    args = parser.parse_args(argv)
    if args.command == "up":
        sys.exit(up(args.stack, args.port, args.dashboards_port))
    sys.exit(status() if args.command == "status" else down())

