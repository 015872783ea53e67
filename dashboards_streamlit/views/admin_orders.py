"""Admin: the order blotter. Every order not yet final at any broker, and cancelling one:
the request goes to the broker, and the order leaves the blotter once the broker confirms."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboards_streamlit import formatting as fmt
from dashboards_streamlit.session import REFRESH, api, fetch, require, show_error

NOTICE = "orders_notice"  # a cancel's outcome, shown once after the page re-reads the blotter
ORDERS = {"placed_at": fmt.TIME, "account_id": fmt.TEXT, "strategy_id": fmt.TEXT, "symbol": fmt.TEXT,
          "side": fmt.TEXT, "quantity": fmt.QUANTITY, "filled_quantity": fmt.QUANTITY, "order_type": fmt.TEXT,
          "limit_price": fmt.PRICE, "stop_price": fmt.PRICE, "status": fmt.TEXT, "broker": fmt.TEXT,
          "client_order_id": fmt.TEXT}

require("admin")
st.title("Order blotter")
if NOTICE in st.session_state:
    st.success(st.session_state.pop(NOTICE))


def describe(order: dict[str, Any]) -> str:
    """An order as the admin names it when choosing which to cancel."""
    limit = f" at {fmt.price(order['limit_price'])}" if order.get("limit_price") else ""
    return (f"{order['side']} {fmt.quantity(order['quantity'])} {order['symbol']}{limit} — {order['account_id']}, "
            f"{order['strategy_id']} ({order['status']}, {order['client_order_id']})")


@st.fragment(run_every=REFRESH)
def blotter() -> None:
    orders = fetch("/api/orders")["orders"]
    st.caption(f"{len(orders)} working order(s), oldest first. Prices are in each instrument's currency.")
    if not orders:
        st.info("No working orders: every order the fund sent is filled, cancelled or rejected. Orders appear here "
                "from the moment cerebro decides them until the broker reports them final.")
        return
    frame, config = fmt.table(orders, ORDERS, zone=fmt.viewer_timezone())
    st.dataframe(frame, column_config=config, hide_index=True, width="stretch")


blotter()

st.subheader("Cancel an order")
working = {order["client_order_id"]: order for order in fetch("/api/orders")["orders"]}
with st.form("cancel-order"):
    chosen = st.selectbox("Order", list(working), format_func=lambda oid: describe(working[oid]), index=None,
                          placeholder="choose a working order")
    sure = st.checkbox("Cancel this order at its broker")
    if st.form_submit_button("Cancel order", disabled=not working):
        if chosen is None:
            st.error("Choose the order to cancel: nothing was cancelled.")
        elif not sure:
            st.error("Tick the box to confirm: nothing was cancelled.")
        else:
            status, body = api("POST", f"/api/orders/{chosen}/cancel")
            if status == 202:
                st.session_state[NOTICE] = (f"Cancel sent for {describe(working[chosen])}. It leaves the blotter once "
                                            "the broker confirms; its signal's journey records the answer.")
                st.rerun()
            else:
                show_error(body)
