"""IBKR brackets: an entry with a stop-loss and a take-profit goes to IB as one bracket (parent,
take-profit LMT, stop-loss STP; one OCA group; only the last transmits), and its legs are
reported, looked up and cancelled by their own client order ids. Real ib_async client, local
TWS API server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from shared.adapters.brokers.ibkr import IbkrBroker
from shared.adapters.store_sqlite import SqliteStore
from shared.domain.models import (
    Instrument,
    Order,
    OrderType,
    OrderUpdate,
    Side,
)
from shared.domain.protection import ProtectiveLeg, protective_order_id
from tests.brokers.conftest import ibkr_connection
from tests.brokers.fake_tws import FakeTws

AAPL = Instrument(symbol="AAPL", exchange="NASDAQ")

pytestmark = pytest.mark.usefixtures("decoder_errors")


@pytest.fixture
def broker(tws: FakeTws, tmp_path) -> Iterator[IbkrBroker]:
    connection = ibkr_connection(tws)
    yield IbkrBroker(SqliteStore(str(tmp_path / "ibkr.sqlite")), connection, lambda: datetime.now(UTC))
    connection.close()


def entry(client_order_id: str, **changes: object) -> Order:
    fields: dict[str, object] = {"stop_loss": 180.0, "take_profit": 205.0, **changes}
    return Order(client_order_id=client_order_id, signal_id="sig-bracket", strategy_id="momentum_us",
                 account_id="DU111111", broker="ibkr", instrument=AAPL, side=Side.BUY, quantity=10,
                 reference_price=190.0, **fields)


def legs(client_order_id: str) -> tuple[str, str]:
    return (protective_order_id(client_order_id, ProtectiveLeg.TAKE_PROFIT),
            protective_order_id(client_order_id, ProtectiveLeg.STOP_LOSS))


def updates_until(broker: IbkrBroker, *final: str, timeout: float = 10.0) -> dict[str, OrderUpdate]:
    """take_updates polled (as the bridge does) until each order in ``final`` is done: IB's
    messages arrive when they arrive, and an update not seen yet comes with the next poll."""
    seen: dict[str, OrderUpdate] = {}
    deadline = time.monotonic() + timeout
    while not all(k in seen and seen[k].is_final for k in final) and time.monotonic() < deadline:
        seen.update({u.client_order_id: u for u in broker.take_updates()})
        time.sleep(0.05)
    return seen


def test_a_bracket_goes_to_ib_as_parent_take_profit_and_stop_loss_in_one_oca_group(broker, tws):
    assert IbkrBroker.capabilities.brackets
    update = broker.place_order(entry("mt-br-1"))
    assert (update.client_order_id, update.status, update.filled_quantity) == ("mt-br-1", "filled", 10)
    parent, take_profit, stop_loss = tws.placed
    tp_id, sl_id = legs("mt-br-1")
    assert (parent.order_ref, parent.order_type, parent.transmit, parent.parent_id) == ("mt-br-1", "MKT", False, 0)
    assert (take_profit.order_ref, take_profit.order_type, float(take_profit.limit), take_profit.transmit) == (
        tp_id, "LMT", 205.0, False)
    assert (stop_loss.order_ref, stop_loss.order_type, float(stop_loss.aux), stop_loss.transmit) == (
        sl_id, "STP", 180.0, True)
    for leg in (take_profit, stop_loss):
        assert (leg.parent_id, leg.oca_group, leg.oca_type, leg.tif) == (parent.order_id, "oca-mt-br-1", 1, "GTC")
        assert (leg.action, leg.quantity, leg.account, leg.status) == ("SELL", 10, "DU111111", "Submitted")
    assert [broker.find_order("DU111111", leg).status for leg in (tp_id, sl_id)] == ["working", "working"]
    assert broker.take_updates() == []  # nothing changed yet

    # Again (a redelivery): IB has it, nothing is placed.
    assert broker.place_order(entry("mt-br-1")).status == "filled" and len(tws.placed) == 3


def test_when_the_take_profit_fills_ib_cancels_the_stop_and_both_come_back_as_updates(broker, tws):
    broker.place_order(entry("mt-br-tp"))
    tp_id, sl_id = legs("mt-br-tp")
    tws.trigger(tp_id, 205.5)
    updates = updates_until(broker, tp_id, sl_id)
    assert {k: (u.status, u.filled_quantity) for k, u in updates.items()} == {
        tp_id: ("filled", 10), sl_id: ("cancelled", 0)}
    [fill] = updates[tp_id].fills
    assert (fill.price, fill.side, fill.quantity, fill.client_order_id, fill.commission) == (
        205.5, Side.SELL, 10, tp_id, 1.0)
    assert (fill.signal_id, fill.strategy_id, fill.account_id) == ("sig-bracket", "momentum_us", "DU111111")
    assert tws.order(sl_id).status == "Cancelled"
    assert broker.take_updates() == []  # reported once
    assert tws.positions[("DU111111", 265598)] == 0


def test_a_resting_entry_keeps_its_legs_inactive_until_it_fills_then_the_stop_triggers(broker, tws):
    tws.next_behaviours = ["rest"]
    tp_id, sl_id = legs("mt-br-limit")
    working = broker.place_order(entry("mt-br-limit", order_type=OrderType.LIMIT, limit_price=189.0))
    assert working.status == "working"
    assert [tws.order(leg).status for leg in (tp_id, sl_id)] == ["PreSubmitted", "PreSubmitted"]
    tws.trigger("mt-br-limit", 189.0)
    assert {k: u.status for k, u in updates_until(broker, "mt-br-limit").items()} == {"mt-br-limit": "filled"}
    assert [tws.order(leg).status for leg in (tp_id, sl_id)] == ["Submitted", "Submitted"]
    tws.trigger(sl_id, 179.9)
    updates = updates_until(broker, tp_id, sl_id)
    assert (updates[sl_id].status, updates[sl_id].fills[0].price) == ("filled", 179.9)
    assert updates[tp_id].status == "cancelled"


def test_a_leg_is_cancelled_at_ib_by_its_own_id_and_a_stop_alone_transmits_itself(broker, tws):
    update = broker.place_order(entry("mt-br-sl", take_profit=None))
    assert update.status == "filled"
    parent, stop_loss = tws.placed
    (_, sl_id) = legs("mt-br-sl")
    assert (parent.transmit, stop_loss.order_ref, stop_loss.order_type, stop_loss.transmit) == (
        False, sl_id, "STP", True)
    cancelled = broker.cancel_order("DU111111", sl_id)
    assert (cancelled.client_order_id, cancelled.status) == (sl_id, "cancelled")
    assert tws.order(sl_id).status == "Cancelled"
    assert {k: u.status for k, u in updates_until(broker, sl_id).items()} == {sl_id: "cancelled"}


def test_cancelling_a_resting_entry_cancels_its_legs(broker, tws):
    tws.next_behaviours = ["rest"]
    broker.place_order(entry("mt-br-cancel", order_type=OrderType.LIMIT, limit_price=150.0))
    assert broker.cancel_order("DU111111", "mt-br-cancel").status == "cancelled"
    updates = updates_until(broker, "mt-br-cancel", *legs("mt-br-cancel"))
    assert {k: u.status for k, u in updates.items()} == dict.fromkeys(["mt-br-cancel", *legs("mt-br-cancel")],
                                                                      "cancelled")
