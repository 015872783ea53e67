"""The store's schema in one place: every collection, what its document ids are, the fields
its queries filter or order on, and the composite indexes those queries need.

Collection names are spelled only here (``Collections``), so a grep for a name finds every
reader and writer. Firestore needs a composite index for equality filters plus an ordering on
another field; ``INDEXES`` lists them, Terraform declares the same set, and
tests/infra/test_firestore_indexes.py checks both against the queries in the code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel

from shared.domain.instruments import InstrumentSpec
from shared.domain.models import Account, Allocation, Fill, Strategy


class Collections(StrEnum):
    """Collection names, kept as the operators' existing data names them, so it stays readable."""

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
    INSTRUMENTS = "instruments"  # the instrument master: one document per canonical instrument
    INSTRUMENT_ALIASES = "instrument_aliases"  # every spelling an alert may use -> the canonical key
    MARKET_PRICES = "market_prices"  # quotes published by brokers that live elsewhere (the IBKR bridge)
    TRADING_STATES = "trading_states"  # admin-set ACTIVE / REDUCING / HALTED per account or strategy
    RISK_COUNTERS = "risk_counters"  # order-rate throttle buckets, one per scope per minute
    BOOK_WAITERS = "book_waiters"  # a signal parked on what its book waits for, until that moves
    REFUSED_DELIVERIES = "refused_deliveries"  # 4xx webhook/API deliveries, passphrases removed (services/refusals)
    STRATEGY_TARGETS = "strategy_targets"  # the last target position per book, for target-signal dedupe
    RECONCILIATION_BREAKS = "reconciliation_breaks"  # broker positions that differ from ours
    AUTH_FAILURES = "auth_failures"  # failed-authentication counters and lockouts (auth/throttle)
    RATE_COUNTERS = "rate_counters"  # API-key request counts per minute (auth/rate_limit)
    NOTIFIER_RATE = "notifier_rate"  # messages sent per chat per window
    NOTIFICATIONS_SENT = "notifications_sent"  # one marker per notification event: sent at most once
    RISK_REFUSAL_DIGEST = "risk_refusal_digest"  # one document per chat: the open window and unsent summaries
    # The brokers' own books, kept by their adapters.
    MOCK_BROKER_ACCOUNTS = "mock_broker_accounts"
    MOCK_BROKER_ORDERS = "mock_broker_orders"
    MOCK_BROKER_PRICES = "mock_broker_prices"
    MOCK_BROKER_FX = "mock_broker_fx"
    MOCK_BROKER_OUTBOX = "mock_broker_outbox"
    ZERODHA_OPEN_ORDERS = "zerodha_open_orders"
    ZERODHA_CONTRACTS = "zerodha_contracts"
    ZERODHA_GTTS = "zerodha_gtts"
    BROKER_SESSIONS = "broker_sessions"
    IBKR_ORDERS = "ibkr_orders"
    IBKR_CONTRACTS = "ibkr_contracts"


# Documents with fixed ids.
KILL_SWITCH_DOC = "kill_switch"  # in system_settings: {"enabled": bool, "reason", "changed_by", "changed_at"}
RISK_LIMITS_DOC = "risk_limits"  # in system_settings: the fund's limits where they differ from the environment's
CURRENT_ALLOCATION_DOC = "current"  # in current_allocation: the one approved allocation


@dataclass(frozen=True)
class CollectionSpec:
    """One collection: what names a document, what it holds, and the fields queries read, so a
    reader sees the shape without tracing every writer."""

    name: Collections
    key: str  # what the document id is, as the code builds it
    fields: tuple[str, ...] = ()  # top-level fields a query filters or orders on
    model: type[BaseModel] | None = None  # the document is this model's JSON form (it may add fields)
    note: str = ""


Direction = Literal["ASCENDING", "DESCENDING"]


@dataclass(frozen=True)
class CompositeIndex:
    """Equality filters on ``equalities`` ordered by ``ordered``: Firestore's composite index
    (the equality fields ascending, then the ordered field in the query's direction)."""

    name: str  # the key in Terraform's local.composite_indexes
    collection: Collections
    equalities: tuple[str, ...]
    ordered: str
    direction: Direction = "ASCENDING"


_C = Collections
_SANITISED = '("/" replaced by "_")'

