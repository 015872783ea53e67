"""Between our models and ib_async's: contracts, orders, statuses, fills, snapshots. Pure."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime

from ib_async import Contract, Forex, Future, LimitOrder, MarketOrder, Stock, StopOrder, Trade
from ib_async import Fill as IbFill
from ib_async import Order as IbOrder

from shared.domain.models import (
    AccountSnapshot,
    AssetClass,
    Broker,
    Fill,
    Instrument,
    Order,
    OrderType,
    OrderUpdate,
    Side,
)

_CONTINUOUS = re.compile(r"^(?P<root>[A-Z0-9]+?)\d*!$")  # TradingView's MES1! -> MES
_FUTURES_EXCHANGES = {"CME_MINI": "CME", "CBOT_MINI": "CBOT", "GLOBEX": "CME"}
_DONE_WITHOUT_FILL = {"Cancelled", "ApiCancelled", "Inactive"}


def to_contract(instrument: Instrument) -> Contract:
    """The contract IB should qualify. Equities route SMART with the listing exchange as
    primary; a TradingView continuous future (MES1!) becomes the front month IB returns."""
    symbol = instrument.symbol.split(":")[-1]
    if instrument.asset_class is AssetClass.FOREX:
        pair = symbol.replace("/", "").replace(".", "")
        return Forex(pair[:3] + pair[3:6])
    if instrument.asset_class is AssetClass.FUTURE:
        match = _CONTINUOUS.match(symbol)
        exchange = instrument.exchange or ""
        return Future(match["root"] if match else symbol, exchange=_FUTURES_EXCHANGES.get(exchange, exchange),
                      currency=instrument.currency)
    return Stock(symbol, "SMART", instrument.currency, primaryExchange=instrument.exchange or "")


def to_ib_order(order: Order) -> IbOrder:
    """Our order as IB's, carrying our client order id in orderRef (how we find it again)."""
    action = "BUY" if order.side is Side.BUY else "SELL"
    common = {"orderRef": order.client_order_id, "account": order.account_id, "tif": "DAY"}
    if order.order_type is OrderType.LIMIT and order.limit_price:
        return LimitOrder(action, order.quantity, order.limit_price, **common)
    if order.order_type is OrderType.STOP and order.stop_price:
        return StopOrder(action, order.quantity, order.stop_price, **common)
    return MarketOrder(action, order.quantity, **common)


def fills_of(order: Order, ib_fills: Iterable[IbFill]) -> list[Fill]:
    fills = []
    for ib_fill in ib_fills:
        execution = ib_fill.execution
        fills.append(Fill(
            exec_id=execution.execId, client_order_id=order.client_order_id, signal_id=order.signal_id,
            strategy_id=order.strategy_id, account_id=order.account_id, broker=Broker.IBKR,
            instrument=order.instrument, side=order.side, quantity=float(execution.shares),
            price=float(execution.price), commission=float(ib_fill.commissionReport.commission or 0.0),
            filled_at=execution.time,
        ))
    return fills


def order_update(order: Order, trade: Trade | None, ib_fills: list[IbFill]) -> OrderUpdate:
    """What IB says of our order: from its trade when this connection knows it, else from
    the executions IB reported after a reconnect."""
    fills = fills_of(order, ib_fills)
    filled = sum(f.quantity for f in fills)
    broker_order_id = str(trade.order.permId or trade.order.orderId) if trade else None
    if trade is None:
        status = "filled" if filled >= order.quantity else "partially_filled"
        return OrderUpdate(client_order_id=order.client_order_id, broker_order_id=broker_order_id, status=status,
                           filled_quantity=filled, fills=fills)
    ib_status = trade.orderStatus.status
    reason = next((entry.message for entry in reversed(trade.log) if entry.errorCode), "")
    if ib_status == "Filled" or filled >= order.quantity:
        status = "filled"
    elif ib_status in _DONE_WITHOUT_FILL:
        status = "cancelled" if filled or "cancel" in reason.lower() or not reason else "rejected"
    elif filled:
        status = "partially_filled"
    elif ib_status in ("Submitted", "PreSubmitted"):
        status = "working"
    else:
        status = "submitted"  # PendingSubmit: IB has not acknowledged it yet
    return OrderUpdate(client_order_id=order.client_order_id, broker_order_id=broker_order_id, status=status,
                       reason=reason, filled_quantity=filled, fills=fills)


def account_snapshot(values: Mapping[str, float], positions: Mapping[str, float], now: datetime) -> AccountSnapshot:
    """From IB's account values (NetLiquidation, TotalCashValue, ...) in the base currency."""
    return AccountSnapshot(
        equity=values.get("NetLiquidation", 0.0), cash=values.get("TotalCashValue", 0.0),
        margin_used=values.get("MaintMarginReq", 0.0), margin_available=values.get("AvailableFunds", 0.0),
        gross_exposure=values.get("GrossPositionValue", 0.0), positions=dict(positions), as_of=now)


def position_key(contract: Contract, known: Mapping[str, str]) -> str:
    """Our instrument key for an IB position: the one we traded it as when we know the conId,
    else exchange:symbol (a position we never traded, which reconciliation will show)."""
    if str(contract.conId) in known:
        return known[str(contract.conId)]
    return f"{contract.primaryExchange or contract.exchange}:{contract.localSymbol or contract.symbol}"
