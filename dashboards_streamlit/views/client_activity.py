"""Client: open positions and recent fills in my accounts."""

import pandas as pd
import streamlit as st

from dashboards_streamlit.session import REFRESH, client_view, require

who = require("client")
st.title("Positions & fills")


@st.fragment(run_every=REFRESH)
def activity() -> None:
    for account in client_view(who.subject)["accounts"]:
        st.subheader(account["account_id"])
        st.markdown("**Open positions**")
        st.dataframe(pd.DataFrame(account["positions"]), hide_index=True, width="stretch")
        st.markdown("**Recent fills**")
        st.dataframe(pd.DataFrame(account["recent_fills"]), hide_index=True, width="stretch")


activity()
