"""Kite's order, trade, margin and position JSON into our OrderUpdate, Fill and AccountSnapshot."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from shared.domain.models import AccountSnapshot, Fill, Order, OrderUpdate, Quote

from .instruments import KiteInstrument

KITE_TIMEZONE = ZoneInfo("Asia/Kolkata")  # Kite's timestamps are naive IST
_WORKING = {"OPEN", "TRIGGER PENDING", "OPEN PENDING", "VALIDATION PENDING", "PUT ORDER REQ RECEIVED",
            "MODIFY PENDING", "MODIFY VALIDATION PENDING", "AMO REQ RECEIVED"}


def order_update(order: Order, kite_order: dict[str, Any], trades: list[dict[str, Any]],
                 contract: KiteInstrument, now: datetime) -> OrderUpdate:
    status = kite_order["status"]
    per_unit = contract.lot_size if contract.is_derivative else 1
    filled = float(kite_order.get("filled_quantity") or 0) / per_unit
    fills = [_fill(order, trade, per_unit, now) for trade in trades]
    if status == "COMPLETE":
        mapped = "filled"
    elif status == "REJECTED":
        mapped = "rejected"
    elif status == "CANCELLED":
        mapped = "cancelled"
    elif status in _WORKING:
        mapped = "partially_filled" if filled > 0 else "working"
    else:
        mapped = "submitted"
    return OrderUpdate(client_order_id=order.client_order_id, broker_order_id=str(kite_order["order_id"]),
                       status=mapped, reason=(kite_order.get("status_message") or "") if mapped != "filled" else "",
                       filled_quantity=filled, fills=fills)


def kite_time(stamp: Any) -> datetime | None:
    """A Kite timestamp (naive IST, parsed or not by kiteconnect) as an aware datetime; None if absent."""
    if isinstance(stamp, str) and stamp:
        try:
            stamp = datetime.fromisoformat(stamp)
        except ValueError:
            return None
    if not isinstance(stamp, datetime):
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=KITE_TIMEZONE)


def parse_quote(kite_quote: dict[str, Any]) -> Quote | None:
    """Kite's full quote as our Quote, aged by the last trade (else the quote's own time), in UTC.

    A quote without any time is None: cerebro ages every price, and a missing age must not read as fresh.
    """
    as_of = kite_time(kite_quote.get("last_trade_time")) or kite_time(kite_quote.get("timestamp"))
    if as_of is None or kite_quote.get("last_price") is None:
        return None
    return Quote(price=float(kite_quote["last_price"]), as_of=as_of.astimezone(UTC), source="kite quote")


def _fill(order: Order, trade: dict[str, Any], per_unit: int, now: datetime) -> Fill:
    stamp = trade.get("fill_timestamp") or trade.get("exchange_timestamp")
    filled_at = kite_time(stamp) or now
    return Fill(exec_id=f"zerodha:{trade['trade_id']}", client_order_id=order.client_order_id,
                signal_id=order.signal_id, strategy_id=order.strategy_id, account_id=order.account_id,
                broker="zerodha", instrument=order.instrument, side=order.side,
                quantity=float(trade["quantity"]) / per_unit, price=float(trade["average_price"]),
                commission=0.0,  # Kite reports charges only in contract notes; see the adapter README
                filled_at=filled_at)


def account_snapshot(margins: dict[str, Any], positions: dict[str, Any], holdings: list[dict[str, Any]],
                     now: datetime) -> AccountSnapshot:
    """Equity segment cash plus the market value of holdings; positions keyed EXCHANGE:SYMBOL in units."""
    equity_segment = margins.get("equity", margins)
    available = equity_segment.get("available", {})
    utilised = equity_segment.get("utilised", {})
    cash = float(available.get("live_balance", available.get("cash", 0.0)))
    holdings_value = sum(float(h["quantity"]) * float(h.get("last_price", 0.0)) for h in holdings)
    quantities: dict[str, float] = {}
    gross = 0.0
    for position in positions.get("net", []):
        key = f"{position['exchange']}:{position['tradingsymbol']}"
        quantities[key] = quantities.get(key, 0.0) + float(position["quantity"])
        gross += abs(float(position["quantity"]) * float(position.get("last_price", 0.0)))
    for holding in holdings:
        key = f"{holding['exchange']}:{holding['tradingsymbol']}"
        quantities[key] = quantities.get(key, 0.0) + float(holding["quantity"])
    net = float(equity_segment.get("net", cash))
    used = float(utilised.get("debits", 0.0))
    return AccountSnapshot(equity=net + holdings_value, cash=cash, margin_used=used, margin_available=net,
                           gross_exposure=gross + holdings_value,
                           positions={k: v for k, v in quantities.items() if v}, as_of=now)
