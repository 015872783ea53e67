"""Cerebro's pure risk rules: each test checks the outcome and that the reason or check names
the limit, the value and the cap."""

import math
from dataclasses import replace

import pytest

from shared.domain.cerebro import MarketContext, WorkingOrder
from shared.domain.models import (
    Action,
    AssetClass,
    Instrument,
    RiskLimits,
    Side,
    SizingKind,
    TradingState,
)
from shared.domain.risk import reducing_part, round_quantity
from tests.unit.test_cerebro import AAPL, DEFAULT, MSFT, NOW, check, context, market, quote, run, signal

EXIT = {"action": Action.EXIT, "kind": None}
USDJPY = Instrument(symbol="USDJPY", asset_class=AssetClass.FOREX, exchange="FX", currency="JPY")
ES = Instrument(symbol="ES", asset_class=AssetClass.FUTURE, exchange="CME", multiplier=50)


# --- 1. price collar ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [SizingKind.QUANTITY, SizingKind.PERCENT])
def test_alert_price_outside_the_collar_rejects_a_buy(kind):
    decision = run(signal(kind=kind, value=10, price=19.0), context(), market(190.0), DEFAULT)
    assert decision.status == "rejected" and not decision.orders
    assert "price_collar" in decision.reason and "collar 5%" in decision.reason
    collar = check(decision, "price")
    assert collar.outcome == "fail"
    assert collar.detail == ("price_collar: alert price 19 is 90.0% from the reference 190 (mock mark), "
                             "collar 5%")


def test_alert_price_inside_the_collar_is_sized_at_the_quote():
    decision = run(signal(kind=SizingKind.PERCENT, value=10, price=195.0), context(weight=0.5), market(190.0),
                   DEFAULT)
    assert decision.status == "approved"
    # 10% of 500,000 = 50,000 at the quote 190 -> 263 (at the alert's 195 it would be 256).
    assert decision.orders[0].quantity == 263
    assert decision.orders[0].reference_price == 190
    assert check(decision, "price").outcome == "pass"


def test_collar_does_not_stop_an_exit():
    decision = run(signal(**EXIT, price=19.0), context(position=300), market(190.0), DEFAULT)
    assert decision.status == "approved" and decision.orders[0].reduce_only
    assert decision.orders[0].quantity == 300


# --- 2. fail closed on a bad reference price ----------------------------------------------------------

BAD_QUOTES = {
    "missing": (None, "no reference price from the broker"),
    "zero": (quote(0.0), "reference price 0.0 from mock mark is not a positive number"),
    "nan": (quote(math.nan), "reference price nan from mock mark is not a positive number"),
    "stale": (quote(190.0, age=121), "reference price from mock mark is 121s old, limit 120s"),
}


@pytest.mark.parametrize("kind", [SizingKind.QUANTITY, SizingKind.PERCENT])
@pytest.mark.parametrize("bad", BAD_QUOTES.values(), ids=BAD_QUOTES.keys())
def test_a_bad_quote_rejects_a_buy(bad, kind):
    bad_quote, why = bad
    decision = run(signal(kind=kind, value=10), context(), MarketContext(quote=bad_quote, fx_rate=1.0), DEFAULT)
    assert decision.status == "rejected" and not decision.orders
    assert why in decision.reason
    assert check(decision, "price").outcome == "fail" and check(decision, "price").detail == why


@pytest.mark.parametrize("bad", BAD_QUOTES.values(), ids=BAD_QUOTES.keys())
def test_a_bad_quote_does_not_stop_an_exit(bad):
    bad_quote, why = bad
    decision = run(signal(**EXIT), context(position=300), MarketContext(quote=bad_quote, fx_rate=1.0), DEFAULT)
    assert decision.status == "approved"
    order = decision.orders[0]
    assert (order.side, order.quantity, order.reduce_only) == (Side.SELL, 300, True)
    assert check(decision, "price").detail == why  # recorded, not blocking


