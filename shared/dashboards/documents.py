"""Dashboard documents, one per client and one per strategy, computed from the store.

Each document holds exactly what its reader may see: a client's document only their own
accounts; a strategy's document its signals, decisions and fills without any account or
client identity (developers see how their strategy traded, never for whom). The
dashboard creator stores them; the dashboards and the registry API serve them.
"""

from __future__ import annotations

import math
from datetime import datetime
from itertools import pairwise
from typing import Any

from shared.adapters.brokers import mock as broker_mock
from shared.domain.models import KILL_SWITCH_DOC, Allocation, Collections, Instrument
from shared.ports.store import Store
from shared.services.account_poller import RECONCILIATION_BREAKS
from shared.services.cerebro_service import CURRENT_ALLOCATION_DOC
from shared.services.order_claims import ClaimState
from shared.services.prices import market_price_doc_id

RECENT = 100  # signals and fills shown
CURVE_POINTS = 3000  # quarter-hour equity points: the last month


def signal_journey(store: Store, signal_id: str) -> dict[str, Any] | None:
    """Everything recorded about one signal: raw, standardized, decisions, orders, fills."""
    record = store.get(Collections.SIGNALS, signal_id)
    if record is None:
        return None
    return {"signal": record, "raw": store.get(Collections.RAW_SIGNALS, signal_id),
            "orders": store.query(Collections.ORDERS, where={"signal_id": signal_id}),
            "fills": store.query(Collections.CONFIRMATIONS, where={"signal_id": signal_id})}


def client_document(store: Store, client_id: str, now: datetime) -> dict[str, Any]:
    """A client's accounts, with the numbers an investor asks first (P&L today and since
    inception, return, market value) computed here so every page shows the same figures."""
    allocation_doc = store.get(Collections.ALLOCATION, CURRENT_ALLOCATION_DOC)
    allocation = (Allocation.model_validate(allocation_doc) if allocation_doc else Allocation()).in_effect(now)
    names = {s["strategy_id"]: s.get("name") or s["strategy_id"] for s in store.query(Collections.STRATEGIES)}
    accounts = []
    for account in sorted(store.query(Collections.ACCOUNTS, where={"client_id": client_id}),
                          key=lambda a: a["account_id"]):
        account_id = account["account_id"]
        snapshot = account.get("snapshot") or {}
        equity = float(snapshot.get("equity", 0.0))
        currency = account.get("base_currency", "USD")
        broker = account.get("broker", "")
        recent = store.query(Collections.ACCOUNT_HISTORY, where={"account_id": account_id}, order_by="at",
                             descending=True, limit=CURVE_POINTS)
        curve = [{"at": p["at"], "equity": p["equity"]} for p in reversed(recent)]
        first = store.query(Collections.ACCOUNT_HISTORY, where={"account_id": account_id}, order_by="at", limit=1)
        day_start = account.get("day_start") or {}
        inception = first_equity(first[0] if first else None, day_start)
        today = str(snapshot.get("as_of", ""))[:10]
        lots = [p for p in sorted(store.query(Collections.POSITIONS, where={"account_id": account_id}),
                                  key=lambda p: (p["strategy_id"], p["instrument_key"])) if p["quantity"]]
        positions = [{"strategy": names.get(lot["strategy_id"], lot["strategy_id"]),
                      **valued_lot(store, lot, broker, currency)} for lot in lots]
        accounts.append({
            "account_id": account_id, "name": account.get("name", ""), "broker": broker,
            "currency": currency, "equity": equity,
            "cash": snapshot.get("cash"), "margin_used": snapshot.get("margin_used"),
            "margin_available": snapshot.get("margin_available"), "as_of": snapshot.get("as_of"),
            **investor_numbers(equity if snapshot else None,
                               day_start.get("equity") if day_start.get("date") == today else None,
                               inception[1] if inception else None),
            "inception_at": inception[0] if inception else None,
            "market_value": totals(positions, "market_value"), "unrealized_pnl": totals(positions, "unrealized_pnl"),
            "equity_curve": curve, "daily_pnl": daily_pnl(curve), "drawdown": drawdown(curve),
            "allocation": allocation_shares([{"strategy_id": s, "strategy": names.get(s, s), "weight": w}
                                             for s, w in sorted(allocation.weights.get(account_id, {}).items())],
                                            equity),
            "positions": positions,
            "recent_fills": [
                {"filled_at": f["filled_at"], "strategy": names.get(f["strategy_id"], f["strategy_id"]),
                 "symbol": f["instrument"]["symbol"], "side": f["side"], "quantity": f["quantity"],
                 "price": f["price"], "commission": f["commission"]}
                for f in store.query(Collections.CONFIRMATIONS, where={"account_id": account_id},
                                     order_by="filled_at", descending=True, limit=RECENT)],
        })
    return {"kind": "client", "client_id": client_id, "generated_at": now.isoformat(), "accounts": accounts}


