"""Cerebro's sizing and its decisions: decide(signal, strategy, context, market, limits, now).

The new risk rules (collar, stale prices, FX, account caps, trading states...) are in
test_risk_rules.py, which reuses the helpers below.
"""

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.cerebro import AccountContext, MarketContext, decide
from shared.domain.models import (
    Account,
    AccountSnapshot,
    Action,
    AssetClass,
    Check,
    Decision,
    Instrument,
    OrderType,
    Quote,
    RiskLimits,
    Side,
    SignalSource,
    Sizing,
    SizingKind,
    StandardizedSignal,
    Strategy,
    TradingState,
    client_order_id,
)

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
AAPL = Instrument(symbol="AAPL", exchange="NASDAQ")
MSFT = Instrument(symbol="MSFT", exchange="NASDAQ")
STRATEGY = Strategy(strategy_id="mom", reference_capital=100_000)
LOOSE = RiskLimits(max_position_size_pct=100, max_broker_allocation_pct=500)
DEFAULT = RiskLimits()


def signal(action=Action.BUY, kind=SizingKind.QUANTITY, value=100.0, instrument=AAPL, **extra) -> StandardizedSignal:
    sizing = Sizing(kind=kind, value=value) if kind else None
    return StandardizedSignal(signal_id="sig1", strategy_id="mom", instrument=instrument, action=action,
                              sizing=sizing, received_at=NOW, source=SignalSource.HTTP_API, **extra)


def context(equity=1_000_000.0, weight=0.5, position=0.0, age=10, margin=None, instrument=AAPL,
            **extra) -> AccountContext:
    """One account (base USD) holding ``position`` of ``instrument`` for the strategy; by default the
    account's position in the instrument is the strategy's own (no other strategy holds it)."""
    snapshot = AccountSnapshot(equity=equity, cash=equity, margin_available=equity if margin is None else margin,
                               as_of=NOW - timedelta(seconds=age))
    account = Account(account_id="A1", snapshot=snapshot)
    extra.setdefault("strategy_positions", {instrument.key: position} if position else {})
    extra.setdefault("position_instruments", {instrument.key: instrument})
    extra.setdefault("account_position", position)
    return AccountContext(account=account, allocation_weight=weight, **extra)


def quote(price=200.0, age=5.0, source="mock mark") -> Quote:
    return Quote(price=price, as_of=NOW - timedelta(seconds=age), source=source)


def market(price: float | None = 200.0, age=5.0, fx: float | None = 1.0) -> MarketContext:
    return MarketContext(quote=None if price is None else quote(price, age), fx_rate=fx)


def run(sig=None, ctx=None, mkt=None, limits=LOOSE, strategy=STRATEGY) -> Decision:
    return decide(sig or signal(), strategy, ctx or context(), mkt or market(), limits, NOW)


def check(decision: Decision, name: str) -> Check:
    return next(c for c in decision.checks if c.name == name)


# --- sizing -------------------------------------------------------------------------------------------


def test_quantity_scales_with_allocated_over_reference_capital():
    decision = run(signal(value=100), context(weight=0.5))
    # 1,000,000 x 0.5 = 500,000 allocated = 5x the 100,000 reference: 100 -> 500
    assert decision.status == "approved"
    order = decision.orders[0]
    assert (order.side, order.quantity) == (Side.BUY, 500)
    assert order.client_order_id == client_order_id("sig1", "A1", AAPL.key)
    assert order.reduce_only is False and order.reference_price == 200
    assert decision.inputs.allocated_capital == 500_000
    assert (decision.inputs.price, decision.inputs.price_source, decision.inputs.fx_rate) == (200, "mock mark", 1.0)
    assert decision.cancels == []
    assert [c.name for c in decision.checks] == ["trading_state", "account_data", "allocation", "price",
                                                 "order_rate", "max_order_notional", "max_position_size",
                                                 "margin"]
    assert all(c.outcome == "pass" for c in decision.checks)


def test_client_order_id_is_deterministic_per_signal_account_and_instrument():
    first, again = run(), run()
    assert first.orders[0].client_order_id == again.orders[0].client_order_id
    assert len(first.orders[0].client_order_id) == 20
    assert client_order_id("sig1", "A2", AAPL.key) != first.orders[0].client_order_id


def test_target_position_trades_the_difference_and_repeats_are_harmless():
    first = run(signal(kind=SizingKind.TARGET_POSITION, value=40), context(weight=0.5))
    assert first.orders[0].quantity == 200
    again = run(signal(kind=SizingKind.TARGET_POSITION, value=40), context(weight=0.5, position=200))
    assert again.status == "skipped" and not again.orders
    assert again.reason == "position already at target"