def test_a_quote_just_inside_the_age_limit_is_trusted():
    decision = run(signal(), context(), MarketContext(quote=quote(200.0, age=119), fx_rate=1.0), DEFAULT)
    assert decision.status == "approved"


# --- 3. FX --------------------------------------------------------------------------------------------

FX_MARKET = MarketContext(quote=quote(150.2), fx_rate=1 / 150.2)


def test_percent_sizing_converts_the_notional_with_the_fx_rate():
    decision = run(signal(kind=SizingKind.PERCENT, value=10, instrument=USDJPY), context(instrument=USDJPY),
                   FX_MARKET, DEFAULT)
    # 10% of 500,000 USD = 50,000 USD; one unit is worth 150.2 JPY x 1/150.2 = 1 USD.
    assert decision.status == "approved"
    assert decision.orders[0].quantity == 50_000


def test_caps_measure_a_foreign_instrument_in_the_account_currency():
    # 24,000 x 5 = 120,000 units worth 120,000 USD: the 10% cap is 100,000 units
    # (it would be 665 units if 150.2 were USD).
    decision = run(signal(value=24_000, instrument=USDJPY), context(instrument=USDJPY), FX_MARKET, DEFAULT)
    assert decision.status == "approved"
    assert decision.orders[0].quantity == 100_000
    capped = check(decision, "max_position_size")
    assert capped.outcome == "capped"
    assert "120000 cut to 100000 USDJPY" in capped.detail and "12.0% of equity" in capped.detail
    assert "cap 10% = 100000 USDJPY" in capped.detail
    assert "order notional 100,000" not in check(decision, "max_order_notional").detail
    assert "order notional 120,000" in check(decision, "max_order_notional").detail
    assert decision.inputs.fx_rate == pytest.approx(1 / 150.2)


@pytest.mark.parametrize("rate", [None, 0.0, math.nan])
def test_missing_fx_rate_refuses_a_buy(rate):
    decision = run(signal(value=100, instrument=USDJPY), context(instrument=USDJPY),
                   MarketContext(quote=quote(150.2), fx_rate=rate), DEFAULT)
    assert decision.status == "rejected"
    assert "no JPY/USD rate" in decision.reason and "only risk-reducing orders pass" in decision.reason
    assert check(decision, "fx").outcome == "fail"


def test_missing_fx_rate_does_not_stop_an_exit():
    decision = run(signal(**EXIT, instrument=USDJPY), context(position=5000, instrument=USDJPY),
                   MarketContext(quote=quote(150.2), fx_rate=None), DEFAULT)
    assert decision.status == "approved"
    assert (decision.orders[0].side, decision.orders[0].quantity, decision.orders[0].reduce_only) == (
        Side.SELL, 5000, True)


# --- 4. account-level position cap --------------------------------------------------------------------
# 10% of 1,000,000 at 200 = 500 AAPL for the whole account, every strategy and working order included.


def test_account_already_at_the_cap_rejects_another_strategys_buy():
    decision = run(signal(value=20), context(account_position=500), limits=DEFAULT)
    assert decision.status == "rejected" and not decision.orders
    assert "max_position_size" in decision.reason and "cap 10%" in decision.reason
    cap = check(decision, "max_position_size")
    assert cap.outcome == "fail" and cap.detail == decision.reason
    assert "12.0% of equity (+600 AAPL; holds +500" in cap.detail and "cap 10% = 500 AAPL" in cap.detail


def test_partial_room_caps_the_buy_to_the_room():
    decision = run(signal(value=100), context(account_position=300), limits=DEFAULT)
    assert decision.status == "approved" and decision.orders[0].quantity == 200
    cap = check(decision, "max_position_size")
    assert cap.outcome == "capped" and "500 cut to 200 AAPL" in cap.detail and "cap 10% = 500 AAPL" in cap.detail


