"""The Mock broker: fills, resting orders, rejections and consistent books."""

from __future__ import annotations

import pytest

from shared.adapters.brokers.mock import MockBroker, MockBrokerConfig
from shared.adapters.store_sqlite import SqliteStore
from shared.domain.instruments import InstrumentSpec
from shared.domain.models import (
    AssetClass,
    Instrument,
    Order,
    OrderType,
    Side,
    client_order_id,
)
from shared.domain.protection import ProtectiveLeg, protective_order_id
from tests.conftest import FakeClock

AAPL_SPEC = InstrumentSpec(key="NASDAQ:AAPL", symbol="AAPL", exchange="NASDAQ", asset_class=AssetClass.EQUITY,
                           currency="USD", multiplier=1, tick_size=0.01, calendar="XNAS")
MES_SPEC = InstrumentSpec(key="CME:MES1!", symbol="MES1!", exchange="CME", asset_class=AssetClass.FUTURE,
                          currency="USD", multiplier=5, tick_size=0.25, calendar="CMES")
AAPL, MES = AAPL_SPEC.instrument, MES_SPEC.instrument


@pytest.fixture
def broker(tmp_path) -> MockBroker:
    broker = MockBroker(SqliteStore(str(tmp_path / "mock.sqlite")),
                        MockBrokerConfig(slippage_bps=10, commission_per_unit=0.01, min_commission=1.0), FakeClock())
    broker.open_account("ACC", 100_000.0)
    broker.list_instrument(AAPL_SPEC, 100.0)
    broker.list_instrument(MES_SPEC, 5000.0)
    return broker


def order(instrument: Instrument = AAPL, side: Side = Side.BUY, quantity: float = 100, signal: str = "s1",
          **fields: object) -> Order:
    return Order(client_order_id=client_order_id(signal, "ACC", instrument.key), signal_id=signal,
                 strategy_id="strat", account_id="ACC", broker="mock", instrument=instrument, side=side,
                 quantity=quantity, **fields)


def test_market_buy_fills_with_slippage_and_commission_and_moves_cash(broker):
    update = broker.place_order(order(reference_price=100.0))
    assert update.status == "filled" and update.filled_quantity == 100
    (fill,) = update.fills
    assert fill.price == pytest.approx(100.10)  # 10 bps against us
    assert fill.commission == 1.0  # 100 x 0.01 is under the minimum
    snapshot = broker.account_snapshot("ACC")
    assert snapshot.cash == pytest.approx(100_000 - 100 * 100.10 - 1.0)
    assert snapshot.positions == {"NASDAQ:AAPL": 100}
    assert snapshot.equity == pytest.approx(snapshot.cash + 100 * 100.0)  # marked at 100
    assert snapshot.margin_used == pytest.approx(100 * 100.0 * 0.5)
    assert snapshot.margin_available == pytest.approx(snapshot.equity - snapshot.margin_used)


def test_sell_slips_downwards(broker):
    broker.place_order(order(reference_price=100.0))
    update = broker.place_order(order(side=Side.SELL, quantity=40, signal="s2", reference_price=100.0))
    assert update.fills[0].price == pytest.approx(99.90)
    assert broker.account_snapshot("ACC").positions == {"NASDAQ:AAPL": 60}


def test_the_same_client_order_id_never_trades_twice(broker):
    first = broker.place_order(order(reference_price=100.0))
    again = broker.place_order(order(reference_price=100.0))
    assert again == first
    assert broker.account_snapshot("ACC").positions == {"NASDAQ:AAPL": 100}
    assert broker.find_order("ACC", first.client_order_id) == first
    assert broker.find_order("ACC", "mt-never-placed") is None


def test_limit_rests_until_the_price_allows_then_fills_at_the_limit_or_better(broker):
    resting = broker.place_order(order(order_type=OrderType.LIMIT, limit_price=95.0, reference_price=100.0))
    assert resting.status == "working" and broker.account_snapshot("ACC").positions == {}
    assert broker.mark_price("NASDAQ:AAPL", 97.0) == []
    (filled,) = broker.mark_price("NASDAQ:AAPL", 94.0)
    assert filled.status == "filled" and filled.fills[0].price == 94.0  # better than the limit
    assert broker.take_updates() == [filled] and broker.take_updates() == []
    assert broker.find_order("ACC", resting.client_order_id).status == "filled"


def test_marketable_limit_fills_at_once_at_no_worse_than_the_limit(broker):
    update = broker.place_order(order(order_type=OrderType.LIMIT, limit_price=101.0, reference_price=100.0))
    assert update.status == "filled" and update.fills[0].price == 100.0


