"""Admin: strategies, an optimisation compared with the allocation in force, and approval
for the accounts the admin chooses, after seeing each one's change and confirming it."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboards_streamlit import charts
from dashboards_streamlit import formatting as fmt
from dashboards_streamlit.session import api, fetch, require, show_error
from shared.services.portfolio_requests import METHODS, OptimisationRequest

NOTICE = "portfolio_notice"  # an approval's outcome, shown once after the page re-reads the allocation
NEGLIGIBLE = 1e-9  # weights below this are not allocated (the approval drops them too)


STRATEGIES = {"strategy_id": fmt.TEXT, "name": fmt.TEXT, "owner": fmt.TEXT, "status": fmt.TEXT,
              "reference_capital": fmt.MONEY}
# Column -> (period, which metrics): the walk-forward before and after its trading costs.
PERIODS = {"In sample, after costs": ("in_sample", "metrics"),
           "Walk-forward, before costs": ("walk_forward", "gross_metrics"),
           "Walk-forward, after costs": ("walk_forward", "metrics")}
METHOD_NAMES = {"max_sharpe": "Max Sharpe", "max_cagr": "Max CAGR (Kelly)",
                "hybrid": "Hybrid: max CAGR under a volatility cap", "min_variance": "Minimum variance",
                "risk_parity": "Risk parity", "hrp": "Hierarchical risk parity", "min_cvar": "Minimum CVaR",
                "equal_weight": "Equal weight"}
COVARIANCE_NAMES = {"ledoit_wolf": "Ledoit-Wolf, constant correlation", "sample": "Sample",
                    "ledoit_wolf_constant_variance": "Ledoit-Wolf, constant variance"}
REBALANCING_NAMES = {"daily": "daily", "weekly": "weekly", "monthly": "monthly", "quarterly": "quarterly",
                     "threshold": "when a weight drifts past a band", "none": "only at each refit"}
FRACTIONS = {"cagr", "volatility", "max_drawdown"}  # shown as percentages; the ratios as plain numbers


def percent(weight: float) -> str:
    return f"{weight * 100:.1f}%"


def metric(name: str, value: float | None) -> str:
    if fmt.missing(value):
        return fmt.MISSING
    if name in FRACTIONS:
        return fmt.percent(value)
    return f"{value:,.0f}" if name == "days" else f"{value:.2f}"


def trading_summary(request: dict[str, Any], walk: dict[str, Any]) -> str:
    """What trading cost the walk-forward, in one sentence."""
    policy = REBALANCING_NAMES.get(request.get("rebalancing", "daily"), request.get("rebalancing"))
    if request.get("rebalancing") == "threshold":
        policy += f" ({fmt.percent(request['rebalancing_band'])})"
    return (f"Walk-forward trading: turnover {walk['annual_turnover']:.1f}x a year, costs "
            f"{fmt.percent(walk['costs'])} of equity in all at {request.get('cost_bp', 0):g} bp per unit traded, "
            f"rebalanced {policy}.")


def allocation_table(weights: dict[str, dict[str, float]]) -> pd.DataFrame:
    """Accounts as rows, strategies as columns, in percent: what each account trades now."""
    strategies = sorted({s for account in weights.values() for s in account})
    return pd.DataFrame([{"account": a, **{s: percent(weights[a].get(s, 0.0)) for s in strategies}}
                         for a in sorted(weights)]).set_index("account")


def changes(account_id: str, now_in: dict[str, float], proposed: dict[str, float]) -> list[dict[str, Any]]:
    """One account's weights before and after approval: the proposal replaces them whole."""
    after = {s: w for s, w in proposed.items() if w > NEGLIGIBLE}
    return [{"account": account_id, "strategy": s, "current": percent(now_in.get(s, 0.0)),
             "new": percent(after.get(s, 0.0)),
             "change": f"{(after.get(s, 0.0) - now_in.get(s, 0.0)) * 100:+.1f} pp"}
            for s in sorted(set(now_in) | set(after))]


require("admin")
st.title("Strategies & allocation")
if NOTICE in st.session_state:
    st.success(st.session_state.pop(NOTICE))
strategies = fetch("/api/strategies")["strategies"]
frame, config = fmt.table(strategies, STRATEGIES)
st.dataframe(frame, column_config=config, hide_index=True, width="stretch")

current = fetch("/api/allocation")
in_force = current.get("in_effect") or {}
st.subheader(f"Allocation in force: version {in_force.get('version', '—')}")
current_weights: dict[str, dict[str, float]] = in_force.get("weights") or {}
if current_weights:
    st.table(allocation_table(current_weights))
else:
    st.info("No allocation has been approved yet.")
if current.get("pending"):
    pending = current["pending"]
    st.info(f"Version {pending['version']} is approved and takes effect at {pending.get('effective_from')}.")

