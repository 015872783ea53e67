"""What the admin's and developers' lists read: signals with filters, the working-order
blotter, and positions with P&L per account and per strategy.

Computed from the store on request and served by the read API (``shared/entrypoints/routes/``),
which decides who may call each; the dashboards show the answers and never read the store.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from shared.dashboards.documents import valued_lot
from shared.domain.models import SIGNAL_STATUSES, Collections, DecisionStatus
from shared.ports.store import Store

SIGNALS_SCANNED = 2000  # newest signals read before filtering: a dashboard looks back days, not years
IN_FLIGHT = "open"  # the status filter for signals with work still in flight, however old


@dataclass(frozen=True)
class SignalFilter:
    strategy_ids: Collection[str] | None = None  # None: every strategy the caller may see
    status: str | None = None  # a stored status, or IN_FLIGHT
    symbol: str = ""  # part of the symbol, any case
    since: str | None = None  # ISO times, compared with received_at
    until: str | None = None
    limit: int = 100
    for_developer: bool = False  # rows say why in the checks' names only (see signal_row)


def reason_counts(decisions: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """Why accounts did not (fully) take a signal, as the checks' names with how many decisions
    each covers, most first: what a developer may read, since a decision's own text can quote an
    account's equity or an admin's reason naming a client."""
    reasons: Counter[str] = Counter()
    for decision in decisions:
        flagged = {f"{c['name']} check {'failed' if c['outcome'] == 'fail' else c['outcome']}"
                   for c in decision.get("checks") or [] if c.get("outcome") in ("fail", "capped")}
        if not flagged and decision["status"] != DecisionStatus.APPROVED:
            flagged = {"nothing to trade" if decision["status"] == DecisionStatus.SKIPPED else "could not be sized"}
        reasons.update(flagged)
    return sorted(reasons.items(), key=lambda item: (-item[1], item[0]))


def signal_row(record: dict[str, Any], for_developer: bool) -> dict[str, Any]:
    """One signal as a list shows it: what was asked, what became of it and why, counted over
    accounts without naming any. An admin reads the decisions' own reasons; a developer only
    the checks' names (``reason_counts``)."""
    signal = record.get("signal") or {}
    decisions = record.get("decisions") or []
    reasons = ([f"{reason} ({count})" for reason, count in reason_counts(decisions)] if for_developer else
               sorted({d["reason"] for d in decisions if d["status"] != DecisionStatus.APPROVED and d.get("reason")}))
    return {"signal_id": record["signal_id"], "received_at": record.get("received_at"),
            "strategy_id": record["strategy_id"], "action": signal.get("action"),
            "symbol": (signal.get("instrument") or {}).get("symbol"), "price": signal.get("price"),
            "status": record.get("status"),
            "accounts_approved": sum(d["status"] == DecisionStatus.APPROVED for d in decisions),
            "accounts_rejected": sum(d["status"] == DecisionStatus.REJECTED for d in decisions), "reasons": reasons}


