"""Portfolio tests and their approval into the allocation cerebro trades.

Every optimisation run is kept in ``portfolio_tests`` with everything the admin needs
to judge it (weights, metrics, correlation, in-sample and walk-forward results). An
approval turns one test into the next ``current_allocation`` version, atomically,
and keeps every version in ``allocation_history``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pandas as pd

from shared.auth.api_keys import Principal
from shared.auth.roles import require_admin
from shared.domain.errors import Refusal, RequestRejected
from shared.domain.models import Account, Allocation, Collections, RiskLimits, Strategy, StrategyStatus
from shared.domain.returns_csv import ReturnSeries
from shared.domain.risk import broker_allocation_breaches
from shared.domain.schema import CURRENT_ALLOCATION_DOC
from shared.portfolio import (
    Backtest,
    Constraints,
    Costs,
    PortfolioDataError,
    Rebalancing,
    WalkForward,
    backtest,
    correlation,
    covariance_estimate,
    efficient_frontier,
    metrics_table,
    optimise,
    prepare_returns,
    walk_forward,
)
from shared.ports.store import Store, Transaction
from shared.services.portfolio_requests import METHODS, Approval, OptimisationRequest
from shared.services.prices import PriceBook
from shared.services.risk_context import FUND_CURRENCY, fund_limits

FRONTIER_POINTS = 15


def _tidy(metrics: Any) -> dict[str, Any]:
    return {k: (None if v is None else round(float(v), 10)) for k, v in vars(metrics).items()}


class PortfolioService:
    def __init__(self, store: Store, clock: Callable[[], datetime], prices: PriceBook, limits: RiskLimits):
        self._store = store
        self._clock = clock
        self._prices = prices
        self._limits = limits

    # --- optimisation runs ----------------------------------------------------------
    def run_test(self, request: OptimisationRequest, caller: Principal) -> dict[str, Any]:
        _admin_only(caller)
        returns = self._returns(request.strategy_ids)
        constraints = Constraints(min_weight=request.min_weight, max_weight=request.max_weight,
                                  default_max_weight=request.default_max_weight, leverage_cap=request.leverage_cap)
        params = _method_parameters(request)
        try:
            rebalancing = Rebalancing(request.rebalancing, request.rebalancing_band)
            costs = Costs(request.cost_bp, request.cost_bp_per_strategy)
            result = optimise(request.method, returns, constraints, **params)
            in_sample = backtest(returns, result.weights, rebalancing, costs)
            out_of_sample = walk_forward(returns, request.method, constraints, train_days=request.train_days,
                                         test_days=request.test_days, rebalancing=rebalancing, costs=costs, **params)
            estimate = covariance_estimate(returns, request.covariance)
            frontier = efficient_frontier(returns, constraints, FRONTIER_POINTS, request.covariance,
                                          request.risk_free)
        except PortfolioDataError as error:
            raise RequestRejected(error.field, error.reason) from None
        test_id = f"pt_{self._clock():%Y%m%d%H%M%S}_{secrets.token_hex(3)}"
        document = {
            "test_id": test_id, "status": "proposed", "created_at": self._clock().isoformat(),
            "requested_by": caller.subject, "request": request.model_dump(mode="json"),
            "weights": result.weights,
            "expected": {"annual_return": result.expected_return, "annual_volatility": result.volatility,
                         "sharpe": result.sharpe},
            "covariance": {"estimator": estimate.estimator, "shrinkage": round(estimate.shrinkage, 10)},
            "strategy_metrics": {s: _tidy(m) for s, m in metrics_table(returns).items()},
            "correlation": correlation(returns).round(6).to_dict(),
            "frontier": [{"expected_return": p.expected_return, "volatility": p.volatility, "sharpe": p.sharpe}
                         for p in frontier],
            "in_sample": _performance(in_sample),
            "walk_forward": {
                **_performance(out_of_sample),
                "windows": [{"train": [str(w.train_start), str(w.train_end)],
                             "test": [str(w.test_start), str(w.test_end)], "weights": w.weights,
                             "in_sample": _tidy(w.in_sample), "out_of_sample": _tidy(w.out_of_sample),
                             "turnover": w.turnover, "costs": w.costs}
                            for w in out_of_sample.windows],
            },
        }
        self._store.put(Collections.PORTFOLIO_TESTS, test_id, document)
        return document

    def get_test(self, test_id: str, caller: Principal) -> dict[str, Any]:
        _admin_only(caller)
        document = self._store.get(Collections.PORTFOLIO_TESTS, test_id)
        if document is None:
            raise RequestRejected("test_id", f"no portfolio test {test_id!r}", Refusal.NOT_FOUND, "not_found")
        return document

    def list_tests(self, caller: Principal, limit: int = 50) -> list[dict[str, Any]]:
        _admin_only(caller)
        return self._store.query(Collections.PORTFOLIO_TESTS, order_by="created_at", descending=True, limit=limit)

    # --- approval -------------------------------------------------------------------
    def approve(self, test_id: str, approval: Approval, caller: Principal) -> Allocation:
        """The test's weights become the next allocation version for the chosen accounts."""
        test = self.get_test(test_id, caller)
        if test["status"] != "proposed":
            raise RequestRejected("test_id", f"test {test_id} is {test['status']}, not proposed",
                                  Refusal.CONFLICT, "conflict")
        weights = {s: w for s, w in test["weights"].items() if w > 1e-9}
        accounts = self._accounts(approval.account_ids)
        self._check_eligibility(accounts, weights)
        now = self._clock()
        effective_from = approval.effective_from or now
        if effective_from.tzinfo is None:
            raise RequestRejected("effective_from", "must include a timezone")

        self._check_broker_allocation({a.account_id: dict(weights) for a in accounts}, now)

        def commit(tx: Transaction) -> Allocation:
            document = tx.get(Collections.ALLOCATION, CURRENT_ALLOCATION_DOC)
            current = Allocation.model_validate(document) if document else Allocation(version=0)
            in_force = current.in_effect(now)
            latest = max(current.version, current.pending.version if current.pending else 0)
            approved = Allocation(
                version=latest + 1,
                weights={**in_force.weights, **{a.account_id: dict(weights) for a in accounts}},
                approved_by=caller.subject, approved_at=now, effective_from=effective_from, source_test_id=test_id,
            )
            # Due now: it is the allocation. Due later: it waits beside the one in force.
            new_current = approved if effective_from <= now else in_force.model_copy(update={"pending": approved})
            tx.set(Collections.ALLOCATION, CURRENT_ALLOCATION_DOC, new_current.model_dump(mode="json"))
            tx.set(Collections.ALLOCATION_HISTORY, f"v{approved.version:06d}", approved.model_dump(mode="json"))
            tx.set(Collections.PORTFOLIO_TESTS, test_id, {**test, "status": "approved", "approved_by": caller.subject,
                                                          "approved_at": now.isoformat(),
                                                          "allocation_version": approved.version})
            return approved

        return self._store.transaction(commit)

    def current_allocation(self, caller: Principal) -> dict[str, Any]:
        _admin_only(caller)
        document = self._store.get(Collections.ALLOCATION, CURRENT_ALLOCATION_DOC)
        current = Allocation.model_validate(document) if document else Allocation(version=0)
        return {"in_effect": current.in_effect(self._clock()).model_dump(mode="json"),
                "pending": current.pending.model_dump(mode="json") if current.pending else None}

    def history(self, caller: Principal) -> list[dict[str, Any]]:
        _admin_only(caller)
        return self._store.query(Collections.ALLOCATION_HISTORY, order_by="version", descending=True)

    # --- internals ------------------------------------------------------------------
    def _returns(self, strategy_ids: list[str]) -> pd.DataFrame:
        series = {}
        for strategy_id in dict.fromkeys(strategy_ids):
            document = self._store.get(Collections.STRATEGY_RETURNS, strategy_id)
            if document is None:
                raise RequestRejected(f"strategy_ids.{strategy_id}", "has no uploaded return series")
            loaded = ReturnSeries.from_document(document)
            series[strategy_id] = pd.Series(loaded.returns, index=pd.DatetimeIndex(loaded.dates), dtype=float)
        try:
            return prepare_returns(series)
        except PortfolioDataError as error:
            raise RequestRejected(error.field, error.reason) from None

    def _accounts(self, account_ids: list[str] | None) -> list[Account]:
        if account_ids is None:
            return [Account.model_validate(d) for d in self._store.query(Collections.ACCOUNTS)]
        accounts = []
        for account_id in account_ids:
            document = self._store.get(Collections.ACCOUNTS, account_id)
            if document is None:
                raise RequestRejected("account_ids", f"no account {account_id!r}", Refusal.NOT_FOUND, "not_found")
            accounts.append(Account.model_validate(document))
        return accounts

    def _check_broker_allocation(self, new_weights: dict[str, dict[str, float]], now: datetime) -> None:
        """MAX_BROKER_ALLOCATION_PCT: after this approval, no broker may hold more than its share
        of the fund's equity in allocated capital (every account's equity x its weights' sum)."""
        document = self._store.get(Collections.ALLOCATION, CURRENT_ALLOCATION_DOC)
        in_force = (Allocation.model_validate(document) if document else Allocation(version=0)).in_effect(now)
        weights = {**in_force.weights, **new_weights}
        placed: dict[str, float] = {}
        fund_equity = 0.0
        for account in (Account.model_validate(d) for d in self._store.query(Collections.ACCOUNTS)):
            rate = self._prices.fx_rate(account.broker, account.base_currency, FUND_CURRENCY)
            if account.snapshot is None or rate is None:
                raise RequestRejected("account_ids", f"account {account.account_id} has no snapshot or "
                                                     f"{account.base_currency}/{FUND_CURRENCY} rate to check the "
                                                     "broker allocation limit against", Refusal.CONFLICT, "conflict")
            equity = account.snapshot.equity * rate
            fund_equity += equity
            placed[account.broker] = (placed.get(account.broker, 0.0)
                                            + equity * sum(weights.get(account.account_id, {}).values()))
        cap = fund_limits(self._store, self._limits).max_broker_allocation_pct
        if breaches := broker_allocation_breaches(placed, fund_equity, cap):
            raise RequestRejected("account_ids", "max_broker_allocation: " + "; ".join(breaches), Refusal.CONFLICT,
                                  "broker_allocation")

    def _check_eligibility(self, accounts: list[Account], weights: dict[str, float]) -> None:
        for strategy_id in weights:
            document = self._store.get(Collections.STRATEGIES, strategy_id)
            if document is None:
                raise RequestRejected("weights", f"strategy {strategy_id!r} no longer exists",
                                      Refusal.CONFLICT, "conflict")
            strategy = Strategy.model_validate(document)
            if strategy.status == StrategyStatus.RETIRED:
                raise RequestRejected("weights", f"strategy {strategy_id!r} is retired", Refusal.CONFLICT, "conflict")
            for account in accounts:
                if not strategy.eligible_for(account):
                    raise RequestRejected("account_ids", f"strategy {strategy_id!r} may not trade in account "
                                                         f"{account.account_id!r}", Refusal.CONFLICT, "conflict")


def _method_parameters(request: OptimisationRequest) -> dict[str, Any]:
    """The request's settings the chosen method takes; one it does not take, set on purpose,
    is refused rather than silently ignored."""
    taken = METHODS[request.method]
    every = {setting for settings in METHODS.values() for setting in settings}
    for name in sorted(request.model_fields_set & every - set(taken)):
        raise RequestRejected(name, f"{request.method} does not use {name}; it takes {', '.join(taken) or 'none'}")
    return {name: getattr(request, name) for name in taken}


def _performance(run: Backtest | WalkForward) -> dict[str, Any]:
    """Net of costs beside gross, with the trading that separates them."""
    return {"metrics": _tidy(run.metrics), "gross_metrics": _tidy(run.gross_metrics),
            "equity": _curve(run.equity), "gross_equity": _curve(run.gross_equity),
            "turnover": run.turnover, "annual_turnover": run.annual_turnover, "costs": run.costs}


def _curve(equity: pd.Series) -> dict[str, list[Any]]:
    return {"dates": [d.date().isoformat() for d in equity.index], "equity": [round(float(v), 8) for v in equity]}


def _admin_only(caller: Principal) -> None:
    require_admin(caller, "only an admin runs and approves portfolio tests")
