"""docs/extending.md's how-tos, followed step by step: each extension is written here exactly
as the document says, registered the way it says, and driven through the real interfaces
(the webhook and the pipeline for a risk check, the API for an optimiser), so a how-to that
stops working fails here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import shared.domain.risk as risk
import shared.portfolio.optimisers as optimisers
import shared.services.portfolio_requests as portfolio_requests
from devstack.embedded import create_app
from shared.bootstrap import Services
from shared.demo import DEMO_API_KEYS
from shared.domain.models import Collections
from shared.domain.risk import Adding, Room
from shared.openapi import document
from shared.portfolio.constraints import Constraints, OptimisationResult, portfolio_result
from shared.portfolio.covariance import estimate_covariance
from tests.conftest import signal_body

ADMIN = {"Authorization": f"Bearer {DEMO_API_KEYS['admin', 'admin']}"}


# --- "Add a risk check" ------------------------------------------------------------------
def max_order_quantity(order: Adding) -> Room:
    """No order adds more than 3 units (the how-to's example cap)."""
    return order.floor + 3, f"adds {order.size - order.floor:g} units, cap 3"


def test_a_new_risk_check_caps_what_reaches_the_broker(embedded: Services, monkeypatch):
    monkeypatch.setattr(risk, "CAPS", (*risk.CAPS, max_order_quantity))  # step 2: one line in CAPS
    answer = create_app(embedded).test_client().post(
        "/webhook", data=signal_body(ticker="AAPL", exchange="NASDAQ", action="buy", quantity=10, price=190,
                                     signal_id="howto-cap"), content_type="application/json")
    assert answer.status_code == 202
    embedded.bus.drain()
    decisions = embedded.store.get(Collections.SIGNALS, answer.get_json()["signal_id"])["decisions"]
    for decision in decisions:  # without the cap, these accounts bought 40 and 15
        cap = next(c for c in decision["checks"] if c["name"] == "max_order_quantity")
        assert cap["outcome"] == "capped" and "cap 3" in cap["detail"]
    for account in ("DEMO-CLIENT-A", "DEMO-CLIENT-B"):  # the broker's own book
        assert embedded.mock_broker.account_snapshot(account).positions.get("NASDAQ:AAPL") == 3


# --- "Add an optimiser" ------------------------------------------------------------------
def inverse_volatility(returns: pd.DataFrame, constraints: Constraints,
                       covariance: str = "sample") -> OptimisationResult:
    """Weights in proportion to 1/volatility, summing to the leverage cap (the how-to's example)."""
    lower, upper = constraints.bounds(list(returns.columns))
    inverse = 1 / np.sqrt(np.diag(estimate_covariance(returns, covariance)))
    weights = inverse / inverse.sum() * constraints.leverage_cap
    if ((weights < lower) | (weights > upper)).any():
        raise optimisers.InfeasibleConstraints("constraints", "inverse volatility breaks a bound")
    return portfolio_result("inverse_volatility", list(returns.columns), weights, 0.0, returns)


def test_a_new_optimiser_is_offered_by_the_api_and_stored_like_the_others(embedded: Services, monkeypatch):
    monkeypatch.setitem(optimisers.OPTIMISERS, "inverse_volatility", inverse_volatility)  # step 2
    monkeypatch.setitem(portfolio_requests.METHODS, "inverse_volatility", ("covariance",))  # step 3
    client = create_app(embedded).test_client()
    strategies = ["momentum_us", "trend_futures", "fx_carry"]
    answer = client.post("/api/portfolio/tests", headers=ADMIN, json={
        "method": "inverse_volatility", "strategy_ids": strategies, "covariance": "sample",
        "train_days": 252, "test_days": 126})
    assert answer.status_code == 201, answer.get_json()
    test = answer.get_json()
    volatility = {s: test["strategy_metrics"][s]["volatility"] for s in strategies}
    inverse = {s: 1 / v for s, v in volatility.items()}
    assert test["weights"] == pytest.approx({s: w / sum(inverse.values()) for s, w in inverse.items()}, rel=1e-9)
    assert len(test["walk_forward"]["windows"]) == (756 - 252) // 126
    method = document()["components"]["schemas"]["OptimisationRequest"]["properties"]["method"]
    assert "inverse_volatility" in method["enum"]  # the API's published schema offers it too
