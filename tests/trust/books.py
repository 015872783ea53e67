"""The books after a crash test: every invariant of "no order lost, none doubled", read from the store.

Shared by the embedded and the emulated crash tests, so both prove the same promise.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from shared.adapters.brokers.mock import ACCOUNTS as BROKER_ACCOUNTS
from shared.adapters.brokers.mock import ORDERS as BROKER_ORDERS
from shared.domain.models import Collections, Instrument, Order
from shared.ports.store import Store

FINAL_ORDER_STATUSES = frozenset({"filled", "rejected", "cancelled"})


def check_books(store: Store, accepted: set[str]) -> tuple[list[str], Counter, list[str]]:
    """(problems, figures, ids whose journeys explain the problems, worst first). ``accepted``
    holds the signal ids the webhook's answers named."""
    problems: list[str] = []
    trace: dict[str, None] = {}  # ordered
    figures: Counter = Counter()
    signals = {s["signal_id"]: s for s in store.query(Collections.SIGNALS)}

    missing = accepted - set(signals)
    undecided = {i: signals[i].get("status") for i in accepted & set(signals) if signals[i].get("status") != "decided"}
    unnamed = set(signals) - accepted
    still_open = store.query(Collections.OPEN_SIGNALS)
    if missing:
        problems.append(f"{len(missing)} accepted signals are not in the store: {sorted(missing)[:10]}")
    if undecided:
        problems.append(f"{len(undecided)} accepted signals are not decided: {dict(list(undecided.items())[:10])}")
    if unnamed:
        problems.append(f"{len(unnamed)} signals no answer named (a delivery doubled?): {sorted(unnamed)[:10]}")
    if still_open:
        problems.append(f"{len(still_open)} signals still open: {still_open[:10]}")

    decided = {o.client_order_id: o for s in signals.values() for d in s.get("decisions") or []
               for o in (Order.model_validate(x) for x in d["orders"])}
    ours = {o["client_order_id"]: o for o in store.query(Collections.ORDERS)}
    broker_orders = store.query(BROKER_ORDERS)
    at_broker = Counter(o["order"]["client_order_id"] for o in broker_orders)
    broker_status = {o["order"]["client_order_id"]: o["status"] for o in broker_orders}
    figures.update(orders=len(ours), decided_orders=len(decided), at_broker=len(at_broker),
                   claimed_more_than_once=sum(1 for o in ours.values() if (o.get("attempts") or 0) > 1))

    not_final = {cid: (o["status"], o.get("attempts"), o.get("claimed_at"), o["signal_id"])
                 for cid, o in ours.items() if o["status"] not in FINAL_ORDER_STATUSES}
    if not_final:
        problems.append(f"{len(not_final)} orders not final (status, attempts, claimed_at, signal): "
                        f"{dict(list(not_final.items())[:10])}")
    unbooked = set(decided) - set(ours)
    if unbooked:
        problems.append(f"{len(unbooked)} decided orders never booked in `orders` (lost): {sorted(unbooked)[:10]}")
    undecided_orders = set(ours) - set(decided)
    if undecided_orders:
        problems.append(f"{len(undecided_orders)} orders in `orders` no decision asked for: "
                        f"{sorted(undecided_orders)[:10]}")
    doubled = {cid: n for cid, n in at_broker.items() if n > 1}
    if doubled:
        problems.append(f"{len(doubled)} client order ids placed more than once at the broker: {doubled}")
    stray = set(at_broker) - set(decided)
    if stray:
        problems.append(f"{len(stray)} orders at the broker that no decision made: {sorted(stray)[:10]}")
    filled_not_at_broker = {cid for cid, o in ours.items() if o["status"] == "filled" and cid not in at_broker}
    if filled_not_at_broker:
        problems.append(f"{len(filled_not_at_broker)} orders we call filled are unknown to the broker: "
                        f"{sorted(filled_not_at_broker)[:10]}")
    broker_filled_not_ours = {cid for cid, status in broker_status.items()
                              if status == "filled" and ours.get(cid, {}).get("status") != "filled"}
    if broker_filled_not_ours:
        problems.append(f"{len(broker_filled_not_ours)} orders filled at the broker but not in our books: "
                        f"{ {cid: ours.get(cid, {}).get('status') for cid in sorted(broker_filled_not_ours)[:10]} }")
    for cid in [*doubled, *filled_not_at_broker, *broker_filled_not_ours, *unbooked, *not_final]:
        order = ours.get(cid) or (decided[cid].model_dump() if cid in decided else {})
        trace.update(dict.fromkeys([order.get("signal_id") or cid]))
    trace.update(dict.fromkeys([*sorted(missing), *sorted(undecided), *sorted(unnamed),
                                *(o["signal_id"] for o in still_open)]))

    fills = store.query(Collections.CONFIRMATIONS)
    figures.update(fills=len(fills), filled_orders=sum(o["status"] == "filled" for o in ours.values()))
    fills_per_order = Counter(f["client_order_id"] for f in fills)
    unmatched = {cid for cid, o in ours.items() if (o["status"] == "filled") != (fills_per_order[cid] == 1)}
    if unmatched:
        shown = {cid: (ours[cid]["status"], fills_per_order[cid]) for cid in sorted(unmatched)[:10]}
        problems.append(f"{len(unmatched)} orders whose fills disagree with their status (want one fill per "
                        f"filled order): {shown}")
        trace = {**dict.fromkeys(ours[cid]["signal_id"] for cid in sorted(unmatched)), **trace}
    problems += _positions_problems(store, fills)

    dead = store.query(Collections.DEAD_LETTERS)
    if dead:
        problems.append(f"{len(dead)} dead letters: {[_dead_letter_summary(d) for d in dead[:10]]}")
    return problems, figures, list(trace)


