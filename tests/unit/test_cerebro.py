from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.cerebro import AccountContext, decide
from shared.domain.models import (
    Account,
    AccountSnapshot,
    Action,
    AssetClass,
    Instrument,
    OrderType,
    RiskLimits,
    Side,
    SignalSource,
    Sizing,
    SizingKind,
    StandardizedSignal,
    Strategy,
    client_order_id,
)

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
AAPL = Instrument(symbol="AAPL", exchange="NASDAQ")
STRATEGY = Strategy(strategy_id="mom", reference_capital=100_000)
LOOSE = RiskLimits(max_position_size_pct=100, max_broker_allocation_pct=500)


def signal(action=Action.BUY, kind=SizingKind.QUANTITY, value=100.0, instrument=AAPL, **extra):
    sizing = Sizing(kind=kind, value=value) if kind else None
    return StandardizedSignal(signal_id="sig1", strategy_id="mom", instrument=instrument, action=action,
                              sizing=sizing, received_at=NOW, source=SignalSource.HTTP_API, **extra)


def context(equity=1_000_000.0, weight=0.5, position=0.0, age=10, margin=None, gross=0.0):
    snapshot = AccountSnapshot(equity=equity, cash=equity, margin_available=equity if margin is None else margin,
                               gross_exposure=gross, as_of=NOW - timedelta(seconds=age))
    account = Account(account_id="A1", snapshot=snapshot)
    positions = {AAPL.key: position} if position else {}
    return AccountContext(account=account, allocation_weight=weight, strategy_positions=positions,
                          position_instruments={AAPL.key: AAPL})


def test_quantity_scales_with_allocated_over_reference_capital():
    decision = decide(signal(value=100), STRATEGY, context(weight=0.5), 200.0, LOOSE, False, NOW)
    # 1,000,000 x 0.5 = 500,000 allocated = 5x the 100,000 reference: 100 -> 500
    assert decision.status == "approved"
    order = decision.orders[0]
    assert (order.side, order.quantity) == (Side.BUY, 500)
    assert order.client_order_id == client_order_id("sig1", "A1", AAPL.key)
    assert decision.inputs.allocated_capital == 500_000
    assert [c.name for c in decision.checks] == ["kill_switch", "account_data", "allocation",
                                                 "max_position_size", "max_broker_allocation", "margin"]


def test_target_position_trades_the_difference_and_repeats_are_harmless():
    first = decide(signal(kind=SizingKind.TARGET_POSITION, value=40), STRATEGY, context(weight=0.5), 200.0,
                   LOOSE, False, NOW)
    assert first.orders[0].quantity == 200
    again = decide(signal(kind=SizingKind.TARGET_POSITION, value=40), STRATEGY,
                   context(weight=0.5, position=200), 200.0, LOOSE, False, NOW)
    assert again.status == "skipped" and not again.orders


def test_percent_of_allocated_capital():
    decision = decide(signal(kind=SizingKind.PERCENT, value=10), STRATEGY, context(weight=0.5), 250.0,
                      LOOSE, False, NOW)
    assert decision.orders[0].quantity == 200  # 10% of 500,000 = 50,000 / 250


def test_futures_percent_sizing_uses_the_multiplier():
    es = Instrument(symbol="ES1!", asset_class=AssetClass.FUTURE, exchange="CME", multiplier=50)
    decision = decide(signal(kind=SizingKind.PERCENT, value=100, instrument=es), STRATEGY,
                      context(weight=0.5), 5000.0, LOOSE, False, NOW)
    assert decision.orders[0].quantity == 2  # 500,000 / (5000 x 50)


def test_position_cap_clips_and_records_why():
    limits = RiskLimits(max_position_size_pct=10)
    decision = decide(signal(value=1000), STRATEGY, context(weight=0.5), 200.0, limits, False, NOW)
    assert decision.orders[0].quantity == 500  # 10% of 1,000,000 / 200
    capped = next(c for c in decision.checks if c.name == "max_position_size")
    assert capped.outcome == "capped"


def test_broker_allocation_counts_other_exposure():
    limits = RiskLimits(max_position_size_pct=100, max_broker_allocation_pct=100)
    decision = decide(signal(value=100), STRATEGY, context(weight=0.5, gross=980_000), 200.0, limits, False, NOW)
    assert decision.orders[0].quantity == 100  # room of 20,000 / 200


def test_margin_shortfall_rejects_new_exposure():
    decision = decide(signal(value=100), STRATEGY, context(margin=0), 200.0, LOOSE, False, NOW)
    assert decision.status == "rejected"
    assert next(c for c in decision.checks if c.name == "margin").outcome == "fail"


def test_exit_closes_only_the_strategy_position_and_needs_no_price():
    decision = decide(signal(action=Action.EXIT, kind=None), STRATEGY, context(position=300), None,
                      LOOSE, False, NOW)
    assert (decision.orders[0].side, decision.orders[0].quantity) == (Side.SELL, 300)


def test_partial_exit_never_flips_the_position():
    decision = decide(signal(action=Action.EXIT, value=1000), STRATEGY, context(weight=0.5, position=300),
                      None, LOOSE, False, NOW)
    assert decision.orders[0].quantity == 300


def test_exit_works_after_allocation_is_withdrawn():
    decision = decide(signal(action=Action.EXIT, kind=None), STRATEGY, context(weight=0, position=50), None,
                      LOOSE, False, NOW)
    assert decision.status == "approved" and decision.orders[0].quantity == 50


def test_flatten_closes_every_instrument_at_market():
    msft = Instrument(symbol="MSFT", exchange="NASDAQ")
    ctx = context(position=10)
    ctx = AccountContext(account=ctx.account, allocation_weight=0.5,
                         strategy_positions={AAPL.key: 10, msft.key: -4},
                         position_instruments={AAPL.key: AAPL, msft.key: msft})
    decision = decide(signal(action=Action.FLATTEN, kind=None, order_type=OrderType.LIMIT, limit_price=1.0),
                      STRATEGY, ctx, None, LOOSE, False, NOW)
    sides = {o.instrument.symbol: (o.side, o.quantity, o.order_type) for o in decision.orders}
    assert sides["AAPL"][:2] == (Side.SELL, 10) and sides["MSFT"] == (Side.BUY, 4, OrderType.MARKET)


@pytest.mark.parametrize(
    ("kwargs", "check"),
    [({"age": 3600}, "account_data"), ({}, "kill_switch")],
)
def test_rejections_name_the_failed_check(kwargs, check):
    kill = check == "kill_switch"
    decision = decide(signal(), STRATEGY, context(**kwargs), 200.0, LOOSE, kill, NOW)
    assert decision.status == "rejected"
    assert decision.checks[-1].name == check and decision.checks[-1].outcome == "fail"


def test_no_allocation_is_skipped():
    decision = decide(signal(), STRATEGY, context(weight=0), 200.0, LOOSE, False, NOW)
    assert decision.status == "skipped"


def test_no_price_rejects_an_entry():
    decision = decide(signal(), STRATEGY, context(), None, LOOSE, False, NOW)
    assert decision.status == "rejected" and decision.checks[-1].name == "price"


def test_increasing_a_short_is_capped_on_the_short_side():
    limits = RiskLimits(max_position_size_pct=10)
    decision = decide(signal(action=Action.SELL, value=2000), STRATEGY, context(weight=0.5), 200.0,
                      limits, False, NOW)
    assert (decision.orders[0].side, decision.orders[0].quantity) == (Side.SELL, 500)
