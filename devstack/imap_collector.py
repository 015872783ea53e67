"""Run the email collector: TradingView alert emails from an IMAP mailbox into the store's
trading_signals_raw, where the stack's raw watcher turns them into signals.

    IMAP_HOST=imap.example.com IMAP_USER=alerts@example.com IMAP_PASSWORD=... \\
        python -m devstack.imap_collector            # every 15 s; --once for one pass

The store is the one the stack uses (MT_STORE and its settings, e.g. MT_SQLITE_PATH).
"""

from __future__ import annotations

import argparse
import imaplib
import logging
import os
import time
from collections.abc import Mapping

from shared.adapters.imap_collector import ImapCollector, ImapSettings
from shared.bootstrap import build_store, utcnow
from shared.config import Settings
from shared.logs import configure_logging

log = logging.getLogger("devstack.imap_collector")


def imap_settings(env: Mapping[str, str] = os.environ) -> ImapSettings:
    """IMAP_HOST, IMAP_USER and IMAP_PASSWORD are required; the rest have defaults."""
    missing = [name for name in ("IMAP_HOST", "IMAP_USER", "IMAP_PASSWORD") if not env.get(name)]
    if missing:
        raise SystemExit(f"set {', '.join(missing)} to collect email alerts")
    return ImapSettings(
        host=env["IMAP_HOST"], user=env["IMAP_USER"], password=env["IMAP_PASSWORD"],
        port=int(env.get("IMAP_PORT") or 993), folder=env.get("IMAP_FOLDER") or "INBOX",
        ssl=(env.get("IMAP_SSL") or "1").lower() not in ("0", "false", "no"),
        subject_prefix=env.get("IMAP_SUBJECT_PREFIX") or "Alert",
        strategy_id=env.get("IMAP_STRATEGY_ID") or None,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--once", action="store_true", help="one pass, then exit")
    parser.add_argument("--every", type=float, default=15.0, help="seconds between passes")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    configure_logging("imap_collector", settings)
    store = build_store(settings)
    collector = ImapCollector(imap_settings(), store, utcnow)
    try:
        while True:
            try:
                log.info("collected %d new alert emails", len(collector.collect_once()))
            except (OSError, imaplib.IMAP4.error) as error:
                if args.once:
                    raise
                log.error("IMAP pass failed, retrying in %g s: %s", args.every, error)
            if args.once:
                return
            time.sleep(args.every)
    finally:
        store.close()


if __name__ == "__main__":
    main()
