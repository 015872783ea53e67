"""Domain models shared by every deployable.

These are plain pydantic v2 models with no I/O. Documents in the store are the
models' ``model_dump(mode="json")`` form, so every backend holds the same shape.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, model_validator


class Collections(StrEnum):
    """Collection names, kept from the seed so existing data stays readable."""

    RAW_SIGNALS = "trading_signals_raw"
    SIGNALS = "signal_store"
    ACCOUNTS = "trading_accounts"
    POSITIONS = "positions"
    STRATEGIES = "strategies"
    ALLOCATION = "current_allocation"
    CONFIRMATIONS = "execution_confirmations"
    PORTFOLIO_TESTS = "portfolio_tests"
    ORDERS = "orders"
    SIGNAL_DEDUPE = "signal_dedupe"
    SETTINGS = "system_settings"
    ALLOCATION_HISTORY = "allocation_history"
    STRATEGY_RETURNS = "strategy_returns"
    API_KEYS = "api_keys"
    ACCOUNT_HISTORY = "account_history"  # one equity point per account per quarter hour, from the poller
    DEAD_LETTERS = "dead_letters"  # one per dead-lettered message, recorded by the notifier
    DASHBOARDS = "dashboards"  # precomputed documents per client and per strategy
    OPEN_SIGNALS = "open_signals"  # signals with work in flight (small docs): what a restart resumes


KILL_SWITCH_DOC = "kill_switch"  # in system_settings: {"enabled": bool, "reason", "changed_by", "changed_at"}


class Topics(StrEnum):
    SIGNALS = "standardized-signals"
    ORDERS = "trading-orders"
    CONFIRMATIONS = "execution-confirmations"
    NOTIFICATIONS = "notifications"  # alerts: reconciliation breaks, session expiry, daily summary
    DASHBOARD_REFRESH = "dashboard-refresh"  # Cloud Scheduler's tick: rebuild every dashboard document
    IBKR_ORDERS = "ibkr-orders"  # execution routes IBKR orders to the gateway VM's bridge

    @property
    def dead_letter(self) -> str:
        return f"{self.value}-dead-letter"


class AssetClass(StrEnum):
    EQUITY = "equity"
    FUTURE = "future"
    FOREX = "forex"
    CRYPTO = "crypto"
    OPTION = "option"


class Action(StrEnum):
    """What the strategy wants: open/increase (buy, sell), or reduce to flat."""

    BUY = "buy"
    SELL = "sell"
    EXIT = "exit"  # close or reduce the strategy's position in this instrument
    FLATTEN = "flatten"  # close every position the strategy holds in the account


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"


class SizingKind(StrEnum):
    TARGET_POSITION = "target_position"  # signed position, in reference-capital units
    QUANTITY = "quantity"  # order quantity, in reference-capital units
    PERCENT = "percent"  # percent of the capital allocated to the strategy


class Environment(StrEnum):
    STAGING = "staging"
    PRODUCTION = "production"


class SignalSource(StrEnum):
    TRADINGVIEW_JSON = "tradingview_json"
    TRADINGVIEW_TEXT = "tradingview_text"
    HTTP_API = "http_api"
    ADMIN = "admin"  # the admin's flatten-all


class Broker(StrEnum):
    MOCK = "mock"
    ZERODHA = "zerodha"
    IBKR = "ibkr"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Instrument(_Model):
    symbol: Annotated[str, Field(min_length=1, max_length=40)]
    asset_class: AssetClass = AssetClass.EQUITY
    exchange: str | None = None
    currency: str = "USD"
    multiplier: PositiveFloat = 1.0

    @property
    def key(self) -> str:
        """Stable identifier used in document ids and position maps."""
        return self.symbol if not self.exchange else f"{self.exchange}:{self.symbol}"


class Sizing(_Model):
    kind: SizingKind
    value: float

    @model_validator(mode="after")
    def _check_range(self) -> Sizing:
        if self.kind is SizingKind.PERCENT and not 0 < self.value <= 100:
            raise ValueError("size_pct must be greater than 0 and at most 100")
        if self.kind is SizingKind.QUANTITY and self.value <= 0:
            raise ValueError("quantity must be greater than 0")
        return self


class StandardizedSignal(_Model):
    signal_id: str
    strategy_id: str
    instrument: Instrument
    action: Action
    sizing: Sizing | None = None  # None only for exit/flatten: close everything
    order_type: OrderType = OrderType.MARKET
    price: PositiveFloat | None = None  # reference price (TradingView's close)
    limit_price: PositiveFloat | None = None
    stop_price: PositiveFloat | None = None
    stop_loss: PositiveFloat | None = None
    take_profit: PositiveFloat | None = None
    signal_time: datetime | None = None
    received_at: datetime
    environment: Environment = Environment.PRODUCTION
    source: SignalSource


class Strategy(_Model):
    strategy_id: str
    name: str = ""
    owner: str = ""
    status: Literal["candidate", "live", "paused", "retired"] = "live"
    reference_capital: PositiveFloat = 100_000.0
    passphrase_hash: str = ""
    passphrase_salt: str = ""
    eligible_accounts: list[str] = Field(default_factory=list)  # empty: every account
    eligible_brokers: list[Broker] = Field(default_factory=list)  # empty: every broker
    instruments: list[str] = Field(default_factory=list)  # informational: what it trades

    def eligible_for(self, account: Account) -> bool:
        return ((not self.eligible_accounts or account.account_id in self.eligible_accounts)
                and (not self.eligible_brokers or account.broker in self.eligible_brokers))


class PositionLot(_Model):
    """Net position of one instrument: used both for our books and a broker's."""

    quantity: float = 0.0
    avg_price: float = 0.0
    realized_pnl: float = 0.0

    @classmethod
    def from_document(cls, document: dict | None) -> PositionLot:
        """The lot inside a stored document that also carries other fields."""
        if not document:
            return cls()
        return cls(**{name: document[name] for name in cls.model_fields if name in document})


