"""A demo fund so a newcomer can send a signal a minute after cloning.

Three strategies, two client accounts at the Mock broker, an approved allocation
and a handful of listed instruments. The passphrases are public demo values:
never use them for a real strategy.
"""

from __future__ import annotations

from datetime import UTC, datetime

from shared.adapters.broker_mock import MockBroker
from shared.domain.models import (
    Account,
    Allocation,
    AssetClass,
    Broker,
    Collections,
    Instrument,
    Strategy,
)
from shared.ports.store import Store
from shared.services.cerebro_service import CURRENT_ALLOCATION_DOC
from shared.services.ingest import hash_passphrase

DEMO_PASSPHRASES = {
    "momentum_us": "demo-momentum-us-passphrase",
    "trend_futures": "demo-trend-futures-passphrase",
    "fx_carry": "demo-fx-carry-passphrase",
}

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

DEMO_LISTINGS = [
    (Instrument(symbol="AAPL", exchange="NASDAQ"), 190.0),
    (Instrument(symbol="MSFT", exchange="NASDAQ"), 420.0),
    (Instrument(symbol="SPY", exchange="NYSEARCA"), 560.0),
    (Instrument(symbol="NVDA", exchange="NASDAQ"), 130.0),
    # Micro E-minis: one full E-mini (~$290k notional) is over the demo accounts' 10% position cap.
    (Instrument(symbol="MES1!", asset_class=AssetClass.FUTURE, exchange="CME", multiplier=5), 5800.0),
    (Instrument(symbol="MNQ1!", asset_class=AssetClass.FUTURE, exchange="CME", multiplier=2), 20500.0),
    (Instrument(symbol="EURUSD", asset_class=AssetClass.FOREX, currency="USD"), 1.08),
    (Instrument(symbol="GBPUSD", asset_class=AssetClass.FOREX, currency="USD"), 1.27),
]


def seed_demo_fund(store: Store, broker: MockBroker) -> bool:
    """Seed once; returns False if the store already holds the demo fund."""
    if store.get(Collections.STRATEGIES, "momentum_us") is not None:
        return False
    for strategy_id, (name, owner, reference) in DEMO_STRATEGIES.items():
        digest, salt = hash_passphrase(DEMO_PASSPHRASES[strategy_id])
        strategy = Strategy(strategy_id=strategy_id, name=name, owner=owner, reference_capital=reference,
                            passphrase_hash=digest, passphrase_salt=salt)
        store.put(Collections.STRATEGIES, strategy_id, strategy.model_dump(mode="json"))
    for account_id, (client, name, cash) in DEMO_ACCOUNTS.items():
        broker.open_account(account_id, cash)
        account = Account(account_id=account_id, broker=Broker.MOCK, client_id=client, name=name)
        store.put(Collections.ACCOUNTS, account_id, account.model_dump(mode="json"))
    for instrument, price in DEMO_LISTINGS:
        broker.list_instrument(instrument, price)
    allocation = Allocation(version=1, weights=DEMO_WEIGHTS, approved_by="demo-seed", approved_at=datetime.now(UTC))
    store.put(Collections.ALLOCATION, CURRENT_ALLOCATION_DOC, allocation.model_dump(mode="json"))
    return True