st.subheader("Run an optimisation")
DEFAULTS = OptimisationRequest(method="equal_weight", strategy_ids=["-"])  # the API's defaults, shown as such
method = st.selectbox("Method", list(METHODS), format_func=lambda m: METHOD_NAMES.get(m, m))
settings = METHODS[method]
with st.form("optimise"):
    chosen = st.multiselect("Strategies", [s["strategy_id"] for s in strategies if s["status"] == "live"],
                            default=[s["strategy_id"] for s in strategies if s["status"] == "live"])
    body: dict[str, Any] = {"method": method, "strategy_ids": chosen}
    if "covariance" in settings:
        body["covariance"] = st.selectbox("Covariance estimate", list(COVARIANCE_NAMES),
                                          format_func=COVARIANCE_NAMES.get)
    if "max_volatility" in settings:
        body["max_volatility"] = st.number_input("Annual volatility cap", value=DEFAULTS.max_volatility,
                                                 min_value=0.01, max_value=2.0)
    if "risk_free" in settings:
        body["risk_free"] = st.number_input("Risk-free rate, annual", value=DEFAULTS.risk_free,
                                            min_value=-0.5, max_value=0.5, format="%.4f")
    if "cvar_beta" in settings:
        body["cvar_beta"] = st.number_input("CVaR confidence", value=DEFAULTS.cvar_beta, min_value=0.5,
                                            max_value=0.999, format="%.3f")
    left, right = st.columns(2)
    body["cost_bp"] = left.number_input("Trading cost, bp per unit of weight traded", value=DEFAULTS.cost_bp,
                                        min_value=0.0, max_value=1000.0)
    body["rebalancing"] = right.selectbox("Rebalance in the backtests", list(REBALANCING_NAMES),
                                          format_func=REBALANCING_NAMES.get)
    band = right.number_input("Band, for rebalancing past a band", value=DEFAULTS.rebalancing_band,
                              min_value=0.001, max_value=1.0, format="%.3f")
    if body["rebalancing"] == "threshold":
        body["rebalancing_band"] = band
    if st.form_submit_button("Run"):
        status, test = api("POST", "/api/portfolio/tests", json=body)
        if status == 201:
            st.session_state["portfolio_test"] = test
        else:
            show_error(test)

test = st.session_state.get("portfolio_test")
if test:
    chosen_method = test["request"]["method"]
    st.subheader(f"Proposal {test['test_id']} ({METHOD_NAMES.get(chosen_method, chosen_method)})")
    rows = [{"strategy": s, "proposed": percent(w),
             **{f"now in {a}": percent(current_weights[a].get(s, 0.0)) for a in sorted(current_weights)}}
            for s, w in test["weights"].items()]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    left, right = st.columns(2)
    left.altair_chart(charts.allocation([{"strategy": s, "weight": w} for s, w in test["weights"].items() if w > 0]),
                      width="stretch")
    right.altair_chart(charts.correlation_heatmap(test["correlation"]), width="stretch")
    request = test["request"]
    shrinkage = test.get("covariance") or {}
    if "covariance" in METHODS.get(request["method"], ()):
        st.caption(f"Covariance: {COVARIANCE_NAMES.get(shrinkage.get('estimator'), '—')}, shrinkage "
                   f"{shrinkage.get('shrinkage', 0):.2f} toward the target.")
    st.dataframe(pd.DataFrame([{"measure": fmt.label(name),
                                **{column: metric(name, test[period][which].get(name))
                                   for column, (period, which) in PERIODS.items()}}
                               for name in test["in_sample"]["metrics"]]), hide_index=True, width="stretch")
    walk = test["walk_forward"]
    st.caption(trading_summary(request, walk))
    curve = [{"date": d, "equity": e, "series": series}
             for series, key in (("before costs", "gross_equity"), ("after costs", "equity"))
             for d, e in zip(walk[key]["dates"], walk[key]["equity"], strict=True)]
    st.altair_chart(charts.growth_by_series(curve, "date", "equity", "series",
                                            "Walk-forward growth (out of sample)"), width="stretch")
    st.altair_chart(charts.frontier(test["frontier"], test["expected"]), width="stretch")

    st.subheader("Approve")
    accounts = [a["account_id"] for a in fetch("/api/accounts")["accounts"]]
    chosen_accounts = st.multiselect("Accounts to apply this allocation to", accounts, default=[],
                                     help="Only these accounts change; every other account keeps its weights.")
    if chosen_accounts:
        st.markdown("**What changes** (percent of each account's capital)")
        diff = [row for a in chosen_accounts for row in changes(a, current_weights.get(a, {}), test["weights"])]
        st.table(pd.DataFrame(diff).set_index("account"))
        unchanged = sorted(set(current_weights) - set(chosen_accounts))
        if unchanged:
            st.caption(f"Unchanged: {', '.join(unchanged)}.")
    reviewed = st.checkbox("I have reviewed these changes and approve them for the chosen accounts")
    if st.button("Approve as the next allocation", type="primary"):
        if not chosen_accounts:
            st.error("Choose at least one account: nothing was approved.")
        elif not reviewed:
            st.error("Tick the confirmation box after reviewing the changes: nothing was approved.")
        else:
            status, body = api("POST", f"/api/portfolio/tests/{test['test_id']}/approve",
                               json={"account_ids": chosen_accounts})
            if status == 200:
                st.session_state[NOTICE] = (f"Approved: allocation version {body['allocation']['version']} for "
                                            f"{', '.join(chosen_accounts)}.")
                del st.session_state["portfolio_test"]
                st.rerun()  # re-read: the header shows the version now in force
            else:
                show_error(body)
