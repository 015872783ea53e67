"""Every optimiser in ``shared.portfolio.OPTIMISERS`` beside the best reference implementation
on the same problem, in the same process.

    .venv/bin/python -m bench.portfolio

Synthetic daily returns (fixed seed, a three-factor structure so strategies are correlated
as real ones are) for 200 and 500 strategies x 1,260 days. Each method is run with bounds
that bind (every weight capped at 2.5/n, five strategies, the lowest-mean ones, floored at
0.5/n; weights sum to 1) and, where the method has a reference for it, with none (long-only,
each weight in [0, 1]).

Ours is the whole public call, ``optimise(method, returns, constraints, **params)``: input
checks, moments, solve and the reported result. Every reference starts from the same daily
returns too: it computes the annualised mean and sample covariance inside its time (as
``risk_models.sample_cov`` would), and PyPortfolioOpt's object construction and cvxpy's
problem construction and compilation are inside it, being part of the call:

- PyPortfolioOpt: ``EfficientFrontier.max_sharpe`` / ``min_volatility``,
  ``EfficientCVaR.min_cvar`` (expected returns = the daily mean; it does not enter
  min CVaR) and ``HRPOpt`` (no bounds: unbounded rows only), on cvxpy's default solver;
- cvxpy + Clarabel, the same formulations stated directly: max Sharpe by the y/k
  homogenisation QP; min variance as a QP (``psd_wrap``); max CAGR as
  max Σ_t log(1 + r_t·w) / T (one exponential cone a day); hybrid as that with
  w'Σw <= v²; risk parity by Spinu's log barrier with the homogeneous bound rows
  lower·Σx <= x <= upper·Σx; min CVaR as Rockafellar-Uryasev's LP.

Times are the median of REPEATS runs, ours and the references alternating which goes
first; any call whose first run takes over SLOW seconds is run once (the exponential-cone
references take ~15 s at 500 strategies). The objective column is computed here from both
weight vectors with the method's own objective, ``+`` meaning ours is better; every weight
vector is also checked against the budget, bounds and volatility cap.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import os
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench.machine import describe, load
from shared.portfolio import Constraints, annualised_moments, optimise

DAYS = 1260
SIZES = (200, 500)
REPEATS = {200: 5, 500: 3}
SLOW = 5.0  # seconds: a call this slow on its first run is not repeated
MAX_VOLATILITY = 0.02  # hybrid's cap, annualised: between min variance's and max CAGR's at both sizes
CVAR_BETA = 0.95
FEASIBLE = 1e-6  # budget, bound and volatility-cap tolerance for the feasibility check
METHODS = ("max_sharpe", "max_cagr", "hybrid", "min_variance", "risk_parity", "hrp", "min_cvar", "equal_weight")
PARAMS: dict[str, dict[str, float]] = {"max_sharpe": {"risk_free": 0.0}, "min_cvar": {"cvar_beta": CVAR_BETA}}


def synthetic_returns(strategies: int, seed: int = 2026) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    factors = rng.normal(0, 0.006, size=(DAYS, 3))
    loadings = rng.uniform(-0.6, 0.9, size=(3, strategies))
    drift = rng.uniform(0.0002, 0.0008, strategies)
    own = rng.uniform(0.005, 0.02, strategies) * rng.normal(size=(DAYS, strategies))
    columns = [f"strategy_{i:03d}" for i in range(strategies)]
    return pd.DataFrame(drift + factors @ loadings + own, index=pd.bdate_range("2021-01-04", periods=DAYS),
                        columns=columns)


@dataclass(frozen=True)
class Problem:
    returns: pd.DataFrame
    values: np.ndarray  # days x strategies
    mu: np.ndarray  # annualised
    cov: np.ndarray  # annualised sample covariance, as ours uses
    lower: np.ndarray
    upper: np.ndarray
    constraints: Constraints
    bounded: bool
    mu_frame: pd.Series  # PyPortfolioOpt's inputs
    cov_frame: pd.DataFrame
    max_volatility: float  # hybrid's cap
    names: list[str]

    @property
    def n(self) -> int:
        return len(self.mu)


def problem(returns: pd.DataFrame, bounded: bool, max_volatility: float = MAX_VOLATILITY) -> Problem:
    mu, cov = annualised_moments(returns)
    n = len(mu)
    if bounded:
        floored = [returns.columns[i] for i in np.argsort(mu)[:5]]
        constraints = Constraints(min_weight={name: 0.5 / n for name in floored}, default_max_weight=2.5 / n)
    else:
        constraints = Constraints()
    names = returns.columns
    lower, upper = constraints.bounds(list(names))
    return Problem(returns, returns.to_numpy(), mu, cov, lower, upper, constraints, bounded,
                   pd.Series(mu, index=names), pd.DataFrame(cov, names, names), max_volatility,
                   list(names))


def from_returns(p: Problem) -> Problem:
    """The problem with its moments computed now: a reference's call starts from the returns."""
    mu, cov = annualised_moments(p.returns)
    return dataclasses.replace(p, mu=mu, cov=cov, mu_frame=pd.Series(mu, index=p.names),
                               cov_frame=pd.DataFrame(cov, p.names, p.names))


