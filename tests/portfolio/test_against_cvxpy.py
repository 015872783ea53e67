"""Every optimiser in ``OPTIMISERS`` beside an independent cvxpy formulation of the same problem.

Fixed seeded data sets (correlated factors, Student-t tails, losing strategies, near-duplicates)
at 5, 20 and 50 strategies, each without bounds and with bounds that bind (floors, a default
maximum, some at leverage 1.5). The test evaluates each objective itself from the weights both
sides return: ours must be at least as good as cvxpy's (CLARABEL) to 1e-6 relative, and our weights
must sum to the cap (1e-8) and lie within the bounds (1e-9).

HRP has no convex formulation: its weights are compared with PyPortfolioOpt's ``HRPOpt`` in
``test_allocator_tools.py``; here only their feasibility is checked.
"""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
import pandas as pd
import pytest

from shared.portfolio import (
    OPTIMISERS,
    Constraints,
    InfeasibleConstraints,
    annualised_moments,
    estimate_covariance,
    max_cagr,
    min_variance,
)

cp = pytest.importorskip("cvxpy")

RELATIVE = 1e-6
SIZES = (5, 20, 50)


# --- data sets ------------------------------------------------------------------------------

def _frame(values: np.ndarray, start: str = "2021-01-04") -> pd.DataFrame:
    return pd.DataFrame(values, index=pd.bdate_range(start, periods=len(values)),
                        columns=[f"s{i:02d}" for i in range(values.shape[1])])


def factor_set(n: int, days: int = 1260, seed: int = 2026) -> pd.DataFrame:
    """Three correlated factors plus own noise, as ``bench.portfolio``."""
    rng = np.random.default_rng(seed)
    factors = rng.normal(0, 0.006, size=(days, 3))
    loadings = rng.uniform(-0.6, 0.9, size=(3, n))
    drift = rng.uniform(0.0002, 0.0008, n)
    own = rng.uniform(0.005, 0.02, n) * rng.normal(size=(days, n))
    return _frame(drift + factors @ loadings + own)


def heavy_set(n: int, days: int = 1000, seed: int = 31) -> pd.DataFrame:
    """Student-t (df=3) shocks scaled to ~1% daily, one common factor, clipped at ±30%."""
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.6, 1.4, n) * 0.01 / np.sqrt(3)  # a t(3) has variance 3
    common = rng.standard_t(3, size=(days, 1)) * 0.004 / np.sqrt(3)
    shocks = rng.standard_t(3, size=(days, n)) * scale
    drift = rng.uniform(0.0001, 0.0007, n)
    return _frame(np.clip(drift + rng.uniform(0.2, 1.0, n) * common + shocks, -0.3, 0.3))


