"""Admin: every stage's last activity, work in flight, dead letters, breaks, kill switch."""

import pandas as pd
import streamlit as st

from dashboards_streamlit import formatting as fmt
from dashboards_streamlit.session import REFRESH, fetch, require

COMPONENTS = {"component": fmt.TEXT, "state": fmt.TEXT, "last_activity": fmt.TIME, "idle_for": fmt.TEXT}

require("admin")
st.title("System health")


def idle_for(seconds: float | None) -> str:
    """How long a stage has been quiet, as a person says it."""
    if seconds is None:
        return fmt.MISSING
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


@st.fragment(run_every=REFRESH)
def health() -> None:
    view = fetch("/api/dashboards/health")
    switch = view["kill_switch"]
    if switch.get("enabled"):
        st.error(f"Kill switch ON: {switch.get('reason', '')} (by {switch.get('changed_by', '?')})")
    else:
        st.success("Kill switch off: trading")
    zone = fmt.viewer_timezone()
    rows = []
    for component in view["components"]:
        idle = component["idle_seconds"]
        state = "no activity yet" if idle is None else "active" if idle < 300 else "idle"
        rows.append({"component": component["component"], "state": state,
                     "last_activity": component["last_activity"], "idle_for": idle_for(idle)})
    frame, config = fmt.table(rows, COMPONENTS, zone=zone)
    st.dataframe(frame, column_config=config, hide_index=True, width="stretch")
    left, middle, right = st.columns(3)
    left.metric("Signals in flight", view["in_flight"]["unsettled_signals"])
    left.page_link("views/admin_signals.py", label=f"Signals in flight: {view['in_flight']['unsettled_signals']}"
                   " — list them", icon=":material/list_alt:", query_params={"status": "open"})
    middle.metric("Orders being placed", view["in_flight"]["orders_submitting"])
    middle.page_link("views/admin_orders.py", label="Working orders — the blotter", icon=":material/pending_actions:")
    right.metric("Dead letters", sum(view["dead_letters"].values()))
    if view["dead_letters"]:
        st.dataframe(pd.DataFrame([{"topic": t, "dead letters": n} for t, n in view["dead_letters"].items()]),
                     hide_index=True)
    st.caption(f"{len(view['open_breaks'])} open reconciliation break(s) (see Accounts & reconciliation); as of "
               f"{fmt.timestamp(view['generated_at'], zone, seconds=True)} {fmt.zone_name(zone)}")


health()