def test_a_sell_that_reduces_the_account_exposure_passes():
    decision = run(signal(action=Action.SELL, value=20), context(account_position=500), limits=DEFAULT)
    assert decision.status == "approved"
    assert (decision.orders[0].side, decision.orders[0].quantity) == (Side.SELL, 100)
    assert check(decision, "max_position_size").outcome == "pass"


def test_a_sell_may_go_through_flat_to_the_cap_on_the_other_side():
    decision = run(signal(action=Action.SELL, value=240), context(account_position=500), limits=DEFAULT)
    assert decision.orders[0].quantity == 1000  # +500 -> -500
    assert "1200 cut to 1000 AAPL" in check(decision, "max_position_size").detail


def test_a_strategy_flip_counts_its_own_position_once():
    # The strategy holds the account's +100; selling 700 may end at -500.
    decision = run(signal(action=Action.SELL, value=140), context(position=100), limits=DEFAULT)
    assert (decision.orders[0].side, decision.orders[0].quantity) == (Side.SELL, 600)


# --- 5. futures multiplier ----------------------------------------------------------------------------


def test_futures_cap_counts_the_multiplier():
    # 7 contracts (scale 1) x 5800 x 50 = 2,030,000; one contract = 290,000 > 10% of 1,000,000.
    decision = run(signal(value=7, instrument=ES), context(weight=0.1, instrument=ES), market(5800.0), DEFAULT)
    assert decision.status == "rejected" and not decision.orders
    assert "max_position_size" in decision.reason and "cap 10% = 0 ES" in decision.reason
    assert "203.0% of equity" in decision.reason
    assert check(decision, "max_order_notional").outcome == "pass"


def test_futures_cap_clips_to_whole_contracts():
    # On 10,000,000: the cap is 1,000,000 / 290,000 = 3.4 -> 3 contracts.
    decision = run(signal(value=7, instrument=ES), context(equity=10_000_000, weight=0.01, instrument=ES),
                   market(5800.0), DEFAULT)
    assert decision.orders[0].quantity == 3
    assert "7 cut to 3 ES" in check(decision, "max_position_size").detail


# --- 6. order notional and order rate -----------------------------------------------------------------


def test_max_order_notional_clips():
    limits = RiskLimits(max_order_notional=50_000, max_position_size_pct=100)
    decision = run(signal(value=100), context(), limits=limits)
    assert decision.status == "approved" and decision.orders[0].quantity == 250
    cap = check(decision, "max_order_notional")
    assert cap.outcome == "capped"
    assert cap.detail == ("max_order_notional: 500 cut to 250 AAPL: order notional 100,000 for the adding part, "
                          "cap 50,000")


def test_max_order_notional_binds_only_the_adding_part_of_a_flip():
    limits = RiskLimits(max_order_notional=50_000, max_position_size_pct=100)
    decision = run(signal(action=Action.SELL, value=120), context(position=100), limits=limits)
    assert decision.orders[0].quantity == 350  # 100 to flat + 250 short


@pytest.mark.parametrize(("counts", "reason"), [
    ((50, 0), "max_signals_per_second_per_strategy: 50 risk-adding signals from the strategy this second, cap 50"),
    ((0, 100), "max_orders_per_second_per_account: 100 risk-adding orders in the account this second, cap 100")])
def test_order_rate_throttle_rejects_a_buy(counts, reason):
    decision = run(signal(), context(recent_orders=counts), limits=DEFAULT)
    assert decision.status == "rejected" and not decision.orders
    assert decision.reason == reason
    assert check(decision, reason.split(":")[0]).outcome == "fail"


def test_order_rate_below_the_caps_passes():
    decision = run(signal(), context(recent_orders=(49, 99)), limits=DEFAULT)
    assert decision.status == "approved" and check(decision, "order_rate").outcome == "pass"


def test_order_rate_throttle_does_not_stop_an_exit():
    decision = run(signal(**EXIT), context(position=300, recent_orders=(50, 100)), limits=DEFAULT)
    assert decision.status == "approved" and decision.orders[0].quantity == 300


