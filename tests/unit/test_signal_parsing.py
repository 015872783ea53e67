import json

import pytest

from shared.domain.models import Action, AssetClass, OrderType, SignalSource, SizingKind
from shared.domain.signal_parsing import SignalRejected, parse_request
from shared.entrypoints.http import http_status


def parse(document: dict | str, content_type: str = "application/json", query: dict | None = None):
    body = document.encode() if isinstance(document, str) else json.dumps(document).encode()
    return parse_request(body, content_type, query or {})


BASE = {"strategy_id": "s1", "passphrase": "p", "ticker": "AAPL", "action": "buy", "quantity": 10}


def test_http_api_payload_becomes_a_standard_shape():
    parsed = parse({**BASE, "exchange": "NASDAQ", "price": 190.5, "order_type": "limit", "limit_price": 190})
    assert (parsed.instrument.ticker, parsed.instrument.exchange) == ("AAPL", "NASDAQ")
    assert parsed.instrument.asset_class is None  # never guessed: the instrument master says what it is
    assert parsed.action is Action.BUY
    assert parsed.order_type is OrderType.LIMIT
    assert parsed.sizing.kind is SizingKind.QUANTITY and parsed.sizing.value == 10
    assert parsed.source is SignalSource.HTTP_API
    assert "passphrase" not in parsed.canonical


def test_tradingview_placeholders_map_to_our_fields():
    parsed = parse({"strategy_id": "s1", "passphrase": "p", "ticker": "ES1!", "exchange": "CME",
                    "action": "sell", "contracts": 2, "position_size": -2, "close": 5800.25,
                    "market_position": "short", "timenow": "2026-11-24T14:30:00Z"})
    assert parsed.source is SignalSource.TRADINGVIEW_JSON
    assert (parsed.instrument.ticker, parsed.instrument.exchange) == ("ES1!", "CME")
    # The target position wins over the order's contracts: resends are then harmless.
    assert parsed.sizing.kind is SizingKind.TARGET_POSITION and parsed.sizing.value == -2
    assert parsed.price == 5800.25


def test_tradingview_default_text_alert_with_credentials_in_query():
    text = "order buy @ 3 filled on NVDA. New strategy position is 5"
    parsed = parse(text, "text/plain", {"strategy_id": "s1", "passphrase": "p"})
    assert parsed.source is SignalSource.TRADINGVIEW_TEXT
    assert parsed.instrument.ticker == "NVDA"
    assert parsed.sizing.kind is SizingKind.TARGET_POSITION and parsed.sizing.value == 5


def test_instrument_details_the_alert_sends_are_kept_to_be_checked_not_to_fill_gaps():
    parsed = parse({**BASE, "ticker": "oanda:eurusd", "quantity": 10000, "asset_class": "forex", "multiplier": 1})
    assert parsed.instrument.ticker == "OANDA:EURUSD"
    assert (parsed.instrument.asset_class, parsed.instrument.multiplier, parsed.instrument.currency) == (
        AssetClass.FOREX, 1, None)


@pytest.mark.parametrize(
    ("document", "field", "status"),
    [
        ({**BASE, "quantity": -5}, "quantity", 422),
        ({**BASE, "quantity": "ten"}, "quantity", 422),
        ({**BASE, "size_pct": 150, "quantity": None}, "size_pct", 422),
        ({k: v for k, v in BASE.items() if k != "ticker"}, "ticker", 422),
        ({**BASE, "action": "hold"}, "action", 422),
        ({**BASE, "order_type": "limit"}, "limit_price", 422),
        ({**BASE, "order_type": "stop"}, "stop_price", 422),
        ({**BASE, "qty": 5}, "qty", 422),
        ({k: v for k, v in BASE.items() if k != "strategy_id"}, "strategy_id", 422),
        ({k: v for k, v in BASE.items() if k != "quantity"}, "quantity", 422),
        ({**BASE, "size_pct": 5}, "size_pct", 422),
        ({**BASE, "environment": "dev"}, "environment", 422),
    ],
)
def test_bad_fields_are_named(document, field, status):
    with pytest.raises(SignalRejected) as caught:
        parse({k: v for k, v in document.items() if v is not None})
    assert caught.value.field == field
    assert http_status(caught.value) == status


def test_malformed_bodies():
    for body, content_type, status in [
        ("{not json", "application/json", 400),
        ("[1, 2]", "application/json", 400),
        ('{"quantity": NaN}', "application/json", 400),
        ("hello", "text/plain", 400),
        ("x", "application/xml", 415),
        ("x" * 20_000, "text/plain", 413),
    ]:
        with pytest.raises(SignalRejected) as caught:
            parse(body, content_type)
        assert http_status(caught.value) == status
        assert caught.value.field in ("body", "content_type")


def test_exit_and_flatten_need_no_size():
    assert parse({**BASE, "action": "exit", "quantity": None} | {}).action is Action.EXIT
    flatten = parse({k: v for k, v in BASE.items() if k != "quantity"} | {"action": "flatten"})
    assert flatten.sizing is None
