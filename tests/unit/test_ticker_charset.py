"""Tickers are spelled with what real symbols use, checked while parsing; environments in any case."""

from __future__ import annotations

import json

import pytest

from shared.demo_instruments import DEMO_INSTRUMENTS
from shared.domain.models import Environment
from shared.domain.signal_parsing import SignalRejected, parse_request
from shared.entrypoints.http import http_status

BASE = {"strategy_id": "s1", "passphrase": "p", "action": "buy", "quantity": 1}
TEXT = "order buy @ 1 filled on {ticker}. New strategy position is 1"


def parse_json(**fields: object):
    return parse_request(json.dumps({**BASE, **fields}).encode(), "application/json", {})


def parse_text(ticker: str, **query: str):
    return parse_request(TEXT.format(ticker=ticker).encode(), "text/plain",
                         {"strategy_id": "s1", "passphrase": "p", **query})


REAL = ["AAPL", "BRK.B", "NSE:M&M", "ES1!", "CME_MINI:ES1!", "FX_IDC:EURUSD", "NSE:BAJAJ-AUTO", "EUR/USD",
        "nifty26novfut"]


@pytest.mark.parametrize("ticker", REAL + sorted({a for spec, _ in DEMO_INSTRUMENTS for a in spec.all_aliases}))
def test_real_tickers_and_every_demo_alias_are_accepted(ticker: str):
    assert parse_json(ticker=ticker).instrument.ticker == ticker.upper()
    assert parse_text(ticker).instrument.ticker == ticker.upper()


@pytest.mark.parametrize(("ticker", "code"), [
    ("\uff21\uff21\uff30\uff2c", "U+FF21 at position 1"),  # fullwidth AAPL
    ("AAPL\U0001f680", "U+1F680 at position 5"),
    ("AA\x00PL", "U+0000 at position 3"),
    ("AA\nPL", "U+000A at position 3"),
    ("AA\x85PL", "U+0085 at position 3"),
    ("AA\u2028PL", "U+2028 at position 3"),
    ("AAPL\u200b", "U+200B at position 5"),  # zero-width space
    ("\u0410APL", "U+0410 at position 1"),  # Cyrillic A
    ("AA PL", "U+0020 at position 3"),
    ("AAPL;DROP", "U+003B at position 5"),
])
def test_other_characters_are_refused_naming_the_ticker_and_the_code_point(ticker: str, code: str):
    with pytest.raises(SignalRejected) as caught:
        parse_json(ticker=ticker)
    assert (caught.value.field, http_status(caught.value)) == ("ticker", 422)
    assert caught.value.reason.startswith("may contain only ASCII letters, digits and : . _ - ! / &")
    assert code in caught.value.reason and ticker not in caught.value.reason


@pytest.mark.parametrize("ticker", ["\uff2e\uff36\uff24\uff21", "NV\x00DA", "NVDA\U0001f680"])
def test_a_text_alert_ticker_is_checked_the_same_way(ticker: str):
    with pytest.raises(SignalRejected) as caught:
        parse_text(ticker)
    assert (caught.value.field, http_status(caught.value)) == ("ticker", 422)


def test_the_exchange_is_checked_too():
    assert parse_json(ticker="EURUSD", exchange="fx_idc").instrument.exchange == "FX_IDC"
    with pytest.raises(SignalRejected) as caught:
        parse_json(ticker="AAPL", exchange="NAS\nDAQ")
    assert caught.value.field == "exchange"


@pytest.mark.parametrize(("spelled", "meant"), [("staging", Environment.STAGING), ("STAGING", Environment.STAGING),
                                                (" Staging ", Environment.STAGING),
                                                ("PRODUCTION", Environment.PRODUCTION)])
def test_an_environment_in_any_case_means_the_same(spelled: str, meant: Environment):
    assert parse_json(ticker="AAPL", environment=spelled).environment is meant
    assert parse_text("AAPL", environment=spelled).environment is meant
    query = {"environment": spelled}
    body = json.dumps({**BASE, "ticker": "AAPL"}).encode()
    assert parse_request(body, "application/json", query).environment is meant


@pytest.mark.parametrize("spelled", ["dev", "", "prod", "staging\x00"])
def test_an_unknown_environment_is_refused_by_name(spelled: str):
    for parse in (lambda: parse_json(ticker="AAPL", environment=spelled),
                  lambda: parse_text("AAPL", environment=spelled)):
        with pytest.raises(SignalRejected) as caught:
            parse()
        assert (caught.value.field, http_status(caught.value)) == ("environment", 422)


def test_query_and_body_environments_must_agree():
    body = json.dumps({**BASE, "ticker": "AAPL", "environment": "production"}).encode()
    with pytest.raises(SignalRejected) as caught:
        parse_request(body, "application/json", {"environment": "staging"})
    assert caught.value.field == "environment"
    assert parse_request(body, "application/json", {"environment": "PRODUCTION"}).environment is Environment.PRODUCTION
