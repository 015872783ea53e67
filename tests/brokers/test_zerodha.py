"""The Zerodha adapter with the real kiteconnect client against the local fake Kite server."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from shared.adapters.brokers.zerodha import (
    InstrumentBook,
    ZerodhaAccountConfig,
    ZerodhaBroker,
    ZerodhaConfig,
    ZerodhaSessionExpired,
    load_instruments,
    specs_from_dump,
)
from shared.adapters.store_sqlite import SqliteStore
from shared.domain.instruments import InstrumentMaster
from shared.domain.models import AssetClass, Instrument, Order, OrderType, Side, client_order_id
from shared.ports.broker import BrokerError
from tests.brokers.fake_kite import INSTRUMENTS_CSV, FakeKite, running
from tests.conftest import FakeClock

RELIANCE = Instrument(symbol="RELIANCE", exchange="NSE", currency="INR")
NIFTY = Instrument(symbol="NIFTY1!", asset_class=AssetClass.FUTURE, exchange="NSE", currency="INR")


@pytest.fixture
def kite() -> Iterator[tuple[FakeKite, str]]:
    fake = FakeKite()
    with running(fake) as url:
        yield fake, url


@pytest.fixture
def broker(kite, tmp_path) -> ZerodhaBroker:
    fake, url = kite
    config = ZerodhaConfig(root=url, accounts={
        "ZD-1": ZerodhaAccountConfig(account_id="ZD-1", api_key=fake.api_key, api_secret=fake.api_secret)})
    broker = ZerodhaBroker(SqliteStore(str(tmp_path / "z.sqlite")), config, load_instruments, FakeClock())
    broker.sessions.login("ZD-1", fake.request_token)
    return broker


def order(instrument: Instrument = RELIANCE, quantity: float = 10, signal: str = "s1", **fields: object) -> Order:
    return Order(client_order_id=client_order_id(signal, "ZD-1", instrument.key), signal_id=signal,
                 strategy_id="india_momo", account_id="ZD-1", broker="zerodha", instrument=instrument,
                 side=Side.BUY, quantity=quantity, **fields)


def test_login_uses_the_checksum_and_a_wrong_secret_is_refused(kite, tmp_path):
    fake, url = kite
    assert len(fake.access_tokens) == 0
    config = ZerodhaConfig(root=url, accounts={"ZD-1": ZerodhaAccountConfig(account_id="ZD-1", api_key=fake.api_key,
                                                                           api_secret="wrong-secret")})
    broker = ZerodhaBroker(SqliteStore(str(tmp_path / "z.sqlite")), config, load_instruments, FakeClock())
    with pytest.raises(Exception, match="checksum"):
        broker.sessions.login("ZD-1", fake.request_token)
    with pytest.raises(ZerodhaSessionExpired):
        broker.account_snapshot("ZD-1")


def test_market_order_fills_with_the_tag_product_and_fill_details(broker, kite):
    fake, _ = kite
    placed = order()
    update = broker.place_order(placed)
    assert update.status == "filled" and update.filled_quantity == 10
    (fill,) = update.fills
    assert (fill.price, fill.quantity, fill.broker) == (1300.0, 10, "zerodha")
    assert fill.filled_at.isoformat() == "2026-11-25T09:15:01+05:30"
    (sent,) = fake.placements
    assert sent["tag"] == placed.client_order_id and len(sent["tag"]) <= 20
    assert (sent["product"], sent["order_type"], sent["transaction_type"]) == ("CNC", "MARKET", "BUY")
    assert "POST /orders/regular" in fake.requests_seen


def test_a_fan_out_places_accounts_side_by_side_each_order_once(kite, tmp_path):
    """A bar close's orders for four accounts: placed concurrently (Kite sees them overlap), each
    exactly once, each answered in order."""
    fake, url = kite
    fake.place_seconds = 0.3
    accounts = [f"ZD-{n}" for n in range(1, 5)]
    config = ZerodhaConfig(root=url, accounts={a: ZerodhaAccountConfig(account_id=a, api_key=fake.api_key,
                                                                      api_secret=fake.api_secret) for a in accounts})
    broker = ZerodhaBroker(SqliteStore(str(tmp_path / "z.sqlite")), config, load_instruments, FakeClock())
    for account in accounts:
        broker.sessions.login(account, fake.request_token)
    orders = [order().model_copy(update={"account_id": a, "client_order_id": client_order_id("bar", a, RELIANCE.key)})
              for a in accounts]
    answers = broker.place_orders(orders)
    assert [(a.client_order_id, a.status) for a in answers] == [(o.client_order_id, "filled") for o in orders]
    assert all(fake.placed_with_tag(o.client_order_id) == 1 for o in orders)
    assert fake.most_placing_at_once > 1


def test_continuous_future_maps_to_the_nearest_live_expiry_in_lots(broker, kite):
    fake, _ = kite
    update = broker.place_order(order(NIFTY, quantity=2.7))
    (sent,) = fake.placements
    assert (sent["tradingsymbol"], sent["quantity"], sent["product"]) == ("NIFTY26NOVFUT", "150", "NRML")
    assert update.filled_quantity == 2  # lots, as our books count them
    # Once traded, Kite's position (75 units of NIFTY26NOVFUT) reads as ours: 1 lot of NSE:NIFTY1!.
    assert broker.account_snapshot("ZD-1").positions == {"NSE:NIFTY1!": 1, "NSE:INFY": 10}


def test_instrument_book_mapping_and_rounding():
    book = InstrumentBook.from_csv(INSTRUMENTS_CSV)
    today = date(2026, 11, 27)  # the November future has expired: NIFTY1! is now December
    assert book.resolve(NIFTY, today).tradingsymbol == "NIFTY26DECFUT"
    assert book.resolve(Instrument(symbol="INFY"), today).key == "NSE:INFY"
    with pytest.raises(BrokerError, match="NIFTY2!"):
        book.resolve(Instrument(symbol="NIFTY2!", exchange="NSE"), today)
    with pytest.raises(BrokerError, match="unknown Zerodha instrument NSE:TSLA"):
        book.resolve(Instrument(symbol="TSLA"), today)
    with pytest.raises(BrokerError, match="less than one lot"):
        book.kite_quantity(book.resolve(NIFTY, today), 0.5)


def test_partial_fill_then_the_rest(broker, kite):
    fake, _ = kite
    fake.next_behaviours = ["partial"]
    placed = order(quantity=9)
    update = broker.place_order(placed)
    assert update.status == "partially_filled" and update.filled_quantity == 3
    assert broker.take_updates() == []
    fake.fill_rest(update.broker_order_id)
    (later,) = broker.take_updates()
    assert later.status == "filled" and later.filled_quantity == 9 and len(later.fills) == 2


def test_rejection_carries_kites_reason(broker, kite):
    kite[0].next_behaviours = ["reject"]
    update = broker.place_order(order())
    assert update.status == "rejected" and "Insufficient funds" in update.reason


def test_input_errors_are_rejections_not_retries(broker, kite):
    unpriced = order().model_copy(update={"order_type": OrderType.LIMIT})  # skips the model's own check
    update = broker.place_order(unpriced)
    assert update.status == "rejected" and "LIMIT order needs a price" in update.reason
    assert kite[0].placements == []


def test_cancel_a_resting_limit_order(broker, kite):
    kite[0].next_behaviours = ["rest"]
    placed = order(order_type=OrderType.LIMIT, limit_price=1250.0)
    assert broker.place_order(placed).status == "working"
    assert kite[0].placements[0]["price"] == "1250.0"
    cancelled = broker.cancel_order("ZD-1", placed.client_order_id)
    assert cancelled.status == "cancelled"
    assert broker.find_order("ZD-1", placed.client_order_id).status == "cancelled"


def test_snapshot_has_balances_positions_and_holdings(broker):
    snapshot = broker.account_snapshot("ZD-1")
    assert snapshot.cash == 470000.0 and snapshot.margin_used == 30000.0
    assert snapshot.equity == 500000.0 + 10 * 1500.0
    assert snapshot.positions == {"NFO:NIFTY26NOVFUT": 75, "NSE:INFY": 10}


def test_quote_is_kites_last_price_aged_by_its_ist_trade_time_in_utc(broker, kite):
    fake, _ = kite
    fake.quote_time, fake.last_trade_time = "2026-11-25 15:29:59", "2026-11-25 15:29:58"
    quote = broker.quote(RELIANCE)
    assert (quote.price, quote.source) == (1300.0, "kite quote")
    assert quote.as_of == datetime(2026, 11, 25, 9, 59, 58, tzinfo=UTC)  # 15:29:58 IST
    assert quote.as_of.utcoffset().total_seconds() == 0
    assert "GET /quote" in fake.requests_seen and "GET /quote/ltp" not in fake.requests_seen
    fake.last_trade_time = None  # no trade yet today: the quote's own time
    assert broker.quote(RELIANCE).as_of == datetime(2026, 11, 25, 9, 59, 59, tzinfo=UTC)
    del fake.prices["NSE:INFY"]  # Kite leaves out what it cannot quote
    assert broker.quote(Instrument(symbol="INFY", exchange="NSE", currency="INR")) is None
    assert broker.quote(NIFTY).price == 24000.0  # the continuous future's live contract


def test_fx_rate_is_known_only_for_a_currency_against_itself(broker):
    assert broker.fx_rate("INR", "INR").price == 1.0
    assert broker.fx_rate("USD", "INR") is None
    assert broker.fx_rate("INR", "USD") is None


def test_specs_from_the_instruments_dump():
    specs = {s.key: s for s in specs_from_dump(INSTRUMENTS_CSV, ["NSE:RELIANCE", "infy", "NIFTY1!", "NFO:NIFTY1!",
                                                                 "BANKNIFTY2!"], date(2026, 11, 25))}
    assert sorted(specs) == ["NSE:BANKNIFTY2!", "NSE:INFY", "NSE:NIFTY1!", "NSE:RELIANCE"]
    reliance = specs["NSE:RELIANCE"]
    assert (reliance.asset_class, reliance.currency, reliance.multiplier, reliance.tick_size, reliance.lot_size,
            reliance.calendar) == (AssetClass.EQUITY, "INR", 1, 0.05, 1, "XBOM")
    assert reliance.broker_ids == {"zerodha": {"tradingsymbol": "RELIANCE", "exchange": "NSE",
                                               "instrument_token": 738561}}
    assert reliance.all_aliases == ["NSE:RELIANCE", "RELIANCE", "BSE:RELIANCE"]  # the dump lists it on BSE too
    assert specs["NSE:INFY"].all_aliases == ["NSE:INFY", "INFY"]
    nifty = specs["NSE:NIFTY1!"]
    assert (nifty.asset_class, nifty.currency, nifty.multiplier, nifty.lot_size, nifty.tick_size) == (
        AssetClass.FUTURE, "INR", 75, 1, 0.1)
    assert nifty.all_aliases == ["NSE:NIFTY1!", "NIFTY1!", "NFO:NIFTY1!", "NFO:NIFTY26NOVFUT"]
    assert nifty.broker_ids == {"zerodha": {"exchange": "NFO", "name": "NIFTY", "continuous": 1}}
    assert specs["NSE:BANKNIFTY2!"].all_aliases[-1] == "NFO:BANKNIFTY26DECFUT"
    assert specs["NSE:BANKNIFTY2!"].multiplier == 35
    master = InstrumentMaster(list(specs.values()))  # no spelling names two instruments
    assert master.resolve("NFO:NIFTY26NOVFUT").key == "NSE:NIFTY1!"
    # Our quantity counts lots: 2 lots at 24000 is 2 x 24000 x 75 of notional, and Kite is sent 150 units.
    book = InstrumentBook.from_csv(INSTRUMENTS_CSV)
    contract = book.resolve(nifty.instrument, date(2026, 11, 25))
    assert book.kite_quantity(contract, 2) * 24000.0 == 2 * 24000.0 * nifty.instrument.multiplier


def test_specs_roll_with_the_expiry_and_unknown_names_are_named():
    (nifty,) = specs_from_dump(INSTRUMENTS_CSV, ["NIFTY1!"], date(2026, 11, 27))
    assert "NFO:NIFTY26DECFUT" in nifty.aliases and "NFO:NIFTY26NOVFUT" not in nifty.aliases
    (bse,) = specs_from_dump(INSTRUMENTS_CSV, ["BSE:RELIANCE"], date(2026, 11, 25))
    assert bse.key == "BSE:RELIANCE" and bse.broker_ids["zerodha"]["instrument_token"] == 128083204
    with pytest.raises(ValueError) as unknown:
        specs_from_dump(INSTRUMENTS_CSV, ["NSE:TSLA", "INFY", "FOO1!", "NSE:NIFTY 50"], date(2026, 11, 25))
    assert "NSE:TSLA" in str(unknown.value) and "FOO1!" in str(unknown.value)
    assert "NSE:NIFTY 50 is not tradable" in str(unknown.value) and "INFY" not in str(unknown.value)


def test_expired_token_is_a_clear_non_retryable_error(broker, kite):
    kite[0].expire_tokens()
    with pytest.raises(ZerodhaSessionExpired) as expired:
        broker.place_order(order())
    assert not expired.value.retryable and "ZD-1" in str(expired.value) and "log in again" in str(expired.value)
    with pytest.raises(ZerodhaSessionExpired):  # remembered: no more calls with a dead token
        broker.account_snapshot("ZD-1")
    assert kite[0].placements == []


def test_a_timeout_after_kite_accepted_is_found_by_tag_not_placed_again(broker, kite):
    fake, _ = kite
    fake.next_behaviours = ["timeout"]
    placed = order()
    update = broker.place_order(placed)  # the answer is lost, the lookup by tag finds the order
    assert update.status == "filled"
    assert broker.place_order(placed).status == "filled"  # and a redelivery returns it too
    assert fake.placed_with_tag(placed.client_order_id) == 1


def test_a_5xx_is_retryable_and_the_retry_places_once(broker, kite):
    fake, _ = kite
    fake.next_behaviours = ["fail_5xx"]
    placed = order()
    with pytest.raises(BrokerError) as failed:
        broker.place_order(placed)
    assert failed.value.retryable
    assert broker.place_order(placed).status == "filled"
    assert broker.place_order(placed).status == "filled"
    assert fake.placed_with_tag(placed.client_order_id) == 1


def test_no_secret_or_token_reaches_the_logs(broker, kite, caplog):
    caplog.set_level(logging.DEBUG)
    fake, _ = kite
    broker.place_order(order())
    broker.account_snapshot("ZD-1")
    fake.expire_tokens()
    with pytest.raises(ZerodhaSessionExpired) as expired:
        broker.account_snapshot("ZD-1")
    text = caplog.text + str(expired.value) + repr(broker.sessions.account("ZD-1"))
    assert fake.api_secret not in text
    assert not any(token in text for token in ("access_1_",))