def test_target_position_below_the_holding_sells_the_difference():
    decision = run(signal(kind=SizingKind.TARGET_POSITION, value=10), context(weight=0.5, position=200))
    order = decision.orders[0]
    assert (order.side, order.quantity, order.reduce_only) == (Side.SELL, 150, True)


def test_percent_of_allocated_capital():
    decision = run(signal(kind=SizingKind.PERCENT, value=10), context(weight=0.5), market(250.0))
    assert decision.orders[0].quantity == 200  # 10% of 500,000 = 50,000 / 250


def test_sizing_uses_the_broker_quote_not_the_alert_price():
    # 4% apart: inside the collar, so the alert's price is only a sanity check.
    decision = run(signal(kind=SizingKind.PERCENT, value=10, price=260.0), context(weight=0.5), market(250.0))
    assert decision.status == "approved"
    assert decision.orders[0].quantity == 200  # at 260 it would be 192
    assert decision.orders[0].reference_price == 250
    assert (decision.inputs.price, decision.inputs.alert_price) == (250, 260)


def test_futures_percent_sizing_uses_the_multiplier():
    es = Instrument(symbol="ES1!", asset_class=AssetClass.FUTURE, exchange="CME", multiplier=50)
    decision = run(signal(kind=SizingKind.PERCENT, value=100, instrument=es), context(weight=0.5, instrument=es),
                   market(5000.0))
    assert decision.orders[0].quantity == 2  # 500,000 / (5000 x 50)


# --- caps ---------------------------------------------------------------------------------------------


def test_position_cap_clips_and_records_why():
    decision = run(signal(value=1000), context(weight=0.5), limits=RiskLimits(max_position_size_pct=10))
    assert decision.status == "approved"
    assert decision.orders[0].quantity == 500  # 10% of 1,000,000 / 200
    capped = check(decision, "max_position_size")
    assert capped.outcome == "capped"
    assert "5000 cut to 500 AAPL" in capped.detail and "cap 10% = 500 AAPL" in capped.detail
    assert capped.detail in decision.reason


def test_broker_allocation_counts_other_exposure():
    limits = RiskLimits(max_position_size_pct=100, max_broker_allocation_pct=100)
    decision = run(signal(value=100), context(weight=0.5, broker_exposure=980_000, fund_equity=1_000_000),
                   limits=limits)
    assert decision.orders[0].quantity == 100  # room of 20,000 / 200
    assert check(decision, "max_broker_allocation").outcome == "capped"


def test_margin_shortfall_rejects_new_exposure():
    decision = run(signal(value=100), context(margin=0))
    assert decision.status == "rejected"
    margin = check(decision, "margin")
    assert margin.outcome == "fail" and decision.reason == margin.detail
    assert "available 0" in margin.detail


def test_margin_caps_at_the_asset_class_rate():
    # 500 AAPL = 100,000 notional needs 50,000 at the equity rate of 0.5; 20,000 available -> 200 shares.
    decision = run(signal(value=100), context(margin=20_000))
    assert decision.orders[0].quantity == 200
    assert check(decision, "margin").outcome == "capped"


def test_increasing_a_short_is_capped_on_the_short_side():
    decision = run(signal(action=Action.SELL, value=2000), context(weight=0.5), limits=RiskLimits())
    assert (decision.orders[0].side, decision.orders[0].quantity) == (Side.SELL, 500)


# --- exits and flips ----------------------------------------------------------------------------------


def test_exit_closes_only_the_strategy_position_and_needs_no_price():
    ctx = context(position=300, account_position=900)  # other strategies hold 600 more
    decision = run(signal(action=Action.EXIT, kind=None), ctx, market(None))
    assert decision.status == "approved"
    order = decision.orders[0]
    assert (order.side, order.quantity, order.reduce_only) == (Side.SELL, 300, True)
    assert order.reference_price is None


def test_exit_of_a_short_buys_it_back():
    decision = run(signal(action=Action.EXIT, kind=None), context(position=-40))
    assert (decision.orders[0].side, decision.orders[0].quantity) == (Side.BUY, 40)


def test_partial_exit_never_flips_the_position():
    decision = run(signal(action=Action.EXIT, value=1000), context(weight=0.5, position=300), market(None))
    assert decision.orders[0].quantity == 300


def test_percent_exit_reduces_by_that_share_of_the_position():
    decision = run(signal(action=Action.EXIT, kind=SizingKind.PERCENT, value=50), context(position=300))
    assert (decision.orders[0].side, decision.orders[0].quantity) == (Side.SELL, 150)


