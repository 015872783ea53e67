"""The portfolio builder through the API an admin uses: every method, costs and rebalancing in
the walk-forward (recomputed independently from what the test stored), the frontier, and
settings a method would silently ignore refused."""

from __future__ import annotations

from datetime import date

import pytest

from devstack.embedded import create_app
from shared.bootstrap import Services
from shared.demo import DEMO_API_KEYS
from shared.domain.models import Collections
from shared.portfolio import COVARIANCE_ESTIMATORS, OPTIMISERS, parameters
from shared.services.portfolio_requests import COVARIANCE, METHODS

ADMIN = {"Authorization": f"Bearer {DEMO_API_KEYS['admin', 'admin']}"}
STRATEGIES = ["momentum_us", "trend_futures", "fx_carry"]  # the demo fund's, with 756 days of returns each


@pytest.fixture
def client(embedded: Services):
    return create_app(embedded).test_client()


def test_the_api_offers_exactly_the_methods_settings_and_estimators_the_builder_has():
    assert set(METHODS) == set(OPTIMISERS)
    assert {method: set(settings) for method, settings in METHODS.items()} == {
        method: set(parameters(method)) for method in OPTIMISERS}
    assert set(COVARIANCE.__args__) == set(COVARIANCE_ESTIMATORS)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_runs_and_stores_a_test_with_its_frontier(client, method):
    answer = client.post("/api/portfolio/tests", headers=ADMIN, json={
        "method": method, "strategy_ids": STRATEGIES, "train_days": 252, "test_days": 126})
    assert answer.status_code == 201, answer.get_json()
    test = answer.get_json()
    assert sum(test["weights"].values()) == pytest.approx(1.0, abs=1e-8)
    assert test["covariance"]["estimator"] == "ledoit_wolf" and 0 < test["covariance"]["shrinkage"] <= 1
    frontier = test["frontier"]
    returns = [point["expected_return"] for point in frontier]
    volatilities = [point["volatility"] for point in frontier]
    assert returns == sorted(returns) and volatilities == sorted(volatilities)  # more return costs more risk
    if method == "min_variance":
        assert test["expected"]["annual_volatility"] == pytest.approx(volatilities[0], rel=1e-6)
    if method == "max_sharpe":  # no frontier portfolio beats the tangency portfolio's Sharpe
        assert all(point["sharpe"] <= test["expected"]["sharpe"] + 1e-6 for point in frontier)


def stored_returns(embedded: Services) -> tuple[list[date], dict[str, dict[date, float]]]:
    series = {}
    for strategy in STRATEGIES:
        document = embedded.store.get(Collections.STRATEGY_RETURNS, strategy)
        series[strategy] = dict(zip(map(date.fromisoformat, document["dates"]), document["returns"], strict=True))
    days = sorted(set.intersection(*(set(s) for s in series.values())))
    return days, series


def test_the_walk_forward_net_result_is_what_its_stored_weights_and_costs_give(client, embedded):
    """Monthly rebalancing at 25 bp: replay the stored window weights over the uploaded returns
    with a plain loop (drift, trade back on the last day of each month, pay the cost on every
    unit traded), and land on the stored net equity and turnover."""
    answer = client.post("/api/portfolio/tests", headers=ADMIN, json={
        "method": "min_variance", "strategy_ids": STRATEGIES, "train_days": 252, "test_days": 126,
        "rebalancing": "monthly", "cost_bp": 25})
    assert answer.status_code == 201, answer.get_json()
    walk = answer.get_json()["walk_forward"]
    days, series = stored_returns(embedded)

    equity, turnover, held = 1.0, 0.0, dict.fromkeys(STRATEGIES, 0.0)  # the first window enters from cash
    for window in walk["windows"]:
        first, last = (date.fromisoformat(stamp[:10]) for stamp in window["test"])
        window_days = [d for d in days if first <= d <= last]
        target = window["weights"]
        for position, day in enumerate([None, *window_days]):
            if day is not None:
                growth = sum(held[s] * series[s][day] for s in STRATEGIES)
                equity *= 1 + growth
                held = {s: held[s] * (1 + series[s][day]) / (1 + growth) for s in STRATEGIES}
            following = window_days[position] if position < len(window_days) else None
            if day is None or (following is not None and following.month != day.month):  # entry, or month end
                traded = sum(abs(target[s] - held[s]) for s in STRATEGIES)
                equity *= 1 - traded * 25e-4
                turnover += traded
                held = dict(target)

    assert walk["equity"]["equity"][-1] == pytest.approx(equity, rel=1e-7)  # stored rounded to 8 places
    assert walk["turnover"] == pytest.approx(turnover, rel=1e-10)
    assert walk["costs"] == pytest.approx(turnover * 25e-4, rel=1e-10)
    assert walk["gross_equity"]["equity"][-1] > walk["equity"]["equity"][-1]
    assert walk["gross_metrics"]["cagr"] > walk["metrics"]["cagr"]


@pytest.mark.parametrize(("body", "field"), [
    ({"method": "min_variance", "risk_free": 0.03}, "risk_free"),  # only max Sharpe takes a risk-free rate
    ({"method": "max_cagr", "covariance": "sample"}, "covariance"),  # max CAGR reads the days themselves
    ({"method": "risk_parity", "risk_budgets": {"momentum_us": 2, "nobody": 1}}, "risk_budgets"),
    ({"method": "min_variance", "cost_bp_per_strategy": {"nobody": 5}}, "costs.per_strategy_bp"),
    ({"method": "min_variance", "rebalancing": "hourly"}, "rebalancing"),
    ({"method": "min_variance", "min_weight": {"momentum_us": 0.5, "fx_carry": 0.6}}, "constraints.min_weight"),
])
def test_a_setting_that_cannot_apply_is_refused_naming_it_and_nothing_is_stored(client, embedded, body, field):
    answer = client.post("/api/portfolio/tests", headers=ADMIN, json={
        "strategy_ids": STRATEGIES, "train_days": 252, "test_days": 126, **body})
    assert answer.status_code == 422 and answer.get_json()["field"] == field, answer.get_json()
    assert embedded.store.query(Collections.PORTFOLIO_TESTS) == []


def test_risk_budgets_set_each_strategys_share_of_the_risk(client):
    answer = client.post("/api/portfolio/tests", headers=ADMIN, json={
        "method": "risk_parity", "strategy_ids": STRATEGIES, "train_days": 252, "test_days": 126,
        "covariance": "sample", "risk_budgets": {"momentum_us": 2, "trend_futures": 1, "fx_carry": 1}})
    assert answer.status_code == 201, answer.get_json()
    even = client.post("/api/portfolio/tests", headers=ADMIN, json={
        "method": "risk_parity", "strategy_ids": STRATEGIES, "train_days": 252, "test_days": 126,
        "covariance": "sample"}).get_json()
    assert answer.get_json()["weights"]["momentum_us"] > even["weights"]["momentum_us"]
