"""Stop-loss / take-profit at Zerodha as one GTT per filled entry, with the real kiteconnect client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.adapters.brokers.zerodha import (
    ZERODHA_GTTS,
    ZerodhaAccountConfig,
    ZerodhaBroker,
    ZerodhaConfig,
    load_instruments,
)
from shared.adapters.store_sqlite import SqliteStore
from shared.domain.models import (
    OrderType,
    OrderUpdate,
    Side,
)
from shared.domain.protection import ProtectiveLeg, protective_order_id
from tests.brokers.fake_kite import FakeKite, running
from tests.brokers.test_zerodha import NIFTY, order
from tests.conftest import FakeClock


@pytest.fixture
def kite() -> Iterator[tuple[FakeKite, str]]:
    fake = FakeKite()
    with running(fake) as url:
        yield fake, url


def connect(kite: tuple[FakeKite, str], path: Path, clock: FakeClock) -> ZerodhaBroker:
    """A broker process on the store at ``path``: calling it again is a restart."""
    fake, url = kite
    config = ZerodhaConfig(root=url, accounts={
        "ZD-1": ZerodhaAccountConfig(account_id="ZD-1", api_key=fake.api_key, api_secret=fake.api_secret)})
    return ZerodhaBroker(SqliteStore(str(path)), config, load_instruments, clock)


@pytest.fixture
def broker(kite, tmp_path, clock) -> ZerodhaBroker:
    broker = connect(kite, tmp_path / "z.sqlite", clock)
    broker.sessions.login("ZD-1", kite[0].request_token)
    return broker


def legs(entry_id: str) -> tuple[str, str]:
    return (protective_order_id(entry_id, ProtectiveLeg.STOP_LOSS),
            protective_order_id(entry_id, ProtectiveLeg.TAKE_PROFIT))


def by_id(updates: list[OrderUpdate]) -> dict[str, OrderUpdate]:
    assert len({u.client_order_id for u in updates}) == len(updates), updates
    return {u.client_order_id: u for u in updates}


def test_a_filled_entry_gets_one_oco_gtt_in_units_at_its_levels(broker, kite, tmp_path, clock):
    fake, _ = kite
    assert ZerodhaBroker.capabilities.brackets
    entry = order(stop_loss=1250.0, take_profit=1400.0)
    assert broker.place_order(entry).status == "filled"
    (gtt,) = fake.gtts.values()
    assert gtt["type"] == "two-leg" and gtt["status"] == "active"
    assert gtt["condition"]["trigger_values"] == [1250.0, 1400.0]
    assert gtt["condition"]["last_price"] == 1300.0  # the entry's fill price
    assert [(o["transaction_type"], o["order_type"], o["quantity"], o["price"], o["product"])
            for o in gtt["orders"]] == [("SELL", "LIMIT", 10, 1237.5, "CNC"), ("SELL", "LIMIT", 10, 1400.0, "CNC")]
    # The stop's limit sits 1% beyond its trigger, so a gap through the stop still fills.
    stop, target = legs(entry.client_order_id)
    store = SqliteStore(str(tmp_path / "z.sqlite"))
    assert store.get(ZERODHA_GTTS, stop)["trigger_id"] == store.get(ZERODHA_GTTS, target)["trigger_id"] == gtt["id"]

    working = by_id(broker.take_updates())  # the legs are reported once, as working at the GTT
    assert {k: (u.status, u.broker_order_id) for k, u in working.items()} == {
        stop: ("working", f"gtt:{gtt['id']}"), target: ("working", f"gtt:{gtt['id']}")}
    assert broker.find_order("ZD-1", stop).status == "working"
    # Seen filled again (redelivery, another poll, a restarted process): still one GTT.
    assert broker.place_order(entry).status == "filled"
    assert broker.take_updates() == []
    restarted = connect(kite, tmp_path / "z.sqlite", clock)
    assert restarted.place_order(entry).status == "filled"
    assert restarted.take_updates() == []
    assert restarted.place_order(order(stop_loss=1250.0, take_profit=1400.0).model_copy(
        update={"client_order_id": stop, "order_type": OrderType.STOP, "stop_price": 1250.0})).status == "working"
    assert len(fake.gtt_placements) == 1 and fake.placed_with_tag(entry.client_order_id) == 1


def test_an_entry_that_fills_later_is_protected_when_take_updates_sees_the_fill(broker, kite):
    fake, _ = kite
    fake.next_behaviours = ["rest"]
    entry = order(order_type=OrderType.LIMIT, limit_price=1290.0, stop_loss=1250.0, take_profit=1400.0)
    resting = broker.place_order(entry)
    assert resting.status == "working" and fake.gtts == {}
    fake.fill_rest(resting.broker_order_id)
    updates = by_id(broker.take_updates())
    assert updates[entry.client_order_id].status == "filled"
    (gtt,) = fake.gtts.values()
    assert gtt["condition"]["last_price"] == 1290.0
    assert {u.status for k, u in updates.items() if k != entry.client_order_id} == {"working"}
    assert broker.take_updates() == [] and len(fake.gtt_placements) == 1


def test_the_stop_fills_once_and_the_target_is_cancelled(broker, kite):
    fake, _ = kite
    entry = order(stop_loss=1250.0, take_profit=1400.0)
    broker.place_order(entry)
    broker.take_updates()
    (trigger_id,) = fake.gtts
    kite_order_id = fake.trigger_gtt(trigger_id, 1249.0)
    stop, target = legs(entry.client_order_id)
    updates = by_id(broker.take_updates())
    assert set(updates) == {stop, target}
    assert (updates[stop].status, updates[stop].filled_quantity, updates[stop].broker_order_id) == (
        "filled", 10, kite_order_id)
    (fill,) = updates[stop].fills
    assert (fill.client_order_id, fill.signal_id, fill.strategy_id, fill.account_id, fill.broker) == (
        stop, entry.signal_id, entry.strategy_id, "ZD-1", "zerodha")
    assert (fill.side, fill.quantity, fill.price, fill.instrument) == (Side.SELL, 10, 1249.0, entry.instrument)
    assert updates[target].status == "cancelled" and "other leg" in updates[target].reason
    assert broker.take_updates() == []
    assert broker.find_order("ZD-1", stop).status == "filled"
    assert broker.find_order("ZD-1", target).status == "cancelled"
    assert broker.take_updates() == []


def test_a_short_entry_protects_upwards_and_its_stop_is_the_upper_trigger(broker, kite):
    fake, _ = kite
    entry = order(stop_loss=1350.0, take_profit=1200.0).model_copy(update={"side": Side.SELL})
    broker.place_order(entry)
    (gtt,) = fake.gtts.values()
    assert gtt["condition"]["trigger_values"] == [1200.0, 1350.0]  # Kite wants the lower trigger first
    assert [(o["transaction_type"], o["price"]) for o in gtt["orders"]] == [("BUY", 1200.0), ("BUY", 1363.5)]
    fake.trigger_gtt(gtt["id"], 1360.0)
    stop, target = legs(entry.client_order_id)
    updates = by_id(broker.take_updates())
    assert (updates[stop].status, updates[stop].fills[0].side, updates[stop].fills[0].price) == (
        "filled", Side.BUY, 1360.0)
    assert updates[target].status == "cancelled"


def test_a_future_with_only_a_stop_gets_a_single_leg_gtt_in_units(broker, kite):
    fake, _ = kite
    entry = order(NIFTY, quantity=2, stop_loss=23800.0)
    assert broker.place_order(entry).filled_quantity == 2
    (gtt,) = fake.gtts.values()
    assert gtt["type"] == "single" and gtt["condition"]["trigger_values"] == [23800.0]
    assert gtt["condition"]["tradingsymbol"] == "NIFTY26NOVFUT"
    assert [(o["transaction_type"], o["quantity"], o["price"], o["product"]) for o in gtt["orders"]] == [
        ("SELL", 150, 23562.0, "NRML")]  # 2 lots of 75; the limit 1% under the trigger, on the tick
    fake.trigger_gtt(gtt["id"], 23790.0)
    stop, _ = legs(entry.client_order_id)
    updates = broker.take_updates()
    assert [(u.client_order_id, u.status) for u in updates if u.is_final] == [(stop, "filled")]
    (fill,) = next(u for u in updates if u.is_final).fills
    assert (fill.quantity, fill.price) == (2, 23790.0)  # back in lots, at the market that crossed the stop


def test_cancelling_a_leg_deletes_the_gtt_and_its_sibling_answers_without_a_second_delete(broker, kite):
    fake, _ = kite
    entry = order(stop_loss=1250.0, take_profit=1400.0)
    broker.place_order(entry)
    broker.take_updates()
    (trigger_id,) = fake.gtts
    stop, target = legs(entry.client_order_id)
    cancelled = broker.cancel_order("ZD-1", stop)
    assert cancelled.status == "cancelled" and cancelled.client_order_id == stop
    assert fake.gtt_deletions == [trigger_id] and fake.gtts[trigger_id]["status"] == "deleted"
    assert [(u.client_order_id, u.status) for u in broker.take_updates()] == [(target, "cancelled")]
    assert broker.cancel_order("ZD-1", target).status == "cancelled"
    assert broker.find_order("ZD-1", stop).status == "cancelled"
    assert fake.gtt_deletions == [trigger_id] and broker.take_updates() == []


def test_cancelling_a_leg_that_already_fired_answers_its_fill(broker, kite):
    fake, _ = kite
    entry = order(stop_loss=1250.0, take_profit=1400.0)
    broker.place_order(entry)
    fake.trigger_gtt(next(iter(fake.gtts)), 1401.0)
    stop, target = legs(entry.client_order_id)
    assert broker.cancel_order("ZD-1", target).status == "filled"
    assert broker.cancel_order("ZD-1", stop).status == "cancelled"
    assert fake.gtt_deletions == []


@pytest.mark.parametrize("failure", ["timeout", "fail_5xx"])
def test_a_gtt_whose_answer_was_lost_is_retried_later_and_never_doubled(broker, kite, clock, failure):
    fake, _ = kite
    fake.next_gtt_behaviours = [failure]
    entry = order(stop_loss=1250.0, take_profit=1400.0)
    assert broker.place_order(entry).status == "filled"  # the entry's fill is reported all the same
    reached_kite = len(fake.gtts)
    assert reached_kite == (1 if failure == "timeout" else 0)
    assert broker.take_updates() == []  # too soon: the first attempt might still be under way
    assert len(fake.gtts) == reached_kite
    clock.advance(61)
    stop, target = legs(entry.client_order_id)
    updates = by_id(broker.take_updates())  # a timeout's GTT is adopted; a 5xx's is placed now
    (trigger_id,) = fake.gtts
    assert {k: (u.status, u.broker_order_id) for k, u in updates.items()} == {
        stop: ("working", f"gtt:{trigger_id}"), target: ("working", f"gtt:{trigger_id}")}
    clock.advance(61)
    assert broker.take_updates() == [] and len(fake.gtts) == 1


def test_a_gtt_kite_refuses_is_reported_as_rejected_legs(broker, kite):
    fake, _ = kite
    entry = order(stop_loss=1350.0, take_profit=1400.0)  # a stop above the 1300 fill: Kite refuses it
    assert broker.place_order(entry).status == "filled"
    assert fake.gtts == {}
    updates = by_id(broker.take_updates())
    assert {u.status for u in updates.values()} == {"rejected"} and len(updates) == 2
    assert all("Kite refused the GTT" in u.reason for u in updates.values())
    assert broker.take_updates() == [] and fake.gtt_placements == []


def test_only_a_filled_entry_is_protected(broker, kite):
    """The books record an entry's legs when it fills; a GTT they did not record could outlive an exit."""
    fake, _ = kite
    fake.next_behaviours = ["partial"]
    entry = order(quantity=9, order_type=OrderType.LIMIT, limit_price=1300.0, stop_loss=1250.0, take_profit=1400.0)
    assert broker.place_order(entry).status == "partially_filled"
    assert broker.cancel_order("ZD-1", entry.client_order_id).status == "cancelled"
    assert broker.take_updates() == [] and fake.gtts == {}


def test_a_fired_leg_whose_limit_rests_is_working_then_cancels_as_an_order(broker, kite):
    fake, _ = kite
    entry = order(stop_loss=1250.0, take_profit=1400.0)
    broker.place_order(entry)
    broker.take_updates()
    kite_order_id = fake.trigger_gtt(next(iter(fake.gtts)), 1240.0, fill=False)  # gapped through: it rests
    stop, target = legs(entry.client_order_id)
    assert [(u.client_order_id, u.status) for u in broker.take_updates()] == [(target, "cancelled")]
    assert broker.find_order("ZD-1", stop).broker_order_id == kite_order_id
    cancelled = broker.cancel_order("ZD-1", stop)
    assert (cancelled.status, cancelled.broker_order_id) == ("cancelled", kite_order_id)
    assert fake.orders[kite_order_id][-1]["status"] == "CANCELLED" and fake.gtt_deletions == []
    assert broker.take_updates() == []