def first_equity(first_point: dict[str, Any] | None, day_start: dict[str, Any]) -> tuple[str, float] | None:
    """When and at what equity the account's record begins. The history keeps each quarter
    hour's last point, so its first point can be later than the very first snapshot; on the
    history's first day that snapshot is the day's start, which the poller keeps."""
    if first_point is None:
        return None
    if day_start.get("date") == str(first_point["at"])[:10] and day_start.get("equity") is not None:
        return f"{day_start['date']}T00:00:00+00:00", float(day_start["equity"])
    return str(first_point["at"]), float(first_point["equity"])


def investor_numbers(equity: float | None, day_start: float | None, inception: float | None) -> dict[str, Any]:
    """P&L and return today (against the day's first snapshot, which the daily loss limit
    also uses) and since inception (against the first recorded equity: the store keeps no
    deposits, so flows after that point count as P&L). None where a base is unknown."""

    def change(base: float | None) -> tuple[float | None, float | None]:
        if equity is None or base is None:
            return None, None
        return equity - base, (equity - base) / base if base > 0 else None

    pnl_today, return_today = change(day_start)
    pnl_inception, return_inception = change(inception)
    return {"day_start_equity": day_start, "inception_equity": inception,
            "pnl_today": pnl_today, "return_today": return_today,
            "pnl_since_inception": pnl_inception, "return_since_inception": return_inception}


def position_value(quantity: float, avg_price: float, mark: float | None, multiplier: float = 1.0,
                   fx: float | None = 1.0) -> dict[str, float | None]:
    """Market value (the notional, for futures too) and unrealized P&L in the account's
    currency, at the broker's mark; None when there is no mark or no rate to convert it."""
    if mark is None or fx is None:
        return {"mark": mark, "market_value": None, "unrealized_pnl": None}
    return {"mark": mark, "market_value": quantity * mark * multiplier * fx,
            "unrealized_pnl": quantity * (mark - avg_price) * multiplier * fx}


def valued_lot(store: Store, lot: dict[str, Any], broker: str, base_currency: str) -> dict[str, Any]:
    """One strategy's lot in one account, valued at the broker's mark in the account's currency
    (``price_currency``: the instrument's, in which average price and mark are quoted)."""
    instrument = Instrument.model_validate(lot["instrument"])
    value = position_value(lot["quantity"], lot["avg_price"], broker_mark(store, broker, instrument.key),
                           instrument.multiplier, fx_to_base(store, broker, instrument.currency, base_currency))
    return {"symbol": instrument.symbol, "instrument_key": instrument.key, "quantity": lot["quantity"],
            "avg_price": lot["avg_price"], "price_currency": instrument.currency, **value,
            "realized_pnl": lot.get("realized_pnl", 0.0)}


def totals(rows: list[dict[str, Any]], field: str) -> float | None:
    """The sum of a column, or None when any row's value is unknown (a partial sum would mislead)."""
    values = [row[field] for row in rows]
    return None if any(v is None for v in values) else float(sum(values))


