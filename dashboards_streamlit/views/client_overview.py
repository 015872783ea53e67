"""Client: each of my accounts' value, P&L today and since inception, return, equity,
daily P&L, drawdown and allocation. The numbers come computed in the client's document;
this page only writes them."""

import streamlit as st

from dashboards_streamlit import charts
from dashboards_streamlit import formatting as fmt
from dashboards_streamlit.session import REFRESH, fetch, require

who = require("client")
st.title("My accounts")


def signed_money(value: float | None, currency: str) -> str:
    return fmt.money(value, currency, signed=True)


@st.fragment(run_every=REFRESH)
def overview() -> None:
    document = fetch(f"/api/dashboards/clients/{who.subject}")
    if not document["accounts"]:
        st.info("No accounts yet.")
        return
    zone = fmt.viewer_timezone()
    for account in document["accounts"]:
        currency = account["currency"]
        st.subheader(f"{account['name'] or account['account_id']} ({account['account_id']})")
        st.caption(f"As of {fmt.timestamp(account['as_of'], zone)} {fmt.zone_name(zone)} · broker "
                   f"{account['broker'] or fmt.MISSING}")
        # Three per row keep a seven-figure amount whole on a laptop; a phone stacks them in one column.
        equity, today, inception = st.columns(3)
        equity.metric("Equity", fmt.money(account["equity"], currency))
        today.metric("P&L today", signed_money(account["pnl_today"], currency),
                     delta=fmt.percent(account["return_today"], signed=True)
                     if account["return_today"] is not None else None,
                     help="Equity now minus equity at the day's first snapshot (UTC day).")
        inception.metric("P&L since inception", signed_money(account["pnl_since_inception"], currency),
                         delta=fmt.percent(account["return_since_inception"], signed=True)
                         if account["return_since_inception"] is not None else None,
                         help=f"Equity now minus the first recorded equity "
                              f"({fmt.money(account['inception_equity'], currency)} on "
                              f"{fmt.timestamp(account['inception_at'], zone)} {fmt.zone_name(zone)}); "
                              "deposits and withdrawals are not recorded separately.")
        market, unrealized, total_return = st.columns(3)
        market.metric("Market value of positions", fmt.money(account["market_value"], currency),
                      help="Open positions at the broker's latest marks (futures at notional).")
        unrealized.metric("Unrealized P&L", signed_money(account["unrealized_pnl"], currency))
        total_return.metric("Return since inception", fmt.percent(account["return_since_inception"], signed=True))
        cash, margin, _ = st.columns(3)
        cash.metric("Cash", fmt.money(account["cash"], currency))
        margin.metric("Margin available", fmt.money(account["margin_available"], currency))
        left, right = st.columns(2)
        left.altair_chart(charts.line(account["equity_curve"], "at", "equity", "Equity", currency=currency),
                          width="stretch")
        right.altair_chart(charts.drawdown(account["drawdown"]), width="stretch")
        left, right = st.columns(2)
        with left:
            if account["daily_pnl"]:
                days = [{"day": fmt.day(p["date"]), "pnl": p["pnl"]} for p in account["daily_pnl"]]
                st.altair_chart(charts.bars(days, "day", "pnl", "Daily P&L", currency=currency), width="stretch")
            else:
                st.markdown("**Daily P&L**")
                st.info(charts.daily_pnl_empty(account["equity_curve"]))
        with right:
            if account["allocation"]:
                st.altair_chart(charts.allocation(account["allocation"], currency=currency), width="stretch")
            else:
                st.markdown("**Allocation by strategy**")
                st.info("No strategy is allocated capital in this account yet.")


overview()