# --- the references --------------------------------------------------------------------------------------------


def _pypfopt_bounds(p: Problem) -> tuple:
    return (p.lower, p.upper) if p.bounded else (0, 1)


def pypfopt_max_sharpe(p: Problem) -> np.ndarray:
    from pypfopt import EfficientFrontier
    frontier = EfficientFrontier(p.mu_frame, p.cov_frame, weight_bounds=_pypfopt_bounds(p))
    frontier.max_sharpe(risk_free_rate=0.0)
    return np.asarray(frontier.weights, dtype=float)


def pypfopt_min_variance(p: Problem) -> np.ndarray:
    from pypfopt import EfficientFrontier
    frontier = EfficientFrontier(p.mu_frame, p.cov_frame, weight_bounds=_pypfopt_bounds(p))
    frontier.min_volatility()
    return np.asarray(frontier.weights, dtype=float)


def pypfopt_min_cvar(p: Problem) -> np.ndarray:
    from pypfopt import EfficientCVaR
    frontier = EfficientCVaR(p.mu_frame / 252, p.returns, beta=CVAR_BETA, weight_bounds=_pypfopt_bounds(p))
    frontier.min_cvar()
    return np.asarray(frontier.weights, dtype=float)


def pypfopt_hrp(p: Problem) -> np.ndarray:
    from pypfopt import HRPOpt
    weights = HRPOpt(returns=p.returns).optimize()
    return np.array([weights[name] for name in p.names], dtype=float)


def _solve(problem_: object, what: str) -> None:
    import cvxpy as cp
    problem_.solve(solver=cp.CLARABEL)  # type: ignore[attr-defined]
    if problem_.status != cp.OPTIMAL:  # type: ignore[attr-defined]
        raise RuntimeError(f"cvxpy {what}: {problem_.status}")  # type: ignore[attr-defined]


def cvxpy_max_sharpe(p: Problem) -> np.ndarray:
    import cvxpy as cp
    y, k = cp.Variable(p.n), cp.Variable()
    constraints = [p.mu @ y == 1, cp.sum(y) == k, k >= 0, y >= p.lower * k, y <= p.upper * k]
    _solve(cp.Problem(cp.Minimize(cp.quad_form(y, cp.psd_wrap(p.cov))), constraints), "max Sharpe")
    return y.value / k.value


def cvxpy_min_variance(p: Problem) -> np.ndarray:
    import cvxpy as cp
    w = cp.Variable(p.n)
    constraints = [cp.sum(w) == 1, w >= p.lower, w <= p.upper]
    _solve(cp.Problem(cp.Minimize(cp.quad_form(w, cp.psd_wrap(p.cov))), constraints), "min variance")
    return w.value


def _cvxpy_growth(p: Problem, volatility_cap: float | None) -> np.ndarray:
    import cvxpy as cp
    w = cp.Variable(p.n)
    constraints = [cp.sum(w) == 1, w >= p.lower, w <= p.upper]
    if volatility_cap is not None:
        constraints.append(cp.quad_form(w, cp.psd_wrap(p.cov)) <= volatility_cap ** 2)
    growth = cp.sum(cp.log(1 + p.values @ w)) / len(p.values)
    _solve(cp.Problem(cp.Maximize(growth), constraints), "max growth")
    return w.value


def cvxpy_max_cagr(p: Problem) -> np.ndarray:
    return _cvxpy_growth(p, None)


def cvxpy_hybrid(p: Problem) -> np.ndarray:
    return _cvxpy_growth(p, p.max_volatility)


def cvxpy_risk_parity(p: Problem) -> np.ndarray:
    import cvxpy as cp
    x = cp.Variable(p.n)
    budgets = np.full(p.n, 1 / p.n)
    objective = cp.Minimize(0.5 * cp.quad_form(x, cp.psd_wrap(p.cov)) - budgets @ cp.log(x))
    constraints = [x >= p.lower * cp.sum(x), x <= p.upper * cp.sum(x)] if p.bounded else []
    _solve(cp.Problem(objective, constraints), "risk parity")
    return x.value / x.value.sum()


def cvxpy_min_cvar(p: Problem) -> np.ndarray:
    import cvxpy as cp
    days = len(p.values)
    w, alpha, excess = cp.Variable(p.n), cp.Variable(), cp.Variable(days, nonneg=True)
    constraints = [excess >= -p.values @ w - alpha, cp.sum(w) == 1, w >= p.lower, w <= p.upper]
    _solve(cp.Problem(cp.Minimize(alpha + cp.sum(excess) / ((1 - CVAR_BETA) * days)), constraints), "min CVaR")
    return w.value


