"""Admin: every stage's last activity, work in flight, dead letters, breaks, kill switch."""

import pandas as pd
import streamlit as st

from dashboards_streamlit.session import REFRESH, fetch, require

require("admin")
st.title("System health")


@st.fragment(run_every=REFRESH)
def health() -> None:
    view = fetch("/api/dashboards/health")
    switch = view["kill_switch"]
    if switch.get("enabled"):
        st.error(f"Kill switch ON: {switch.get('reason', '')} (by {switch.get('changed_by', '?')})")
    else:
        st.success("Kill switch off: trading")
    rows = []
    for component in view["components"]:
        idle = component["idle_seconds"]
        state = "no activity yet" if idle is None else "active" if idle < 300 else "idle"
        rows.append({"component": component["component"], "state": state,
                     "last activity": component["last_activity"] or "—",
                     "idle (s)": None if idle is None else round(idle)})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    left, middle, right = st.columns(3)
    left.metric("Signals in flight", view["in_flight"]["unsettled_signals"])
    left.page_link("views/admin_signals.py", label=f"Signals in flight: {view['in_flight']['unsettled_signals']}"
                   " — list them", icon=":material/list_alt:", query_params={"status": "open"})
    middle.metric("Orders being placed", view["in_flight"]["orders_submitting"])
    right.metric("Dead letters", sum(view["dead_letters"].values()))
    if view["dead_letters"]:
        st.dataframe(pd.DataFrame([{"topic": t, "dead letters": n} for t, n in view["dead_letters"].items()]),
                     hide_index=True)
    st.caption(f"{len(view['open_breaks'])} open reconciliation break(s); as of {view['generated_at']}")


health()
