"""A strategy's dashboard document: what its developer may see of how it traded.

Two performances, kept apart because they mean different things: ``live`` is computed
from the strategy's own fills (every account together) at the brokers' latest marks;
``metrics``/``equity_curve`` come from the daily returns the developer uploaded (the
backtest). Nothing in the document names an account or a client: the live numbers are
sums over accounts, and a decision's reason is written from its check names, never from
its text (which quotes equity, margin and an admin's reason).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

from shared.dashboards.documents import RECENT, broker_mark, fx_to_base
from shared.dashboards.fund_views import signal_row
from shared.domain.models import Allocation, Collections, Instrument, PositionLot
from shared.domain.positions import apply_fill, unrealized_pnl
from shared.domain.returns_csv import ReturnSeries
from shared.ports.store import Store
from shared.services.cerebro_service import CURRENT_ALLOCATION_DOC
from shared.services.risk_context import FUND_CURRENCY

LIVE_METRICS_MIN_DAYS = 20  # volatility, Sharpe, Sortino, drawdown: about a month of trading days
LIVE_CAGR_MIN_DAYS = 126  # an annualised growth rate from less than half a year is noise, not a figure

Mark = Callable[[str, str], float | None]  # (broker, instrument key) -> the broker's latest mark
Rate = Callable[[str, str], float | None]  # (broker, currency) -> one unit of it in the reporting currency


def strategy_document(store: Store, strategy_id: str, now: datetime) -> dict[str, Any] | None:
    """The developer's view of one strategy: signals with their decisions' reasons, executions
    with slippage against the signal's price, the live performance and the uploaded backtest."""
    strategy = store.get(Collections.STRATEGIES, strategy_id)
    if strategy is None:
        return None
    signals = store.query(Collections.SIGNALS, where={"strategy_id": strategy_id}, order_by="received_at",
                          descending=True, limit=RECENT)
    rows = [signal_row(record, for_developer=True) for record in signals]
    signal_prices = {row["signal_id"]: row["price"] for row in rows}
    fills = store.query(Collections.CONFIRMATIONS, where={"strategy_id": strategy_id})  # every one: live P&L
    done = executions(fills, signal_prices)[:RECENT]
    measured = [e["slippage_bps"] for e in done if e["slippage_bps"] is not None]
    returns = store.get(Collections.STRATEGY_RETURNS, strategy_id)
    return {
        "kind": "strategy", "strategy_id": strategy_id, "name": strategy.get("name") or strategy_id,
        "owner": strategy.get("owner"), "status": strategy.get("status"), "generated_at": now.isoformat(),
        "signals": rows, "executions": done,
        "slippage": {"executions": len(measured), "mean_bps": sum(measured) / len(measured) if measured else None},
        "live": live_section(store, strategy_id, fills, now),
        **performance(ReturnSeries.from_document(returns) if returns else None),
    }


def executions(fills: list[dict[str, Any]], signal_prices: Mapping[str, float | None]) -> list[dict[str, Any]]:
    """Fills summed per signal, instrument and side, every account together, newest first: the
    quantity, the average price and its slippage against the signal's price in bps (positive =
    worse). One account's fill is never shown: its size would tell that account's capital."""
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for fill in fills:
        key = (fill["signal_id"], fill["instrument"]["symbol"], fill["side"])
        group = groups.setdefault(key, {"signal_id": key[0], "symbol": key[1], "side": key[2], "quantity": 0.0,
                                        "notional": 0.0, "filled_at": fill["filled_at"]})
        group["quantity"] += float(fill["quantity"])
        group["notional"] += float(fill["quantity"]) * float(fill["price"])
        group["filled_at"] = max(group["filled_at"], fill["filled_at"])
    rows = []
    for group in groups.values():
        average = group.pop("notional") / group["quantity"]
        reference = signal_prices.get(group["signal_id"])
        sign = 1 if group["side"] == "buy" else -1
        rows.append({**group, "average_price": average, "signal_price": reference,
                     "slippage_bps": sign * (average - reference) / reference * 1e4 if reference else None})
    return sorted(rows, key=lambda row: row["filled_at"], reverse=True)