def test_stop_triggers_only_when_crossed(broker):
    broker.place_order(order(reference_price=100.0))
    stop = broker.place_order(order(side=Side.SELL, signal="stop", order_type=OrderType.STOP, stop_price=90.0,
                                    reference_price=100.0))
    assert stop.status == "working"
    assert broker.mark_price("NASDAQ:AAPL", 91.0) == []
    (filled,) = broker.mark_price("NASDAQ:AAPL", 89.0)
    assert filled.fills[0].price == pytest.approx(89.0 * (1 - 0.001))
    assert broker.account_snapshot("ACC").positions == {}


def test_cancel_a_working_order_and_cancelling_a_fill_changes_nothing(broker):
    resting = broker.place_order(order(order_type=OrderType.LIMIT, limit_price=90.0, reference_price=100.0))
    assert broker.cancel_order("ACC", resting.client_order_id).status == "cancelled"
    assert broker.mark_price("NASDAQ:AAPL", 80.0) == []  # a cancelled order never fills
    filled = broker.place_order(order(signal="s3", reference_price=100.0))
    assert broker.cancel_order("ACC", filled.client_order_id).status == "filled"


def test_unknown_symbol_and_account_are_rejected_with_the_reason(broker):
    update = broker.place_order(order(instrument=Instrument(symbol="ZZZZ"), reference_price=10.0))
    assert update.status == "rejected" and "unknown symbol ZZZZ" in update.reason
    stranger = order(reference_price=100.0).model_copy(update={"account_id": "NOPE"})
    assert "unknown account NOPE" in broker.place_order(stranger).reason


def test_an_order_beyond_the_margin_is_rejected_and_books_unchanged(broker):
    before = broker.account_snapshot("ACC")
    update = broker.place_order(order(quantity=2_500, reference_price=100.0))  # 250k notional, 125k margin
    assert update.status == "rejected" and "insufficient margin" in update.reason
    assert broker.account_snapshot("ACC") == before


def test_futures_settle_pnl_not_notional(broker):
    broker.place_order(order(instrument=MES, quantity=2, reference_price=5000.0))
    after_buy = broker.account_snapshot("ACC")
    assert after_buy.cash == pytest.approx(100_000 - 1.0)  # only the commission left the account
    broker.mark_price("CME:MES1!", 5010.0)
    broker.place_order(order(instrument=MES, side=Side.SELL, quantity=2, signal="close", reference_price=5010.0))
    closed = broker.account_snapshot("ACC")
    entry, exit_ = 5000 * 1.001, 5010 * 0.999
    assert closed.cash == pytest.approx(100_000 - 2.0 + (exit_ - entry) * 2 * 5)
    assert closed.positions == {} and closed.equity == pytest.approx(closed.cash)


def test_an_order_never_moves_the_mark_and_fills_at_the_brokers_own_price(broker):
    update = broker.place_order(order(reference_price=19.0))  # an alert that claimed 19
    assert update.fills[0].price == pytest.approx(100.10)
    assert broker.quote(AAPL).price == 100.0 and broker.quote(AAPL).source == "mock mark"


def test_protective_orders_rest_after_the_entry_fills_and_form_one_oca_group(broker):
    entry = order(stop_loss=95.0, take_profit=110.0)
    assert broker.place_order(entry).status == "filled"
    assert broker.mark_price("NASDAQ:AAPL", 96.0) == []
    triggered = broker.mark_price("NASDAQ:AAPL", 94.0)
    assert [(u.status, u.client_order_id) for u in triggered] == [
        ("filled", protective_order_id(entry.client_order_id, ProtectiveLeg.STOP_LOSS)),
        ("cancelled", protective_order_id(entry.client_order_id, ProtectiveLeg.TAKE_PROFIT))]
    assert broker.account_snapshot("ACC").positions == {}
    assert broker.mark_price("NASDAQ:AAPL", 120.0) == []  # the cancelled take profit never fills
    assert {u.status for u in broker.take_updates()} == {"filled", "cancelled"}


def test_a_foreign_currency_instrument_is_booked_in_the_accounts_currency(broker):
    reliance = InstrumentSpec(key="NSE:RELIANCE", symbol="RELIANCE", exchange="NSE", asset_class=AssetClass.EQUITY,
                              currency="INR", multiplier=1, tick_size=0.05, calendar="XBOM")
    broker.list_instrument(reliance, 1300.0)
    unpriced = broker.place_order(order(instrument=reliance.instrument, quantity=10))
    assert unpriced.status == "rejected" and "no INR/USD rate" in unpriced.reason
    broker.set_fx_rate("USDINR", 84.5)
    assert broker.fx_rate("INR", "USD").price == pytest.approx(1 / 84.5)
    broker.place_order(order(instrument=reliance.instrument, quantity=10, signal="s2"))
    snapshot = broker.account_snapshot("ACC")
    assert snapshot.gross_exposure == pytest.approx(10 * 1300 / 84.5)
    assert snapshot.cash == pytest.approx(100_000 - 10 * 1300 * 1.001 / 84.5 - 1.0)
