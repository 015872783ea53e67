"""Strategy developer: my strategies' signals, decisions, fills, slippage and performance.
Never which accounts or clients traded them."""

import streamlit as st

from dashboards_streamlit import charts
from dashboards_streamlit import formatting as fmt
from dashboards_streamlit.session import REFRESH, require, store, strategy_view
from shared.domain.models import Collections

who = require("developer")
st.title("My strategies")
mine = [s["strategy_id"] for s in store().query(Collections.STRATEGIES, where={"owner": who.subject})]
if not mine:
    st.info("You have no strategies yet.")
    st.stop()
strategy_id = st.selectbox("Strategy", sorted(mine))
SIGNALS = {"received_at": fmt.TIME, "signal_id": fmt.TEXT, "action": fmt.TEXT, "symbol": fmt.TEXT,
           "price": fmt.PRICE, "status": fmt.TEXT, "accounts_approved": fmt.QUANTITY,
           "accounts_rejected": fmt.QUANTITY, "reasons": fmt.TEXT}
FILLS = {"filled_at": fmt.TIME, "signal_id": fmt.TEXT, "symbol": fmt.TEXT, "side": fmt.TEXT,
         "quantity": fmt.QUANTITY, "price": fmt.PRICE, "signal_price": fmt.PRICE, "slippage_bps": fmt.BPS}


def ratio(value: float | None) -> str:
    return fmt.MISSING if fmt.missing(value) else f"{value:.2f}"


@st.fragment(run_every=REFRESH)
def strategy() -> None:
    document = strategy_view(who.subject, strategy_id)
    if document is None:
        st.error("Not your strategy.")
        return
    zone = fmt.viewer_timezone()
    st.caption(f"{document['name']} — {document['status']}")
    metrics = document["metrics"]
    if metrics:
        columns = st.columns(6)
        for column, (label, key, write) in zip(columns, [
            ("CAGR", "cagr", fmt.percent), ("Volatility", "volatility", fmt.percent),
            ("Sharpe", "sharpe", ratio), ("Sortino", "sortino", ratio),
            ("Max drawdown", "max_drawdown", fmt.percent), ("Calmar", "calmar", ratio)], strict=True):
            column.metric(label, write(metrics[key]))
        st.altair_chart(charts.growth(document["equity_curve"], "date", "equity",
                                      "Cumulative return (from daily returns)"), width="stretch")
    slippage = document["slippage"]
    st.metric("Mean slippage vs signal price",
              "—" if slippage["mean_bps"] is None else f"{slippage['mean_bps']:.2f} bps",
              help=f"over {slippage['fills']} fills; positive = worse than the signal's price")
    st.subheader("Signals and decisions")
    frame, config = fmt.table(document["signals"], SIGNALS, zone=zone)
    st.dataframe(frame, column_config=config, hide_index=True, width="stretch")
    st.subheader("Fills")
    frame, config = fmt.table(document["fills"], FILLS, zone=zone)
    st.dataframe(frame, column_config=config, hide_index=True, width="stretch")


strategy()