def test_order_rate_throttle_cuts_a_flip_to_its_reducing_part():
    decision = run(signal(action=Action.SELL, value=100), context(position=200, recent_orders=(50, 0)),
                   limits=DEFAULT)
    assert decision.status == "approved"
    assert (decision.orders[0].quantity, decision.orders[0].reduce_only) == (200, True)


# --- 7. broker allocation -----------------------------------------------------------------------------
# 40% of a 10,000,000 fund = 4,000,000 at one broker.

BROKER_LIMITS = RiskLimits(max_position_size_pct=100)


def test_broker_allocation_caps_to_the_room():
    decision = run(signal(value=100), context(broker_exposure=3_950_000, fund_equity=10_000_000),
                   limits=BROKER_LIMITS)
    assert decision.status == "approved" and decision.orders[0].quantity == 250  # 50,000 / 200
    cap = check(decision, "max_broker_allocation")
    assert cap.outcome == "capped"
    assert cap.detail == ("max_broker_allocation: 500 cut to 250 AAPL: broker exposure would be 40.5% of fund "
                          "equity, cap 40%")


def test_broker_allocation_full_rejects():
    decision = run(signal(value=100), context(broker_exposure=4_000_000, fund_equity=10_000_000),
                   limits=BROKER_LIMITS)
    assert decision.status == "rejected" and not decision.orders
    assert "max_broker_allocation" in decision.reason and "cap 40%" in decision.reason
    assert "41.0% of fund equity" in decision.reason


def test_broker_allocation_is_measured_in_the_fund_currency():
    # One AAPL is worth 200 x 0.5 = 100 in the fund's currency: the 50,000 room holds 500.
    ctx = context(broker_exposure=3_950_000, fund_equity=10_000_000, to_fund_currency=0.5)
    assert run(signal(value=100), ctx, limits=BROKER_LIMITS).orders[0].quantity == 500
    assert run(signal(value=120), ctx, limits=BROKER_LIMITS).orders[0].quantity == 500


def test_broker_allocation_is_skipped_without_fund_figures():
    decision = run(signal(value=100), context(), limits=BROKER_LIMITS)
    assert decision.status == "approved"
    assert "max_broker_allocation" not in [c.name for c in decision.checks]


# --- 8. trading states and stale account data ---------------------------------------------------------

STATES = {
    "reducing": ({"trading_state": TradingState.REDUCING, "state_reason": "strategy paused"},
                 "trading state REDUCING (strategy paused)"),
    "halted": ({"trading_state": TradingState.HALTED, "state_reason": "kill switch: operator"},
               "trading state HALTED (kill switch: operator)"),
    "stale account": ({"age": 3600}, "account data is 3600s old, limit 300s"),
}


@pytest.fixture(params=STATES.values(), ids=STATES.keys())
def blocked(request):
    """Context arguments that refuse new risk, and the blocker named in the reason."""
    return request.param


def test_blocked_buy_is_rejected(blocked):
    state, why = blocked
    decision = run(signal(value=20), context(weight=0.1, **state), limits=DEFAULT)
    assert decision.status == "rejected" and not decision.orders
    assert decision.reason == f"only risk-reducing orders pass: {why}"


def test_blocked_buy_adding_to_a_long_is_rejected(blocked):
    state, why = blocked
    decision = run(signal(value=20), context(weight=0.1, position=100, **state), limits=DEFAULT)
    assert decision.status == "rejected" and decision.reason == f"only risk-reducing orders pass: {why}"


def test_blocked_state_lets_an_exit_through(blocked):
    state, _ = blocked
    decision = run(signal(**EXIT), context(weight=0.1, position=100, **state), limits=DEFAULT)
    assert decision.status == "approved"
    assert (decision.orders[0].side, decision.orders[0].quantity, decision.orders[0].reduce_only) == (
        Side.SELL, 100, True)


