"""Admin: find a signal without knowing its id. The newest signals, filtered by strategy,
status, symbol and time; each opens its journey. ?status=open lists the signals in flight
(the health page links here with it)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import streamlit as st

from dashboards_streamlit.session import now, require, store
from shared.domain.models import Collections

SCANNED = 2000  # newest signals read before filtering: a dashboard looks back days, not years
SHOWN = 100
IN_FLIGHT = "in flight (open)"
RANGES = {"All time": None, "Last hour": timedelta(hours=1), "Last 24 hours": timedelta(days=1),
          "Last 7 days": timedelta(days=7)}

require("admin")
st.title("Signals")


def in_flight() -> list[dict[str, Any]]:
    """Signals with work still in flight, however old: read by id, not from the newest few."""
    records = (store().get(Collections.SIGNALS, o["signal_id"]) for o in store().query(Collections.OPEN_SIGNALS))
    return sorted((r for r in records if r), key=lambda r: r.get("received_at", ""), reverse=True)


def matches(record: dict[str, Any], strategies: list[str], symbol: str, since: str | None) -> bool:
    signal = record.get("signal") or {}
    return ((not strategies or record["strategy_id"] in strategies)
            and (not symbol or symbol in str((signal.get("instrument") or {}).get("symbol", "")).upper())
            and (since is None or record.get("received_at", "") >= since))


recent = store().query(Collections.SIGNALS, order_by="received_at", descending=True, limit=SCANNED)
statuses = [IN_FLIGHT, *sorted({r.get("status", "") for r in recent} - {""})]
wanted_status = IN_FLIGHT if st.query_params.get("status") == "open" else None

left, middle, right, last = st.columns(4)
strategies = left.multiselect("Strategy", sorted({s["strategy_id"] for s in store().query(Collections.STRATEGIES)}))
status = middle.selectbox("Status", statuses, index=statuses.index(wanted_status) if wanted_status else None,
                          placeholder="any status")
symbol = right.text_input("Symbol", placeholder="e.g. AAPL").strip().upper()
period = last.selectbox("Received", list(RANGES))
window = RANGES[period]
since = None if window is None else (now() - window).isoformat()

pool = in_flight() if status == IN_FLIGHT else [r for r in recent if status is None or r.get("status") == status]
found = [r for r in pool if matches(r, strategies, symbol, since)]
st.caption(f"{len(found)} signal(s) match" + (f"; the newest {SHOWN} are shown" if len(found) > SHOWN else "")
           + ". Open one to see its raw alert, every check of every decision, its orders and fills.")
if not found:
    st.info("No signal matches these filters.")
else:
    widths = [2.2, 1.6, 1.6, 1, 2.6]
    for column, heading in zip(st.columns(widths), ("Received (UTC)", "Strategy", "Signal", "Status", "Journey"),
                               strict=True):
        column.markdown(f"**{heading}**")
    for record in found[:SHOWN]:
        signal = record.get("signal") or {}
        received, strategy, what, state, link = st.columns(widths)
        received.text(record.get("received_at", "").replace("T", " ")[:19])
        strategy.text(record["strategy_id"])
        what.text(f"{signal.get('action', '?')} {(signal.get('instrument') or {}).get('symbol', '?')}")
        state.text(record.get("status", "?"))
        link.page_link("views/admin_journey.py", label=record["signal_id"], icon=":material/route:",
                       query_params={"signal_id": record["signal_id"]})
