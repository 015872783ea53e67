"""Admin: the kill switch and flatten-all, each behind a confirmation."""

import streamlit as st

from dashboards_streamlit.session import api, fetch, require, show_error

require("admin")
st.title("Kill switch")
state = fetch("/api/admin/kill-switch")
st.metric("Kill switch", "ON" if state.get("enabled") else "off")
with st.form("kill-switch"):
    reason = st.text_input("Reason", value=state.get("reason", ""))
    enable = st.toggle("Stop all new risk", value=bool(state.get("enabled")))
    if st.form_submit_button("Apply"):
        status, body = api("POST", "/api/admin/kill-switch", json={"enabled": enable, "reason": reason})
        st.success("Kill switch updated") if status == 200 else show_error(body)

st.divider()
st.subheader("Flatten all")
st.write("Closes every strategy's positions in every account with market orders.")
with st.form("flatten"):
    confirm = st.text_input("Type FLATTEN ALL to confirm")
    if st.form_submit_button("Flatten all positions", type="primary"):
        status, body = api("POST", "/api/admin/flatten", json={"confirm": confirm})
        if status == 202:
            st.success(f"Flatten submitted: {body}")
        else:
            show_error(body)
