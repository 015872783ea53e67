"""Render time of every dashboard page, per role, on a demo fund grown to 10,000 signals.

    .venv/bin/python -m bench.dashboard_render [--signals 10000] [--repeats 3] [--store PATH]

1. Grows the demo fund in a fresh SQLite store (bench/grow_fund.py: the real embedded
   pipeline in-process, received_at spread over the last days).
2. For each repeat, starts the stack on that store with the operator CLI
   (`python -m devstack up`, as tests/devstack_cli.py does) and brings it down afterwards.
3. In headless Chromium, for admin, a developer and a client: opens the login page, times
   "Log in -> first page rendered" and each sidebar page switch (bench/render_browser.py
   says what "rendered" means). Cold: the role's first login after `up` (the roles take
   turns at being the stack's very first login, shown on its own line). Warm: a second
   login, in a fresh session, once the dashboards' per-user read cache has expired.
4. Prints median and max per role, page and phase, and each median divided by the warm
   login page's own render time (an almost empty Streamlit page), so figures compare
   across machines.

A benchmark, not a test: it asserts nothing about timing (pytest collects only tests/).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.grow_fund import census, grow
from bench.machine import cpu_model, load, memory_gib
from bench.render_browser import Browser, NotRendered
from devstack.processes import REPO_ROOT, free_port
from shared.demo import DEMO_API_KEYS

ROLES = [("admin", "admin"), ("developer", "dev_alice"), ("client", "client_a")]  # dev_alice: momentum_us, the busiest
CACHE_SECONDS = 11.0  # the dashboards reuse each user's reads for up to 10 s: a warm login waits that out
LOGIN_PAGE = "(login page)"


@dataclass
class Sample:
    rep: int
    role: str
    page: str
    phase: str  # cold | warm
    kind: str  # load | login | switch
    seconds: float | None  # None: not rendered in time


def cli(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    """`python -m devstack ...` in a fresh process, as the operator (and tests/devstack_cli.py) runs it."""
    return subprocess.run([sys.executable, "-m", "devstack", *args], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


@contextmanager
def cli_stack(root: Path, db: Path) -> Iterator[tuple[int, float]]:
    """The embedded stack and its dashboards on ``db``, started by `devstack up` and always brought
    down: yields (the dashboards' port, seconds `up` took)."""
    env = {name: value for name, value in os.environ.items() if name != "ZERODHA_ACCOUNTS"}
    env.update(MT_STACK_DIR=str(root / "logs"), MT_LOG_DIR=str(root / "logs"), MT_SQLITE_PATH=str(db),
               MT_ENV_FILE="")
    port, dashboards = free_port(), free_port()
    began = time.perf_counter()
    started = cli("up", f"--port={port}", f"--dashboards-port={dashboards}", env=env)
    try:
        if started.returncode != 0:
            raise RuntimeError(f"devstack up failed ({started.returncode}):\n{started.stdout[-2000:]}"
                               f"\n{started.stderr[-2000:]}")
        yield dashboards, time.perf_counter() - began
    finally:
        stopped = cli("down", env=env)
        if stopped.returncode != 0:
            print(f"devstack down: {stopped.stdout[-500:]} {stopped.stderr[-500:]}", file=sys.stderr)


def visit(browser: Browser, url: str, rep: int, role: str, subject: str, phase: str) -> list[Sample]:
    """One login of ``role`` in a fresh session, then every sidebar page and back to the first."""
    def sample(page: str, kind: str, seconds: float | None) -> Sample:
        return Sample(rep, role, page, phase, kind, seconds)

    samples = [sample(LOGIN_PAGE, "load", browser.open_login(url).seconds)]
    landed = browser.log_in(DEMO_API_KEYS[role, subject])
    samples.append(sample(landed.title, "login", landed.seconds))
    labels = browser.nav_labels()
    for label in labels[1:] + labels[:1] if len(labels) > 1 else []:
        try:
            samples.append(sample(label, "switch", browser.switch(label).seconds))
        except NotRendered as error:
            print(f"  rep {rep} {role} {phase}: {error}", flush=True)
            samples.append(sample(label, "switch", None))
    return samples


def run_repeat(rep: int, url: str) -> tuple[list[Sample], str]:
    """Every role cold, then every role warm; the roles take turns at being first after `up`."""
    order = ROLES[rep % len(ROLES):] + ROLES[:rep % len(ROLES)]
    browsers = {role: Browser() for role, _ in order}  # started before the clock runs
    samples: list[Sample] = []
    seen: dict[str, float] = {}
    try:
        for phase in ("cold", "warm"):
            for role, subject in order:
                if phase == "warm":
                    time.sleep(max(0.0, seen[role] + CACHE_SECONDS - time.monotonic()))
                try:
                    samples += visit(browsers[role], url, rep, role, subject, phase)
                except NotRendered as error:
                    print(f"  rep {rep} {role} {phase}: {error}", flush=True)
                seen[role] = time.monotonic()
    finally:
        for browser in browsers.values():
            browser.quit()
    return samples, order[0][0]


def machine() -> list[str]:
    """What the figures were measured on: they mean little without it."""
    chromium = subprocess.run(["/usr/bin/chromium", "--version"], capture_output=True, text=True).stdout.strip()
    import streamlit

    return [f"date          {datetime.now(UTC):%Y-%m-%d %H:%M UTC}",
            f"machine       nproc {len(os.sched_getaffinity(0))}, {cpu_model()}, {memory_gib():.1f} GiB memory, "
            f"load average {load()} (1/5/15 min)",
            f"software      Python {platform.python_version()}, Streamlit {streamlit.__version__}, {chromium}"]


def seconds(values: list[float]) -> str:
    return f"{statistics.median(values):8.2f} {max(values):7.2f}"


def report(samples: list[Sample], first_logins: list[tuple[str, float | None]], repeats: int) -> None:
    warm_loads = [s.seconds for s in samples if s.kind == "load" and s.phase == "warm" and s.seconds is not None]
    baseline = statistics.median(warm_loads) if warm_loads else None
    print(f"\nLogin page render (navigation start -> login form rendered; an almost empty Streamlit page), warm: "
          f"median {baseline or float('nan'):.2f} s over {len(warm_loads)}. Column 'x login' = median / this.")
    print("Very first login after `devstack up` (process cold; the roles take turns): "
          + ", ".join(f"rep {i + 1} {role} {'timeout' if t is None else f'{t:.2f} s'}"
                      for i, (role, t) in enumerate(first_logins)))
    header = f"{'role':<10} {'page':<27} {'phase':<5} {'measured':<24} {'n':>2} {'median s':>8} {'max s':>7} " \
             f"{'x login':>7}"
    print(f"\n{header}\n{'-' * len(header)}")
    kinds = {"login": "log in -> first page", "switch": "sidebar page switch", "load": "login page (new session)"}
    for role, _ in ROLES:
        for phase in ("cold", "warm"):
            rows: dict[tuple[str, str], list[float | None]] = {}
            for s in samples:
                if s.role == role and s.phase == phase:
                    rows.setdefault((s.kind, s.page), []).append(s.seconds)
            for (kind, page), values in sorted(rows.items(), key=lambda item: ("load", "login", "switch").index(
                    item[0][0])):
                done = [v for v in values if v is not None]
                missing = f" ({len(values) - len(done)} timed out)" if len(done) < len(values) else ""
                if not done:
                    print(f"{role:<10} {page:<27} {phase:<5} {kinds[kind]:<24} {0:>2} {'timeout':>8}")
                    continue
                ratio = f"{statistics.median(done) / baseline:7.1f}" if baseline else "      —"
                print(f"{role:<10} {page:<27} {phase:<5} {kinds[kind]:<24} {len(done):>2} {seconds(done)} {ratio}"
                      f"{missing}")
    if any(s.role == "developer" for s in samples):
        print("(developer: one page, so no sidebar navigation and no page switch)")
    print(f"cold = the role's first login after `up` ({repeats} stack starts; in one of them it was also the "
          "stack's very first login); warm = a second login in a new session once the dashboards' per-user read "
          "cache (10 s at most) has expired. Page switches reuse that cache where pages read the same data.")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--signals", type=int, default=10_000)
    parser.add_argument("--days", type=float, default=5.0, help="received_at spreads over this many days up to now")
    parser.add_argument("--repeats", type=int, default=3, help="stack starts; each gives one cold and one warm sample")
    parser.add_argument("--store", type=Path, help="a store grown before: copied and used instead of growing one")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (store and logs)")
    args = parser.parse_args(argv)
    os.environ["MT_ENV_FILE"] = ""  # the shipped defaults: no developer's .env
    began = time.perf_counter()
    print("\n".join(machine()), flush=True)
    work = Path(tempfile.mkdtemp(prefix="bench-dashboards-"))
    db = work / "data" / "store.sqlite"
    db.parent.mkdir(parents=True)
    try:
        if args.store:
            shutil.copy(args.store, db)
            print(f"store         copied from {args.store} (not grown in this run)")
        else:
            print(f"growing       the demo fund to {args.signals:,} signals in {db}", flush=True)
            started = time.perf_counter()
            grow(db, work / "grow-logs", args.signals, args.days,
                 progress=lambda n, s: print(f"              {n:>6,} signals in {s:5.1f} s", flush=True))
            print(f"grown         in {time.perf_counter() - started:.1f} s (seeding, signals, every stage drained)")
        held = census(db)
        print(f"store         {held['signals']:,} signals, {held['orders']:,} orders, {held['fills']:,} fills, "
              f"{held['mib']:.0f} MiB; received {str(held['first'])[:16]} .. {str(held['last'])[:16]}; "
              f"signal statuses {held['statuses']}, account decisions {held['decisions']}", flush=True)
        samples: list[Sample] = []
        first_logins: list[tuple[str, float | None]] = []
        for rep in range(args.repeats):
            with cli_stack(work / f"stack-{rep}", db) as (port, up_seconds):
                print(f"repeat {rep + 1}/{args.repeats}: devstack up took {up_seconds:.1f} s; measuring", flush=True)
                measured, first_role = run_repeat(rep + 1, f"http://127.0.0.1:{port}")
            samples += measured
            first = [s.seconds for s in measured if s.role == first_role and s.phase == "cold" and s.kind == "login"]
            first_logins.append((first_role, first[0] if first else None))
        report(samples, first_logins, args.repeats)
    finally:
        if args.keep:
            print(f"kept          {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\ntotal run time {time.perf_counter() - began:.0f} s; load average now "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