Reference = tuple[str, Callable[[Problem], np.ndarray]]
REFERENCES: dict[str, list[Reference]] = {
    "max_sharpe": [("PyPortfolioOpt", pypfopt_max_sharpe), ("cvxpy+Clarabel", cvxpy_max_sharpe)],
    "max_cagr": [("cvxpy+Clarabel", cvxpy_max_cagr)],
    "hybrid": [("cvxpy+Clarabel", cvxpy_hybrid)],
    "min_variance": [("PyPortfolioOpt", pypfopt_min_variance), ("cvxpy+Clarabel", cvxpy_min_variance)],
    "risk_parity": [("cvxpy+Clarabel", cvxpy_risk_parity)],
    "hrp": [("PyPortfolioOpt", pypfopt_hrp)],  # HRPOpt takes no bounds
    "min_cvar": [("PyPortfolioOpt", pypfopt_min_cvar), ("cvxpy+Clarabel", cvxpy_min_cvar)],
    "equal_weight": [],  # nothing to solve
}
UNBOUNDED_ONLY = {"hrp"}  # references that take no bounds


def references(method: str, bounded: bool) -> list[Reference]:
    return [] if bounded and method in UNBOUNDED_ONLY else REFERENCES[method]


# --- the objectives, from weights ---------------------------------------------------------------------------------


def historical_cvar(losses: np.ndarray, beta: float) -> float:
    """min over alpha of alpha + mean((losses - alpha)⁺) / (1 - β): piecewise linear and convex
    in alpha, so its minimum is at one of the losses; every one is tried."""
    ordered = np.sort(losses)[::-1]
    above = np.concatenate([[0.0], np.cumsum(ordered)[:-1]])  # sum of the losses above each
    counts = np.arange(len(ordered))
    values = ordered + (above - counts * ordered) / ((1 - beta) * len(ordered))
    return float(values.min())


def objective(method: str, p: Problem, w: np.ndarray) -> float:
    """The method's objective, oriented so that higher is better."""
    if method == "max_sharpe":
        return float(w @ p.mu / math.sqrt(w @ p.cov @ w))
    if method in ("max_cagr", "hybrid"):
        return float(np.mean(np.log1p(p.values @ w)))
    if method == "min_variance":
        return -float(w @ p.cov @ w)
    if method == "risk_parity":
        # Spinu's ½x'Σx - Σb·log x at the best scale of x = t·w (Σb = 1): ½ + ½log(w'Σw) - Σb·log w.
        return -float(0.5 * math.log(w @ p.cov @ w) - np.mean(np.log(w)))
    if method == "min_cvar":
        return -historical_cvar(-(p.values @ w), CVAR_BETA)
    raise ValueError(method)


def infeasibility(method: str, p: Problem, w: np.ndarray) -> str:
    issues = []
    if abs(w.sum() - 1) > FEASIBLE:
        issues.append(f"sum {w.sum() - 1:+.1e}")
    worst = float(max((p.lower - w).max(), (w - p.upper).max()))
    if worst > FEASIBLE:
        issues.append(f"bound broken by {worst:.1e}")
    if method == "hybrid":
        volatility = math.sqrt(w @ p.cov @ w)
        if volatility > p.max_volatility * (1 + FEASIBLE):
            issues.append(f"volatility {volatility / p.max_volatility - 1:+.1e} over the cap")
    return ", ".join(issues)


def compare(method: str, p: Problem, ours: np.ndarray, theirs: np.ndarray) -> str:
    if method == "hrp":  # a heuristic with no objective: the weights should agree
        return f"max|Δw| {np.abs(ours - theirs).max():.0e}"
    mine, reference = objective(method, p, ours), objective(method, p, theirs)
    return f"{(mine - reference) / abs(reference):+.1e}"


# --- timing -----------------------------------------------------------------------------------------------------


@dataclass
class Timed:
    name: str
    call: Callable[[], np.ndarray]
    times: list[float]
    weights: np.ndarray | None = None
    error: str = ""

    def run(self) -> None:
        gc.collect()
        started = time.perf_counter()
        try:
            weights = self.call()
        except Exception as error:  # noqa: BLE001 - a failing reference is reported, not fatal
            self.error = f"{type(error).__name__}: {error}"[:120]
            self.times.append(math.nan)
            return
        self.times.append(time.perf_counter() - started)
        self.weights = np.asarray(weights, dtype=float)

    @property
    def seconds(self) -> float:
        good = [t for t in self.times if not math.isnan(t)]
        return statistics.median(good) if good and not self.error else math.nan


