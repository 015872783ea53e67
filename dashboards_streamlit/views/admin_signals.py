"""Admin: find a signal without knowing its id. The newest signals, filtered by strategy,
status, symbol and time; each opens its journey. ?status=open lists the signals in flight
(the health page links here with it)."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from dashboards_streamlit import formatting as fmt
from dashboards_streamlit.session import fetch, now, require

PAGE_SIZES = (25, 50, 100)  # rows drawn as links: a hundred take a second or two to draw
IN_FLIGHT = "open"
STATUS_NAMES = {IN_FLIGHT: "in flight (open)"}
RANGES = {"All time": None, "Last hour": timedelta(hours=1), "Last 24 hours": timedelta(days=1),
          "Last 7 days": timedelta(days=7)}

require("admin")
st.title("Signals")

newest = fetch("/api/signals", limit=PAGE_SIZES[0])  # the unfiltered view, which also names the statuses
statuses = newest["statuses"]
wanted_status = IN_FLIGHT if st.query_params.get("status") == IN_FLIGHT else None

left, middle, right, period_box, size_box = st.columns([2, 1.4, 1.2, 1.2, 0.8])
strategies = left.multiselect("Strategy", sorted(s["strategy_id"] for s in fetch("/api/strategies")["strategies"]))
status = middle.selectbox("Status", statuses, index=statuses.index(wanted_status) if wanted_status else None,
                          format_func=lambda s: STATUS_NAMES.get(s, s), placeholder="any status")
symbol = right.text_input("Symbol", placeholder="e.g. AAPL").strip().upper()
window = RANGES[period_box.selectbox("Received", list(RANGES))]
shown = size_box.selectbox("Rows", PAGE_SIZES)

filtered = strategies or status or symbol or window is not None or shown != PAGE_SIZES[0]
listed = newest if not filtered else fetch(
    "/api/signals", strategy_id=strategies, status=status, symbol=symbol, limit=shown,
    since=None if window is None else (now() - window).isoformat())
found = listed["signals"]
st.caption(fmt.signals_found(listed) + ". Open one to see its raw alert, every check of every decision, its orders "
           "and fills.")
if not found:
    st.info("No signal matches these filters. Signals appear here as soon as a webhook or API alert is accepted.")
else:
    zone = fmt.viewer_timezone()
    widths = [2.2, 1.6, 1.6, 1, 2.6]
    for column, heading in zip(st.columns(widths), (f"Received ({fmt.zone_name(zone)})", "Strategy", "Signal",
                                                     "Status", "Journey"), strict=True):
        column.markdown(f"**{heading}**")
    for row in found:
        received, strategy, what, state, link = st.columns(widths)
        received.text(fmt.timestamp(row["received_at"], zone))
        strategy.text(row["strategy_id"])
        what.text(f"{row['action'] or '?'} {row['symbol'] or '?'}")
        state.text(row["status"] or "?")
        link.page_link("views/admin_journey.py", label=row["signal_id"], icon=":material/route:",
                       query_params={"signal_id": row["signal_id"]})
