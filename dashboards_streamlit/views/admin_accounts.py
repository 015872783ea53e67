"""Admin: every account's latest snapshot and the open reconciliation breaks."""

import pandas as pd
import streamlit as st

from dashboards_streamlit.session import REFRESH, health_view, require, store
from shared.domain.models import Collections

require("admin")
st.title("Accounts & reconciliation")


@st.fragment(run_every=REFRESH)
def accounts() -> None:
    rows = []
    for account in sorted(store().query(Collections.ACCOUNTS), key=lambda a: a["account_id"]):
        snapshot = account.get("snapshot") or {}
        rows.append({"account": account["account_id"], "client": account.get("client_id", ""),
                     "broker": account.get("broker"), "equity": snapshot.get("equity"), "cash": snapshot.get("cash"),
                     "margin used": snapshot.get("margin_used"), "margin available": snapshot.get("margin_available"),
                     "as of": snapshot.get("as_of")})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    breaks = health_view()["open_breaks"]
    st.subheader(f"Open reconciliation breaks: {len(breaks)}")
    if breaks:
        st.dataframe(pd.DataFrame([{k: b[k] for k in ("account_id", "instrument_key", "broker_quantity",
                                                       "our_quantity", "polls", "first_seen", "last_seen")}
                                   for b in breaks]), hide_index=True, width="stretch")
        st.caption("Breaks are never fixed automatically: investigate at the broker, then correct the books.")


accounts()
