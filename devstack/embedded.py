"""The embedded stack: one process serving the webhook, with cerebro, execution and
the confirmation recorder on the in-process bus, SQLite, and the Mock broker."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import replace

import flask
from waitress import serve

from devstack.processes import start_dashboards
from devstack.switches import open_paper_accounts
from shared.bootstrap import Services, build_services
from shared.config import Settings
from shared.demo import seed_demo_fund
from shared.entrypoints import http
from shared.entrypoints.raw_watchers import start_raw_watcher
from shared.logs import configure_logging

log = logging.getLogger("devstack.embedded")
# The server refuses a larger body (413) before passing it on, however it is sent: a chunked
# 300 MiB upload is cut off after this much instead of being read whole. Above every route's
# own limit (16 KiB alerts, 64 KiB JSON, the returns CSV), which answer with their JSON 413.
MAX_REQUEST_BYTES = 4 * 1024 * 1024


def create_app(services: Services, poller_alive: Callable[[], bool] = lambda: True) -> flask.Flask:
    """The embedded server's app: every API route, the webhook and /healthz."""
    return http.create_app(services, "mathematricks-embedded", webhook=True, poller_alive=poller_alive)


def start_embedded(settings: Settings, poll_seconds: float, seed: bool = True) -> tuple[Services, threading.Event]:
    """Build, seed and start the pipeline; returns the services and a stop event for the poller."""
    services = build_services(settings)
    if seed and seed_demo_fund(services.store, services.mock_broker):
        log.info("seeded the demo fund")
    if opened := open_paper_accounts(services):
        log.info("--use-mock-broker: paper accounts at the Mock for %s", ", ".join(opened))
    services.poller.poll_all()
    services.subscribe_pipeline()
    if resumed := services.resume_unfinished():
        log.info("resumed %d unsettled signals from before the restart", len(resumed))
    stop = threading.Event()
    start_raw_watcher(services, stop)  # documents other writers put straight into trading_signals_raw

    def poll_forever() -> None:
        # The documents first, in the background: the first login then reads them instead of
        # building them (and importing pandas and scipy) inside its request.
        services.dashboards.refresh_all()  # the cloud does this on each fill and on a schedule
        while not stop.wait(poll_seconds):
            services.tick()
            services.dashboards.refresh_all()

    threading.Thread(target=poll_forever, name="account-poller", daemon=True).start()
    return services, stop


def _poller_alive() -> bool:
    return any(thread.name == "account-poller" and thread.is_alive() for thread in threading.enumerate())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--poll-seconds", type=float, default=15.0, help="account snapshot refresh interval")
    parser.add_argument("--no-seed", action="store_true", help="do not seed the demo fund")
    parser.add_argument("--dashboards-port", type=int, default=8501, help="Streamlit's port; 0: no dashboards")
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
                        help="overrides LOG_LEVEL (default: LOG_LEVEL, else INFO)")
    args = parser.parse_args(argv)
    configure_logging("embedded", level=args.log_level)
    settings = replace(Settings.from_env(), store="sqlite", bus="inprocess")
    services, stop = start_embedded(settings, args.poll_seconds, seed=not args.no_seed)
    print(f"Mathematricks embedded stack: webhook on http://{args.host}:{args.port}/webhook "
          f"(store {settings.sqlite_path}, journey log {settings.log_dir / 'signal_processing.log'})", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # so `finally` stops the dashboards too
    dashboards = None
    if args.dashboards_port:
        env = {"MT_SQLITE_PATH": settings.sqlite_path, "MT_API_URL": f"http://127.0.0.1:{args.port}"}
        dashboards = start_dashboards(args.dashboards_port, env, settings.log_dir)
        print(f"Dashboards on http://127.0.0.1:{args.dashboards_port} (log in with a key from shared/demo.py)",
              flush=True)
    try:
        serve(create_app(services, _poller_alive), host=args.host, port=args.port, threads=8, ident="mathematricks",
              max_request_body_size=MAX_REQUEST_BYTES)
    finally:
        stop.set()
        if dashboards is not None:
            dashboards.stop()
        services.close()


if __name__ == "__main__":
    main()
