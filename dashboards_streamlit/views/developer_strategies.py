"""Strategy developer: how my strategies trade live (from their fills) beside the backtest I
uploaded, their signals with each decision's reasons, fills and slippage.

Everything comes through the registry API with the developer's own key (their strategies,
then each one's dashboard document), so the server decides what they may see; the document
holds sums over accounts, never which accounts or clients traded."""

from datetime import timedelta
from typing import Any

import streamlit as st

from dashboards_streamlit import charts
from dashboards_streamlit import formatting as fmt
from dashboards_streamlit.session import REFRESH, fetch, now, require
from shared.domain.models import SIGNAL_STATUSES

require("developer")
st.title("My strategies")
mine = sorted(s["strategy_id"] for s in fetch("/api/strategies")["strategies"])
if not mine:
    st.info("You have no strategies yet. Register one (python -m devstack.registry_cli create) and it appears "
            "here with its signals, fills and performance.")
    st.stop()
strategy_id = st.selectbox("Strategy", mine)
SIGNALS = {"received_at": fmt.TIME, "signal_id": fmt.TEXT, "action": fmt.TEXT, "symbol": fmt.TEXT,
           "price": fmt.PRICE, "status": fmt.TEXT, "accounts_approved": fmt.QUANTITY,
           "accounts_rejected": fmt.QUANTITY, "reasons": fmt.TEXT}
EXECUTIONS = {"filled_at": fmt.TIME, "signal_id": fmt.TEXT, "symbol": fmt.TEXT, "side": fmt.TEXT,
              "quantity": fmt.QUANTITY, "average_price": fmt.PRICE, "signal_price": fmt.PRICE,
              "slippage_bps": fmt.BPS}
INSTRUMENTS = {"symbol": fmt.TEXT, "currency": fmt.TEXT, "fill_count": fmt.QUANTITY, "open_quantity": fmt.QUANTITY,
               "realized_pnl": fmt.MONEY, "unrealized_pnl": fmt.MONEY, "commissions": fmt.MONEY}
HISTORY_SIZES = (100, 500)  # signals listed at most; the filters narrow the rest
PERIODS = {"All time": None, "Last 24 hours": timedelta(days=1), "Last 7 days": timedelta(days=7),
           "Last 30 days": timedelta(days=30)}
RATIOS = [("CAGR", "cagr", "percent"), ("Volatility", "volatility", "percent"), ("Sharpe", "sharpe", "ratio"),
          ("Sortino", "sortino", "ratio"), ("Max drawdown", "max_drawdown", "percent"), ("Calmar", "calmar", "ratio")]


def ratio(value: float | None) -> str:
    return fmt.MISSING if fmt.missing(value) else f"{value:.2f}"


def live_percent(value: float | None) -> str:
    """A return with enough decimals to be read: a few dollars on a large allocation is 0.0011%, not 0.00%."""
    return fmt.percent(value, 2 if fmt.missing(value) or abs(value) >= 0.001 else 4, signed=True)


def ratios(metrics: dict[str, Any], prefix: str = "") -> None:
    """Six ratios, three to a row so each stays whole on a laptop (a phone stacks them)."""
    for row in (RATIOS[:3], RATIOS[3:]):
        for column, (label, key, kind) in zip(st.columns(3), row, strict=True):
            value = metrics.get(key)
            column.metric(f"{prefix}{label}" if prefix else label,
                          fmt.percent(value) if kind == "percent" else ratio(value))


def live(section: dict[str, Any] | None, zone: Any) -> None:
    """The strategy's live P&L: every account's fills together, at the brokers' latest marks."""
    st.subheader("Live (from fills)")
    if section is None:
        st.info("The live performance appears when this strategy's dashboard is next rebuilt (after its next fill "
                "or the scheduled refresh): its P&L, commissions and a daily P&L curve, from its fills.")
        return
    if not section["fill_count"]:
        st.info("No fills yet. Once accounts trade this strategy's signals, its live P&L (realized, unrealized at the "
                "brokers' marks, commissions), its return on the capital allocated to it and a daily P&L curve "
                "appear here.")
        return
    currency = section["currency"]
    st.caption(f"{fmt.quantity(section['fill_count'])} fills from {fmt.timestamp(section['first_fill_at'], zone)} to "
               f"{fmt.timestamp(section['last_fill_at'], zone)} {fmt.zone_name(zone)}, every account together, in "
               f"{currency} at the latest rates. Not the backtest below: these are the strategy's real trades.")
    net, realized, unrealized = st.columns(3)
    net.metric("Live net P&L", fmt.money(section["net_pnl"], currency, signed=True),
               delta=live_percent(section["return"]) if section["return"] is not None else None,
               help="Realized plus unrealized P&L, minus commissions.")
    realized.metric("Realized P&L", fmt.money(section["realized_pnl"], currency, signed=True),
                    help="Closed quantity times (exit price - average entry price), per account and instrument.")
    unrealized.metric("Unrealized P&L", fmt.money(section["unrealized_pnl"], currency, signed=True),
                      help="Open positions at the brokers' latest marks.")
    commissions, fills, live_return = st.columns(3)
    commissions.metric("Commissions", fmt.money(section["commissions"], currency))
    fills.metric("Fills", fmt.quantity(section["fill_count"]))
    live_return.metric("Live return", live_percent(section["return"]),
                       help="Live net P&L over the capital allocated to the strategy now "
                            f"({fmt.money(section['capital_base'], currency)}), which is what its orders are sized "
                            "to." if section["capital_base"] else "No capital is allocated to the strategy now.")
    for note in section["notes"]:
        st.warning(note)
    if section["metrics"]:
        ratios(section["metrics"], "Live ")
    if section["metrics_note"]:
        st.info(section["metrics_note"])
    curve = section["curve"]
    if len(curve) > 1:
        st.altair_chart(charts.daily_line(curve, "date", "pnl",
                                          "Cumulative live P&L, net of commissions (today's point includes "
                                          "unrealized P&L)", currency=currency), width="stretch")
    elif curve:
        st.info("The cumulative live P&L curve appears from the strategy's second trading day: one point a day, "
                f"the P&L of the fills up to that day. It has traded live since {fmt.day(curve[0]['date'])} only.")
    else:
        st.info(f"The cumulative live P&L curve appears here once the fills' P&L can be shown in {currency} "
                "(see the note above).")


