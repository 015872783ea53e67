"""The IBKR adapter: the real ib_async client against a local TWS API socket server.

ib_async only logs what it cannot decode (the ``ib_async.Decoder`` logger), so every
test here fails if that logger reports an error: the fake must speak the protocol exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from shared.adapters.ibkr import IbkrBroker, IbkrConfig, IbkrConnection
from shared.adapters.store_sqlite import SqliteStore
from shared.domain.models import AssetClass, Broker, Instrument, Order, OrderType, Side
from shared.ports.broker import BrokerError
from tests.brokers.fake_tws import FakeTws
from tests.integration.stack_helpers import eventually

AAPL = Instrument(symbol="AAPL", exchange="NASDAQ")


pytestmark = pytest.mark.usefixtures("decoder_errors")


@pytest.fixture
def tws() -> Iterator[FakeTws]:
    fake = FakeTws(positions={("DU111111", 272093): 25.0})  # MSFT bought by hand, outside the fund
    fake.port = fake.start()
    yield fake
    fake.stop()


def connect(tws: FakeTws) -> IbkrConnection:
    connection = IbkrConnection(IbkrConfig(port=tws.port, connect_timeout_seconds=5, answer_timeout_seconds=1.5,
                                           fill_wait_seconds=2.0, max_backoff_seconds=1.0))
    connection.connect()
    return connection


@pytest.fixture
def store(tmp_path) -> SqliteStore:
    return SqliteStore(str(tmp_path / "ibkr.sqlite"))


@pytest.fixture
def broker(tws: FakeTws, store: SqliteStore) -> Iterator[IbkrBroker]:
    connection = connect(tws)
    yield IbkrBroker(store, connection, lambda: datetime.now(UTC))
    connection.close()


def an_order(client_order_id: str, quantity: float = 10, **changes: object) -> Order:
    return Order(client_order_id=client_order_id, signal_id="sig-ib", strategy_id="momentum_us",
                 account_id="DU111111", broker=Broker.IBKR, instrument=AAPL, side=Side.BUY, quantity=quantity,
                 reference_price=190.0, **changes)


def test_a_market_order_fills_with_its_commission_and_a_redelivery_places_nothing(broker, tws):
    update = broker.place_order(an_order("mt-ib-fill"))
    assert (update.status, update.filled_quantity) == ("filled", 10)
    [fill] = update.fills
    assert (fill.price, fill.commission, fill.broker) == (190.0, 1.0, Broker.IBKR)
    placed = tws.placed[-1]
    assert (placed.order_ref, placed.account, placed.action, placed.order_type) == ("mt-ib-fill", "DU111111", "BUY",
                                                                                    "MKT")
    again = broker.place_order(an_order("mt-ib-fill"))
    assert again.status == "filled" and [f.exec_id for f in again.fills] == [fill.exec_id]
    assert tws.placed_with_ref("mt-ib-fill") == 1


def test_partial_fill_reject_and_unknown_contract(broker, tws):
    tws.next_behaviours = ["partial", "reject"]
    partial = broker.place_order(an_order("mt-ib-partial"))
    assert (partial.status, partial.filled_quantity) == ("partially_filled", 5)
    rejected = broker.place_order(an_order("mt-ib-reject"))
    assert rejected.status == "rejected" and "insufficient funds" in rejected.reason
    unknown = broker.place_order(an_order("mt-ib-unknown").model_copy(
        update={"instrument": Instrument(symbol="ZZZZ")}))
    assert unknown.status == "rejected" and "ZZZZ" in unknown.reason
    assert tws.placed_with_ref("mt-ib-unknown") == 0


def test_a_resting_limit_order_is_working_then_cancelled(broker, tws):
    tws.next_behaviours = ["rest"]
    working = broker.place_order(an_order("mt-ib-limit", order_type=OrderType.LIMIT, limit_price=150.0))
    assert working.status == "working"
    assert (tws.placed[-1].order_type, float(tws.placed[-1].limit)) == ("LMT", 150.0)
    cancelled = broker.cancel_order("DU111111", "mt-ib-limit")
    assert cancelled.status == "cancelled"
    assert [u.status for u in broker.take_updates()] == ["cancelled"]  # reported once to execution's poll
    assert broker.take_updates() == []


def test_balances_and_positions_keyed_as_we_traded_them(broker, tws):
    broker.place_order(an_order("mt-ib-pos", quantity=12))
    assert eventually(lambda: broker.account_snapshot("DU111111").positions.get("NASDAQ:AAPL") == 12)
    snapshot = broker.account_snapshot("DU111111")
    assert snapshot.positions == {"NASDAQ:AAPL": 12, "NASDAQ:MSFT": 25}  # MSFT: a break reconciliation will show
    assert snapshot.equity == 1_000_000 and snapshot.margin_used > 0
    assert snapshot.margin_available == pytest.approx(1_000_000 - snapshot.margin_used)
    with pytest.raises(BrokerError):
        broker.account_snapshot("DU999999")


def test_futures_and_forex_are_qualified_from_tradingview_symbols(broker, tws):
    future = an_order("mt-ib-fut", quantity=1).model_copy(update={"instrument": Instrument(
        symbol="MES1!", asset_class=AssetClass.FUTURE, exchange="CME", multiplier=5)})
    forex = an_order("mt-ib-fx", quantity=20000).model_copy(update={"instrument": Instrument(
        symbol="EURUSD", asset_class=AssetClass.FOREX)})
    assert broker.place_order(future).status == "filled"
    assert broker.place_order(forex).status == "filled"
    assert [(o.contract.local_symbol, o.action) for o in tws.placed] == [("MESZ6", "BUY"), ("EUR.USD", "BUY")]


def test_a_dropped_connection_reconnects_and_trading_resumes(broker, tws):
    tws.drop_connections()
    assert eventually(lambda: broker.connection.connects == 2 and broker.connection.connected)
    assert broker.place_order(an_order("mt-ib-after-drop")).status == "filled"


def test_an_order_taken_just_before_the_gateway_restarted_is_found_not_placed_again(broker, tws, store):
    tws.next_behaviours = ["drop"]  # IB takes and fills the order, then the connection dies
    with pytest.raises(BrokerError) as raised:
        broker.place_order(an_order("mt-ib-dropped"))
    assert raised.value.retryable
    assert eventually(lambda: broker.connection.connects == 2 and broker.connection.connected)
    redelivered = broker.place_order(an_order("mt-ib-dropped"))  # Pub/Sub redelivers after the failure
    assert redelivered.status == "filled" and redelivered.filled_quantity == 10
    assert tws.placed_with_ref("mt-ib-dropped") == 1

    # And a new bridge process (a VM restart) finds it too, from IB's executions.
    fresh = connect(tws)
    try:
        found = IbkrBroker(store, fresh, lambda: datetime.now(UTC)).find_order("DU111111", "mt-ib-dropped")
        assert found is not None and found.status == "filled" and found.fills[0].commission == 1.0
    finally:
        fresh.close()


def test_an_unanswered_order_is_a_retryable_error_and_the_retry_does_not_place_again(broker, tws):
    tws.next_behaviours = ["silent"]
    with pytest.raises(BrokerError) as raised:
        broker.place_order(an_order("mt-ib-silent"))
    assert raised.value.retryable
    again = broker.place_order(an_order("mt-ib-silent"))
    assert again.status == "submitted" and tws.placed_with_ref("mt-ib-silent") == 1
