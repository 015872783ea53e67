"""TradingView alert emails, fetched from a real IMAP server (pymap, in memory, on a free
loopback port), are traded once on the embedded stack: a second run, or a run after a crash
between writing the raw document and flagging the message \\Seen, trades nothing new."""

from __future__ import annotations

import imaplib
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest

from devstack.imap_collector import imap_settings
from devstack.processes import ManagedProcess, free_port, start_process, wait_for_port
from shared.adapters.imap_collector import ImapCollector, ImapSettings
from shared.bootstrap import Services
from shared.domain.models import Collections
from shared.entrypoints.raw_watchers import SqliteRawWatcher
from shared.services.raw_ingest import RawSignalIngest

PYMAP = Path(sys.executable).with_name("pymap")
USER, PASSWORD = "alerts@fund.test", "s3cret-imap"
JSON_ALERT = ('{"strategy_id": "momentum_us", "ticker": "AAPL", "exchange": "NASDAQ", "action": "buy", '
              '"quantity": 10, "price": 190, "comment": "long entry = breakout above the 20-day high, '
              'a line long enough for quoted-printable soft breaks"}')


@pytest.fixture
def imap_server(tmp_path: Path) -> Iterator[ManagedProcess]:
    if not PYMAP.exists():
        pytest.skip("SKIPPED: pymap (the test IMAP server) is not installed: pip install -e '.[dev]'; "
                    "email alert tests did not run")
    port = free_port()
    process = start_process("pymap", [str(PYMAP), "--host", "127.0.0.1", "--port", str(port), "dict",
                                      "--demo-user", USER, "--demo-password", PASSWORD], tmp_path / "logs", port)
    try:
        wait_for_port(process)
        yield process
    finally:
        process.stop()


def settings_for(server: ManagedProcess) -> ImapSettings:
    return imap_settings({"IMAP_HOST": "127.0.0.1", "IMAP_PORT": str(server.port), "IMAP_USER": USER,
                          "IMAP_PASSWORD": PASSWORD, "IMAP_SSL": "0", "IMAP_STRATEGY_ID": "momentum_us"})


def mailbox(server: ManagedProcess) -> imaplib.IMAP4:
    connection = imaplib.IMAP4("127.0.0.1", server.port)
    connection.login(USER, PASSWORD)
    connection.select("INBOX")
    return connection


def deliver(server: ManagedProcess, subject: str, message_id: str, body: str, subtype: str) -> None:
    message = EmailMessage()
    message["From"] = "TradingView <noreply@tradingview.com>"
    message["To"] = USER
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message["Date"] = format_datetime(datetime.now(UTC))
    message.set_content(body, subtype=subtype, cte="quoted-printable")
    connection = mailbox(server)
    try:
        status, _ = connection.append("INBOX", None, imaplib.Time2Internaldate(time.time()), message.as_bytes())
        assert status == "OK"
    finally:
        connection.logout()


def unseen(server: ManagedProcess) -> int:
    connection = mailbox(server)
    try:
        return len(connection.search(None, "UNSEEN")[1][0].split())
    finally:
        connection.logout()


def trade_pass(services: Services, collector: ImapCollector) -> tuple[list[str], list]:
    """One collector pass, then one pass of the embedded stack's raw watcher, run to the end."""
    created = collector.collect_once()
    service = RawSignalIngest(services.store, services.ingest, services.clock)
    outcomes = SqliteRawWatcher(services.store, services.settings.sqlite_path, service).run_once()
    assert services.bus.drain()
    return created, outcomes


def test_alert_emails_are_traded_once(imap_server, embedded: Services):
    deliver(imap_server, "Alert: AAPL breakout", "<tv-alert-1@tradingview.com>",
            f"<html><body><p>Your alert fired</p><p>{JSON_ALERT.replace('&', '&amp;')}</p>"
            "<p style='color:grey'>TradingView &mdash; unsubscribe</p></body></html>", "html")
    deliver(imap_server, "Alert: MSFT strategy order", "<tv-alert-2@tradingview.com>",
            "order buy @ 3 filled on MSFT. New strategy position is 3\n\n-- TradingView", "plain")
    deliver(imap_server, "Your TradingView invoice", "<invoice@tradingview.com>", "Thanks for paying", "plain")
    collector = ImapCollector(settings_for(imap_server), embedded.store, embedded.clock)

    created, outcomes = trade_pass(embedded, collector)
    assert len(created) == 2 and unseen(imap_server) == 1  # the invoice is left alone
    assert sorted(o.status for o in outcomes) == ["ingested", "ingested"], outcomes
    orders = embedded.store.query(Collections.ORDERS)
    assert len(orders) == 4 and {o["status"] for o in orders} == {"filled"}
    positions = {(p["account_id"], p["instrument_key"]): p["quantity"]
                 for p in embedded.store.query(Collections.POSITIONS)}
    assert positions[("DEMO-CLIENT-A", "NASDAQ:AAPL")] == 40 and positions[("DEMO-CLIENT-B", "NASDAQ:AAPL")] == 15
    raw = embedded.store.query(Collections.RAW_SIGNALS, where={"source": "email"})
    assert {r["email"]["subject"] for r in raw} == {"Alert: AAPL breakout", "Alert: MSFT strategy order"}
    assert any(r["content"] == JSON_ALERT for r in raw)  # the JSON out of the quoted-printable HTML

    assert trade_pass(embedded, collector) == ([], [])  # everything is \Seen now
    # A crash after writing the documents but before flagging the messages: unseen again.
    connection = mailbox(imap_server)
    try:
        connection.store("1:*", "-FLAGS", "(\\Seen)")
    finally:
        connection.logout()
    assert unseen(imap_server) == 3
    assert trade_pass(embedded, collector) == ([], [])
    assert unseen(imap_server) == 1
    assert len(embedded.store.query(Collections.ORDERS)) == 4
    assert len(embedded.store.query(Collections.SIGNALS)) == 2


def test_settings_need_host_user_and_password():
    with pytest.raises(SystemExit, match="IMAP_HOST, IMAP_PASSWORD"):
        imap_settings({"IMAP_USER": USER})
    settings = imap_settings({"IMAP_HOST": "imap.example.com", "IMAP_USER": USER, "IMAP_PASSWORD": "x"})
    assert (settings.port, settings.ssl, settings.folder, settings.strategy_id) == (993, True, "INBOX", None)
