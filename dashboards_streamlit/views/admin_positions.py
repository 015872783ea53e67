"""Admin: what the fund holds and what it made, per account and per strategy: realized P&L
from the books, unrealized at the broker's marks, each account in its own currency."""

from __future__ import annotations

import streamlit as st

from dashboards_streamlit import formatting as fmt
from dashboards_streamlit.session import REFRESH, fetch, require

# Accounts hold different currencies: each row names its own, the money columns none.
TOTALS = {"currency": fmt.TEXT, "open_positions": fmt.QUANTITY, "market_value": fmt.MONEY,
          "unrealized_pnl": fmt.MONEY, "realized_pnl": fmt.MONEY, "total_pnl": fmt.MONEY}
POSITIONS = {"account_id": fmt.TEXT, "strategy_id": fmt.TEXT, "symbol": fmt.TEXT, "quantity": fmt.QUANTITY,
             "avg_price": fmt.PRICE, "mark": fmt.PRICE, "currency": fmt.TEXT, "market_value": fmt.MONEY,
             "unrealized_pnl": fmt.MONEY, "realized_pnl": fmt.MONEY}

require("admin")
st.title("Positions & P&L")


@st.fragment(run_every=REFRESH)
def book() -> None:
    answer = fetch("/api/positions")
    for fund in answer["by_currency"]:  # the fund's totals, one row of figures per account currency
        currency = fund["currency"]
        for column, (title, field) in zip(st.columns(4), (
                ("Market value", "market_value"), ("Unrealized P&L", "unrealized_pnl"),
                ("Realized P&L", "realized_pnl"), ("Total P&L", "total_pnl")), strict=True):
            column.metric(title, fmt.money(fund[field], currency, signed=field != "market_value"))
    for title, rows, key in (("Per account", answer["by_account"], "account_id"),
                             ("Per strategy", answer["by_strategy"], "strategy_id")):
        st.subheader(title)
        if not rows:
            st.info("Nothing traded yet: totals appear here after the first fill.")
            continue
        frame, config = fmt.table(rows, {key: fmt.TEXT, **TOTALS})
        st.dataframe(frame, column_config=config, hide_index=True, width="stretch")
    st.subheader("Open positions")
    if answer["positions"]:
        frame, config = fmt.table(answer["positions"], POSITIONS)
        st.dataframe(frame, column_config=config, hide_index=True, width="stretch")
    else:
        st.info("No open positions.")
    st.caption("Realized P&L is booked from fills; unrealized P&L and market value are at the broker's latest marks "
               "(futures at notional), converted to the account's currency. \"—\" means no mark yet, and then the "
               "total is unknown rather than partial. Average price and mark are in the instrument's currency.")


book()
