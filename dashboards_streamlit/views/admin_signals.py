"""Admin: find a signal without knowing its id. The newest signals, filtered by strategy,
status, symbol and time; each opens its journey. ?status=open lists the signals in flight
(the health page links here with it)."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from dashboards_streamlit import formatting as fmt
from dashboards_streamlit.session import fetch, now, require

SHOWN = 100
IN_FLIGHT = "in flight (open)"
RANGES = {"All time": None, "Last hour": timedelta(hours=1), "Last 24 hours": timedelta(days=1),
          "Last 7 days": timedelta(days=7)}

require("admin")
st.title("Signals")

statuses = [IN_FLIGHT, *fetch("/api/signals", limit=1)["statuses"]]
wanted_status = IN_FLIGHT if st.query_params.get("status") == "open" else None

left, middle, right, last = st.columns(4)
strategies = left.multiselect("Strategy", sorted(s["strategy_id"] for s in fetch("/api/strategies")["strategies"]))
status = middle.selectbox("Status", statuses, index=statuses.index(wanted_status) if wanted_status else None,
                          placeholder="any status")
symbol = right.text_input("Symbol", placeholder="e.g. AAPL").strip().upper()
period = last.selectbox("Received", list(RANGES))
window = RANGES[period]

listed = fetch("/api/signals", strategy_id=strategies, status="open" if status == IN_FLIGHT else status,
               symbol=symbol, since=None if window is None else (now() - window).isoformat(), limit=SHOWN)
found = listed["signals"]
st.caption(f"{listed['matched']} signal(s) match" + (f"; the newest {SHOWN} are shown" if listed["matched"] > SHOWN
                                                      else "")
           + ". Open one to see its raw alert, every check of every decision, its orders and fills.")
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