def _positions_problems(store: Store, fills: list[dict[str, Any]]) -> list[str]:
    """Positions equal the sum of their fills, and the Mock broker's books equal our positions."""
    problems = []
    summed: dict[tuple[str, str, str], float] = defaultdict(float)
    for fill in fills:
        key = Instrument.model_validate(fill["instrument"]).key
        summed[fill["account_id"], fill["strategy_id"], key] += fill["quantity"] * (1 if fill["side"] == "buy" else -1)
    positions = {(p["account_id"], p["strategy_id"], p["instrument_key"]): p["quantity"]
                 for p in store.query(Collections.POSITIONS)}
    off = {k: (positions.get(k, 0.0), summed.get(k, 0.0)) for k in set(positions) | set(summed)
           if abs(positions.get(k, 0.0) - summed.get(k, 0.0)) > 1e-9}
    if off:
        problems.append(f"positions differ from the sum of their fills (position, fills): {off}")
    ours_per_account: dict[tuple[str, str], float] = defaultdict(float)
    for (account_id, _, key), quantity in positions.items():
        ours_per_account[account_id, key] += quantity
    books = {(a["account_id"], key): lot["quantity"] for a in store.query(BROKER_ACCOUNTS)
             for key, lot in a["lots"].items()}
    apart = {k: (ours_per_account.get(k, 0.0), books.get(k, 0.0)) for k in set(ours_per_account) | set(books)
             if abs(ours_per_account.get(k, 0.0) - books.get(k, 0.0)) > 1e-9}
    if apart:
        problems.append(f"the broker's books differ from ours (ours, broker's): {apart}")
    return problems


def _dead_letter_summary(document: dict[str, Any]) -> dict[str, Any]:
    letter = document.get("dead_letter", document)
    payload = letter.get("payload") or {}
    inner = payload.get("order") or payload.get("signal") or payload.get("update") or {}
    return {"topic": letter.get("source_topic") or document.get("source_topic"),
            "error": str(letter.get("error") or document.get("error"))[:200],
            "ids": {k: inner.get(k) for k in ("signal_id", "client_order_id") if inner.get(k)}}
