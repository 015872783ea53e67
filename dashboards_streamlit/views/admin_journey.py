"""Admin: one signal from raw to fills, with every check of every decision; and the
deliveries refused before they became signals, which TradingView shows nobody."""

from urllib.parse import quote

import streamlit as st

from dashboards_streamlit import formatting as fmt
from dashboards_streamlit.session import api, fetch, require, show_error
from shared.journey import escape

REFUSALS_SHOWN = 50
CHECKS = {"name": fmt.TEXT, "outcome": fmt.TEXT, "detail": fmt.TEXT}
ORDERS = {"client_order_id": fmt.TEXT, "account_id": fmt.TEXT, "status": fmt.TEXT, "reason": fmt.TEXT,
          "filled_quantity": fmt.QUANTITY, "broker_order_id": fmt.TEXT}
FILLS = {"filled_at": fmt.TIME, "account_id": fmt.TEXT, "side": fmt.TEXT, "quantity": fmt.QUANTITY,
         "price": fmt.PRICE, "commission": fmt.PRICE}
REFUSALS = {"at": fmt.TIME, "status": fmt.TEXT, "strategy": fmt.TEXT, "field": fmt.TEXT, "reason": fmt.TEXT,
            "source": fmt.TEXT, "excerpt": fmt.TEXT, "refusal_id": fmt.TEXT}

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
    zone = fmt.viewer_timezone()
    decisions = record.get("decisions") or []
    if not decisions:
        st.info("No decision yet: cerebro decides each account's order once the signal's book is free.")
    for decision in decisions:
        reason = decision.get("reason") or "no reason given"
        st.markdown(f"**{decision['account_id']}**: {decision['status']} — {reason}")
        frame, config = fmt.table(decision.get("checks") or [], CHECKS)
        st.dataframe(frame, column_config=config, hide_index=True, width="stretch")
    for title, rows, kinds, empty in (
            ("Orders", journey["orders"], ORDERS, "No orders: no account was approved, or none is decided yet."),
            ("Fills", journey["fills"], FILLS, "No fills yet.")):
        st.markdown(f"**{title}**")
        if rows:
            frame, config = fmt.table(rows, kinds, zone=zone)
            st.dataframe(frame, column_config=config, hide_index=True, width="stretch")
        else:
            st.caption(empty)


def show_refusals() -> None:
    """The newest refused deliveries: the answer TradingView received but never showed."""
    st.subheader("Refused deliveries")
    refusals = fetch("/api/admin/refusals", limit=REFUSALS_SHOWN)["refusals"]
    if not refusals:
        st.caption("No refused deliveries kept.")
        return
    rows = [{**r, "strategy": escape(r.get("strategy_id") or ""), "field": escape(r["field"]),
             "reason": escape(r["reason"]), "source": escape(r.get("source") or "")} for r in refusals]
    frame, config = fmt.table(rows, REFUSALS, zone=fmt.viewer_timezone())
    st.dataframe(frame, column_config=config, hide_index=True, width="stretch")
    st.caption(f"Newest {len(refusals)}; each is in the journey log under its refusal id.")


# A link from the signals or kill switch page carries the id in ?signal_id=.
signal_id = st.text_input("Signal id", value=st.query_params.get("signal_id", ""), placeholder="sig_...").strip()
if signal_id:
    show_journey(signal_id)
show_refusals()
