"""Every sample signal, sent by send_test_signal.py over real HTTP to the embedded webhook."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

from devstack.embedded import create_app
from shared.bootstrap import Services
from shared.domain.models import Collections
from tests.signals_testing import send_test_signal

SAMPLES = send_test_signal.HERE / "sample_signals"


@pytest.fixture
def webhook_url(embedded: Services) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, create_app(embedded), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/webhook"
    server.shutdown()
    thread.join(timeout=5)


def send(capsys: pytest.CaptureFixture[str], url: str, sample: str) -> tuple[int, int, dict]:
    """Run the script as a user would; returns its exit code, the HTTP status and the answer."""
    code = send_test_signal.main(["--file", sample, "--url", url, "--keep-id"] if sample.startswith("/") else
                                 ["--file", f"sample_signals/{sample}", "--url", url])
    status, _, body = capsys.readouterr().out.partition(" ")
    return code, int(status), json.loads(body)


def orders_for(services: Services, signal_id: str) -> list[dict]:
    return services.store.query(Collections.ORDERS, where={"signal_id": signal_id})


def test_there_is_a_sample_for_each_kind_of_signal():
    names = {p.name for p in SAMPLES.iterdir()}
    assert {"equity_buy.json", "equity_sell.json", "equity_exit.json", "equity_limit_buy.json",
            "equity_stop_sell.json", "futures_tradingview.json", "forex_buy.json",
            "tradingview_text_alert.txt"} <= names


@pytest.mark.parametrize("name, symbol, side, status", [
    ("equity_buy.json", "AAPL", "buy", "filled"),
    ("equity_limit_buy.json", "MSFT", "buy", "filled"),  # limit 421 above the 420 market: marketable
    ("equity_stop_sell.json", "SPY", "sell", "working"),  # protective stop 555 below the 560 market: rests
    ("futures_tradingview.json", "MES1!", "buy", "filled"),
    ("forex_buy.json", "EURUSD", "buy", "filled"),
])
def test_each_json_sample_trades_in_every_allocating_account(embedded, webhook_url, capsys, name, symbol, side,
                                                              status):
    code, http_status, answer = send(capsys, webhook_url, name)
    assert (code, http_status) == (0, 202)
    embedded.bus.drain()
    orders = orders_for(embedded, answer["signal_id"])
    assert orders, f"{name} produced no order"
    assert {(o["order"]["instrument"]["symbol"], o["order"]["side"], o["status"]) for o in orders} == {
        (symbol, side, status)}


def test_buy_sell_exit_round_trip_leaves_the_strategy_flat(embedded, webhook_url, capsys):
    answers = {}
    for name in ("equity_buy.json", "equity_sell.json", "equity_exit.json"):
        code, _, answers[name] = send(capsys, webhook_url, name)
        assert code == 0
        embedded.bus.drain()
    positions = embedded.store.query(Collections.POSITIONS, where={"strategy_id": "momentum_us"})
    assert positions and all(p["quantity"] == 0 for p in positions)
    exits = orders_for(embedded, answers["equity_exit.json"]["signal_id"])
    assert sorted(o["order"]["side"] for o in exits) == ["sell", "sell"]  # one closing order per account


def test_tradingview_text_alert_is_sent_as_text_with_query_credentials(embedded, webhook_url, capsys):
    assert send(capsys, webhook_url, "tradingview_text_alert.txt")[:2] == (0, 202)
    embedded.bus.drain()
    raw = embedded.store.query(Collections.RAW_SIGNALS)
    assert [r["source"] for r in raw] == ["tradingview_text"]
    fills = embedded.store.query(Collections.CONFIRMATIONS)
    assert {f["instrument"]["symbol"] for f in fills} == {"NVDA"} and len(fills) == 2


def test_keep_id_makes_a_resend_a_duplicate(embedded, webhook_url, capsys, tmp_path):
    sample = tmp_path / "with_id.json"
    sample.write_text((SAMPLES / "equity_buy.json").read_text().replace('"action"', '"signal_id": "fixed-1", "action"'))
    first, resend = send(capsys, webhook_url, str(sample)), send(capsys, webhook_url, str(sample))
    assert (first[:2], resend[:2]) == ((0, 202), (0, 200))
    embedded.bus.drain()
    assert len(orders_for(embedded, first[2]["signal_id"])) == 2


def test_errors_are_reported_with_a_failing_exit_code(webhook_url, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"strategy_id": "momentum_us", "passphrase": "wrong", "ticker": "AAPL", "action": "buy", '
                   '"quantity": 1}')
    assert send_test_signal.main(["--file", str(bad), "--url", webhook_url]) == 1
    assert '"field": "passphrase"' in capsys.readouterr().out
    assert send_test_signal.main(["--file", "no_such_sample.json", "--url", webhook_url]) == 2