class AccountSnapshot(_Model):
    equity: float
    cash: float
    margin_used: float = 0.0
    margin_available: float
    gross_exposure: float = 0.0
    positions: dict[str, float] = Field(default_factory=dict)  # instrument key -> qty
    as_of: datetime


class Account(_Model):
    account_id: str
    broker: Broker = Broker.MOCK
    client_id: str = ""
    name: str = ""
    base_currency: str = "USD"
    snapshot: AccountSnapshot | None = None


class Allocation(_Model):
    """Approved capital weights: account -> strategy -> fraction of equity."""

    version: int = 1
    weights: dict[str, dict[str, Annotated[float, Field(ge=0, le=10)]]] = Field(
        default_factory=dict
    )
    approved_by: str = ""
    approved_at: datetime | None = None
    effective_from: datetime | None = None
    source_test_id: str = ""  # the portfolio test it was approved from
    pending: Allocation | None = None  # approved, waiting for its effective_from

    def in_effect(self, now: datetime) -> Allocation:
        """The weights cerebro trades at ``now``: the pending version once it is due."""
        if self.pending is not None and self.pending.effective_from is not None and self.pending.effective_from <= now:
            return self.pending
        return self

    def weight(self, account_id: str, strategy_id: str) -> float:
        return self.weights.get(account_id, {}).get(strategy_id, 0.0)

    def accounts_for(self, strategy_id: str) -> list[str]:
        return sorted(a for a, w in self.weights.items() if w.get(strategy_id, 0) > 0)


class RiskLimits(_Model):
    max_position_size_pct: PositiveFloat = 10.0
    max_broker_allocation_pct: PositiveFloat = 100.0
    max_account_data_age_seconds: PositiveFloat = 300.0
    margin_rates: dict[AssetClass, float] = Field(
        default_factory=lambda: {
            AssetClass.EQUITY: 0.5,
            AssetClass.FUTURE: 0.1,
            AssetClass.FOREX: 0.05,
            AssetClass.CRYPTO: 1.0,
            AssetClass.OPTION: 1.0,
        }
    )


CheckOutcome = Literal["pass", "fail", "capped"]


class Check(_Model):
    name: str
    outcome: CheckOutcome
    detail: str


class DecisionInputs(_Model):
    equity: float | None = None
    allocation_weight: float
    allocated_capital: float | None = None
    reference_capital: float
    price: float | None = None
    current_position: float = 0.0
    account_data_age_seconds: float | None = None
    limits: RiskLimits


class Order(_Model):
    client_order_id: str
    signal_id: str
    strategy_id: str
    account_id: str
    broker: Broker
    instrument: Instrument
    side: Side
    quantity: PositiveFloat
    order_type: OrderType = OrderType.MARKET
    reference_price: PositiveFloat | None = None
    limit_price: PositiveFloat | None = None
    stop_price: PositiveFloat | None = None
    reduce_only: bool = False  # an exit or flatten: allowed through the kill switch at execution


class Decision(_Model):
    signal_id: str
    account_id: str
    strategy_id: str
    status: Literal["approved", "rejected", "skipped"]
    reason: str
    inputs: DecisionInputs
    checks: list[Check]
    orders: list[Order] = Field(default_factory=list)


class Fill(_Model):
    """One execution at the broker; exec_id is the broker's and unique."""

    exec_id: str
    client_order_id: str
    signal_id: str
    strategy_id: str
    account_id: str
    broker: Broker
    instrument: Instrument
    side: Side
    quantity: PositiveFloat
    price: PositiveFloat
    commission: float = 0.0
    filled_at: datetime


class OrderUpdate(_Model):
    """What the execution side reports about one order (on execution-confirmations)."""

    client_order_id: str
    broker_order_id: str | None = None
    status: Literal["submitted", "working", "partially_filled", "filled", "rejected", "cancelled"]
    reason: str = ""
    filled_quantity: float = 0.0
    fills: list[Fill] = Field(default_factory=list)

    @property
    def is_final(self) -> bool:
        return self.status in ("filled", "rejected", "cancelled")


def client_order_id(signal_id: str, account_id: str, instrument_key: str) -> str:
    """Deterministic id, so every retry of the same decision names the same order.

    Kite's `tag` allows 20 characters, so the id is a 20-character hash prefix.
    """
    digest = hashlib.sha256(f"{signal_id}|{account_id}|{instrument_key}".encode()).hexdigest()
    return f"mt{digest[:18]}"
