"""Between our models and ib_async's: contracts, orders, statuses, fills, snapshots. Pure."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import datetime

from ib_async import Contract, Forex, Future, LimitOrder, MarketOrder, Stock, StopOrder, Ticker, Trade
from ib_async import Fill as IbFill
from ib_async import Order as IbOrder

from shared.domain.models import (
    AccountSnapshot,
    AssetClass,
    Fill,
    Instrument,
    Order,
    OrderType,
    OrderUpdate,
    Side,
)
from shared.domain.protection import protective_orders

_CONTINUOUS = re.compile(r"^(?P<root>[A-Z0-9]+?)\d*!$")  # TradingView's MES1! -> MES
_FUTURES_EXCHANGES = {"CME_MINI": "CME", "CBOT_MINI": "CBOT", "GLOBEX": "CME"}
_DONE_WITHOUT_FILL = {"Cancelled", "ApiCancelled", "Inactive"}
MASTER_LISTINGS = {"ARCA": "NYSEARCA"}  # IB's name of a listing exchange -> the instrument master's (TradingView's)
_IB_LISTINGS = {master: ib for ib, master in MASTER_LISTINGS.items()}


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
    exchange = instrument.exchange or ""
    return Stock(symbol, "SMART", instrument.currency, primaryExchange=_IB_LISTINGS.get(exchange, exchange))


def to_ib_order(order: Order, tif: str = "DAY") -> IbOrder:
    """Our order as IB's, carrying our client order id in orderRef (how we find it again)."""
    action = "BUY" if order.side is Side.BUY else "SELL"
    common = {"orderRef": order.client_order_id, "account": order.account_id, "tif": tif}
    if order.order_type is OrderType.LIMIT and order.limit_price:
        return LimitOrder(action, order.quantity, order.limit_price, **common)
    if order.order_type is OrderType.STOP and order.stop_price:
        return StopOrder(action, order.quantity, order.stop_price, **common)
    return MarketOrder(action, order.quantity, **common)


def has_bracket(order: Order) -> bool:
    return order.stop_loss is not None or order.take_profit is not None


def to_bracket(order: Order, parent_ib_id: int) -> list[tuple[Order, IbOrder]]:
    """The entry and its protective legs as one IB bracket, each with the Order it stands for.

    The legs name the parent (IB activates them once it fills), share one OCA group (when
    one fills IB cancels the other) and rest GTC; only the last order transmits, so IB
    never holds an entry without its protection.
    """
    parent = to_ib_order(order)
    parent.orderId, parent.transmit = parent_ib_id, False
    # take-profit (LMT) first, stop-loss (STP) last: IB's own bracket order
    legs = sorted(protective_orders(order, order.quantity), key=lambda leg: leg.order_type is OrderType.STOP)
    bracket = [(order, parent)]
    for leg in legs:
        ib_leg = to_ib_order(leg, tif="GTC")
        ib_leg.parentId, ib_leg.ocaGroup, ib_leg.ocaType, ib_leg.transmit = (
            parent_ib_id, f"oca-{order.client_order_id}", 1, False)
        bracket.append((leg, ib_leg))
    bracket[-1][1].transmit = True
    return bracket


def snapshot_price(ticker: Ticker) -> float | None:
    """The price a snapshot gives: the last trade, else the bid/ask midpoint, else the close.
    IB marks a missing price with -1 or leaves it unset (nan); neither is a price."""
    def usable(value: float) -> bool:
        return math.isfinite(value) and value > 0

    if usable(ticker.last):
        return float(ticker.last)
    if usable(ticker.bid) and usable(ticker.ask):
        return (ticker.bid + ticker.ask) / 2
    return float(ticker.close) if usable(ticker.close) else None


def fills_of(order: Order, ib_fills: Iterable[IbFill]) -> list[Fill]:
    fills = []
    for ib_fill in ib_fills:
        execution = ib_fill.execution
        fills.append(Fill(
            exec_id=execution.execId, client_order_id=order.client_order_id, signal_id=order.signal_id,
            strategy_id=order.strategy_id, account_id=order.account_id, broker="ibkr",
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
    exchange = contract.primaryExchange or contract.exchange
    return f"{MASTER_LISTINGS.get(exchange, exchange)}:{contract.localSymbol or contract.symbol}"
