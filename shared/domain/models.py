"""Domain models shared by every deployable.

These are plain pydantic v2 models with no I/O. Documents in the store are the
models' ``model_dump(mode="json")`` form, so every backend holds the same shape.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, model_validator

from shared.domain.states import SIGNAL_STATUSES as SIGNAL_STATUSES
from shared.domain.states import DecisionStatus as DecisionStatus
from shared.domain.states import OrderStatus as OrderStatus
from shared.domain.states import SignalStatus as SignalStatus
from shared.domain.states import StrategyStatus as StrategyStatus

# Moved to shared.domain.schema, the store's one schema module; still importable from here.
_IN_SCHEMA = ("Collections", "KILL_SWITCH_DOC", "RISK_LIMITS_DOC")

if TYPE_CHECKING:  # what __getattr__ resolves, spelled out for the type checker (no import at run time)
    from shared.domain.schema import KILL_SWITCH_DOC as KILL_SWITCH_DOC
    from shared.domain.schema import RISK_LIMITS_DOC as RISK_LIMITS_DOC
    from shared.domain.schema import Collections as Collections


def __getattr__(name: str) -> object:
    """Resolve the names that moved to the schema lazily: the schema imports these models."""
    if name in _IN_SCHEMA:
        from shared.domain import schema

        return getattr(schema, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


# A broker's name, as accounts, orders and fills store it ("mock", "zerodha", "ibkr"). An open set:
# the broker registry (shared/adapters/brokers) lists the brokers that can be built.
BrokerName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,31}$")]


class TradingState(StrEnum):
    """NautilusTrader's trading states, for the fund, an account or a strategy.

    ACTIVE trades freely. REDUCING refuses new decisions that add risk; orders that
    reduce a position pass. HALTED also stops risk-adding orders already queued for
    execution. In every state an exit, a reducing order and a flatten go through.
    """

    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"

    @property
    def severity(self) -> int:
        return (TradingState.ACTIVE, TradingState.REDUCING, TradingState.HALTED).index(self)


class SessionPolicy(StrEnum):
    """What a strategy's orders do outside their instrument's trading session."""

    HOLD = "hold"  # wait for the next open, then decide and trade
    REFUSE = "refuse"  # refuse the signal, naming the session
    ANY_TIME = "any_time"  # ignore the calendar: paper strategies at the Mock broker, around the clock


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Instrument(_Model):
    """The contract an order trades, stamped from the instrument master at ingest."""

    symbol: Annotated[str, Field(min_length=1, max_length=40)]
    asset_class: AssetClass = AssetClass.EQUITY
    exchange: str | None = None
    currency: str = "USD"
    multiplier: PositiveFloat = 1.0
    tick_size: PositiveFloat | None = None
    lot_size: PositiveFloat = 1.0  # orders are whole multiples of it (crypto: fractions of it)

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
    accounts: list[str] | None = None  # only these accounts (an admin flatten of one account); None: all


def book_key(strategy_id: str, instrument_key: str) -> str:
    """A strategy's book in one instrument: its signals are decided in arrival order (and carry
    this as their Pub/Sub ordering key)."""
    return f"{strategy_id}|{instrument_key}"


class Strategy(_Model):
    strategy_id: str
    name: str = ""
    owner: str = ""
    status: StrategyStatus = StrategyStatus.LIVE
    session_policy: SessionPolicy = SessionPolicy.HOLD
    reference_capital: PositiveFloat = 100_000.0
    passphrase_hash: str = ""
    passphrase_salt: str = ""
    eligible_accounts: list[str] = Field(default_factory=list)  # empty: every account
    eligible_brokers: list[BrokerName] = Field(default_factory=list)  # empty: every broker
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
    def from_document(cls, document: dict[str, Any] | None) -> PositionLot:
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


class DayStart(_Model):
    """An account's equity at its first snapshot of a (UTC) day: the daily loss limit's base."""

    date: str  # YYYY-MM-DD
    equity: float


class Account(_Model):
    account_id: str
    broker: BrokerName = "mock"
    client_id: str = ""
    name: str = ""
    base_currency: str = "USD"
    snapshot: AccountSnapshot | None = None
    day_start: DayStart | None = None
    loss_limit_breached_on: str | None = None  # the day a daily loss breach put it in REDUCING


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
    """Every limit cerebro enforces; README's "Risk limits" table documents each."""

    max_position_size_pct: PositiveFloat = 10.0  # an account's whole position in one instrument, % of equity
    max_broker_allocation_pct: PositiveFloat = 40.0  # the fund's equity placed at one broker, %
    max_account_data_age_seconds: PositiveFloat = 300.0
    price_collar_pct: PositiveFloat = 5.0  # the alert's price may differ this much from the broker's
    max_price_age_seconds: PositiveFloat = 120.0  # an older reference price refuses risk-adding orders
    max_order_notional: PositiveFloat = 5_000_000.0  # per order, in the account's base currency
    # Order-rate throttles (NautilusTrader's submit-rate limit): a strategy's risk-adding signals, an
    # account's risk-adding orders, each in one second. A bar-close burst fits; a runaway loop does not.
    max_signals_per_second_per_strategy: PositiveFloat = 50.0
    max_orders_per_second_per_account: PositiveFloat = 100.0
    daily_loss_limit_pct: PositiveFloat = 5.0  # of start-of-day equity; a breach puts the account in REDUCING
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
    price: float | None = None  # the broker's reference price sized against, in the instrument's currency
    price_source: str = ""
    alert_price: float | None = None  # what the alert said: a sanity check only
    fx_rate: float | None = None  # instrument currency -> account base currency
    current_position: float = 0.0  # this strategy's position
    account_position: float = 0.0  # every strategy's filled position in this instrument in this account
    account_data_age_seconds: float | None = None
    trading_state: TradingState = TradingState.ACTIVE
    limits: RiskLimits


