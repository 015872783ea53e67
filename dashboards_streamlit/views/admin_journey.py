"""Admin: one signal from raw to fills, with every check of every decision; and the
deliveries refused before they became signals, which TradingView shows nobody."""

from urllib.parse import quote

import pandas as pd
import streamlit as st

from dashboards_streamlit.session import api, fetch, require, show_error
from shared.journey import escape

REFUSALS_SHOWN = 50

require("admin")
st.title("Signal journey")


def show_journey(signal_id: str) -> None:
    status, journey = api("GET", f"/api/signals/{quote(signal_id, safe='')}")
    if status == 404:
        st.warning(f"No signal {signal_id}: check the id, or find it on the Signals page.")
        return
    if status != 200:
        show_error(journey)
        return
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


def show_refusals() -> None:
    """The newest refused deliveries: the answer TradingView received but never showed."""
    st.subheader("Refused deliveries")
    refusals = fetch("/api/admin/refusals", limit=REFUSALS_SHOWN)["refusals"]
    if not refusals:
        st.caption("No refused deliveries kept.")
        return
    st.dataframe(pd.DataFrame([{"at": r["at"], "status": r["status"], "strategy": escape(r.get("strategy_id") or "—"),
                                "field": escape(r["field"]), "reason": escape(r["reason"]),
                                "source": escape(r.get("source") or "—"), "excerpt": r.get("excerpt", ""),
                                "refusal_id": r["refusal_id"]}
                               for r in refusals]), hide_index=True, width="stretch")
    st.caption(f"Newest {len(refusals)}; each is in the journey log under its refusal id.")


# A link from the signals or kill switch page carries the id in ?signal_id=.
signal_id = st.text_input("Signal id", value=st.query_params.get("signal_id", ""), placeholder="sig_...").strip()
if signal_id:
    show_journey(signal_id)
show_refusals()
