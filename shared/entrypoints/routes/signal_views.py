"""What a strategy's developer may see of a signal's journey: totals over every account, built
from an allow-list so no account, client or per-account figure can leak."""

from __future__ import annotations

from collections import Counter
from typing import Any

from shared.dashboards.fund_views import reason_counts

# What a developer sees of their own standardized signal: what they asked for. Not `accounts`
# (an admin's flatten of chosen accounts names them there).
DEVELOPER_SIGNAL_FIELDS = ("signal_id", "strategy_id", "action", "instrument", "order_type", "sizing", "price",
                           "limit_price", "stop_price", "stop_loss", "take_profit", "signal_time", "received_at",
                           "source", "environment")


def developer_signal_view(journey: dict[str, Any]) -> dict[str, Any]:
    """A signal's journey as its developer may see it: built up from aggregates (an allow-list,
    not a deny-list), so no account id, client, per-account figure or decision text (which
    quotes equity, margin and an admin's trading-state reason) can reach them."""
    record = journey["signal"]
    signal = record["signal"]
    decisions = record.get("decisions") or []
    by_status = Counter(d["status"] for d in decisions)
    orders = journey["orders"]
    return {
        "view": "developer: totals over every account the signal reached",
        "signal_id": record["signal_id"], "strategy_id": record["strategy_id"], "status": record["status"],
        "received_at": record.get("received_at"), "decided_at": record.get("decided_at"),
        "source": (journey.get("raw") or {}).get("source"),
        "signal": {k: signal.get(k) for k in DEVELOPER_SIGNAL_FIELDS},
        "decisions": {"total": len(decisions), **{s: by_status.get(s, 0) for s in ("approved", "rejected", "skipped")}},
        "reasons": [{"reason": r, "decisions": n} for r, n in reason_counts(decisions)],
        "orders": {"total": len(orders), "by_status": dict(sorted(Counter(o["status"] for o in orders).items()))},
        "executions": _executions(signal, orders, journey["fills"]),
    }


def _executions(signal: dict[str, Any], orders: list[dict[str, Any]],
                fills: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Orders and fills summed per instrument, side and purpose (the signal's own trade, or the
    protective stop/target placed after it): quantity ordered and filled, the average fill
    price, and the slippage of a trade against the signal's price in bps (positive = worse)."""
    purpose_of: dict[str, tuple[str, str, str]] = {}
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}

    def group(key: tuple[str, str, str]) -> dict[str, Any]:
        return groups.setdefault(key, {"symbol": key[0], "side": key[1], "purpose": key[2], "orders": 0,
                                       "quantity_ordered": 0.0, "quantity_filled": 0.0, "_notional": 0.0,
                                       "first_fill_at": None, "last_fill_at": None})

    for document in orders:
        order = document["order"]
        key = (order["instrument"]["symbol"], order["side"], "protective" if order.get("parent_order_id") else "trade")
        purpose_of[order["client_order_id"]] = key
        totals = group(key)
        totals["orders"] += 1
        totals["quantity_ordered"] += float(order["quantity"])
    for fill in fills:
        key = purpose_of.get(fill["client_order_id"], (fill["instrument"]["symbol"], fill["side"], "trade"))
        totals = group(key)
        totals["quantity_filled"] += float(fill["quantity"])
        totals["_notional"] += float(fill["quantity"]) * float(fill["price"])
        at = str(fill["filled_at"])
        totals["first_fill_at"] = min(filter(None, (totals["first_fill_at"], at)))
        totals["last_fill_at"] = max(filter(None, (totals["last_fill_at"], at)))
    reference = signal.get("price")
    answer = []
    for key in sorted(groups):
        totals = groups[key]
        notional = totals.pop("_notional")
        average = notional / totals["quantity_filled"] if totals["quantity_filled"] else None
        sign = 1 if totals["side"] == "buy" else -1
        measurable = (average is not None and reference and totals["purpose"] == "trade"
                      and totals["symbol"] == signal["instrument"]["symbol"])
        answer.append({**totals, "average_fill_price": average,
                       "slippage_bps": sign * (average - reference) / reference * 1e4 if measurable else None})
    return answer