def ours(method: str, p: Problem) -> Callable[[], np.ndarray]:
    def call() -> np.ndarray:
        params = {"max_volatility": p.max_volatility} if method == "hybrid" else PARAMS.get(method, {})
        result = optimise(method, p.returns, p.constraints, **params)
        return np.array([result.weights[name] for name in p.names])
    return call


def race(method: str, p: Problem, repeats: int) -> tuple[Timed, list[Timed]]:
    mine = Timed("ours", ours(method, p), [])
    theirs = [Timed(name, lambda f=f: f(from_returns(p)), []) for name, f in references(method, p.bounded)]
    for repeat in range(repeats):
        order = [mine, *theirs] if repeat % 2 == 0 else [*theirs, mine]
        for entry in order:
            if entry.error or (entry.times and entry.times[0] > SLOW):
                continue
            entry.run()
    return mine, theirs


def warm_up() -> None:
    """Imports, cvxpy's and Clarabel's first-call costs: paid once here, outside any timing."""
    for bounded in (True, False):
        p = problem(synthetic_returns(20, seed=1), bounded, max_volatility=0.10)  # a cap 20 strategies can meet
        for method in METHODS:
            race(method, p, 1)


def main() -> None:
    warnings.simplefilter("ignore")
    started = time.perf_counter()
    print(f"bench.portfolio on {describe()}")
    print("Absolute times depend on the machine: compare the ours/best ratios across machines, not the seconds.")
    print(f"{DAYS} days; bounded = every weight <= 2.5/n, five floored at 0.5/n, sum 1; unbounded = long-only, "
          f"sum 1; hybrid max_volatility {MAX_VOLATILITY:.0%}; min_cvar beta {CVAR_BETA}; max_sharpe risk_free 0.")
    print(f"Median of {REPEATS[200]} runs at 200, {REPEATS[500]} at 500 (calls over {SLOW:.0f} s: once), "
          f"alternating order. Load average at the start: {load()}.\n")
    warm_up()

    header = (f"{'method':<13}| {'strategies':>10} | {'bounded':>7} | {'ours s':>8} | "
              f"{'best reference (name) s':<30}| {'ours/best':>9} | objective rel. diff (+: ours better)")
    print(header)
    print("-" * len(header))
    details: list[str] = []
    for size in SIZES:
        returns = synthetic_returns(size)
        for method in METHODS:
            for bounded in (True, False):
                if not bounded and not REFERENCES[method]:
                    continue  # nothing to compare ours with
                p = problem(returns, bounded)
                mine, theirs = race(method, p, REPEATS[size])
                usable = [t for t in theirs if not math.isnan(t.seconds)]
                best = min(usable, key=lambda t: t.seconds) if usable else None
                if mine.error:
                    ours_cell, diff = "failed", mine.error
                else:
                    ours_cell = f"{mine.seconds:8.3f}"
                    diff = compare(method, p, mine.weights, best.weights) if best else "n/a"
                if best is None:
                    reference_cell, ratio = "n/a (no reference)" if not theirs else "all failed", "n/a"
                else:
                    reference_cell = f"{best.name} {best.seconds:.3f}"
                    ratio = f"{mine.seconds / best.seconds:9.2f}" if not mine.error else "n/a"
                flags = []
                for entry in (mine, *theirs):
                    if entry.weights is not None and (issue := infeasibility(method, p, entry.weights)):
                        flags.append(f"{entry.name}: {issue}")
                print(f"{method:<13}| {size:>10} | {'yes' if bounded else 'no':>7} | {ours_cell:>8} | "
                      f"{reference_cell:<30}| {ratio:>9} | {diff}{'  [!]' if flags else ''}", flush=True)
                for entry in theirs:
                    runs = sum(1 for t in entry.times if not math.isnan(t))
                    outcome = entry.error or (f"{entry.seconds:.3f} s ({runs} run{'s' * (runs != 1)}), objective "
                                              f"ours vs it {compare(method, p, mine.weights, entry.weights)}"
                                              if mine.weights is not None else f"{entry.seconds:.3f} s")
                    details.append(f"  {method} {size} {'bounded' if bounded else 'unbounded'}: {entry.name} "
                                   f"{outcome}")
                details.extend(f"  {method} {size} {'bounded' if bounded else 'unbounded'}: [!] {flag}"
                               for flag in flags)
    print("\nEvery reference (ours: the table's runs):")
    print("\n".join(details))
    busy = os.getloadavg()[0] > (os.cpu_count() or 1) if hasattr(os, "getloadavg") else False
    print(f"\nTotal bench time {time.perf_counter() - started:.0f} s; load average at the end: {load()}"
          + (" (above the core count: other work shared the cores, so the seconds are noisier)." if busy else "."))


if __name__ == "__main__":
    main()
