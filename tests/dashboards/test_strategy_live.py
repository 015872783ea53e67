"""A strategy's live performance from its fills (hand-computed numbers), and the developer's
page showing it beside the backtest without a trace of any account or client."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dashboards_streamlit import formatting as fmt
from devstack.embedded import create_app
from shared.adapters.brokers import mock as broker_mock
from shared.adapters.store_sqlite import SqliteStore
from shared.bootstrap import Services
from shared.dashboards.documents import broker_mark
from shared.dashboards.fund_views import signal_row
from shared.dashboards.strategy_document import (
    LIVE_CAGR_MIN_DAYS,
    LIVE_METRICS_MIN_DAYS,
    allocated_capital,
    daily_curve,
    live_performance,
    strategy_document,
)
from shared.domain.models import Allocation, Collections
from shared.services.cerebro_service import CURRENT_ALLOCATION_DOC
from tests.conftest import signal_body
from tests.dashboards.test_app import ALICE, everything_shown, fund, logged_in, open_page  # noqa: F401 - fixture

TODAY = date(2026, 11, 25)  # a Wednesday
USD_ONLY = {"USD": 1.0}


def fill(account: str, side: str, quantity: float, price: float, at: str, symbol: str = "AAPL",
         commission: float = 1.0, currency: str = "USD", multiplier: float = 1.0, broker: str = "mock",
         exec_id: str = "") -> dict[str, Any]:
    return {"exec_id": exec_id or f"{account}-{at}-{side}", "account_id": account, "broker": broker,
            "strategy_id": "s", "signal_id": "sig", "side": side, "quantity": quantity, "price": price,
            "commission": commission, "filled_at": at,
            "instrument": {"symbol": symbol, "currency": currency, "multiplier": multiplier}}


def live(fills: list[dict[str, Any]], marks: dict[str, float | None], rates: dict[str, float] | None = None,
         capital: float | None = 1000.0, currencies: dict[str, str] | None = None,
         today: date = TODAY) -> dict[str, Any]:
    known = rates or USD_ONLY
    return live_performance(fills, mark=lambda _broker, key: marks.get(key), rate=lambda _broker, c: known.get(c),
                            account_currency=currencies or {}, capital=capital, today=today)


TWO_ACCOUNTS = [fill("ACC-1", "buy", 10, 100.0, "2026-11-23T15:00:00Z"),
                fill("ACC-2", "buy", 5, 100.0, "2026-11-23T15:00:01Z"),
                fill("ACC-1", "sell", 4, 110.0, "2026-11-24T15:00:00Z")]


def test_realized_unrealized_and_commissions_summed_over_accounts():
    # ACC-1: 4 closed at 110 against 100 -> +40 realized; 6 open at 100, mark 105 -> +30.
    # ACC-2: 5 open at 100, mark 105 -> +25. Commissions 3 x 1. Net 40 + 55 - 3 = 92.
    result = live(TWO_ACCOUNTS, {"AAPL": 105.0})
    assert (result["realized_pnl"], result["unrealized_pnl"], result["commissions"]) == (40.0, 55.0, 3.0)
    assert result["net_pnl"] == 92.0 and result["fill_count"] == 3 and result["currency"] == "USD"
    assert result["return"] == pytest.approx(0.092) and result["capital_base"] == 1000.0
    # Monday: two commissions; Tuesday: +40 - 1; Wednesday (today): + 55 unrealized.
    assert result["curve"] == [{"date": "2026-11-23", "pnl": -2.0}, {"date": "2026-11-24", "pnl": 37.0},
                               {"date": "2026-11-25", "pnl": 92.0}]
    assert [r["return"] for r in result["daily_returns"]] == pytest.approx([-0.002, 0.039, 0.055])
    assert result["by_instrument"] == [{"symbol": "AAPL", "currency": "USD", "fill_count": 3, "realized_pnl": 40.0,
                                        "commissions": 3.0, "open_quantity": 11.0, "unrealized_pnl": 55.0}]
    assert "ACC-" not in json.dumps(result)


def test_a_short_flip_and_a_futures_multiplier_follow_the_books_arithmetic():
    fills = [fill("A", "sell", 2, 50.0, "2026-11-24T10:00:00Z", symbol="ES", multiplier=50, commission=0),
             fill("A", "buy", 3, 48.0, "2026-11-24T11:00:00Z", symbol="ES", multiplier=50, commission=0)]
    result = live(fills, {"ES": 49.0})
    # Short 2 at 50 covered at 48: 2 x 2 x 50 = 200; long 1 from 48, mark 49: 1 x 1 x 50 = 50.
    assert (result["realized_pnl"], result["unrealized_pnl"], result["net_pnl"]) == (200.0, 50.0, 250.0)


def test_other_currencies_are_reported_in_usd_at_the_latest_rate():
    # A EUR future (multiplier 10) in a EUR account: commission in EUR too. EUR/USD 1.1.
    fills = [fill("EU", "buy", 2, 100.0, "2026-11-24T10:00:00Z", symbol="FDAX", currency="EUR", multiplier=10,
                  commission=2.0),
             fill("EU", "sell", 1, 103.0, "2026-11-24T11:00:00Z", symbol="FDAX", currency="EUR", multiplier=10,
                  commission=2.0)]
    result = live(fills, {"FDAX": 101.0}, rates={"USD": 1.0, "EUR": 1.1}, currencies={"EU": "EUR"})
    assert result["realized_pnl"] == pytest.approx(1 * 3 * 10 * 1.1)
    assert result["unrealized_pnl"] == pytest.approx(1 * 1 * 10 * 1.1)
    assert result["commissions"] == pytest.approx(4 * 1.1)
    assert result["net_pnl"] == pytest.approx((30 + 10 - 4) * 1.1)


def test_a_missing_rate_or_mark_makes_the_totals_unknown_and_says_why():
    no_rate = live([fill("EU", "buy", 1, 100.0, "2026-11-24T10:00:00Z", currency="EUR")], {"AAPL": 101.0},
                   currencies={"EU": "EUR"})
    assert no_rate["realized_pnl"] is None and no_rate["net_pnl"] is None and no_rate["curve"] == []
    assert no_rate["notes"] == ["No EUR/USD rate at the brokers, so the P&L cannot be shown in USD."]
    no_mark = live(TWO_ACCOUNTS, {})
    assert no_mark["realized_pnl"] == 40.0 and no_mark["unrealized_pnl"] is None and no_mark["net_pnl"] is None
    assert no_mark["return"] is None and "No broker mark for AAPL" in no_mark["notes"][0]
    assert no_mark["curve"][-1] == {"date": "2026-11-25", "pnl": 37.0}  # realized only, as the note says


def test_without_fills_or_capital_there_is_nothing_to_divide():
    empty = live([], {})
    assert (empty["fill_count"], empty["net_pnl"], empty["curve"], empty["metrics"]) == (0, 0.0, [], None)
    assert "no fills yet" in empty["metrics_note"]
    uncapitalised = live(TWO_ACCOUNTS, {"AAPL": 105.0}, capital=None)
    assert uncapitalised["net_pnl"] == 92.0 and uncapitalised["return"] is None
    assert uncapitalised["daily_returns"] == [] and "no capital is allocated" in uncapitalised["metrics_note"]


def test_quiet_weekdays_count_and_quiet_weekends_do_not():
    # Friday 20th and Saturday 21st traded (crypto); Sunday quiet; today Tuesday 24th.
    curve = daily_curve({"2026-11-20": 5.0, "2026-11-21": -1.0}, date(2026, 11, 24), unrealized=2.0)
    assert curve == [{"date": "2026-11-20", "pnl": 5.0}, {"date": "2026-11-21", "pnl": 4.0},
                     {"date": "2026-11-23", "pnl": 4.0}, {"date": "2026-11-24", "pnl": 6.0}]


def test_ratios_wait_for_enough_days():
    def trading(days: int) -> dict[str, Any]:
        start = TODAY - timedelta(days=days * 2)
        weekdays = [start + timedelta(n) for n in range(days * 2) if (start + timedelta(n)).weekday() < 5][-days:]
        fills = [fill("A", "buy" if n % 2 else "sell", 1, 100.0 + n % 3, f"{d.isoformat()}T12:00:00Z", commission=0)
                 for n, d in enumerate(weekdays)]
        return live(fills, {"AAPL": 101.0}, today=weekdays[-1])

    few = trading(LIVE_METRICS_MIN_DAYS - 1)
    assert few["metrics"] is None and few["days"] == LIVE_METRICS_MIN_DAYS - 1
    assert f"this strategy has {LIVE_METRICS_MIN_DAYS - 1} so far" in few["metrics_note"]
    enough = trading(LIVE_METRICS_MIN_DAYS)
    assert enough["metrics"]["days"] == LIVE_METRICS_MIN_DAYS and enough["metrics"]["max_drawdown"] >= 0
    assert enough["metrics"]["cagr"] is None and "CAGR and Calmar appear after" in enough["metrics_note"]
    year = trading(LIVE_CAGR_MIN_DAYS)
    assert year["metrics"]["cagr"] is not None and year["metrics_note"] == ""


def test_reasons_come_from_check_names_never_the_decision_text():
    decisions = [
        {"status": "rejected", "reason": "trading state HALTED (client_a margin call)",
         "checks": [{"name": "trading_state", "outcome": "fail", "detail": "halted: client_a margin call"}]},
        {"status": "approved", "reason": "buy 4", "checks": [{"name": "position_size", "outcome": "capped"}]},
        {"status": "skipped", "reason": "account does not allocate to this strategy", "checks": []},
        {"status": "rejected", "reason": "equity 12,345 is not positive", "checks": []}]
    record = {"signal_id": "s", "strategy_id": "momentum_us", "signal": {}, "decisions": decisions}
    assert signal_row(record, for_developer=True)["reasons"] == [
        "could not be sized (1)", "nothing to trade (1)", "position_size check capped (1)",
        "trading_state check failed (1)"]


def test_capital_is_what_the_accounts_allocate_now_in_usd(tmp_path: Path):
    store = SqliteStore(str(tmp_path / "store.sqlite"))
    store.put(Collections.ACCOUNTS, "US", {"account_id": "US", "broker": "mock", "base_currency": "USD",
                                           "snapshot": {"equity": 1_000_000.0}})
    store.put(Collections.ACCOUNTS, "EU", {"account_id": "EU", "broker": "ibkr", "base_currency": "EUR",
                                           "snapshot": {"equity": 200_000.0}})
    store.put(Collections.ALLOCATION, CURRENT_ALLOCATION_DOC,
              Allocation(weights={"US": {"s": 0.4}, "EU": {"s": 0.5}}).model_dump(mode="json"))
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    assert allocated_capital(store, "s", store.query(Collections.ACCOUNTS), now)[0] is None  # no EUR/USD rate yet
    store.put(Collections.MARKET_PRICES, "ibkr|FX:EURUSD", {"price": 1.1})
    assert allocated_capital(store, "s", store.query(Collections.ACCOUNTS), now) == (
        pytest.approx(400_000 + 100_000 * 1.1), "")
    assert allocated_capital(store, "other", store.query(Collections.ACCOUNTS), now)[0] is None


def test_the_stored_document_agrees_with_the_books(fund: Services):  # noqa: F811 - the fixture
    """The live section, built from the store, matches the positions collection at the same marks."""
    section = strategy_document(fund.store, "momentum_us", fund.clock())["live"]
    lots = [p for p in fund.store.query(Collections.POSITIONS, where={"strategy_id": "momentum_us"}) if p["quantity"]]
    expected = sum(p["quantity"] * (broker_mark(fund.store, "mock", p["instrument_key"]) - p["avg_price"])
                   for p in lots)
    fills = fund.store.query(Collections.CONFIRMATIONS, where={"strategy_id": "momentum_us"})
    assert section["fill_count"] == len(fills)
    assert section["unrealized_pnl"] == pytest.approx(expected) and section["realized_pnl"] == 0.0
    assert section["commissions"] == pytest.approx(sum(p.get("commission_paid", 0.0) for p in lots))
    assert section["capital_base"] == pytest.approx(sum(
        a["snapshot"]["equity"] * {"DEMO-CLIENT-A": 0.4, "DEMO-CLIENT-B": 0.6}[a["account_id"]]
        for a in fund.store.query(Collections.ACCOUNTS)), rel=1e-3)


def test_the_developer_page_shows_the_documents_live_numbers_and_no_account_or_client(fund: Services):  # noqa: F811
    fund.store.put(broker_mock.PRICES, "NASDAQ:AAPL", {"price": 200.0})  # a move, so unrealized P&L is not ~0
    fund.clock.advance(11)  # past the age at which the API serves a stored document instead of rebuilding it
    app = open_page(logged_in(ALICE), "developer_strategies")
    document = create_app(fund).test_client().get(
        "/api/dashboards/strategies/momentum_us", headers={"Authorization": f"Bearer {ALICE}"}).get_json()
    section = document["live"]
    shown = {m.label: m.value for m in app.metric}
    assert shown["Live net P&L"] == fmt.money(section["net_pnl"], "USD", signed=True)
    assert shown["Realized P&L"] == fmt.money(section["realized_pnl"], "USD", signed=True)
    assert shown["Unrealized P&L"] == fmt.money(section["unrealized_pnl"], "USD", signed=True)
    assert shown["Commissions"] == fmt.money(section["commissions"], "USD")
    assert shown["Fills"] == str(section["fill_count"])
    assert shown["Live return"] == fmt.percent(section["return"], 2 if abs(section["return"]) >= 0.001 else 4,
                                               signed=True) != "+0.00%"
    assert section["unrealized_pnl"] > 0 and shown["Sharpe"] != "—"  # the backtest's ratios, shown apart
    headings = [h.value for h in app.subheader]
    assert headings.index("Live (from fills)") < headings.index("Backtest (uploaded daily returns)")
    assert any(f"this strategy has {section['days']} so far" in i.value for i in app.info)

    charts = app.get("vega_lite_chart")
    assert [json.loads(c.proto.spec)["title"] for c in charts] == [  # one day of fills: no live curve yet
        "Backtest cumulative return (from uploaded daily returns)"]
    assert any("curve appears from the strategy's second trading day" in i.value for i in app.info)
    page = everything_shown(app) + "".join(f"\n{w.value}" for w in app.warning) + "".join(
        f"\n{i.value}" for i in app.info) + json.dumps([c.proto.spec for c in charts])
    accounts = fund.store.query(Collections.ACCOUNTS)
    for identity in {a["account_id"] for a in accounts} | {a["client_id"] for a in accounts if a.get("client_id")}:
        assert identity not in page
    assert "DEMO-CLIENT" not in json.dumps(document) and "client_" not in json.dumps(document)


def test_a_second_day_of_trading_draws_the_live_curve_with_its_realized_pnl(fund: Services):  # noqa: F811
    fund.clock.advance(24 * 3600)  # Wednesday: the fund's second day
    fund.poller.poll_all()
    answer = create_app(fund).test_client().post(
        "/webhook", data=signal_body("momentum_us", ticker="AAPL", action="sell", quantity=5, price=190.0,
                                     signal_id="dash-day-2"), content_type="application/json")
    assert answer.status_code == 202, answer.get_json()
    assert fund.bus.drain()
    app = open_page(logged_in(ALICE), "developer_strategies")
    section = strategy_document(fund.store, "momentum_us", fund.clock())["live"]
    assert [p["date"] for p in section["curve"]] == ["2026-11-24", "2026-11-25"]
    books = fund.store.query(Collections.POSITIONS, where={"strategy_id": "momentum_us"})
    assert section["realized_pnl"] == pytest.approx(sum(p["realized_pnl"] for p in books)) != 0
    assert {m.label: m.value for m in app.metric}["Realized P&L"] == fmt.money(section["realized_pnl"], "USD",
                                                                               signed=True)
    [curve, _] = [json.loads(c.proto.spec) for c in app.get("vega_lite_chart")]
    assert curve["title"].startswith("Cumulative live P&L") and curve["encoding"]["x"]["axis"]["format"] == "%d %b"