def signal_list(store: Store, wanted: SignalFilter) -> dict[str, Any]:
    """The newest signals matching ``wanted``, as rows. Filters the store cannot apply (symbol,
    time, status, several strategies) are applied to the newest SIGNALS_SCANNED it returns,
    and the answer says how many of those matched; without them only the rows shown are read,
    and ``matched`` is None. In-flight signals are read by id, so an old stuck one is never
    hidden behind new ones."""
    one_strategy = wanted.strategy_ids is not None and len(wanted.strategy_ids) == 1
    symbol = wanted.symbol.strip().upper()
    counted = bool(symbol or wanted.since or wanted.until or wanted.status not in (None, IN_FLIGHT)
                   or (wanted.strategy_ids is not None and not one_strategy))
    if wanted.status == IN_FLIGHT:
        records = [r for r in (store.get(Collections.SIGNALS, o["signal_id"])
                               for o in store.query(Collections.OPEN_SIGNALS)) if r]
        records.sort(key=lambda r: r.get("received_at", ""), reverse=True)
        counted = True
    else:
        where = {"strategy_id": next(iter(wanted.strategy_ids))} if one_strategy and wanted.strategy_ids else None
        records = store.query(Collections.SIGNALS, where=where, order_by="received_at", descending=True,
                              limit=SIGNALS_SCANNED if counted else wanted.limit + 1)
    found = [r for r in records
             if (wanted.strategy_ids is None or r["strategy_id"] in wanted.strategy_ids)
             and (wanted.status in (None, IN_FLIGHT) or r.get("status") == wanted.status)
             and (not symbol or symbol in str(((r.get("signal") or {}).get("instrument") or {}).get("symbol", "")
                                              ).upper())
             and (wanted.since is None or r.get("received_at", "") >= wanted.since)
             and (wanted.until is None or r.get("received_at", "") <= wanted.until)]
    return {"signals": [signal_row(r, wanted.for_developer) for r in found[:wanted.limit]],
            "matched": len(found) if counted else None, "more": len(found) > wanted.limit,
            "scanned": len(records), "statuses": [IN_FLIGHT, *SIGNAL_STATUSES]}


def working_orders(store: Store) -> list[dict[str, Any]]:
    """Every order not yet final, oldest first: what the fund has resting or on its way to a broker."""
    rows = []
    for document in store.query(Collections.ORDERS, where={"open": True}):
        order = document.get("order") or {}
        rows.append({"client_order_id": document["client_order_id"], "signal_id": document["signal_id"],
                     "strategy_id": document["strategy_id"], "account_id": document["account_id"],
                     "broker": document.get("broker"), "symbol": (order.get("instrument") or {}).get("symbol"),
                     "side": order.get("side"), "quantity": order.get("quantity"),
                     "filled_quantity": document.get("filled_quantity") or 0.0,
                     "order_type": order.get("order_type"), "limit_price": order.get("limit_price"),
                     "stop_price": order.get("stop_price"), "protects": order.get("parent_order_id"),
                     "status": document.get("status"), "placed_at": document.get("decided_at"),
                     "updated_at": document.get("updated_at") or document.get("decided_at")})
    return sorted(rows, key=lambda r: (r["placed_at"] or "", r["client_order_id"]))


def positions_book(store: Store) -> dict[str, Any]:
    """Open positions per account and strategy, and P&L summed per account and per strategy:
    realized from the books, unrealized at the broker's marks. Amounts are in each account's
    currency, so a strategy traded in accounts of two currencies gets one total per currency."""
    accounts = {a["account_id"]: a for a in store.query(Collections.ACCOUNTS)}
    rows = []
    for lot in store.query(Collections.POSITIONS):
        account = accounts.get(lot["account_id"], {})
        currency = account.get("base_currency", "USD")
        rows.append({"account_id": lot["account_id"], "client_id": account.get("client_id"),
                     "strategy_id": lot["strategy_id"], "currency": currency,
                     **valued_lot(store, lot, account.get("broker", ""), currency)})
    rows.sort(key=lambda r: (r["account_id"], r["strategy_id"], r["symbol"]))
    return {"positions": [r for r in rows if r["quantity"]],
            "by_currency": _summed(rows, ("currency",)),
            "by_account": _summed(rows, ("account_id", "currency")),
            "by_strategy": _summed(rows, ("strategy_id", "currency"))}


def _summed(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """Totals per group; an unknown value (no mark) makes its total unknown, never a partial sum."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row[key] for key in keys), []).append(row)
    summed = []
    for group, members in sorted(groups.items()):
        held = [m for m in members if m["quantity"]]
        total = {field: None if any(m[field] is None for m in held) else float(sum(m[field] for m in held))
                 for field in ("market_value", "unrealized_pnl")}
        realized = float(sum(m["realized_pnl"] for m in members))
        unrealized = total["unrealized_pnl"]
        summed.append({**dict(zip(keys, group, strict=True)), "open_positions": len(held), **total,
                       "realized_pnl": realized, "total_pnl": None if unrealized is None else realized + unrealized})
    return summed
