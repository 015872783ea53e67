"""up / status / down for the local stack.

`up` checks the prerequisites (one line each; a busy port stops it before anything starts),
starts the components in dependency order and waits until each is alive, owns its port and
answers its health check. If one dies or never gets healthy, `up` prints its log's tail,
stops what it started and exits non-zero. State lives in ``$MT_STACK_DIR/stack.json``
(default ``logs/``) beside each component's log, so `status` and `down` work from any shell.

Brokers: by default Mock accounts trade on paper and real-broker credentials are refused.
--use-mock-broker sends every account's orders to the Mock paper broker, whatever broker it
is configured with (MT_USE_MOCK_BROKER=1 in every process). --live is required before
real-broker credentials (ZERODHA_ACCOUNTS) are used to trade live (MT_LIVE_TRADING=1);
without it, a stack configured with them refuses to start.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from typing import Any

from devstack import stackstate
from devstack.preflight import run_checks
from devstack.processes import (
    REPO_ROOT,
    ManagedProcess,
    group_members,
    http_answers,
    is_running,
    start_dashboards,
    start_process,
    stop_process_group,
    wait_healthy,
)
from devstack.switches import broker_mode, open_paper_accounts, switch_env
from shared.config import Settings

HEALTH_TIMEOUT_SECONDS = 60.0  # the embedded server seeds the demo fund before it listens


def up(stack: str, port: int, dashboards_port: int = 8501, live: bool = False, use_mock_broker: bool = False) -> int:
    existing = stackstate.load()
    if existing is not None:
        if any(stackstate.component_alive(c) for c in existing["components"]):
            print("The stack is already running; `python -m devstack down` first.", file=sys.stderr)
            return 1
        print("A previous stack died without `down`; forgetting it.")
        stackstate.remove()
    switches = switch_env(live, use_mock_broker)
    try:
        Settings.from_env()  # completes the environment from .env, as the stack's processes will see it
    except (ValueError, OSError) as error:
        print(f"up: the settings do not load: {error}", file=sys.stderr)
        return 2
    settings_env = {**os.environ, **switches}
    ports = {"webhook": port, **({"dashboards": dashboards_port} if dashboards_port else {})}
    print("1. Checking prerequisites")
    checks = run_checks(stack, ports, stackstate.LOG_DIR, settings_env, live, use_mock_broker)
    print("\n".join(check.line() for check in checks))
    if failed := [check for check in checks if not check.ok]:
        reasons = "; ".join(f"{check.label}: {check.detail}" if check.detail else check.label for check in failed)
        print(f"up: not starting the {stack} stack: {reasons}", file=sys.stderr)
        return 2
    settings = Settings.from_env(settings_env)
    state: dict[str, Any] = {"stack": stack, "env": dict(switches), "components": [],
                             "broker_mode": broker_mode(settings, live, use_mock_broker)}
    started: list[ManagedProcess] = []
    print(f"2. Starting the {stack} stack ({state['broker_mode']})")
    try:
        if stack == "embedded":
            _up_embedded(port, settings, state, started)
        else:
            _up_emulators(port, state, started)
        if dashboards_port:
            _up_dashboards(dashboards_port, port, state, started)
    except (Exception, KeyboardInterrupt) as error:  # noqa: BLE001 - whatever failed, stop what started
        print(f"up: the {stack} stack did not start: {error}", file=sys.stderr)
        for process in reversed(started):
            survivors = stop_process_group(process.pid)
            print(f"  stopped {process.name} ({process.pid})" + (f"; survivors {sorted(survivors)}"
                                                                 if survivors else ""), file=sys.stderr)
        stackstate.remove()
        return 1
    print(f"{stack} stack is up. Webhook: http://127.0.0.1:{port}/webhook")
    print("Send a sample: .venv/bin/python tests/signals_testing/send_test_signal.py "
          f"--file sample_signals/equity_buy.json --url http://127.0.0.1:{port}/webhook")
    return 0


def _track(process: ManagedProcess, state: dict[str, Any], started: list[ManagedProcess], health_url: str = "",
           expect: str | None = None) -> None:
    """Record a component as soon as it exists, so a failure (or `down`) stops it."""
    started.append(process)
    state["components"].append(stackstate.record(process, health_url, expect))
    stackstate.save(state)


def _await(process: ManagedProcess, health_url: str = "", expect: str | None = None) -> None:
    """Alive, owning its port, its health check answering; else RuntimeError with its log's tail."""
    began = time.monotonic()
    wait_healthy(process, (lambda: http_answers(health_url, expect)) if health_url else None, HEALTH_TIMEOUT_SECONDS)
    where = f", port {process.port}" if process.port else ""
    print(f"  [ok] {process.name} (pid {process.pid}{where}) healthy in {time.monotonic() - began:.1f}s")


def _up_embedded(port: int, settings: Settings, state: dict[str, Any], started: list[ManagedProcess]) -> None:
    process = start_process("embedded", [sys.executable, "-m", "devstack.embedded", f"--port={port}",
                                         "--dashboards-port=0"], stackstate.LOG_DIR, port, state["env"])
    state["sqlite_path"] = str(REPO_ROOT / settings.sqlite_path)
    state["api_url"] = f"http://127.0.0.1:{port}"
    _track(process, state, started, f"http://127.0.0.1:{port}/healthz", '"ok"')
    _await(process, f"http://127.0.0.1:{port}/healthz", '"ok"')


