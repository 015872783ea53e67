"""`devstack status`: every component's process, port and health, the store, the bus and the
emulators, recent signals, and a summary whose issue count is also the exit code's reason."""

from __future__ import annotations

import os
import threading
import time
import unicodedata
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from devstack import stackstate
from devstack.processes import group_rss_kib, http_answers, port_open, process_start_time
from shared.domain.models import Collections, Topics

STORE_TIMEOUT_SECONDS = 10.0


def clean(value: object, width: int | None = None) -> str:
    """One table cell: control characters escaped (a ticker holding a newline stays on its row)."""
    text = "".join(repr(ch)[1:-1] if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in str(value))
    return text if width is None or len(text) <= width else text[: width - 1] + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], right: Sequence[int] = ()) -> list[str]:
    """Columns as wide as their widest cell, so long names never run into the next column."""
    cells = [[clean(value) for value in row] for row in rows]
    widths = [max(len(row[i]) for row in [list(headers), *cells]) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
                         for i, cell in enumerate(row)).rstrip()

    return [line(headers), *(line(row) for row in cells)]


def duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d{hours:02d}h"
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def last_activity(path: Path) -> tuple[str, str]:
    """When the component last wrote to its log, and that last line."""
    try:
        modified = path.stat().st_mtime
        with open(path, "rb") as log:
            log.seek(max(0, path.stat().st_size - 4096))
            lines = [line for line in log.read().decode(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "-", ""
    when = datetime.fromtimestamp(modified).strftime("%H:%M:%S")
    return f"{when} ({duration(time.time() - modified)} ago)", clean(lines[-1], 70) if lines else ""


def _within(seconds: float, work: Callable[[], str]) -> tuple[bool, str]:
    """Run a check that may hang on a dead backend (a client retrying), giving up after ``seconds``."""
    outcome: list[tuple[bool, str]] = []

    def run() -> None:
        try:
            outcome.append((True, work()))
        except Exception as error:  # noqa: BLE001 - any failure is the check's answer
            outcome.append((False, f"{type(error).__name__}: {clean(error, 120)}"))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    return outcome[0] if outcome else (False, f"no answer within {seconds:.0f}s")


def _store_env(state: dict[str, Any]) -> dict[str, str]:
    env = dict(state.get("env", {}))
    if state.get("sqlite_path"):
        env["MT_SQLITE_PATH"] = state["sqlite_path"]
    return env


def _recent_signals(state: dict[str, Any]) -> tuple[bool, str, list[list[object]]]:
    """The store's health and its ten most recent signals, with their orders' fills."""
    from shared.bootstrap import build_store
    from shared.config import Settings

    rows: list[list[object]] = []

    def read() -> str:
        os.environ.update(_store_env(state))  # the emulator clients read their hosts from the environment
        settings = Settings.from_env({**os.environ, **_store_env(state)})
        store = build_store(settings)
        try:
            for record in store.query(Collections.SIGNALS, order_by="received_at", descending=True, limit=10):
                signal = record.get("signal", {})
                orders = store.query(Collections.ORDERS, where={"signal_id": record["signal_id"]})
                filled = sum(1 for order in orders if order.get("status") == "filled")
                rows.append([str(record.get("received_at", ""))[:19], record["signal_id"], record.get("strategy_id"),
                             signal.get("action"), signal.get("instrument", {}).get("symbol"), record.get("status"),
                             f"orders {filled}/{len(orders)} filled"])
        finally:
            store.close()
        return settings.store if settings.store != "sqlite" else f"sqlite {settings.sqlite_path}"

    ok, detail = _within(STORE_TIMEOUT_SECONDS, read)
    return ok, detail, rows


def _pubsub_topics(host: str, project: str) -> str:
    if not http_answers(f"http://{host}/v1/projects/{project}/topics", str(Topics.SIGNALS)):
        raise RuntimeError(f"the emulator at {host} does not list the {Topics.SIGNALS} topic")
    return f"emulator {host}, topics provisioned"


def status() -> int:
    state = stackstate.load()
    if state is None:
        print("The stack is not running (`python -m devstack up`).")
        return 1
    print(f"{state['stack']} stack ({state.get('broker_mode', 'default brokers')})\n")
    issues: list[str] = []
    rows, alive = [], {}
    for component in state["components"]:
        name, pid, port = component["name"], component["pid"], component["port"]
        alive[name] = stackstate.component_alive(component)
        activity, line = last_activity(Path(component["log"]))
        if not alive[name]:
            issues.append(f"{name} (pid {pid}) is DEAD; its log: {component['log']}")
            rows.append([name, "DEAD", pid, port or "-", "-", "-", "-", activity, line])
            continue
        started = process_start_time(pid)
        listening = port_open(port) if port else None
        if listening is False:
            issues.append(f"{name}: port {port} closed")
        rows.append([name, "running", pid, port or "-", {True: "open", False: "closed", None: "-"}[listening],
                     duration(time.time() - started) if started else "-",
                     f"{group_rss_kib(pid) / 1024:.0f} MiB", activity, line])
    print("\n".join(table(["component", "state", "pid", "port", "probe", "uptime", "memory", "last activity",
                           "last log line"], rows, right=(2, 3, 5, 6))))

    health: list[list[object]] = []

    def check(what: str, ok: bool, detail: str) -> None:
        health.append([what, "ok" if ok else "FAIL", detail])
        if not ok:
            issues.append(f"{what}: {detail}")

    for component in state["components"]:
        if component.get("health_url") and alive[component["name"]]:
            answered = http_answers(component["health_url"], component.get("expect"))
            check(f"{component['name']} health", answered, component["health_url"] + ("" if answered else
                                                                                       " does not answer"))
    env = state.get("env", {})
    if state["stack"] == "embedded":
        server_component = next(c for c in state["components"] if c["name"] == "embedded")
        server = alive["embedded"] and http_answers(server_component["health_url"], server_component["expect"])
        check("bus", server, "in-process, inside the embedded server" + ("" if server else ": server unhealthy"))
    elif alive.get("pubsub-emulator"):
        ok, detail = _within(STORE_TIMEOUT_SECONDS, lambda: _pubsub_topics(env["PUBSUB_EMULATOR_HOST"],
                                                                            env["GOOGLE_CLOUD_PROJECT"]))
        check("bus", ok, detail)
    else:
        check("bus", False, "the Pub/Sub emulator is down")
    if state["stack"] == "emulators" and not alive.get("firestore-emulator"):
        check("store", False, "the Firestore emulator is down")
        signals: list[list[object]] = []
    else:
        ok, detail, signals = _recent_signals(state)
        check("store", ok, detail)
    print("\n" + "\n".join(table(["check", "state", "detail"], health)))

    print(f"\nrecent signals ({len(signals)})")
    if signals:
        print("\n".join("  " + line for line in table(
            ["received", "signal", "strategy", "action", "symbol", "status", "orders"], signals)))
    running = sum(alive.values())
    print(f"\n{running}/{len(alive)} running, {len(issues)} issue{'s' if len(issues) != 1 else ''}")
    for issue in issues:
        print(f"  - {clean(issue)}")
    return 1 if issues else 0