class Order(_Model):
    client_order_id: str
    signal_id: str
    strategy_id: str
    account_id: str
    broker: BrokerName
    instrument: Instrument
    side: Side
    quantity: PositiveFloat
    order_type: OrderType = OrderType.MARKET
    reference_price: PositiveFloat | None = None
    limit_price: PositiveFloat | None = None
    stop_price: PositiveFloat | None = None
    reduce_only: bool = False  # only reduces the strategy's position: allowed through every trading state
    stop_loss: PositiveFloat | None = None  # protective levels placed at the broker once the entry fills
    take_profit: PositiveFloat | None = None
    parent_order_id: str | None = None  # set on a protective order: the entry it protects


class CancelRequest(_Model):
    """Cancel one working order (flatten, an exit behind a resting entry, or the API)."""

    client_order_id: str
    signal_id: str
    account_id: str
    broker: BrokerName
    reason: str


class Decision(_Model):
    signal_id: str
    account_id: str
    strategy_id: str
    status: DecisionStatus
    reason: str
    inputs: DecisionInputs
    checks: list[Check]
    orders: list[Order] = Field(default_factory=list)
    cancels: list[CancelRequest] = Field(default_factory=list)  # working orders to cancel first


class Fill(_Model):
    """One execution at the broker; exec_id is the broker's and unique."""

    exec_id: str
    client_order_id: str
    signal_id: str
    strategy_id: str
    account_id: str
    broker: BrokerName
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
    status: OrderStatus
    reason: str = ""
    filled_quantity: float = 0.0
    fills: list[Fill] = Field(default_factory=list)

    @property
    def is_final(self) -> bool:
        return self.status in (OrderStatus.FILLED, OrderStatus.REJECTED, OrderStatus.CANCELLED)


def client_order_id(signal_id: str, account_id: str, instrument_key: str) -> str:
    """Deterministic id, so every retry of the same decision names the same order.

    Kite's `tag` allows 20 characters, so the id is a 20-character hash prefix.
    """
    digest = hashlib.sha256(f"{signal_id}|{account_id}|{instrument_key}".encode()).hexdigest()
    return f"mt{digest[:18]}"


class Quote(_Model):
    """A reference price from a broker. Checked, never trusted blindly: it may be zero,
    non-finite or old, and cerebro refuses risk-adding orders on any of those."""

    price: float
    as_of: datetime
    source: str  # e.g. "mock mark", "kite quote", "ibkr snapshot", "ibkr last fill"