def negative_set(n: int, days: int = 900, seed: int = 47) -> pd.DataFrame:
    """Correlated strategies about a third of which lose money on average."""
    rng = np.random.default_rng(seed)
    factors = rng.normal(0, 0.005, size=(days, 2))
    loadings = rng.uniform(-0.5, 0.9, size=(2, n))
    drift = rng.uniform(-0.0006, 0.0009, n)
    drift[: max(1, n // 3)] = -np.abs(drift[: max(1, n // 3)]) - 0.0001
    drift[-1] = 0.0008  # something always beats a 3% risk-free rate
    own = rng.uniform(0.004, 0.015, n) * rng.normal(size=(days, n))
    return _frame(drift + factors @ loadings + own)


def duplicate_set(n: int, days: int = 756, seed: int = 59) -> pd.DataFrame:
    """The factor set with its last two columns near-copies (plus 1e-4 noise) of the first two."""
    base = factor_set(n, days=days, seed=seed).to_numpy(copy=True)
    rng = np.random.default_rng(seed + 1)
    base[:, -1] = base[:, 0] + rng.normal(0, 1e-4, days)
    base[:, -2] = base[:, 1] + rng.normal(0, 1e-4, days)
    return _frame(base)


GENERATORS = {"factor": factor_set, "heavy": heavy_set, "negative": negative_set, "duplicate": duplicate_set}
# Every data set at 5 strategies; fewer at the larger sizes, so the file stays fast.
DATA_SETS = {5: ("factor", "heavy", "negative", "duplicate"), 20: ("heavy", "negative", "duplicate"),
             50: ("factor", "duplicate")}


@cache
def data(name: str, n: int) -> pd.DataFrame:
    return GENERATORS[name](n)


def constraints_for(kind: str, names: list[str]) -> Constraints:
    """``free``: Constraints(); ``free_levered``: cap 1.5 and nothing else that can bind;
    ``bounded``/``levered``: floors on two strategies, a binding default maximum, one tighter maximum."""
    n = len(names)
    if kind == "free":
        return Constraints()
    cap = 1.5 if kind.endswith("levered") else 1.0
    if kind == "free_levered":
        return Constraints(leverage_cap=cap, default_max_weight=cap)
    default_max = cap * (0.3 if n <= 5 else 2.5 / n)
    return Constraints(min_weight={names[1]: 0.5 * cap / n, names[-1]: 0.8 * cap / n},
                       max_weight={names[2]: 0.6 * cap / n}, default_max_weight=default_max, leverage_cap=cap)


def kind_of(bounded: bool, size: int) -> str:
    """Bounds at leverage 1.5 at 20 strategies, at 1.0 elsewhere."""
    if not bounded:
        return "free"
    return "levered" if size == 20 else "bounded"


def cases() -> list[tuple[int, bool, str]]:
    return [(size, bounded, name) for size in SIZES for bounded in (False, True) for name in DATA_SETS[size]]


def case_id(case: tuple[int, bool, str]) -> str:
    size, bounded, name = case
    return f"{size}-{'bounded' if bounded else 'free'}-{name}"


CASES = cases()


# --- shared checks --------------------------------------------------------------------------

def weights_of(result, names: list[str]) -> np.ndarray:
    return np.array([result.weights[name] for name in names])


def assert_feasible(weights: np.ndarray, constraints: Constraints, names: list[str]) -> None:
    lower, upper = constraints.bounds(names)
    assert abs(weights.sum() - constraints.leverage_cap) <= 1e-8, weights.sum()
    assert (weights >= lower - 1e-9).all(), (weights - lower).min()
    assert (weights <= upper + 1e-9).all(), (upper - weights).min()


def assert_at_least_as_good(ours: float, theirs: float, maximise: bool, floor: float = 1e-12) -> None:
    """Ours no worse than cvxpy's by more than 1e-6 of its size."""
    slack = RELATIVE * max(abs(theirs), floor)
    if maximise:
        assert ours >= theirs - slack, (ours, theirs, (theirs - ours) / max(abs(theirs), floor))
    else:
        assert ours <= theirs + slack, (ours, theirs, (ours - theirs) / max(abs(theirs), floor))


def solve(problem) -> bool:
    """CLARABEL at its default tolerances; True when it reports an optimum."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            problem.solve(solver=cp.CLARABEL)
        except cp.error.SolverError:
            return False
    return problem.status == cp.OPTIMAL


def solved(problem) -> None:
    assert solve(problem), problem.status


def budget_and_bounds(w, constraints: Constraints, names: list[str]) -> list:
    lower, upper = constraints.bounds(names)
    return [cp.sum(w) == constraints.leverage_cap, w >= lower, w <= upper]


# --- objectives, evaluated by the test from weights -------------------------------------------

def sharpe(w: np.ndarray, mu: np.ndarray, cov: np.ndarray, rf: float) -> float:
    return float(w @ (mu - rf) / np.sqrt(w @ cov @ w))


def log_growth(w: np.ndarray, values: np.ndarray) -> float:
    return float(np.mean(np.log1p(values @ w)))


def cvar(w: np.ndarray, values: np.ndarray, beta: float) -> float:
    """min over alpha of alpha + mean((L - alpha)+)/(1 - β); the minimum sits at one of the losses."""
    losses = -(values @ w)
    alphas = np.sort(losses)
    tail = np.maximum(losses[None, :] - alphas[:, None], 0.0).mean(axis=1) / (1 - beta)
    return float((alphas + tail).min())


def spinu_direction_objective(w: np.ndarray, cov: np.ndarray, budgets: np.ndarray) -> float:
    """min over t > 0 of ½t²d'Σd - Σb log(t·d) for d = w/Σw (Σb = 1): ½ + ½log(d'Σd) - Σb log d."""
    d = w / w.sum()
    return float(0.5 + 0.5 * np.log(d @ cov @ d) - budgets @ np.log(d))


# --- cvxpy references -----------------------------------------------------------------------

def cvxpy_max_sharpe(mu: np.ndarray, cov: np.ndarray, rf: float, constraints: Constraints,
                     names: list[str]) -> np.ndarray:
    lower, upper = constraints.bounds(names)
    n = len(names)
    y, k = cp.Variable(n), cp.Variable(nonneg=True)
    problem = cp.Problem(cp.Minimize(cp.quad_form(y, cp.psd_wrap(cov))),
                         [(mu - rf) @ y == 1, cp.sum(y) == constraints.leverage_cap * k,
                          y >= lower * k, y <= upper * k])
    solved(problem)
    return y.value / k.value


def cvxpy_min_variance(cov: np.ndarray, constraints: Constraints, names: list[str]) -> np.ndarray:
    w = cp.Variable(len(names))
    problem = cp.Problem(cp.Minimize(cp.quad_form(w, cp.psd_wrap(cov))), budget_and_bounds(w, constraints, names))
    solved(problem)
    return w.value


def cvxpy_max_growth(values: np.ndarray, constraints: Constraints, names: list[str],
                     cov: np.ndarray | None = None, max_volatility: float | None = None) -> np.ndarray:
    """max mean_t log(1 + r_t·w), optionally with w'Σw <= v². CLARABEL through cvxpy stops short
    ("optimal_inaccurate") on some of these exponential-cone problems depending on how they are
    scaled, so the reference takes the first of five equivalent scalings it solves to optimality."""
    days = len(values)
    for scale, unit_cap in ((1, False), (1 / days, True), (1 / days, False), (1, True), (10, False)):
        w = cp.Variable(len(names))
        rows = budget_and_bounds(w, constraints, names)
        if max_volatility is not None:
            rows.append(cp.quad_form(w, cp.psd_wrap(cov / max_volatility ** 2)) <= 1 if unit_cap
                        else cp.quad_form(w, cp.psd_wrap(cov)) <= max_volatility ** 2)
        problem = cp.Problem(cp.Maximize(cp.sum(cp.log(1 + values @ w)) * scale), rows)
        if solve(problem):
            return w.value
    raise AssertionError("cvxpy found no optimal reference")


def cvxpy_min_cvar(values: np.ndarray, beta: float, constraints: Constraints, names: list[str]) -> np.ndarray:
    days, n = values.shape
    w, alpha, u = cp.Variable(n), cp.Variable(), cp.Variable(days, nonneg=True)
    problem = cp.Problem(cp.Minimize(alpha + cp.sum(u) / ((1 - beta) * days)),
                         [u >= -values @ w - alpha, *budget_and_bounds(w, constraints, names)])
    solved(problem)
    return w.value


def cvxpy_risk_parity(cov: np.ndarray, budgets: np.ndarray, constraints: Constraints,
                      names: list[str]) -> np.ndarray:
    """Spinu's form, with the homogeneous bound rows lower_i·Σx <= cap·x_i <= upper_i·Σx when bounded."""
    lower, upper = constraints.bounds(names)
    cap = constraints.leverage_cap
    x = cp.Variable(len(names), pos=True)
    rows = [] if constraints == Constraints() else [lower * cp.sum(x) <= cap * x, cap * x <= upper * cp.sum(x)]
    problem = cp.Problem(cp.Minimize(0.5 * cp.quad_form(x, cp.psd_wrap(cov)) - budgets @ cp.log(x)), rows)
    solved(problem)
    return x.value / x.value.sum() * cap


def problem(case: tuple[int, bool, str]) -> tuple[pd.DataFrame, list[str], Constraints]:
    """A case's returns, their strategy names, and its constraints (bounded or free)."""
    size, bounded, name = case
    returns = data(name, size)
    names = list(returns.columns)
    return returns, names, constraints_for(kind_of(bounded, size), names)


# --- max Sharpe -----------------------------------------------------------------------------

@pytest.mark.parametrize("risk_free", [0.0, 0.03])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_max_sharpe(case: tuple[int, bool, str], risk_free: float) -> None:
    size, bounded, name = case
    returns = data(name, size)
    names = list(returns.columns)
    kind = kind_of(bounded, size)
    if risk_free > 0:  # at leverage 1.5: rf is charged on the whole Σw
        kind = "levered" if bounded else "free_levered"
    constraints = constraints_for(kind, names)
    mu, cov = annualised_moments(returns)
    ours = weights_of(OPTIMISERS["max_sharpe"](returns, constraints, risk_free=risk_free), names)
    theirs = cvxpy_max_sharpe(mu, cov, risk_free, constraints, names)
    assert_feasible(ours, constraints, names)
    assert_at_least_as_good(sharpe(ours, mu, cov, risk_free), sharpe(theirs, mu, cov, risk_free), maximise=True)


@pytest.mark.parametrize("bounded", [False, True])
@pytest.mark.parametrize("name", ["factor", "duplicate"])
def test_max_sharpe_ledoit_wolf(name: str, bounded: bool) -> None:
    returns = data(name, 20)
    names = list(returns.columns)
    constraints = constraints_for(kind_of(bounded, 20), names)
    mu, _ = annualised_moments(returns)
    cov = estimate_covariance(returns, "ledoit_wolf")
    ours = weights_of(OPTIMISERS["max_sharpe"](returns, constraints, covariance="ledoit_wolf"), names)
    theirs = cvxpy_max_sharpe(mu, cov, 0.0, constraints, names)
    assert_feasible(ours, constraints, names)
    assert_at_least_as_good(sharpe(ours, mu, cov, 0.0), sharpe(theirs, mu, cov, 0.0), maximise=True)


# --- min variance ---------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_min_variance(case: tuple[int, bool, str]) -> None:
    returns, names, constraints = problem(case)
    _, cov = annualised_moments(returns)
    ours = weights_of(OPTIMISERS["min_variance"](returns, constraints), names)
    theirs = cvxpy_min_variance(cov, constraints, names)
    assert_feasible(ours, constraints, names)
    assert_at_least_as_good(float(ours @ cov @ ours), float(theirs @ cov @ theirs), maximise=False)


@pytest.mark.parametrize("bounded", [False, True])
@pytest.mark.parametrize("name", ["factor", "duplicate"])
def test_min_variance_ledoit_wolf(name: str, bounded: bool) -> None:
    returns = data(name, 20)
    names = list(returns.columns)
    constraints = constraints_for(kind_of(bounded, 20), names)
    cov = estimate_covariance(returns, "ledoit_wolf")
    ours = weights_of(OPTIMISERS["min_variance"](returns, constraints, covariance="ledoit_wolf"), names)
    theirs = cvxpy_min_variance(cov, constraints, names)
    assert_feasible(ours, constraints, names)
    assert_at_least_as_good(float(ours @ cov @ ours), float(theirs @ cov @ theirs), maximise=False)


# --- max CAGR and hybrid ----------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_max_cagr(case: tuple[int, bool, str]) -> None:
    returns, names, constraints = problem(case)
    values = returns.to_numpy()
    ours = weights_of(OPTIMISERS["max_cagr"](returns, constraints), names)
    theirs = cvxpy_max_growth(values, constraints, names)
    assert_feasible(ours, constraints, names)
    assert_at_least_as_good(log_growth(ours, values), log_growth(theirs, values), maximise=True)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_hybrid(case: tuple[int, bool, str]) -> None:
    returns, names, constraints = problem(case)
    values = returns.to_numpy()
    _, cov = annualised_moments(returns)
    fastest = max_cagr(returns, constraints).volatility
    calmest = min_variance(returns, constraints).volatility
    assert calmest < fastest
    # 0.8 x the Kelly portfolio's volatility, kept above min variance's, so the cap binds.
    cap = max(0.8 * fastest, 0.5 * (fastest + calmest))
    ours = weights_of(OPTIMISERS["hybrid"](returns, constraints, max_volatility=cap), names)
    theirs = cvxpy_max_growth(values, constraints, names, cov, cap)
    assert_feasible(ours, constraints, names)
    # The cap is a conic constraint held to the solver's tolerance: 1e-8 of it (5.8e-9 seen).
    assert np.sqrt(ours @ cov @ ours) <= cap * (1 + 1e-8)
    assert_at_least_as_good(log_growth(ours, values), log_growth(theirs, values), maximise=True)
    assert np.sqrt(ours @ cov @ ours) == pytest.approx(cap, rel=1e-5)  # the cap binds


# --- risk parity ----------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_risk_parity(case: tuple[int, bool, str]) -> None:
    returns, names, constraints = problem(case)
    _, cov = annualised_moments(returns)
    budgets = np.full(len(names), 1 / len(names))
    ours = weights_of(OPTIMISERS["risk_parity"](returns, constraints), names)
    theirs = cvxpy_risk_parity(cov, budgets, constraints, names)
    assert_feasible(ours, constraints, names)
    if constraints == Constraints():
        contributions = ours * (cov @ ours)
        np.testing.assert_allclose(contributions, contributions.mean(), rtol=1e-8)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    assert_at_least_as_good(spinu_direction_objective(ours, cov, budgets),
                            spinu_direction_objective(theirs, cov, budgets), maximise=False)


# --- min CVaR -------------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_min_cvar(case: tuple[int, bool, str]) -> None:
    returns, names, constraints = problem(case)
    values = returns.to_numpy()
    ours = weights_of(OPTIMISERS["min_cvar"](returns, constraints, cvar_beta=0.95), names)
    theirs = cvxpy_min_cvar(values, 0.95, constraints, names)
    assert_feasible(ours, constraints, names)
    assert_at_least_as_good(cvar(ours, values, 0.95), cvar(theirs, values, 0.95), maximise=False)


# --- HRP and equal weight -------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_hrp_is_feasible(case: tuple[int, bool, str]) -> None:
    """No convex form to compare with; ``test_allocator_tools`` matches it to PyPortfolioOpt's HRPOpt."""
    returns, names, constraints = problem(case)
    assert_feasible(weights_of(OPTIMISERS["hrp"](returns, constraints), names), constraints, names)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_equal_weight(case: tuple[int, bool, str]) -> None:
    returns, names, constraints = problem(case)
    lower, upper = constraints.bounds(names)
    even = constraints.leverage_cap / len(names)
    if ((lower > even + 1e-9) | (upper < even - 1e-9)).any():
        with pytest.raises(InfeasibleConstraints):
            OPTIMISERS["equal_weight"](returns, constraints)
        return
    ours = weights_of(OPTIMISERS["equal_weight"](returns, constraints), names)
    assert_feasible(ours, constraints, names)
    np.testing.assert_allclose(ours, even, rtol=0, atol=1e-15)


@pytest.mark.parametrize("cap", [1.0, 1.5])
@pytest.mark.parametrize("size", SIZES)
def test_equal_weight_within_bounds_that_allow_it(size: int, cap: float) -> None:
    """The shared bounded constraints cap one strategy below cap/n (so equal weight must refuse
    them); these floor two strategies below cap/n and cap the rest above it."""
    returns = data("factor", size)
    names = list(returns.columns)
    constraints = Constraints(min_weight={names[0]: 0.5 * cap / size, names[-1]: cap / size},
                              default_max_weight=cap * (0.3 if size <= 5 else 2.5 / size), leverage_cap=cap)
    ours = weights_of(OPTIMISERS["equal_weight"](returns, constraints), names)
    assert_feasible(ours, constraints, names)
    np.testing.assert_allclose(ours, cap / size, rtol=0, atol=1e-15)


def test_every_optimiser_is_covered() -> None:
    covered = {"max_sharpe", "min_variance", "max_cagr", "hybrid", "risk_parity", "min_cvar", "hrp", "equal_weight"}
    assert set(OPTIMISERS) == covered