def test_blocked_state_lets_a_reducing_sell_through(blocked):
    state, _ = blocked
    decision = run(signal(action=Action.SELL, value=50), context(weight=0.1, position=100, **state),
                   limits=DEFAULT)
    assert decision.status == "approved"
    assert (decision.orders[0].side, decision.orders[0].quantity, decision.orders[0].reduce_only) == (
        Side.SELL, 50, True)


def test_blocked_state_lets_a_flatten_through(blocked):
    state, _ = blocked
    ctx = context(strategy_positions={AAPL.key: 100, MSFT.key: -7},
                  position_instruments={AAPL.key: AAPL, MSFT.key: MSFT}, **state)
    decision = run(signal(action=Action.FLATTEN, kind=None), ctx, limits=DEFAULT)
    assert decision.status == "approved"
    assert {(o.instrument.symbol, o.side, o.quantity) for o in decision.orders} == {
        ("AAPL", Side.SELL, 100), ("MSFT", Side.BUY, 7)}


def test_blocked_state_cuts_a_flip_to_the_reducing_part(blocked):
    state, why = blocked
    decision = run(signal(action=Action.SELL, value=300), context(weight=0.1, position=100, **state),
                   limits=DEFAULT)
    assert decision.status == "approved"
    order = decision.orders[0]
    assert (order.side, order.quantity, order.reduce_only) == (Side.SELL, 100, True)
    cut = check(decision, "reduce_only")
    assert cut.outcome == "capped" and cut.detail == f"cut to the reducing 100: {why}"
    assert cut.detail in decision.reason


def test_blocked_target_below_the_holding_passes(blocked):
    state, _ = blocked
    decision = run(signal(kind=SizingKind.TARGET_POSITION, value=40), context(weight=0.1, position=100, **state),
                   limits=DEFAULT)
    assert (decision.orders[0].side, decision.orders[0].quantity) == (Side.SELL, 60)


def without_snapshot(**kwargs):
    ctx = context(**kwargs)
    return replace(ctx, account=ctx.account.model_copy(update={"snapshot": None}))


@pytest.mark.parametrize("kind", [SizingKind.TARGET_POSITION, SizingKind.QUANTITY, SizingKind.PERCENT])
def test_missing_account_snapshot_refuses_a_buy(kind):
    decision = run(signal(kind=kind, value=40), without_snapshot(position=100), limits=DEFAULT)
    assert decision.status == "rejected" and not decision.orders
    assert "no account data" in decision.reason


def test_negative_equity_never_turns_a_buy_into_a_sell():
    decision = run(signal(kind=SizingKind.TARGET_POSITION, value=40), context(equity=-10_000, position=100),
                   limits=DEFAULT)
    assert decision.status == "rejected" and not decision.orders
    assert "equity -10,000 is not positive" in decision.reason


def test_missing_account_snapshot_does_not_stop_an_exit():
    decision = run(signal(**EXIT), without_snapshot(position=100), limits=DEFAULT)
    assert decision.status == "approved"
    assert (decision.orders[0].side, decision.orders[0].quantity, decision.orders[0].reduce_only) == (
        Side.SELL, 100, True)
    assert check(decision, "account_data").detail == "no account snapshot"


# --- 9. exits with working orders ---------------------------------------------------------------------

WORKING = (WorkingOrder("w-aapl", AAPL.key, 100), WorkingOrder("w-aapl-stop", AAPL.key, -300, protective=True),
           WorkingOrder("w-msft", MSFT.key, -5))


def test_exit_cancels_the_instruments_working_orders():
    decision = run(signal(**EXIT), context(position=300, strategy_working=WORKING), limits=DEFAULT)
    assert decision.status == "approved"
    assert (decision.orders[0].side, decision.orders[0].quantity) == (Side.SELL, 300)
    assert [c.client_order_id for c in decision.cancels] == ["w-aapl", "w-aapl-stop"]
    cancel = decision.cancels[0]
    assert (cancel.signal_id, cancel.account_id, cancel.reason) == (
        "sig1", "A1", f"exit of {AAPL.key} cancels its resting order")
    assert decision.cancels[1].reason == f"exit of {AAPL.key} cancels its protective order"


