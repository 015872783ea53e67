"""Client: open positions (value and P&L at the broker's marks) and recent fills in my
accounts. On a phone the tables keep the columns that matter, narrow enough not to scroll."""

import streamlit as st

from dashboards_streamlit import formatting as fmt
from dashboards_streamlit.session import REFRESH, fetch, require

who = require("client")
st.title("Positions & fills")

POSITIONS = {"strategy": fmt.TEXT, "symbol": fmt.TEXT, "quantity": fmt.QUANTITY, "avg_price": fmt.PRICE,
             "mark": fmt.PRICE, "market_value": fmt.MONEY, "unrealized_pnl": fmt.MONEY, "realized_pnl": fmt.MONEY}
FILLS = {"filled_at": fmt.TIME, "strategy": fmt.TEXT, "symbol": fmt.TEXT, "side": fmt.TEXT,
         "quantity": fmt.QUANTITY, "price": fmt.PRICE, "commission": fmt.PRICE}
# A phone (390 px) fits four columns of about 85 px: what a position is worth and what it made.
PHONE_POSITIONS = {"symbol": 70, "quantity": 75, "market_value": 105, "unrealized_pnl": 100}
PHONE_FILLS = {"filled_at": 125, "symbol": 70, "side": 50, "quantity": 75}
PHONE_HEADERS = {"market_value": "Value", "unrealized_pnl": "P&L", "quantity": "Qty", "filled_at": "When"}


def shown(columns: dict[str, str], phone: dict[str, int], narrow: bool) -> tuple[dict[str, str], dict[str, int]]:
    if not narrow:
        return columns, {}
    return {c: columns[c] for c in phone}, phone


@st.fragment(run_every=REFRESH)
def activity() -> None:
    zone = fmt.viewer_timezone()
    narrow = st.toggle("Fewer columns", value=fmt.on_a_phone(), key="narrow_tables",
                       help="On by default on a phone: the tables fit its width without scrolling sideways.")
    for account in fetch(f"/api/dashboards/clients/{who.subject}")["accounts"]:
        currency = account["currency"]
        st.subheader(account["account_id"])
        st.markdown("**Open positions**")
        if account["positions"]:
            kinds, widths = shown(POSITIONS, PHONE_POSITIONS, narrow)
            frame, config = fmt.table(account["positions"], kinds, currency, zone, widths,
                                      PHONE_HEADERS if narrow else None)
            st.dataframe(frame, column_config=config, hide_index=True, width="stretch")
            st.caption(f"Amounts in {currency}{f', times in {fmt.zone_name(zone)}' if narrow else ''}. "
                       f"Market value {fmt.money(account['market_value'], currency)} · unrealized P&L "
                       f"{fmt.money(account['unrealized_pnl'], currency, signed=True)}, at the broker's latest "
                       "marks (futures at notional). Prices are in each instrument's currency.")
        else:
            st.info("No open positions.")
        st.markdown("**Recent fills**")
        if account["recent_fills"]:
            kinds, widths = shown(FILLS, PHONE_FILLS, narrow)
            frame, config = fmt.table(account["recent_fills"], kinds, currency, zone, widths,
                                      PHONE_HEADERS if narrow else None)
            st.dataframe(frame, column_config=config, hide_index=True, width="stretch")
        else:
            st.info("No fills yet.")


activity()
