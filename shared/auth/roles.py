"""The one admin check, used by the HTTP routes and the services alike."""

from __future__ import annotations

from shared.auth.api_keys import Principal
from shared.domain.errors import Refusal, RequestRejected


def require_admin(who: Principal, reason: str = "only an admin may do this") -> None:
    """Refuse anyone but an admin; ``reason`` lets a service say what only an admin does."""
    if who.role != "admin":
        raise RequestRejected("authorization", reason, Refusal.FORBIDDEN, "forbidden")
