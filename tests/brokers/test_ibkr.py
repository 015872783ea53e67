"""The IBKR adapter: the real ib_async client against a local TWS API socket server.

ib_async only logs what it cannot decode (the ``ib_async.Decoder`` logger), so every
test here fails if that logger reports an error: the fake must speak the protocol exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from ib_async import Contract, ContractDetails, Forex, Future, Stock

from gateway_vm.bridge import IbkrBridge
from shared.adapters.brokers.ibkr import ContractImportError, IbkrBroker, IbkrConfig, IbkrConnection, spec_from_details
from shared.adapters.brokers.ibkr.parsing import to_contract
from shared.adapters.bus_inprocess import InProcessBus
from shared.adapters.store_sqlite import SqliteStore
from shared.domain.instruments import InstrumentSpec
from shared.domain.models import (
    AssetClass,
    CancelRequest,
    Collections,
    Instrument,
    Order,
    OrderType,
    Side,
    Topics,
)
from shared.ports.broker import BrokerError
from tests.brokers.fake_tws import FakeContract, FakeTws
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
                 account_id="DU111111", broker="ibkr", instrument=AAPL, side=Side.BUY, quantity=quantity,
                 reference_price=190.0, **changes)


def test_a_market_order_fills_with_its_commission_and_a_redelivery_places_nothing(broker, tws):
    update = broker.place_order(an_order("mt-ib-fill"))
    assert (update.status, update.filled_quantity) == ("filled", 10)
    [fill] = update.fills
    assert (fill.price, fill.commission, fill.broker) == (190.0, 1.0, "ibkr")
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


def test_contract_details_become_instrument_master_records(broker, tws):
    aapl, mes, eurusd = broker.instrument_specs([(Stock("AAPL", "SMART", "USD"), ["AAPL.US"]),
                                                 (Future("MES", "202612", "CME"), ["MES1!", "CME_MINI:MES1!"]),
                                                 (Forex("EURUSD"), ["EURUSD"])])
    assert (aapl.key, aapl.asset_class, aapl.currency, aapl.multiplier, aapl.tick_size, aapl.lot_size,
            aapl.calendar, aapl.aliases, aapl.description) == ("NASDAQ:AAPL", AssetClass.EQUITY, "USD", 1.0, 0.01,
                                                               1.0, "XNAS", ["AAPL.US"], "APPLE INC")
    assert aapl.broker_ids == {"ibkr": {"con_id": 265598, "sec_type": "STK", "exchange": "SMART",
                                        "local_symbol": "AAPL"}}
    assert (mes.key, mes.asset_class, mes.multiplier, mes.tick_size, mes.calendar) == (
        "CME:MESZ6", AssetClass.FUTURE, 5.0, 0.25, "CMES")
    assert mes.broker_ids["ibkr"] == {"con_id": 495512552, "sec_type": "FUT", "exchange": "CME",
                                      "local_symbol": "MESZ6"}
    assert (eurusd.key, eurusd.asset_class, eurusd.currency, eurusd.multiplier, eurusd.tick_size,
            eurusd.calendar) == ("FX:EURUSD", AssetClass.FOREX, "USD", 1.0, 0.00005, "24/5")


def test_a_contract_import_refuses_to_guess(broker, tws):
    tws.contracts += [FakeContract(551601561, "ES", "FUT", "CME", last_trade="20261218", local_symbol="ESZ6"),
                      FakeContract(568550526, "ES", "FUT", "CME", multiplier="50", last_trade="20270319",
                                   local_symbol="ESH7", min_tick=0.25)]
    with pytest.raises(ContractImportError) as refused:
        broker.instrument_specs([(Future("ES", exchange="CME"), []), (Future("ES", "202612", "CME"), []),
                                 (Stock("ZZZZ", "SMART", "USD"), []), (Stock("AAPL", "SMART", "USD"), [])])
    message = str(refused.value)
    assert "FUT ES: IB matches 2 contracts; name one" in message  # no expiry: which one?
    assert "FUT ESZ6 20261218: IB gives no multiplier for this future; refusing to guess one" in message
    assert "STK ZZZZ: IB matches 0 contracts" in message
    assert "AAPL" not in message  # the good one is not an error, but nothing is returned half done
    [es] = broker.instrument_specs([(Future("ES", "202703", "CME"), ["ES1!"])])
    assert (es.key, es.multiplier, es.aliases) == ("CME:ESH7", 50.0, ["ES1!"])


def test_listing_exchanges_map_to_calendars_and_unknown_ones_are_refused():
    def stock(primary: str) -> ContractDetails:
        return ContractDetails(contract=Contract(secType="STK", conId=1, symbol="BRK B", currency="USD",
                                                 exchange="SMART", primaryExchange=primary), minTick=0.01)

    assert [(s.key, s.calendar) for s in map(spec_from_details, (stock("NYSE"), stock("ARCA")))] == [
        ("NYSE:BRK.B", "XNYS"), ("NYSEARCA:BRK.B", "XNYS")]  # the master's name for IB's ARCA
    assert to_contract(Instrument(symbol="SPY", exchange="NYSEARCA")).primaryExchange == "ARCA"  # and back
    with pytest.raises(ContractImportError, match="no trading calendar known for LSE"):
        spec_from_details(stock("LSE"))
    continuous = spec_from_details(ContractDetails(contract=Contract(
        secType="CONTFUT", conId=551601561, symbol="ES", exchange="CME", currency="USD", multiplier="50",
        localSymbol="ESZ6"), minTick=0.25), ["ES1!"])
    assert (continuous.key, continuous.multiplier, continuous.calendar) == ("CME:ES1!", 50.0, "CMES")


def test_the_bridge_publishes_quotes_and_fx_rates_for_the_ibkr_instruments_in_the_master(broker, tws, store):
    tws.contracts.append(FakeContract(14204, "SAP", "STK", "SMART", currency="EUR", primary_exchange="IBIS"))
    tws.prices.update({"SAP": 180.0, "AAPL": 191.0})
    tws.unsubscribed.add("MSFT")
    specs = broker.instrument_specs([(Stock("AAPL", "SMART", "USD"), []), (Stock("MSFT", "SMART", "USD"), [])])
    sap = specs[0].model_copy(update={"key": "IBIS:SAP", "symbol": "SAP", "exchange": "IBIS", "currency": "EUR",
                                      "broker_ids": {"ibkr": {"con_id": 14204, "sec_type": "STK"}}})
    mes = spec_from_details(ContractDetails(contract=Contract(  # the front month, whichever it is when quoted
        secType="CONTFUT", conId=1, symbol="MES", exchange="CME", currency="USD", multiplier="5"), minTick=0.25))
    reliance = InstrumentSpec(key="NSE:RELIANCE", symbol="RELIANCE", exchange="NSE", asset_class=AssetClass.EQUITY,
                              currency="INR", multiplier=1, tick_size=0.05, calendar="XBOM",
                              broker_ids={"zerodha": {"tradingsymbol": "RELIANCE", "exchange": "NSE"}})
    for spec in [*specs, sap, mes, reliance]:
        store.put(Collections.INSTRUMENTS, spec.key, spec.document())
    bridge = IbkrBridge(store, InProcessBus(0.01), broker, lambda: datetime.now(UTC), 60.0)

    assert bridge.publish_market_prices() == 4
    prices = {doc["instrument_key"]: doc for doc in store.query(Collections.MARKET_PRICES)}
    assert {key: doc["price"] for key, doc in prices.items()} == {  # MSFT: no subscription; RELIANCE: not IBKR
        "NASDAQ:AAPL": 191.0, "FX:EURUSD": 1.08, "IBIS:SAP": 180.0, "CME:MES1!": 5800.0}
    aapl = store.get(Collections.MARKET_PRICES, "ibkr|NASDAQ:AAPL")
    assert (aapl["broker"], aapl["source"]) == ("ibkr", "ibkr snapshot")
    assert abs((datetime.fromisoformat(aapl["as_of"]) - datetime.now(UTC)).total_seconds()) < 30
    assert store.get(Collections.MARKET_PRICES, "ibkr|FX:EURUSD")["price"] == 1.08  # SAP's EUR, in USD
    assert bridge.poll_once()["prices_published"] == 4  # every poll publishes them


def test_the_bridge_cancels_a_working_order_when_execution_asks(broker, tws, store):
    bus = InProcessBus(0.01)
    bridge = IbkrBridge(store, bus, broker, lambda: datetime.now(UTC), 60.0)
    bridge.start()
    tws.next_behaviours = ["rest"]
    order = an_order("mt-ib-bridge-cancel", order_type=OrderType.LIMIT, limit_price=150.0)
    bus.publish(Topics.IBKR_ORDERS, {"order": order.model_dump(mode="json")})
    assert bus.drain(timeout=30)
    assert store.get(Collections.ORDERS, "mt-ib-bridge-cancel")["status"] == "working"
    cancel = CancelRequest(client_order_id="mt-ib-bridge-cancel", signal_id="sig-ib", account_id="DU111111",
                           broker="ibkr", reason="exit behind a resting entry")
    bus.publish(Topics.IBKR_ORDERS, {"cancel": cancel.model_dump(mode="json")})
    assert bus.drain(timeout=30)
    assert tws.order("mt-ib-bridge-cancel").status == "Cancelled" and bridge.orders_handled == 2
    assert bus.published[Topics.CONFIRMATIONS] == 2  # working, then cancelled