def backtest(document: dict[str, Any]) -> None:
    """The developer's uploaded daily returns, as they uploaded them: no fill is involved."""
    st.subheader("Backtest (uploaded daily returns)")
    metrics, curve = document.get("metrics"), document.get("equity_curve") or []
    if not metrics:
        st.info("No backtest yet. Upload at least two days of daily returns as CSV (date,return or date,equity) "
                f"with python -m devstack.registry_cli returns {document['strategy_id']} backtest.csv; its CAGR, "
                "Sharpe, drawdown and cumulative return curve appear here.")
        return
    st.caption(f"{fmt.quantity(metrics['days'])} daily returns from {fmt.day(curve[0]['date'])} to "
               f"{fmt.day(curve[-1]['date'])}, as uploaded: the backtest's figures, not live trading.")
    ratios(metrics)
    st.altair_chart(charts.growth(curve, "date", "equity", "Backtest cumulative return (from uploaded daily returns)"),
                    width="stretch")


@st.fragment(run_every=REFRESH)
def strategy() -> None:
    document = fetch(f"/api/dashboards/strategies/{strategy_id}")
    zone = fmt.viewer_timezone()
    st.caption(f"{document['name']} — {document['status']}")
    live(document.get("live"), zone)
    backtest(document)
    st.subheader("Execution")
    slippage = document["slippage"]
    st.metric("Mean slippage vs signal price",
              "—" if slippage["mean_bps"] is None else f"{slippage['mean_bps']:.2f} bps",
              help=f"over {slippage['executions']} executions; positive = worse than the signal's price")
    st.subheader("Executions (per signal, every account together)")
    if document["executions"]:
        frame, config = fmt.table(document["executions"], EXECUTIONS, zone=zone)
        st.dataframe(frame, column_config=config, hide_index=True, width="stretch")
    else:
        st.info("No fills yet: each signal's fills appear here summed over accounts, with the average price and "
                "its slippage against the signal's price.")
    section = document.get("live") or {}
    if section.get("by_instrument"):
        st.subheader("By instrument (every account together)")
        frame, config = fmt.table(section["by_instrument"], INSTRUMENTS, currency=section["currency"], zone=zone)
        st.dataframe(frame, column_config=config, hide_index=True, width="stretch")


def history() -> None:
    """Every signal of the strategy the filters choose, newest first, with why accounts did not
    take it: read from the API's signal list, which counts over accounts and names none."""
    st.subheader("Signal history")
    status_box, symbol_box, period_box, size_box = st.columns([1.4, 1.2, 1.2, 0.8])
    status = status_box.selectbox("Status", SIGNAL_STATUSES, index=None, placeholder="any status")
    symbol = symbol_box.text_input("Symbol", placeholder="e.g. AAPL").strip().upper()
    window = PERIODS[period_box.selectbox("Received", list(PERIODS))]
    shown = size_box.selectbox("Rows", HISTORY_SIZES)
    listed = fetch("/api/signals", strategy_id=strategy_id, status=status, symbol=symbol, limit=shown,
                   since=None if window is None else (now() - window).isoformat())
    st.caption(fmt.signals_found(listed) + ". Each with how many accounts took it and, where some did not, why "
               "(the check that stopped them, with how many decisions).")
    if listed["signals"]:
        frame, config = fmt.table(listed["signals"], SIGNALS, zone=fmt.viewer_timezone())
        st.dataframe(frame, column_config=config, hide_index=True, width="stretch")
    else:
        st.info("No signal matches these filters. Each alert this strategy sends appears here once it is accepted.")


strategy()
history()
