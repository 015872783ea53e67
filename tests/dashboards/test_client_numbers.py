"""The investor numbers in a client's document, against figures worked out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.embedded import create_app
from shared.adapters.brokers import mock as broker_mock
from shared.adapters.store_sqlite import SqliteStore
from shared.bootstrap import Services
from shared.dashboards.documents import (
    allocation_shares,
    broker_mark,
    client_document,
    fx_to_base,
    investor_numbers,
    position_value,
    totals,
)
from shared.domain.models import Collections
from tests.conftest import FakeClock, signal_body


def test_pnl_and_return_today_and_since_inception():
    numbers = investor_numbers(1_050_000.0, 1_040_000.0, 1_000_000.0)
    assert numbers["pnl_today"] == 10_000.0
    assert numbers["return_today"] == pytest.approx(10_000 / 1_040_000)  # 0.96%
    assert numbers["pnl_since_inception"] == 50_000.0 and numbers["return_since_inception"] == pytest.approx(0.05)
    unknown = investor_numbers(1_050_000.0, None, None)
    assert unknown["pnl_today"] is unknown["return_today"] is unknown["pnl_since_inception"] is None
    assert investor_numbers(None, 1.0, 1.0)["pnl_today"] is None  # no snapshot: no P&L, not -base


@pytest.mark.parametrize(("args", "market_value", "unrealized"), [
    ((40, 190.019, 200.0), 8_000.0, 399.24),  # long stock: 40 x 200; 40 x (200 - 190.019)
    ((-10, 100.0, 90.0), -900.0, 100.0),  # short gains when the price falls
    ((2, 5_000.0, 5_010.0, 50.0, 1.25), 626_250.0, 1_250.0),  # future: 2 x 5010 x 50 x 1.25; 2 x 10 x 50 x 1.25
])
def test_position_value_at_the_mark(args, market_value, unrealized):
    valued = position_value(*args)
    assert valued["market_value"] == pytest.approx(market_value)
    assert valued["unrealized_pnl"] == pytest.approx(unrealized)


def test_no_mark_or_no_rate_means_unknown_not_zero():
    assert position_value(40, 190.0, None) == {"mark": None, "market_value": None, "unrealized_pnl": None}
    assert position_value(40, 190.0, 200.0, fx=None)["market_value"] is None
    assert totals([{"v": 1.0}, {"v": None}], "v") is None and totals([{"v": 1.0}, {"v": 2.5}], "v") == 3.5
    assert totals([], "v") == 0.0


def test_allocation_shares_are_of_what_is_allocated():
    rows = allocation_shares([{"strategy": "a", "weight": 0.3}, {"strategy": "b", "weight": 0.1}], 200_000.0)
    assert [(r["share"], r["capital"]) for r in rows] == [(pytest.approx(0.75), pytest.approx(60_000.0)),
                                                          (pytest.approx(0.25), pytest.approx(20_000.0))]
    assert allocation_shares([], 1.0) == []


def test_marks_and_rates_come_from_the_brokers_prices(tmp_path: Path):
    store = SqliteStore(str(tmp_path / "store.sqlite"))
    store.put(Collections.MARKET_PRICES, "ibkr|NASDAQ:AAPL", {"price": 191.5, "as_of": "2026-11-24T14:30:00+00:00"})
    store.put(Collections.MARKET_PRICES, "ibkr|FX:EURUSD", {"price": 1.08, "as_of": "2026-11-24T14:30:00+00:00"})
    store.put(Collections.MARKET_PRICES, "ibkr|NYSE:DEAD", {"price": 0.0, "as_of": "2026-11-24T14:30:00+00:00"})
    store.put(broker_mock.PRICES, "NASDAQ:AAPL", {"price": 188.0})
    assert broker_mark(store, "ibkr", "NASDAQ:AAPL") == 191.5
    assert broker_mark(store, "mock", "NASDAQ:AAPL") == 188.0
    assert broker_mark(store, "ibkr", "NYSE:DEAD") is None and broker_mark(store, "zerodha", "NASDAQ:AAPL") is None
    assert fx_to_base(store, "ibkr", "EUR", "USD") == 1.08
    assert fx_to_base(store, "ibkr", "USD", "EUR") == pytest.approx(1 / 1.08)
    assert fx_to_base(store, "ibkr", "JPY", "USD") is None and fx_to_base(store, "ibkr", "USD", "USD") == 1.0


def test_a_client_document_values_positions_at_the_marks_and_counts_pnl(embedded: Services, clock: FakeClock):
    """Account A starts with 1,000,000 cash; buying AAPL and moving its mark 5% up must show
    up as exactly that position's unrealized P&L, today's P&L and the return since inception."""
    app = create_app(embedded).test_client()
    answer = app.post("/webhook", data=signal_body(ticker="AAPL", action="buy", quantity=10, price=190,
                                                   signal_id="numbers-1"), content_type="application/json")
    assert answer.status_code == 202
    assert embedded.bus.drain()
    [lot] = [p for p in embedded.store.query(Collections.POSITIONS, where={"account_id": "DEMO-CLIENT-A"})
             if p["quantity"]]
    mark = round(embedded.store.get(broker_mock.PRICES, lot["instrument_key"])["price"] * 1.05, 2)
    embedded.mock_broker.mark_price(lot["instrument_key"], mark)
    clock.advance(900)
    embedded.poller.poll_all()

    [account] = client_document(embedded.store, "client_a", clock())["accounts"]
    [position] = account["positions"]
    snapshot = embedded.store.get(Collections.ACCOUNTS, "DEMO-CLIENT-A")["snapshot"]
    assert position["mark"] == mark
    assert position["market_value"] == pytest.approx(lot["quantity"] * mark)
    assert position["unrealized_pnl"] == pytest.approx(lot["quantity"] * (mark - lot["avg_price"]))
    assert account["market_value"] == pytest.approx(position["market_value"])
    # The Mock values the account the same way: its equity is cash plus the positions' value.
    assert snapshot["equity"] == pytest.approx(snapshot["cash"] + account["market_value"], abs=1e-4)
    assert account["inception_equity"] == 1_000_000.0 and account["day_start_equity"] == 1_000_000.0
    assert account["pnl_since_inception"] == pytest.approx(snapshot["equity"] - 1_000_000.0)
    assert account["pnl_today"] == account["pnl_since_inception"]  # the same day as the first snapshot
    assert account["return_since_inception"] == pytest.approx((snapshot["equity"] - 1_000_000.0) / 1_000_000.0)
    # Bought a little above the old mark (the Mock's slippage, commission): the gain is less than 5%.
    assert 0 < account["pnl_since_inception"] < account["unrealized_pnl"]
    assert {a["strategy_id"]: (a["share"], a["capital"]) for a in account["allocation"]} == {
        "momentum_us": (pytest.approx(0.4), pytest.approx(0.4 * snapshot["equity"])),
        "trend_futures": (pytest.approx(0.4), pytest.approx(0.4 * snapshot["equity"])),
        "fx_carry": (pytest.approx(0.2), pytest.approx(0.2 * snapshot["equity"]))}
