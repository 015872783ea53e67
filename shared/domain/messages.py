"""The payload of each bus topic, as a model: the contract between a publisher and its handlers.

Publishers build one and publish ``message.model_dump(mode="json")``, which is the dict they
published before these models existed (tests/unit/test_messages.py holds every shape to
that), so the wire and the stored dead letters keep their JSON. Handlers validate into them,
so a payload that breaks the contract fails as poison at the edge, not deep in a service.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer, model_validator

from shared.domain.models import CancelRequest, Order, OrderUpdate, StandardizedSignal, Topics


class _Message(BaseModel):
    # Unknown keys are ignored, as the handlers ignored them when they read dicts.
    model_config = ConfigDict(frozen=True)


class SignalMessage(_Message):
    """``standardized-signals``: one accepted signal for cerebro to size and decide."""

    signal: StandardizedSignal


class OrderMessage(_Message):
    """``trading-orders`` and ``ibkr-orders``: an order to place or a working order to cancel.

    One topic carries both, so an exit's cancel and its close arrive in the order cerebro
    published them; exactly one of the two is set, and only that key is on the wire."""

    order: Order | None = None
    cancel: CancelRequest | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> OrderMessage:
        if (self.order is None) == (self.cancel is None):
            raise ValueError("an order message carries exactly one of order and cancel")
        return self

    @model_serializer(mode="wrap")
    def _only_the_one(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {key: value for key, value in handler(self).items() if getattr(self, key) is not None}


class ConfirmationMessage(_Message):
    """``execution-confirmations``: an order's new state, from its broker."""

    update: OrderUpdate


class DashboardRefreshMessage(_Message):
    """``dashboard-refresh``: Cloud Scheduler's tick (scheduler.tf); rebuild every dashboard."""

    refresh: str = "all"


class NotificationKind(StrEnum):
    """What the notifier formats (shared/services/notifier.py); one value per ``kind`` published."""

    RECONCILIATION_BREAK = "reconciliation_break"
    BROKER_SESSION_EXPIRED = "broker_session_expired"
    KILL_SWITCH = "kill_switch"
    FLATTEN_ALL = "flatten_all"
    TRADING_STATE = "trading_state"
    DAILY_LOSS_LIMIT = "daily_loss_limit"
    DAILY_SUMMARY = "daily_summary"  # Cloud Scheduler's (scheduler.tf)
    PASSPHRASE_GUESSING = "passphrase_guessing"  # shared/auth/throttle.py's alert
    RISK_REFUSAL = "risk_refusal"
    FLUSH_RISK_REFUSALS = "flush_risk_refusals"  # the tick: send the refusal digests whose window ended


# The fields each kind carries (beyond ``kind``), as its publisher writes them; optional ones
# (a kill switch's ``cancelled``) are not listed. The notifier reads a subset of each.
NOTIFICATION_FIELDS: dict[NotificationKind, tuple[str, ...]] = {
    NotificationKind.RECONCILIATION_BREAK: ("account_id", "symbol", "broker_quantity", "our_quantity"),
    NotificationKind.BROKER_SESSION_EXPIRED: ("broker", "account_id"),
    NotificationKind.KILL_SWITCH: ("enabled", "reason", "changed_by", "changed_at"),
    NotificationKind.FLATTEN_ALL: ("requested_by", "strategies", "reason"),
    NotificationKind.TRADING_STATE: ("scope_id", "state", "reason", "changed_by", "changed_at"),
    NotificationKind.DAILY_LOSS_LIMIT: ("account_id", "equity", "day_start_equity", "limit_pct"),
    NotificationKind.DAILY_SUMMARY: (),
    NotificationKind.PASSPHRASE_GUESSING: ("strategy_id", "failures", "window_seconds", "since", "sources"),
    NotificationKind.RISK_REFUSAL: ("signal_id", "strategy_id", "symbol", "at", "refusals"),
    NotificationKind.FLUSH_RISK_REFUSALS: (),
}


class NotificationMessage(_Message):
    """``notifications``: an event for a human. ``kind`` says which; its fields (listed in
    ``NOTIFICATION_FIELDS``) ride beside it at the top level, as they always have, so they
    are extra fields of the model, checked present when a publisher builds one."""

    model_config = ConfigDict(frozen=True, extra="allow")

    kind: NotificationKind

    @model_validator(mode="after")
    def _carries_its_fields(self) -> NotificationMessage:
        missing = [name for name in NOTIFICATION_FIELDS[self.kind] if name not in (self.model_extra or {})]
        if missing:
            raise ValueError(f"a {self.kind} notification needs {', '.join(missing)}")
        return self

    @classmethod
    def of(cls, kind: NotificationKind, **fields: Any) -> NotificationMessage:
        return cls(kind=kind, **fields)


class DeadLetter(_Message):
    source_topic: str
    error: str
    payload: Any


class DeadLetterMessage(_Message):
    """``<topic>-dead-letter``: what a bus or handler gave up on (shared/ports/bus.py's ``dead_letter``)."""

    dead_letter: DeadLetter


# The model of each topic's payload (a dead-letter topic carries DeadLetterMessage).
TOPIC_MESSAGES: dict[Topics, type[_Message]] = {
    Topics.SIGNALS: SignalMessage,
    Topics.ORDERS: OrderMessage,
    Topics.CONFIRMATIONS: ConfirmationMessage,
    Topics.NOTIFICATIONS: NotificationMessage,
    Topics.DASHBOARD_REFRESH: DashboardRefreshMessage,
    Topics.IBKR_ORDERS: OrderMessage,
}
