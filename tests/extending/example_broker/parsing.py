"""Translations between the paper venue's wire format (its order tickets, execution reports and
account records: plain dicts, as a venue's JSON would be) and the domain's values."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.domain.models import AccountSnapshot, Fill, Order, OrderUpdate, Quote

STATUSES = {"FILLED": "filled", "REJECTED": "rejected", "OPEN": "working", "CANCELLED": "cancelled"}


def ticket(order: Order) -> dict[str, Any]:
    """The venue's order ticket; ``ref`` carries our client order id, so the venue knows the order by it."""
    return {"account": order.account_id, "ref": order.client_order_id, "symbol": order.instrument.key,
            "side": order.side.value.upper(), "qty": order.quantity}


def order_update(order: Order, report: dict[str, Any]) -> OrderUpdate:
    """The venue's execution report as the domain's OrderUpdate (with its Fill when it filled)."""
    status = STATUSES[report["status"]]
    fills = [] if status != "filled" else [Fill(
        exec_id=f"{report['venue_order_id']}:1", client_order_id=order.client_order_id, signal_id=order.signal_id,
        strategy_id=order.strategy_id, account_id=order.account_id, broker="paper_venue",
        instrument=order.instrument, side=order.side, quantity=report["qty"], price=report["px"],
        commission=report["fee"], filled_at=datetime.fromisoformat(report["ts"]))]
    return OrderUpdate(client_order_id=order.client_order_id, broker_order_id=report["venue_order_id"],
                       status=status, reason=report.get("text", ""),  # type: ignore[arg-type]
                       filled_quantity=report["qty"] if fills else 0.0, fills=fills)


def account_snapshot(account: dict[str, Any], last: dict[str, float], now: datetime) -> AccountSnapshot:
    """The venue's account record valued at its last prices (a cash account: no leverage)."""
    positions = {symbol: qty for symbol, qty in account["positions"].items() if qty}
    values = {symbol: qty * last[symbol] for symbol, qty in positions.items()}  # it filled at a last price
    gross = sum(abs(value) for value in values.values())
    equity = account["cash"] + sum(values.values())
    return AccountSnapshot(equity=equity, cash=account["cash"], margin_used=gross, margin_available=equity - gross,
                           gross_exposure=gross, positions=positions, as_of=now)


def quote(price: float, now: datetime) -> Quote:
    return Quote(price=price, as_of=now, source="paper venue last")