def live_section(store: Store, strategy_id: str, fills: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """The live performance from every fill of the strategy, the brokers' marks and rates, and
    the capital allocated to it now as the base of its return."""
    accounts = {a["account_id"]: a for a in store.query(Collections.ACCOUNTS)}
    capital, capital_note = allocated_capital(store, strategy_id, accounts.values(), now)

    @cache  # one read per broker and currency, not one per fill
    def rate(broker: str, currency: str) -> float | None:
        return fx_to_base(store, broker, currency, FUND_CURRENCY)

    return live_performance(
        fills, mark=lambda broker, key: broker_mark(store, broker, key), rate=rate,
        account_currency={a: account.get("base_currency", "USD") for a, account in accounts.items()},
        capital=capital, capital_note=capital_note, today=now.date())


def allocated_capital(store: Store, strategy_id: str, accounts: Iterable[dict[str, Any]],
                      now: datetime) -> tuple[float | None, str]:
    """The capital the strategy trades now, in the reporting currency: the sum over accounts of
    equity times the strategy's weight. Cerebro sizes every order by equity * weight / reference
    capital, so this (not the reference capital) is what the summed fills' P&L is a return on."""
    stored = store.get(Collections.ALLOCATION, CURRENT_ALLOCATION_DOC)
    allocation = (Allocation.model_validate(stored) if stored else Allocation()).in_effect(now)
    total = 0.0
    for account in accounts:
        weight = allocation.weight(account["account_id"], strategy_id)
        equity = (account.get("snapshot") or {}).get("equity")
        if weight <= 0 or equity is None:
            continue
        rate = fx_to_base(store, account.get("broker", ""), account.get("base_currency", "USD"), FUND_CURRENCY)
        if rate is None:
            return None, (f"A {account.get('base_currency')}/{FUND_CURRENCY} rate is missing, so the capital "
                          "allocated to the strategy cannot be added up.")
        total += float(equity) * weight * rate
    if total <= 0:
        return None, "No capital is allocated to the strategy now, so there is no base for a live return."
    return total, ""


def live_performance(fills: list[dict[str, Any]], mark: Mark, rate: Rate, account_currency: Mapping[str, str],
                     capital: float | None, today: date, capital_note: str = "") -> dict[str, Any]:
    """The strategy's live P&L from its fills, summed over every account without saying which.

    Each account and instrument is its own book, replayed in fill order through the position
    arithmetic the books and the Mock broker use (average price), so realized P&L here agrees
    with the positions collection. Unrealized P&L is the open books at the brokers' latest
    marks; commissions (charged in the account's currency) are subtracted from the net.

    Money is reported in one currency, USD (the fund's): a developer asks how their one
    strategy did, and per-currency totals would split one curve into several. Amounts are
    converted at the latest rate, as the store keeps no history of rates; a missing rate or
    mark makes the totals it touches unknown (None, with a note) rather than a partial sum.

    The curve has one point per trading day from the first fill to ``today``: cumulative net
    P&L by fill date, today's point with the unrealized P&L on top. With a capital base each
    day's change over it is the day's return; ratios need LIVE_METRICS_MIN_DAYS such days
    (CAGR and Calmar LIVE_CAGR_MIN_DAYS) and say so until then.
    """
    books: dict[tuple[str, str], tuple[str, Instrument, PositionLot]] = {}
    by_day: dict[str, float] = {}
    by_symbol: dict[str, dict[str, Any]] = {}
    notes: set[str] = set()
    unpriced: set[str] = set()  # currencies without a rate into the reporting currency
    realized = commissions = 0.0
    ordered = sorted(fills, key=lambda f: (str(f["filled_at"]), str(f.get("exec_id", ""))))
    for fill in ordered:
        instrument = Instrument.model_validate(fill["instrument"])
        book = (fill["account_id"], instrument.key)
        broker, _, lot = books.get(book, (fill["broker"], instrument, PositionLot()))
        signed = float(fill["quantity"]) if fill["side"] == "buy" else -float(fill["quantity"])
        after = apply_fill(lot, signed, float(fill["price"]), instrument.multiplier)
        books[book] = (broker, instrument, after)
        to_usd = converted(rate, broker, instrument.currency, unpriced)
        fee_to_usd = converted(rate, broker, account_currency.get(fill["account_id"], FUND_CURRENCY), unpriced)
        gain = (after.realized_pnl - lot.realized_pnl) * (to_usd or 0.0)
        fee = float(fill.get("commission") or 0.0) * (fee_to_usd or 0.0)
        day = str(fill["filled_at"])[:10]
        by_day[day] = by_day.get(day, 0.0) + gain - fee
        realized, commissions = realized + gain, commissions + fee
        row = by_symbol.setdefault(instrument.key, {"symbol": instrument.symbol, "currency": instrument.currency,
                                                    "fill_count": 0, "realized_pnl": 0.0, "commissions": 0.0,
                                                    "open_quantity": 0.0, "unrealized_pnl": 0.0})
        row["fill_count"] += 1
        row["realized_pnl"] += gain
        row["commissions"] += fee
    unrealized = open_books(books, by_symbol, mark, rate, unpriced, notes)
    notes.update(f"No {pair} rate at the brokers, so the P&L cannot be shown in {FUND_CURRENCY}."
                 for pair in unpriced)
    priced = not unpriced
    curve = daily_curve(by_day, today, unrealized or 0.0) if priced else []
    net = realized + unrealized - commissions if priced and unrealized is not None else None
    section: dict[str, Any] = {
        "currency": FUND_CURRENCY, "fill_count": len(ordered),
        "first_fill_at": str(ordered[0]["filled_at"]) if ordered else None,
        "last_fill_at": str(ordered[-1]["filled_at"]) if ordered else None,
        "realized_pnl": realized if priced else None, "unrealized_pnl": unrealized if priced else None,
        "commissions": commissions if priced else None, "net_pnl": net,
        "capital_base": capital, "return": net / capital if net is not None and capital else None,
        "curve": curve, "days": len(curve),
        "by_instrument": sorted(by_symbol.values(), key=lambda r: r["symbol"]) if priced else [],
        "notes": sorted(notes) + ([capital_note] if capital_note and ordered else []),
    }
    return {**section, **live_ratios(curve, capital)}


def open_books(books: Mapping[tuple[str, str], tuple[str, Instrument, PositionLot]],
               by_symbol: dict[str, dict[str, Any]], mark: Mark, rate: Rate, unpriced: set[str],
               notes: set[str]) -> float | None:
    """Unrealized P&L of the open books at the latest marks, in the reporting currency (and
    each instrument's share and net open quantity in ``by_symbol``); None if a mark is missing."""
    unrealized: float | None = 0.0
    for broker, instrument, lot in books.values():
        row = by_symbol[instrument.key]
        row["open_quantity"] = round(row["open_quantity"] + lot.quantity, 9)
        if not lot.quantity:
            continue
        price = mark(broker, instrument.key)
        to_usd = converted(rate, broker, instrument.currency, unpriced)
        if price is None:
            notes.add(f"No broker mark for {instrument.symbol} yet: its open position has no unrealized P&L, "
                      "so the net P&L and today's point leave it out.")
        value = (unrealized_pnl(lot, price, instrument.multiplier) * to_usd
                 if price is not None and to_usd is not None else None)
        shown = row["unrealized_pnl"]
        row["unrealized_pnl"] = None if value is None or shown is None else shown + value
        unrealized = None if value is None or unrealized is None else unrealized + value
    return unrealized


def converted(rate: Rate, broker: str, currency: str, unpriced: set[str]) -> float | None:
    """The rate into the reporting currency; a missing one is kept (it makes the totals unknown)."""
    found = rate(broker, currency)
    if found is None:
        unpriced.add(f"{currency}/{FUND_CURRENCY}")
    return found


def daily_curve(by_day: Mapping[str, float], today: date, unrealized: float) -> list[dict[str, Any]]:
    """Cumulative P&L on every weekday from the first fill to ``today`` (and any weekend day
    with fills: crypto trades then), so a quiet day counts as a day without gain or loss."""
    if not by_day:
        return []
    first = date.fromisoformat(min(by_day))
    last = max(today, date.fromisoformat(max(by_day)))
    days = [first + timedelta(n) for n in range((last - first).days + 1)]
    points, total = [], 0.0
    for day in days:
        key = day.isoformat()
        if day.weekday() >= 5 and key not in by_day and day != today:
            continue
        total += by_day.get(key, 0.0)
        points.append({"date": key, "pnl": total + (unrealized if day == last else 0.0)})
    return points


def live_ratios(curve: list[dict[str, Any]], capital: float | None) -> dict[str, Any]:
    """Each day's P&L change over the capital base, and the ratios of those returns once there
    are enough days to make them mean something; otherwise a note saying how many there are."""
    if not curve:
        return {"daily_returns": [], "metrics": None,
                "metrics_note": "Live ratios appear once the strategy has traded for "
                                f"{LIVE_METRICS_MIN_DAYS} trading days; it has no fills yet."}
    if not capital:
        return {"daily_returns": [], "metrics": None,
                "metrics_note": "Live ratios need a capital base, and no capital is allocated to the strategy now."}
    previous = 0.0
    returns = []
    for point in curve:
        returns.append({"date": point["date"], "return": (point["pnl"] - previous) / capital})
        previous = point["pnl"]
    if len(returns) < LIVE_METRICS_MIN_DAYS:
        return {"daily_returns": returns, "metrics": None,
                "metrics_note": f"Live ratios appear after {LIVE_METRICS_MIN_DAYS} trading days of live "
                                f"trading; this strategy has {len(returns)} so far."}
    import pandas as pd  # only the dashboards pay for pandas

    from shared.portfolio.metrics import metrics

    computed = metrics(pd.Series([r["return"] for r in returns], index=[r["date"] for r in returns]))
    found = {name: getattr(computed, name) for name in computed.__dataclass_fields__}
    note = ""
    if len(returns) < LIVE_CAGR_MIN_DAYS:
        found.update(cagr=None, calmar=None)
        note = (f"CAGR and Calmar appear after {LIVE_CAGR_MIN_DAYS} trading days; this strategy has "
                f"{len(returns)} so far.")
    return {"daily_returns": returns, "metrics": found, "metrics_note": note}


def performance(series: ReturnSeries | None) -> dict[str, Any]:
    """Metrics and the equity curve of the strategy's uploaded daily return series (the backtest)."""
    if series is None or len(series.returns) < 2:
        return {"metrics": None, "equity_curve": []}
    import pandas as pd  # only the dashboards pay for pandas

    from shared.portfolio.metrics import equity_curve, metrics

    returns = pd.Series(series.returns, index=[d.isoformat() for d in series.dates])
    computed = metrics(returns)
    curve = equity_curve(returns)
    return {"metrics": {name: getattr(computed, name) for name in computed.__dataclass_fields__},
            "equity_curve": [{"date": d, "equity": float(v)} for d, v in curve.items()]}