SCHEMA: tuple[CollectionSpec, ...] = (
    # Signals: ingest writes them, cerebro decides them.
    CollectionSpec(_C.RAW_SIGNALS, "signal_id (webhook/API) or 'email-' + sha256 of the Message-ID (IMAP)",
                   ("signal_id", "status"), note="the delivery as received; raw ingest marks its outcome"),
    CollectionSpec(_C.SIGNALS, "signal_id", ("strategy_id", "status", "received_at"),
                   note="status is a SignalStatus; cerebro adds its decisions"),
    CollectionSpec(_C.SIGNAL_DEDUPE, "sha256 of f'{strategy_id}|{client_signal_id or canonical alert}'"),
    CollectionSpec(_C.STRATEGY_TARGETS, "book_key: f'{strategy_id}|{instrument_key}'"),
    CollectionSpec(_C.OPEN_SIGNALS, "signal_id", ("book",)),
    CollectionSpec(_C.BOOK_WAITERS, f"f'{{blocker}}|{{signal_id}}' {_SANITISED}", ("blocker",)),
    CollectionSpec(_C.REFUSED_DELIVERIES, "'ref_' + 16 random hex digits", ("at",),
                   note="expires_at is a TTL field (firestore.tf)"),
    # Orders, fills and positions.
    CollectionSpec(_C.ORDERS, "client_order_id", ("signal_id", "strategy_id", "instrument_key", "status", "open"),
                   note="status: a ClaimState until a broker answers, then an OrderStatus"),
    CollectionSpec(_C.CONFIRMATIONS, "exec_id", ("signal_id", "strategy_id", "account_id", "filled_at"), Fill),
    CollectionSpec(_C.POSITIONS, f"f'{{account_id}}|{{strategy_id}}|{{instrument_key}}' {_SANITISED}",
                   ("account_id", "strategy_id", "instrument_key")),
    # Accounts, strategies and the allocation.
    CollectionSpec(_C.ACCOUNTS, "account_id", ("account_id", "client_id", "broker"), Account),
    CollectionSpec(_C.ACCOUNT_HISTORY, "f'{account_id}|{quarter hour, %Y-%m-%dT%H:%M}'", ("account_id", "at")),
    CollectionSpec(_C.RECONCILIATION_BREAKS, "f'{account_id}:{instrument_key}'", ("account_id", "open")),
    CollectionSpec(_C.STRATEGIES, "strategy_id", ("owner", "strategy_id"), Strategy),
    CollectionSpec(_C.STRATEGY_RETURNS, "strategy_id"),
    CollectionSpec(_C.ALLOCATION, f"'{CURRENT_ALLOCATION_DOC}'", model=Allocation),
    CollectionSpec(_C.ALLOCATION_HISTORY, "f'v{version:06d}'", ("version",), Allocation),
    CollectionSpec(_C.PORTFOLIO_TESTS, "test_id", ("created_at",)),
    # Settings, risk and instruments.
    CollectionSpec(_C.SETTINGS, f"'{KILL_SWITCH_DOC}' or '{RISK_LIMITS_DOC}'"),
    CollectionSpec(_C.TRADING_STATES, "'fund', f'account:{account_id}' or f'strategy:{strategy_id}'", ("scope_id",)),
    CollectionSpec(_C.RISK_COUNTERS, "f'{scope}:{scope_id}|{second, %Y%m%dT%H%M%S}'"),
    CollectionSpec(_C.INSTRUMENTS, f"the canonical instrument key {_SANITISED}", model=InstrumentSpec),
    CollectionSpec(_C.INSTRUMENT_ALIASES, f"the alias {_SANITISED}"),
    CollectionSpec(_C.MARKET_PRICES, f"f'{{broker}}|{{instrument_key}}' {_SANITISED}"),
    # Access and notifications.
    CollectionSpec(_C.API_KEYS, "key_id", ("subject",)),
    CollectionSpec(_C.AUTH_FAILURES, "sha256 of 'channel|source|credential' or 'strategy|strategy_id' (40 digits)",
                   ("expires_at",)),
    CollectionSpec(_C.RATE_COUNTERS, "f'{key_id}:{window}'"),
    CollectionSpec(_C.NOTIFIER_RATE, "the chat id"),
    CollectionSpec(_C.NOTIFICATIONS_SENT, "the notification's event or message id"),
    CollectionSpec(_C.RISK_REFUSAL_DIGEST, "the chat id"),
    CollectionSpec(_C.DEAD_LETTERS, "the dead-lettered message's id"),
    CollectionSpec(_C.DASHBOARDS, "f'client:{client_id}' or f'strategy:{strategy_id}'"),
    # The brokers' books.
    CollectionSpec(_C.MOCK_BROKER_ACCOUNTS, "account_id"),
    CollectionSpec(_C.MOCK_BROKER_ORDERS, "f'{account_id}:{client_order_id}'", ("instrument_key", "status")),
    CollectionSpec(_C.MOCK_BROKER_PRICES, f"the instrument key {_SANITISED}"),
    CollectionSpec(_C.MOCK_BROKER_FX, "the currency pair, e.g. 'USDINR'"),
    CollectionSpec(_C.MOCK_BROKER_OUTBOX, "f'{broker_order_id}:{status}'"),
    CollectionSpec(_C.ZERODHA_OPEN_ORDERS, "client_order_id", ("open",)),
    CollectionSpec(_C.ZERODHA_CONTRACTS, f"Kite's 'EXCHANGE:TRADINGSYMBOL' {_SANITISED}"),
    CollectionSpec(_C.ZERODHA_GTTS, "leg_id: the protective leg's client order id", ("open", "trigger_id")),
    CollectionSpec(_C.BROKER_SESSIONS, "f'zerodha:{account_id}'", ("expired",)),
    CollectionSpec(_C.IBKR_ORDERS, "client_order_id", ("open", "instrument_key")),
    CollectionSpec(_C.IBKR_CONTRACTS, "str(conId)"),
)

BY_NAME: dict[Collections, CollectionSpec] = {spec.name: spec for spec in SCHEMA}

INDEXES: tuple[CompositeIndex, ...] = (
    CompositeIndex("strategies_by_owner", _C.STRATEGIES, ("owner",), "strategy_id"),
    CompositeIndex("fills_by_account_newest", _C.CONFIRMATIONS, ("account_id",), "filled_at", "DESCENDING"),
    CompositeIndex("account_history_newest", _C.ACCOUNT_HISTORY, ("account_id",), "at", "DESCENDING"),
    CompositeIndex("account_history_oldest", _C.ACCOUNT_HISTORY, ("account_id",), "at"),
    CompositeIndex("signals_by_strategy_newest", _C.SIGNALS, ("strategy_id",), "received_at", "DESCENDING"),
)