def _up_emulators(port: int, state: dict[str, Any], started: list[ManagedProcess]) -> None:
    """Emulators, then the functions on them, then topics, the demo fund and the scheduler."""
    from devstack.emulated import provision_pubsub, start_emulators, start_functions

    emulated = start_emulators(f"mathematricks-local-{uuid.uuid4().hex[:6]}", stackstate.LOG_DIR)
    emulators = [(emulated.pubsub, f"http://127.0.0.1:{emulated.pubsub.port}/"),
                 (emulated.firestore, f"http://127.0.0.1:{emulated.firestore.port}/")]
    for emulator, url in emulators:
        _track(emulator, state, started, url, "Ok")
    for emulator, url in emulators:
        _await(emulator, url, "Ok")
    state["env"] = {**emulated.env, **state["env"]}
    os.environ.update(state["env"])
    try:
        start_functions(emulated, webhook_port=port, extra_env=state["env"])
    finally:  # whatever started is stopped on failure
        for function in emulated.functions.values():
            if function not in started:
                _track(function, state, started, _function_health(function))
    for function in emulated.functions.values():
        _await(function, _function_health(function))
    provision_pubsub(emulated)
    _seed(state["env"])
    print("  [ok] topics, subscriptions and the demo fund")
    state["api_url"] = emulated.url("strategy_registry").rstrip("/")
    scheduler = start_process("scheduler", [sys.executable, "-m", "devstack.scheduler",
                                            f"--url={emulated.url('account_poller')}", "--every=15"],
                              stackstate.LOG_DIR, 0)
    _track(scheduler, state, started)
    _await(scheduler)
    # Eventarc's part: documents written into the raw collection reach the raw_signals function.
    forwarder = start_process("raw-forwarder", [sys.executable, "-m", "devstack.emulated",
                                                f"--project={emulated.project}",
                                                f"--url={emulated.url('raw_signals')}"], stackstate.LOG_DIR, 0)
    _track(forwarder, state, started)
    _await(forwarder)


def _function_health(function: ManagedProcess) -> str:
    """functions-framework has no health route, but answers /robots.txt itself (404, or 405 for
    an event function) without invoking the function: an answer from its own server."""
    return f"http://127.0.0.1:{function.port}/robots.txt"


def _up_dashboards(dashboards_port: int, port: int, state: dict[str, Any], started: list[ManagedProcess]) -> None:
    env = {**state["env"], "MT_API_URL": state["api_url"]}
    if state["stack"] == "embedded":
        env["MT_SQLITE_PATH"] = state["sqlite_path"]
    process = start_dashboards(dashboards_port, env, stackstate.LOG_DIR)  # waits for its health itself
    url = f"http://127.0.0.1:{dashboards_port}/_stcore/health"
    _track(process, state, started, url, "ok")
    _await(process, url, "ok")
    print(f"Dashboards: http://127.0.0.1:{dashboards_port} (log in with a key from shared/demo.py)")


def _seed(env: dict[str, str]) -> None:
    from shared.bootstrap import build_services
    from shared.demo import seed_demo_fund

    services = build_services(Settings.from_env({**os.environ, **env}))
    try:
        seed_demo_fund(services.store, services.mock_broker)
        open_paper_accounts(services)
        services.poller.poll_all()
    finally:
        services.close()


def down() -> int:
    """Reverse start order; each process group gets SIGTERM, then SIGKILL after the grace."""
    state = stackstate.load()
    if state is None:
        print("Nothing to stop.")
        return 0
    left: list[str] = []
    for component in reversed(state["components"]):
        name, pid = component["name"], component["pid"]
        if is_running(pid) and not stackstate.component_alive(component):
            print(f"{name}: pid {pid} now belongs to another process; not touching it")
            continue
        if not group_members(pid):
            print(f"{name} ({pid}) was already dead")
            continue
        survivors = stop_process_group(pid)
        if survivors:
            left.append(f"{name}: {sorted(survivors)}")
        print(f"stopped {name} ({pid})" if not survivors else f"FAILED to stop {name}: {sorted(survivors)} remain")
    if left:
        print(f"down: processes survived SIGKILL: {'; '.join(left)}", file=sys.stderr)
        return 1
    stackstate.remove()
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser(
        "up", help="check prerequisites, start the local stack, wait until healthy",
        description="Checks prerequisites (ports free, python packages, gcloud/java for the emulators, writable "
                    "log and data dirs, settings, broker mode), starts the components in dependency order and "
                    "waits until each is alive, owns its port and answers its health check. On any failure it "
                    "prints the component's log tail, stops what it started and exits non-zero. Brokers: by "
                    "default Mock accounts trade on paper and a stack configured with real-broker credentials "
                    "refuses to start; choose --use-mock-broker (paper) or --live.")
    start.add_argument("--stack", choices=["embedded", "emulators"], default="embedded")
    start.add_argument("--port", type=int, default=8080, help="the webhook's port")
    start.add_argument("--dashboards-port", type=int, default=8501, help="Streamlit's port; 0: no dashboards")
    brokers = start.add_mutually_exclusive_group()
    brokers.add_argument("--use-mock-broker", action="store_true",
                         help="paper run: every account's orders go to the Mock broker, whatever broker it is "
                              "configured with (sets MT_USE_MOCK_BROKER=1)")
    brokers.add_argument("--live", action="store_true",
                         help="allow real-broker credentials (ZERODHA_ACCOUNTS) to trade live; without it a stack "
                              "configured with them refuses to start (sets MT_LIVE_TRADING=1)")
    commands.add_parser("status", help="components (pid, uptime, memory, port, last activity), store, bus and "
                                       "emulator health, recent signals; exits 1 when there are issues")
    commands.add_parser("down", help="stop everything `up` started, in reverse order (SIGTERM, then SIGKILL)")
    args = parser.parse_args(argv)
    if args.command == "up":
        sys.exit(up(args.stack, args.port, args.dashboards_port, args.live, args.use_mock_broker))
    if args.command == "status":
        from devstack.status import status

        sys.exit(status())
    sys.exit(down())
