"""Strategy developer: my strategies' signals, decisions, fills, slippage and performance.
Never which accounts or clients traded them."""

import pandas as pd
import streamlit as st

from dashboards_streamlit import charts
from dashboards_streamlit.session import REFRESH, require, store, strategy_view
from shared.domain.models import Collections

who = require("developer")
st.title("My strategies")
mine = [s["strategy_id"] for s in store().query(Collections.STRATEGIES, where={"owner": who.subject})]
if not mine:
    st.info("You have no strategies yet.")
    st.stop()
strategy_id = st.selectbox("Strategy", sorted(mine))


@st.fragment(run_every=REFRESH)
def strategy() -> None:
    document = strategy_view(who.subject, strategy_id)
    if document is None:
        st.error("Not your strategy.")
        return
    st.caption(f"{document['name']} — {document['status']}")
    metrics = document["metrics"]
    if metrics:
        columns = st.columns(6)
        for column, (label, key, fmt) in zip(columns, [
            ("CAGR", "cagr", "{:.1%}"), ("Volatility", "volatility", "{:.1%}"), ("Sharpe", "sharpe", "{:.2f}"),
            ("Sortino", "sortino", "{:.2f}"), ("Max drawdown", "max_drawdown", "{:.1%}"),
            ("Calmar", "calmar", "{:.2f}")], strict=True):
            value = metrics[key]
            column.metric(label, "—" if value is None else fmt.format(value))
        st.altair_chart(charts.line(document["equity_curve"], "date", "equity", "Equity (daily returns)"),
                        width="stretch")
    slippage = document["slippage"]
    st.metric("Mean slippage vs signal price",
              "—" if slippage["mean_bps"] is None else f"{slippage['mean_bps']:.2f} bps",
              help=f"over {slippage['fills']} fills; positive = worse than the signal's price")
    st.subheader("Signals and decisions")
    st.dataframe(pd.DataFrame(document["signals"]), hide_index=True, width="stretch")
    st.subheader("Fills")
    st.dataframe(pd.DataFrame(document["fills"]), hide_index=True, width="stretch")


strategy()