def test_target_exit_is_clamped_toward_zero():
    # A target of -20 (x5 = -100) on a long 300 exits to flat, never flips short.
    decision = run(signal(action=Action.EXIT, kind=SizingKind.TARGET_POSITION, value=-20), context(position=300))
    assert (decision.orders[0].side, decision.orders[0].quantity) == (Side.SELL, 300)


def test_exit_with_nothing_held_is_skipped():
    decision = run(signal(action=Action.EXIT, kind=None), context(position=0))
    assert decision.status == "skipped" and not decision.orders


def test_a_sell_through_a_long_flips_it():
    decision = run(signal(action=Action.SELL, value=100), context(weight=0.5, position=200))
    order = decision.orders[0]
    assert (order.side, order.quantity, order.reduce_only) == (Side.SELL, 500, False)


def test_exit_works_after_allocation_is_withdrawn():
    decision = run(signal(action=Action.EXIT, kind=None), context(weight=0, position=50), market(None))
    assert decision.status == "approved" and decision.orders[0].quantity == 50
    assert decision.orders[0].reduce_only
    assert check(decision, "allocation").detail.startswith("withdrawn")


def test_partial_exit_after_allocation_is_withdrawn_closes_everything():
    decision = run(signal(action=Action.EXIT, kind=SizingKind.PERCENT, value=10), context(weight=0, position=50))
    assert decision.orders[0].quantity == 50


def test_flatten_closes_every_instrument_at_market():
    ctx = context(strategy_positions={AAPL.key: 10, MSFT.key: -4},
                  position_instruments={AAPL.key: AAPL, MSFT.key: MSFT})
    decision = run(signal(action=Action.FLATTEN, kind=None, order_type=OrderType.LIMIT, limit_price=1.0),
                   ctx, market(None))
    assert decision.status == "approved"
    sides = {o.instrument.symbol: (o.side, o.quantity, o.order_type) for o in decision.orders}
    assert sides["AAPL"][:2] == (Side.SELL, 10) and sides["MSFT"] == (Side.BUY, 4, OrderType.MARKET)
    assert all(o.reduce_only for o in decision.orders)
    assert {o.client_order_id for o in decision.orders} == {client_order_id("sig1", "A1", AAPL.key),
                                                             client_order_id("sig1", "A1", MSFT.key)}


def test_flatten_with_nothing_held_is_skipped():
    decision = run(signal(action=Action.FLATTEN, kind=None), context())
    assert decision.status == "skipped"


# --- refusals -----------------------------------------------------------------------------------------


def test_stale_account_data_refuses_new_risk():
    decision = run(signal(), context(age=3600))
    assert decision.status == "rejected"
    stale = check(decision, "account_data")
    assert stale.outcome == "fail" and stale.detail == "account data is 3600s old, limit 300s"
    assert "only risk-reducing orders pass" in decision.reason and stale.detail in decision.reason


def test_kill_switch_is_the_halted_state_and_refuses_new_risk():
    ctx = context(trading_state=TradingState.HALTED, state_reason="kill switch: operator")
    decision = run(signal(), ctx)
    assert decision.status == "rejected"
    state = check(decision, "trading_state")
    assert state.outcome == "fail" and state.detail == "halted: kill switch: operator"
    assert "trading state HALTED (kill switch: operator)" in decision.reason
    assert decision.inputs.trading_state is TradingState.HALTED


def test_kill_switch_no_longer_blocks_an_exit():
    ctx = context(position=300, trading_state=TradingState.HALTED, state_reason="kill switch: operator")
    decision = run(signal(action=Action.EXIT, kind=None), ctx)
    assert decision.status == "approved"
    assert (decision.orders[0].side, decision.orders[0].quantity, decision.orders[0].reduce_only) == (
        Side.SELL, 300, True)


def test_no_allocation_is_skipped():
    decision = run(signal(), context(weight=0))
    assert decision.status == "skipped"
    assert check(decision, "allocation").outcome == "fail"


def test_no_price_rejects_an_entry():
    decision = run(signal(), context(), market(None))
    assert decision.status == "rejected"
    price = check(decision, "price")
    assert price.outcome == "fail" and price.detail == "no reference price from the broker"


@pytest.mark.parametrize("kind", [SizingKind.QUANTITY, SizingKind.PERCENT, SizingKind.TARGET_POSITION])
def test_no_price_rejects_every_kind_of_entry(kind):
    decision = run(signal(kind=kind, value=10), context(), market(None))
    assert decision.status == "rejected" and not decision.orders
    assert "no reference price from the broker" in decision.reason
