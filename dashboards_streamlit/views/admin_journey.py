"""Admin: one signal from raw to fills, with every check of every decision."""

import pandas as pd
import streamlit as st

from dashboards_streamlit.session import require, store
from shared.dashboards.documents import signal_journey

require("admin")
st.title("Signal journey")
signal_id = st.text_input("Signal id", placeholder="sig_...").strip()
if signal_id:
    journey = signal_journey(store(), signal_id)
    if journey is None:
        st.warning(f"No signal {signal_id}")
        st.stop()
    record = journey["signal"]
    st.subheader(f"{record['signal']['action']} {record['signal']['instrument']['symbol']} "
                 f"for {record['strategy_id']}: {record['status']}")
    with st.expander("Raw", expanded=False):
        st.json(journey["raw"] or {})
    with st.expander("Standardized", expanded=False):
        st.json(record["signal"])
    for decision in record.get("decisions") or []:
        st.markdown(f"**{decision['account_id']}**: {decision['status']} — {decision.get('reason', '')}")
        st.dataframe(pd.DataFrame(decision.get("checks") or []), hide_index=True, width="stretch")
    st.markdown("**Orders**")
    st.dataframe(pd.DataFrame([{k: o.get(k) for k in ("client_order_id", "account_id", "status", "reason",
                                                       "filled_quantity", "broker_order_id")}
                               for o in journey["orders"]]), hide_index=True, width="stretch")
    st.markdown("**Fills**")
    st.dataframe(pd.DataFrame([{"account_id": f["account_id"], "side": f["side"], "quantity": f["quantity"],
                                "price": f["price"], "commission": f["commission"], "filled_at": f["filled_at"]}
                               for f in journey["fills"]]), hide_index=True, width="stretch")