def test_flatten_cancels_every_working_order_of_the_strategy():
    ctx = context(position=300, strategy_working=WORKING)
    decision = run(signal(action=Action.FLATTEN, kind=None), ctx, limits=DEFAULT)
    assert decision.status == "approved"
    assert {c.client_order_id for c in decision.cancels} == {"w-aapl", "w-aapl-stop", "w-msft"}
    assert decision.reason == "flatten 1 position(s), cancel 3 working order(s)"


def test_flatten_with_only_working_orders_cancels_them():
    decision = run(signal(action=Action.FLATTEN, kind=None), context(strategy_working=WORKING[2:]))
    assert decision.status == "approved" and not decision.orders
    assert [c.client_order_id for c in decision.cancels] == ["w-msft"]


@pytest.mark.parametrize("weight", [0.5, 0.0])
def test_exit_with_no_position_but_a_working_entry_only_cancels(weight):
    decision = run(signal(**EXIT), context(weight=weight, strategy_working=WORKING), limits=DEFAULT)
    assert decision.status == "approved" and not decision.orders
    assert [c.client_order_id for c in decision.cancels] == ["w-aapl", "w-aapl-stop"]


def test_a_buy_cancels_nothing():
    decision = run(signal(), context(strategy_working=WORKING), limits=DEFAULT)
    assert decision.status == "approved" and decision.cancels == []


# --- 10. protective levels ----------------------------------------------------------------------------


def test_a_buy_carries_its_stop_loss_and_take_profit():
    decision = run(signal(stop_loss=190.0, take_profit=220.0), context(), limits=DEFAULT)
    order = decision.orders[0]
    assert (order.stop_loss, order.take_profit, order.reduce_only) == (190, 220, False)


@pytest.mark.parametrize("sig", [signal(action=Action.SELL, value=20, stop_loss=210.0, take_profit=180.0),
                                 signal(**EXIT, stop_loss=210.0, take_profit=180.0)], ids=["sell", "exit"])
def test_a_reducing_order_carries_no_protective_levels(sig):
    decision = run(sig, context(position=300), limits=DEFAULT)
    order = decision.orders[0]
    assert order.reduce_only and order.side is Side.SELL
    assert (order.stop_loss, order.take_profit) == (None, None)


# --- 11. lot sizes ------------------------------------------------------------------------------------

LOT25 = Instrument(symbol="NIFTYFUT", exchange="NFO", lot_size=25, currency="USD")


@pytest.mark.parametrize(("quantity", "rounded"), [(110, 100), (-60, -50), (24.9, 0), (25, 25), (75.0000000001, 75)])
def test_round_quantity_respects_lot_size(quantity, rounded):
    assert round_quantity(quantity, LOT25) == rounded


def test_round_quantity_keeps_crypto_fractions():
    btc = Instrument(symbol="BTCUSD", asset_class=AssetClass.CRYPTO)
    assert round_quantity(0.1234567, btc) == pytest.approx(0.123456)


def test_orders_and_caps_are_whole_lots():
    assert run(signal(value=22, instrument=LOT25), context(instrument=LOT25)).orders[0].quantity == 100  # 110
    # The cap at 203 is 100,000 / 203 = 492.6 -> 475, a whole number of lots.
    capped = run(signal(value=120, instrument=LOT25), context(instrument=LOT25), market(203.0), DEFAULT)
    assert capped.orders[0].quantity == 475
    assert "cap 10% = 475 NIFTYFUT" in check(capped, "max_position_size").detail


def test_reducing_part():
    assert reducing_part(100, -300) == 100
    assert reducing_part(100, -30) == 30
    assert reducing_part(100, 30) == 0
    assert reducing_part(0, -30) == 0
    assert reducing_part(-50, 80) == 50


def test_now_is_an_argument():
    assert run().inputs.account_data_age_seconds == (NOW - context().account.snapshot.as_of).total_seconds()
