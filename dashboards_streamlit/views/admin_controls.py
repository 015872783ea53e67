"""Admin: the kill switch and flatten-all. Each needs a reason and a confirmation, and the
page shows the state read back from the API after the change, never what was asked for."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboards_streamlit.session import api, describe_flatten, fetch, require, show_error
from shared.services.admin import FLATTEN_CONFIRMATION

NOTICE = "controls_notice"  # a change's outcome, shown once after the page re-reads the state

require("admin")
st.title("Kill switch")


def when(stamp: str | None) -> str:
    """An ISO timestamp as a person reads it (UTC, to the second)."""
    return stamp.replace("T", " ")[:19] + " UTC" if stamp else "an unknown time"


def banner(state: dict[str, Any]) -> None:
    """The switch as stored: ON in red with who, when and why; OFF in green."""
    who, at, reason = state.get("changed_by") or "?", when(state.get("changed_at")), state.get("reason") or "—"
    if state.get("enabled"):
        st.error(f"**Kill switch is ON: all new risk is stopped.** Reason: {reason}. Turned on by {who} at {at}.",
                 icon=":material/emergency:")
    elif state.get("changed_by"):
        st.success(f"**Kill switch is OFF: trading normally.** Last changed by {who} at {at}. Reason: {reason}.")
    else:
        st.success("**Kill switch is OFF: trading normally.** It has never been turned on.")


if NOTICE in st.session_state:
    st.success(st.session_state.pop(NOTICE))
state = fetch("/api/admin/kill-switch")
banner(state)
st.metric("Kill switch", "ON" if state.get("enabled") else "off")

with st.form("kill-switch", clear_on_submit=False):
    enable = st.toggle("Stop all new risk", value=bool(state.get("enabled")),
                       help="ON: no decision or order that adds risk goes through; exits and flattens still do.")
    reason = st.text_input("Reason (required)", placeholder="why, for the audit trail")
    understood = st.checkbox("I understand this changes trading for every account and strategy")
    if st.form_submit_button("Apply"):
        if not reason.strip():
            st.error("A reason is required: the kill switch was not changed.")
        elif not understood:
            st.error("Tick the confirmation box: the kill switch was not changed.")
        else:
            status, body = api("POST", "/api/admin/kill-switch", json={"enabled": enable, "reason": reason.strip()})
            if status == 200:
                cancelled = len(body.get("cancelled") or [])
                st.session_state[NOTICE] = (f"Kill switch turned {'ON' if enable else 'OFF'}."
                                            + (f" {cancelled} resting order(s) that added risk were cancelled."
                                               if cancelled else ""))
                st.rerun()  # re-read: the banner shows what the API stored
            else:
                show_error(body)

st.divider()
st.subheader("Flatten all")
st.write("Cancels every strategy's working orders, then closes its positions in every account with market orders.")
flattened: dict[str, Any] | None = None
with st.form("flatten"):
    flatten_reason = st.text_input("Reason for flattening (required)")
    confirm = st.text_input(f"Type {FLATTEN_CONFIRMATION} to confirm")
    if st.form_submit_button("Flatten all positions", type="primary"):
        if not flatten_reason.strip():
            st.error("A reason is required: nothing was flattened.")
        elif confirm.strip() != FLATTEN_CONFIRMATION:
            st.error(f"To confirm, type {FLATTEN_CONFIRMATION} exactly: nothing was flattened.")
        else:
            status, body = api("POST", "/api/admin/flatten", json={"confirm": confirm.strip(),
                                                                    "reason": flatten_reason.strip()})
            if status == 202:
                flattened = body
            else:
                show_error(body)
if flattened is not None:
    st.success(f"{describe_flatten(flattened)} Reason: {flatten_reason.strip()}.")
    sent = flattened.get("flattening") or {}
    if sent:
        st.table(pd.DataFrame([{"strategy": s, "flatten signal": sent[s]} for s in sorted(sent)]))
    for strategy in sorted(sent):
        st.page_link("views/admin_journey.py", label=f"Journey of {strategy}'s flatten ({sent[strategy]})",
                     icon=":material/route:", query_params={"signal_id": sent[strategy]})
