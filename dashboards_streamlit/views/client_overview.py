"""Client: each of my accounts' equity, daily P&L, drawdown and allocation."""

import streamlit as st

from dashboards_streamlit import charts
from dashboards_streamlit.session import REFRESH, client_view, require

who = require("client")
st.title("My accounts")


@st.fragment(run_every=REFRESH)
def overview() -> None:
    document = client_view(who.subject)
    if not document["accounts"]:
        st.info("No accounts yet.")
        return
    for account in document["accounts"]:
        st.subheader(f"{account['name'] or account['account_id']} ({account['account_id']})")
        equity, cash, margin = st.columns(3)
        equity.metric("Equity", f"{account['equity']:,.2f} {account['currency']}")
        cash.metric("Cash", f"{account['cash'] or 0:,.2f}")
        margin.metric("Margin available", f"{account['margin_available'] or 0:,.2f}")
        left, right = st.columns(2)
        left.altair_chart(charts.line(account["equity_curve"], "at", "equity", "Equity"), width="stretch")
        right.altair_chart(charts.line(account["drawdown"], "at", "drawdown", "Drawdown", percent=True),
                           width="stretch")
        left, right = st.columns(2)
        left.altair_chart(charts.bars(account["daily_pnl"], "date", "pnl", "Daily P&L"), width="stretch")
        right.altair_chart(charts.allocation(account["allocation"]), width="stretch")


overview()
