"""Admin: strategies, an optimisation compared with the allocation in force, and approval."""

import pandas as pd
import streamlit as st

from dashboards_streamlit import charts
from dashboards_streamlit.session import api, fetch, require, show_error
from shared.services.portfolio_requests import METHODS

require("admin")
st.title("Strategies & allocation")
strategies = fetch("/api/strategies")["strategies"]
st.dataframe(pd.DataFrame([{k: s.get(k) for k in ("strategy_id", "name", "owner", "status", "reference_capital")}
                           for s in strategies]), hide_index=True, width="stretch")

_, current = api("GET", "/api/allocation")
in_force = (current or {}).get("in_effect") or {}
st.subheader(f"Allocation in force: version {in_force.get('version', '—')}")
current_weights = in_force.get("weights", {})
st.dataframe(pd.DataFrame(current_weights).T.fillna(0.0), width="stretch")

st.subheader("Run an optimisation")
with st.form("optimise"):
    method = st.selectbox("Method", METHODS)
    chosen = st.multiselect("Strategies", [s["strategy_id"] for s in strategies if s["status"] == "live"],
                            default=[s["strategy_id"] for s in strategies if s["status"] == "live"])
    max_volatility = st.number_input("Hybrid: annual volatility cap", value=0.15, min_value=0.01, max_value=2.0)
    if st.form_submit_button("Run"):
        body = {"method": method, "strategy_ids": chosen}
        if method == "hybrid":
            body["max_volatility"] = max_volatility
        status, test = api("POST", "/api/portfolio/tests", json=body)
        if status == 201:
            st.session_state["portfolio_test"] = test
        else:
            show_error(test)

test = st.session_state.get("portfolio_test")
if test:
    st.subheader(f"Proposal {test['test_id']} ({test['request']['method']})")
    rows = [{"strategy_id": s, "proposed": w,
             **{f"now in {a}": current_weights[a].get(s, 0.0) for a in sorted(current_weights)}}
            for s, w in test["weights"].items()]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    left, right = st.columns(2)
    left.altair_chart(charts.allocation([{"strategy": s, "weight": w} for s, w in test["weights"].items() if w > 0]),
                      width="stretch")
    right.altair_chart(charts.correlation_heatmap(test["correlation"]), width="stretch")
    metrics = pd.DataFrame({"in sample": test["in_sample"]["metrics"], "walk-forward": test["walk_forward"]["metrics"]})
    st.dataframe(metrics, width="stretch")
    curve = [{"date": d, "equity": e} for d, e in zip(test["walk_forward"]["equity"]["dates"],
                                                       test["walk_forward"]["equity"]["equity"], strict=True)]
    st.altair_chart(charts.line(curve, "date", "equity", "Walk-forward equity (out of sample)"),
                    width="stretch")
    if st.button("Approve as the next allocation", type="primary"):
        status, body = api("POST", f"/api/portfolio/tests/{test['test_id']}/approve", json={})
        if status == 200:
            st.success(f"Approved: allocation version {body['allocation']['version']}")
            del st.session_state["portfolio_test"]
        else:
            show_error(body)
