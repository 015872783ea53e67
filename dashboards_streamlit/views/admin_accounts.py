"""Admin: every account's latest snapshot and the open reconciliation breaks."""

import streamlit as st

from dashboards_streamlit import formatting as fmt
from dashboards_streamlit.session import REFRESH, fetch, require

require("admin")
st.title("Accounts & reconciliation")

# Accounts hold different currencies: each row names its own, the money columns none.
ACCOUNTS = {"account": fmt.TEXT, "client": fmt.TEXT, "broker": fmt.TEXT, "currency": fmt.TEXT, "equity": fmt.MONEY,
            "cash": fmt.MONEY, "margin_used": fmt.MONEY, "margin_available": fmt.MONEY, "as_of": fmt.TIME}
BREAKS = {"account_id": fmt.TEXT, "instrument_key": fmt.TEXT, "broker_quantity": fmt.QUANTITY,
          "our_quantity": fmt.QUANTITY, "polls": fmt.QUANTITY, "first_seen": fmt.TIME, "last_seen": fmt.TIME}


@st.fragment(run_every=REFRESH)
def accounts() -> None:
    zone = fmt.viewer_timezone()
    rows = []
    for account in fetch("/api/accounts")["accounts"]:
        snapshot = account.get("snapshot") or {}
        rows.append({"account": account["account_id"], "client": account.get("client_id"),
                     "broker": account.get("broker"), "currency": account.get("currency"),
                     "equity": snapshot.get("equity"), "cash": snapshot.get("cash"),
                     "margin_used": snapshot.get("margin_used"), "margin_available": snapshot.get("margin_available"),
                     "as_of": snapshot.get("as_of")})
    frame, config = fmt.table(rows, ACCOUNTS, zone=zone)
    st.dataframe(frame, column_config=config, hide_index=True, width="stretch")
    breaks = fetch("/api/dashboards/health")["open_breaks"]
    st.subheader(f"Open reconciliation breaks: {len(breaks)}")
    if breaks:
        frame, config = fmt.table(breaks, BREAKS, zone=zone)
        st.dataframe(frame, column_config=config, hide_index=True, width="stretch")
        st.caption("Breaks are never fixed automatically: investigate at the broker, then correct the books.")


accounts()
