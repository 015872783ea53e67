"""A demo fund so a newcomer can send a signal a minute after cloning.

Three strategies, two client accounts at the Mock broker, an approved allocation
and a handful of listed instruments. The passphrases are public demo values:
never use them for a real strategy.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from shared.adapters.brokers.mock import MockBroker
from shared.auth.api_keys import ApiKeys
from shared.demo_instruments import DEMO_FX_RATES, DEMO_INSTRUMENTS
from shared.domain.models import (
    RISK_LIMITS_DOC,
    Account,
    Allocation,
    Collections,
    SessionPolicy,
    Strategy,
)
from shared.domain.returns_csv import ReturnSeries
from shared.ports.store import Store
from shared.services.cerebro_service import CURRENT_ALLOCATION_DOC
from shared.services.ingest import hash_passphrase
from shared.services.instruments import InstrumentCatalog

DEMO_PASSPHRASES = {
    "momentum_us": "demo-momentum-us-passphrase",
    "trend_futures": "demo-trend-futures-passphrase",
    "fx_carry": "demo-fx-carry-passphrase",
}

# Public demo API keys for the registry API (`Authorization: Bearer ...`). Never for real use.
DEMO_API_KEYS = {
    ("admin", "admin"): "mt_00000000000000a1.demo-admin-key-not-secret",
    ("developer", "dev_alice"): "mt_00000000000000d1.demo-alice-key-not-secret",
    ("developer", "dev_bob"): "mt_00000000000000d2.demo-bob-key-not-secret",
    ("client", "client_a"): "mt_00000000000000c1.demo-client-a-key-not-secret",
    ("client", "client_b"): "mt_00000000000000c2.demo-client-b-key-not-secret",
}

# (annual drift, annual volatility) of each strategy's synthetic three-year backtest.
DEMO_RETURN_PROFILES = {"momentum_us": (0.14, 0.18), "trend_futures": (0.10, 0.12), "fx_carry": (0.06, 0.07)}

DEMO_STRATEGIES = {
    "momentum_us": ("US equity momentum", "dev_alice", 100_000.0),
    "trend_futures": ("Index futures trend", "dev_bob", 500_000.0),
    "fx_carry": ("G10 FX carry", "dev_bob", 250_000.0),
}

DEMO_ACCOUNTS = {
    "DEMO-CLIENT-A": ("client_a", "Client A growth", 1_000_000.0),
    "DEMO-CLIENT-B": ("client_b", "Client B balanced", 250_000.0),
}

DEMO_WEIGHTS = {
    "DEMO-CLIENT-A": {"momentum_us": 0.4, "trend_futures": 0.4, "fx_carry": 0.2},
    "DEMO-CLIENT-B": {"momentum_us": 0.6, "fx_carry": 0.4},
}

# Every demo account is at the Mock broker, so the fund's 40% cap per broker could never hold:
# the demo fund's own settings lift it, and say why. A real fund keeps the default.
DEMO_FUND_LIMITS = {"max_broker_allocation_pct": 100.0,
                    "reason": "paper demo fund: every account is at the Mock broker"}


def seed_demo_fund(store: Store, broker: MockBroker) -> bool:
    """Seed once; returns False if the store already holds the demo fund."""
    if store.get(Collections.STRATEGIES, "momentum_us") is not None:
        return False
    for strategy_id, (name, owner, reference) in DEMO_STRATEGIES.items():
        digest, salt = hash_passphrase(DEMO_PASSPHRASES[strategy_id])
        # Paper strategies at the Mock broker trade around the clock; a real strategy holds for the open.
        strategy = Strategy(strategy_id=strategy_id, name=name, owner=owner, reference_capital=reference,
                            passphrase_hash=digest, passphrase_salt=salt, session_policy=SessionPolicy.ANY_TIME)
        store.put(Collections.STRATEGIES, strategy_id, strategy.model_dump(mode="json"))
    for account_id, (client, name, cash) in DEMO_ACCOUNTS.items():
        broker.open_account(account_id, cash)
        account = Account(account_id=account_id, broker="mock", client_id=client, name=name)
        store.put(Collections.ACCOUNTS, account_id, account.model_dump(mode="json"))
    for spec, price in DEMO_INSTRUMENTS:
        broker.list_instrument(spec, price)
    for pair, rate in DEMO_FX_RATES.items():
        broker.set_fx_rate(pair, rate)
    InstrumentCatalog(store, lambda: datetime.now(UTC)).put_all(broker.instrument_specs())
    store.put(Collections.SETTINGS, RISK_LIMITS_DOC, DEMO_FUND_LIMITS)
    keys = ApiKeys(store)
    for (role, subject), token in DEMO_API_KEYS.items():
        keys.issue(role, subject, label="demo", token=token)  # type: ignore[arg-type]
    for strategy_id, series in demo_return_series().items():
        store.put(Collections.STRATEGY_RETURNS, strategy_id, {"strategy_id": strategy_id, **series.as_document(),
                                                              "source": "demo", "uploaded_by": "demo-seed"})
    allocation = Allocation(version=1, weights=DEMO_WEIGHTS, approved_by="demo-seed", approved_at=datetime.now(UTC))
    store.put(Collections.ALLOCATION, CURRENT_ALLOCATION_DOC, allocation.model_dump(mode="json"))
    return True


def demo_return_series(days: int = 756, seed: int = 7) -> dict[str, ReturnSeries]:
    """Deterministic synthetic backtests on a shared weekday calendar, mildly correlated."""
    rng = random.Random(seed)
    calendar: list[date] = []
    day = date(2023, 11, 27)
    while len(calendar) < days:
        if day.weekday() < 5:
            calendar.append(day)
        day += timedelta(days=1)
    market = [rng.gauss(0, 1) for _ in calendar]
    series = {}
    for strategy_id, (drift, volatility) in DEMO_RETURN_PROFILES.items():
        daily_vol = volatility / 252 ** 0.5
        returns = tuple(drift / 252 + daily_vol * (0.3 * m + 0.954 * rng.gauss(0, 1)) for m in market)
        series[strategy_id] = ReturnSeries(tuple(calendar), returns)
    return series
