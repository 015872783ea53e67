"""Errors that say which input is wrong and why, so no weight is ever silently wrong."""

from __future__ import annotations


class PortfolioDataError(ValueError):
    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class InfeasibleConstraints(PortfolioDataError):
    """No weights satisfy the constraints together."""
