"""The Mock broker (a paper market kept in the store), in the same file set as the real
brokers: config, parsing (its store records), execution, factory."""

from .config import DEFAULT_MARGIN_RATES, MockBrokerConfig
from .execution import MockBroker
from .parsing import ACCOUNTS, FX_RATES, ORDERS, OUTBOX, PRICES, doc_id, fx

__all__ = ["ACCOUNTS", "DEFAULT_MARGIN_RATES", "FX_RATES", "ORDERS", "OUTBOX", "PRICES", "MockBroker",
           "MockBrokerConfig", "doc_id", "fx"]
