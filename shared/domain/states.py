"""The states stored documents and messages carry, as StrEnums: each member equals its old
string, so stored documents and JSON are unchanged while the code compares against names."""

from __future__ import annotations

from enum import StrEnum


class SignalStatus(StrEnum):
    """A signal record's life: ingest writes the first two, cerebro the others."""

    RECEIVED = "received"
    PUBLISHED = "published"
    HELD = "held"
    DECIDED = "decided"


SIGNAL_STATUSES = tuple(status.value for status in SignalStatus)


class OrderStatus(StrEnum):
    """What a broker reports about an order (OrderUpdate.status)."""

    SUBMITTED = "submitted"
    WORKING = "working"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class DecisionStatus(StrEnum):
    """Cerebro's answer for one account: an order to place, a refusal, or nothing to trade."""

    APPROVED = "approved"
    REJECTED = "rejected"
    SKIPPED = "skipped"


class StrategyStatus(StrEnum):
    """A strategy's lifecycle in the registry; retired is final."""

    CANDIDATE = "candidate"
    LIVE = "live"
    PAUSED = "paused"
    RETIRED = "retired"
