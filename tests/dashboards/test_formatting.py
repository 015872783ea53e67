"""How the dashboards write numbers, times and column names; and the charts' axes."""

from __future__ import annotations

from datetime import UTC
from zoneinfo import ZoneInfo

import pytest

from dashboards_streamlit import charts
from dashboards_streamlit import formatting as fmt


@pytest.mark.parametrize(("value", "expected"), [
    (1001674.2865, "1,001,674.29 USD"), (-1234.5, "-1,234.50 USD"), (0, "0.00 USD"), (None, "—"),
    (float("nan"), "—")])
def test_money_has_separators_and_its_currency(value, expected):
    assert fmt.money(value, "USD") == expected


def test_signed_money_compact_and_percent():
    assert fmt.money(250.0, "EUR", signed=True) == "+250.00 EUR"
    assert fmt.compact(1_234_567, "USD") == "1.23M USD" and fmt.compact(950.0) == "950"
    assert fmt.percent(0.1324) == "13.24%" and fmt.percent(0.7647, 1) == "76.5%"
    assert fmt.percent(-0.0051, signed=True) == "-0.51%" and fmt.percent(0.02, signed=True) == "+2.00%"
    assert fmt.percent(None) == "—"


def test_quantities_and_prices_without_float_noise():
    assert fmt.quantity(10000.0) == "10,000" and fmt.quantity(0.12500000) == "0.125"
    assert fmt.quantity(0.1 + 0.2) == "0.3"
    assert fmt.price(190.0) == "190.00" and fmt.price(1.08015) == "1.08015" and fmt.price(None) == "—"


def test_times_in_the_viewers_zone_to_the_minute():
    stored = "2026-11-24T14:30:12.345678+00:00"
    assert fmt.timestamp(stored) == "2026-11-24 14:30"
    assert fmt.timestamp(stored, ZoneInfo("Asia/Kolkata")) == "2026-11-24 20:00"
    assert fmt.timestamp("2026-11-24T14:30:12.345678", seconds=True) == "2026-11-24 14:30:12"  # naive: UTC
    assert fmt.timestamp(None) == "—" and fmt.day("2026-11-03") == "3 Nov 2026"


def test_the_zone_is_the_setting_then_the_browser_then_utc():
    assert fmt.resolve_timezone("Europe/London", "Asia/Tokyo") == ZoneInfo("Europe/London")
    assert fmt.resolve_timezone(None, "Asia/Tokyo") == ZoneInfo("Asia/Tokyo")
    assert fmt.resolve_timezone("Not/AZone", None) is UTC and fmt.resolve_timezone() is UTC
    assert fmt.zone_name(UTC) == "UTC" and fmt.zone_name(ZoneInfo("Asia/Tokyo")) == "Asia/Tokyo"


def test_column_names_for_people():
    assert fmt.label("avg_price") == "Average price" and fmt.label("unrealized_pnl") == "Unrealized P&L"
    assert fmt.label("accounts_rejected") == "Accounts rejected" and fmt.label("symbol") == "Symbol"


def test_a_table_keeps_numbers_numeric_and_writes_the_rest():
    rows = [{"filled_at": "2026-11-24T14:30:12.345678+00:00", "symbol": "AAPL", "quantity": 40.0,
             "price": 190.019, "market_value": 7600.76, "reasons": ["stale price", "halted"], "cash": None},
            {"filled_at": None, "symbol": None, "quantity": 15.0, "price": 1.08, "market_value": 16.2,
             "reasons": [], "cash": 5.0}]
    frame, config = fmt.table(rows, {"filled_at": fmt.TIME, "symbol": fmt.TEXT, "quantity": fmt.QUANTITY,
                                     "price": fmt.PRICE, "market_value": fmt.MONEY, "reasons": fmt.TEXT,
                                     "cash": fmt.MONEY}, currency="USD", zone=ZoneInfo("Europe/London"))
    assert list(frame["filled_at"]) == ["2026-11-24 14:30", "—"]
    assert config["filled_at"]["label"] == "Filled at (Europe/London)"
    assert list(frame["symbol"]) == ["AAPL", "—"] and list(frame["reasons"]) == ["stale price, halted", "—"]
    assert list(frame["quantity"]) == [40.0, 15.0] and config["quantity"]["type_config"]["format"] == "%,.0f"
    assert config["price"]["type_config"]["format"] == "%,.3f"  # one precision for the column: 190.019
    assert config["market_value"]["label"] == "Market value (USD)"
    assert config["market_value"]["type_config"]["format"] == "%,.2f"
    assert list(frame["cash"]) == ["—", "5.00"]  # a column with a gap is text, the gap a dash


@pytest.mark.parametrize(("values", "decimals"), [
    ([1_000_000.0, 1_002_000.0], 4),  # in millions: 1.0000M .. 1.0020M, ticks 0.0002M apart
    ([1.0, 2.0], 1), ([0.0, 0.0012], 4),
    ([5.0], 3)])  # one point: a band of 1% around it
def test_axis_precision_follows_the_span(values, decimals):
    scale = 1e6 if values[0] >= 1e6 else 1.0
    assert charts.span_decimals(values, scale) == decimals


def test_ticks_at_that_precision_never_repeat():
    """What made the equity axis read "1 1 1 2 2": whole-number labels on a 1.0-2.0 curve."""
    for low, high in [(1.0, 2.0), (1_000_000.0, 1_002_000.0), (0.0, 0.0012), (-0.0012, 0.0)]:
        scale = 1e6 if abs(high) >= 1e6 else 1.0
        decimals = charts.span_decimals([low, high], scale)
        ticks = [low + (high - low) * i / 10 for i in range(11)]
        labels = [f"{t / scale:.{decimals}f}" for t in ticks]
        assert len(set(labels)) == len(labels), labels


def test_charts_name_their_axes_and_explain_an_empty_daily_pnl():
    curve = [{"at": "2026-11-24T14:30:00+00:00", "equity": 1_000_000.0},
             {"at": "2026-11-24T14:45:00+00:00", "equity": 1_001_674.2865}]
    spec = charts.line(curve, "at", "equity", "Equity", currency="USD").to_dict()
    assert spec["encoding"]["y"]["axis"]["title"] == "USD"
    assert "1.0, ',.0f') + ''" in spec["encoding"]["y"]["axis"]["labelExpr"]  # 1,000,000 .. 1,001,674
    wide = charts.line([{"at": "2026-11-24", "equity": 1e6}, {"at": "2026-11-25", "equity": 1.5e6}], "at", "equity",
                       "Equity").to_dict()
    assert "1000000.0, ',.2f') + 'M'" in wide["encoding"]["y"]["axis"]["labelExpr"]  # 1.00M .. 1.50M
    assert spec["usermeta"] == charts.SVG
    assert "only 1 day of equity history" in charts.daily_pnl_empty(curve)
    assert "no day" in charts.daily_pnl_empty([])
    donut = charts.allocation([{"strategy": "Momentum", "weight": 0.4, "share": 0.5, "capital": 400_000.0}],
                              currency="USD").to_dict()
    assert donut["datasets"][next(iter(donut["datasets"]))][0]["slice"] == "Momentum: 50.0% · 400K USD"
