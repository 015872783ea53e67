"""IBKR reference prices: market data snapshots, the last-fill fallback and FX rates, with the
real ib_async client against the local TWS API server (which fails the test on any frame
ib_async cannot decode)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from shared.adapters.brokers.ibkr import IbkrBroker, IbkrConfig
from shared.adapters.store_sqlite import SqliteStore
from shared.domain.models import AssetClass, Instrument, Order, Side
from tests.brokers.conftest import ibkr_connection
from tests.brokers.fake_tws import ASK, BID, CLOSE, LAST, FakeTws

NOW = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
AAPL = Instrument(symbol="AAPL", exchange="NASDAQ")
MSFT = Instrument(symbol="MSFT", exchange="NASDAQ")

pytestmark = pytest.mark.usefixtures("decoder_errors")


@pytest.fixture
def store(tmp_path) -> SqliteStore:
    return SqliteStore(str(tmp_path / "ibkr.sqlite"))


def open_broker(tws: FakeTws, store: SqliteStore, fallback: bool = False) -> IbkrBroker:
    connection = ibkr_connection(tws, price_fallback_last_fill=fallback)
    return IbkrBroker(store, connection, lambda: NOW)


@pytest.fixture
def broker(tws: FakeTws, store: SqliteStore) -> Iterator[IbkrBroker]:
    broker = open_broker(tws, store)
    yield broker
    broker.connection.close()


@pytest.fixture
def fallback_broker(tws: FakeTws, store: SqliteStore) -> Iterator[IbkrBroker]:
    broker = open_broker(tws, store, fallback=True)
    yield broker
    broker.connection.close()


def test_a_snapshot_gives_the_last_price_at_the_clocks_time(broker, tws):
    tws.prices["AAPL"] = 191.25
    quote = broker.quote(AAPL)
    assert (quote.price, quote.as_of, quote.source) == (191.25, NOW, "ibkr snapshot")
    assert tws.market_data_requests == [{"con_id": 265598, "symbol": "AAPL", "generic_ticks": "", "snapshot": True,
                                         "regulatory": False}]  # qualified first: by conId


def test_without_a_last_price_the_midpoint_then_the_close_and_never_an_old_snapshot(broker, tws):
    assert broker.quote(MSFT).price == 420.0
    tws.quotes["MSFT"] = {BID: 418.0, ASK: 419.0, CLOSE: 415.0}
    assert broker.quote(MSFT).price == 418.5
    tws.quotes["MSFT"] = {BID: -1.0, ASK: -1.0, LAST: -1.0, CLOSE: 415.0}  # IB's "no price" is -1
    assert broker.quote(MSFT).price == 415.0
    tws.quotes["MSFT"] = {}  # the snapshot ends with no price at all
    assert broker.quote(MSFT) is None


def test_no_subscription_no_answer_or_an_unknown_contract_give_no_quote(broker, tws):
    tws.unsubscribed.add("AAPL")
    assert broker.quote(AAPL) is None  # error 354 ends the snapshot at once
    assert broker.quote(Instrument(symbol="ZZZZ")) is None
    tws.mute_market_data = True
    started = time.monotonic()
    assert broker.quote(MSFT) is None
    assert time.monotonic() - started < IbkrConfig().answer_timeout_seconds + 1  # bounded by the answer timeout
    tws.mute_market_data = False
    assert broker.quote(MSFT).price == 420.0  # the connection is still fine


def test_the_fallback_quotes_our_last_fill_with_its_own_time(fallback_broker, tws, store):
    assert fallback_broker.quote(AAPL).source == "ibkr snapshot"  # a snapshot, while IB has one
    tws.unsubscribed.add("AAPL")
    assert fallback_broker.quote(AAPL) is None  # nothing filled in AAPL yet
    tws.prices["AAPL"] = 188.5
    filled = fallback_broker.place_order(Order(
        client_order_id="mt-ib-md-fill", signal_id="sig-md", strategy_id="momentum_us", account_id="DU111111",
        broker="ibkr", instrument=AAPL, side=Side.BUY, quantity=3))
    quote = fallback_broker.quote(AAPL)
    assert (quote.price, quote.as_of, quote.source) == (188.5, filled.fills[0].filled_at, "ibkr last fill")
    assert fallback_broker.quote(MSFT).source == "ibkr snapshot"  # another instrument is unaffected

    # Another day: IB no longer reports the execution, and the fill recorded here answers.
    tws.executions.clear()
    fresh = open_broker(tws, store, fallback=True)
    try:
        again = fresh.quote(AAPL)
        assert (again.price, again.source) == (188.5, "ibkr last fill")
        assert again.as_of == filled.fills[0].filled_at
    finally:
        fresh.connection.close()


def test_without_the_fallback_an_unsubscribed_instrument_has_no_quote_even_after_a_fill(broker, tws):
    broker.place_order(Order(client_order_id="mt-ib-md-nofb", signal_id="sig-md", strategy_id="momentum_us",
                             account_id="DU111111", broker="ibkr", instrument=AAPL, side=Side.BUY, quantity=1))
    tws.unsubscribed.add("AAPL")
    assert broker.quote(AAPL) is None


def test_fx_rates_from_the_idealpro_pair_either_way_round(broker, tws):
    same = broker.fx_rate("USD", "USD")
    assert (same.price, same.as_of) == (1.0, NOW)
    eur_usd = broker.fx_rate("EUR", "USD")
    assert (eur_usd.price, eur_usd.source) == (1.08, "ibkr snapshot")
    assert broker.fx_rate("USD", "EUR").price == pytest.approx(1 / 1.08)  # IB lists EUR.USD only
    assert broker.fx_rate("GBP", "USD") is None  # neither GBP.USD nor USD.GBP here
    assert broker.fx_rate("usd", "EURO") is None
    assert [r["symbol"] for r in tws.market_data_requests] == ["EUR", "EUR"]


def test_futures_and_forex_instruments_are_quoted_too(broker, tws):
    future = broker.quote(Instrument(symbol="MES1!", asset_class=AssetClass.FUTURE, exchange="CME", multiplier=5))
    assert future.price == 5800.0
    tws.quotes["EUR"] = {BID: 1.0799, ASK: 1.0801}  # IDEALPRO quotes no last trade
    assert broker.quote(Instrument(symbol="EURUSD", asset_class=AssetClass.FOREX)).price == pytest.approx(1.08)


def test_the_fallback_is_off_unless_the_environment_turns_it_on():
    assert IbkrConfig.from_env({}).price_fallback_last_fill is False
    config = IbkrConfig.from_env({"IBKR_GATEWAY": "10.0.0.5:4001", "IBKR_CLIENT_ID": "3",
                                  "IBKR_PRICE_FALLBACK_LAST_FILL": "true"})
    assert (config.host, config.port, config.client_id, config.price_fallback_last_fill) == ("10.0.0.5", 4001, 3, True)