def allocation_shares(rows: list[dict[str, Any]], equity: float) -> list[dict[str, Any]]:
    """Each strategy's weight, its share of what is allocated (the donut's percentages) and
    the capital it stands for."""
    allocated = sum(row["weight"] for row in rows)
    return [{**row, "share": row["weight"] / allocated if allocated > 0 else 0.0, "capital": equity * row["weight"]}
            for row in rows]


def broker_mark(store: Store, broker: str, key: str) -> float | None:
    """The broker's latest mark: what a remote bridge published into ``market_prices``, or the
    paper market's listing for the Mock. None when the store holds none (never the alert's price)."""
    for collection, doc_id in ((Collections.MARKET_PRICES, market_price_doc_id(broker, key)),
                               (broker_mock.PRICES, key.replace("/", "_"))):
        if collection == broker_mock.PRICES and broker != "mock":
            continue
        document = store.get(collection, doc_id)
        price = float(document["price"]) if document and document.get("price") is not None else None
        if price is not None and math.isfinite(price) and price > 0:
            return price
    return None


def fx_to_base(store: Store, broker: str, currency: str, base: str) -> float | None:
    """One unit of ``currency`` in the account's ``base``, as the account's broker prices it."""
    if currency == base:
        return 1.0
    if broker == "mock":
        return broker_mock.fx(store.get, currency, base)  # the paper market's own rates
    direct = broker_mark(store, broker, f"FX:{currency}{base}")
    if direct is not None:
        return direct
    inverse = broker_mark(store, broker, f"FX:{base}{currency}")
    return 1 / inverse if inverse is not None else None


def daily_pnl(curve: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Change of each day's last equity over the previous day's last."""
    closing: dict[str, float] = {}
    for point in curve:
        closing[point["at"][:10]] = point["equity"]
    days = sorted(closing)
    return [{"date": day, "pnl": closing[day] - closing[previous]} for previous, day in pairwise(days)]


def drawdown(curve: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fall from the running peak, as a positive fraction."""
    peak = 0.0
    points = []
    for point in curve:
        peak = max(peak, point["equity"])
        points.append({"at": point["at"], "drawdown": 1 - point["equity"] / peak if peak > 0 else 0.0})
    return points


def admin_health(store: Store, now: datetime) -> dict[str, Any]:
    """The operators' status view, from the store so it reads the same on every stack: each
    stage's last activity, the work still in flight, dead letters, breaks, the kill switch."""

    def latest(collection: str, field: str) -> str | None:
        found = store.query(collection, order_by=field, descending=True, limit=1)
        return found[0].get(field) if found else None

    snapshots = [a["snapshot"]["as_of"] for a in store.query(Collections.ACCOUNTS) if a.get("snapshot")]
    stages = [("webhook", latest(Collections.RAW_SIGNALS, "received_at")),
              ("cerebro", latest(Collections.SIGNALS, "decided_at")),
              ("execution", latest(Collections.ORDERS, "updated_at")),
              ("confirmations", latest(Collections.CONFIRMATIONS, "recorded_at")),
              ("account poller", min(snapshots) if snapshots else None)]
    dead = store.query(Collections.DEAD_LETTERS)
    by_topic: dict[str, int] = {}
    for letter in dead:
        by_topic[letter["source_topic"]] = by_topic.get(letter["source_topic"], 0) + 1
    return {
        "generated_at": now.isoformat(),
        "components": [{"component": name, "last_activity": at,
                        "idle_seconds": (now - datetime.fromisoformat(at)).total_seconds() if at else None}
                       for name, at in stages],
        "in_flight": {"unsettled_signals": len(store.query(Collections.OPEN_SIGNALS)),
                      "orders_submitting": len(store.query(Collections.ORDERS,
                                                           where={"status": ClaimState.SUBMITTING}))},
        "dead_letters": by_topic,
        "open_breaks": store.query(RECONCILIATION_BREAKS, where={"open": True}),
        "kill_switch": store.get(Collections.SETTINGS, KILL_SWITCH_DOC) or {"enabled": False},
    }
