"""The one refusal the domain raises; only the entry points turn it into an answer.

A refusal names its *kind* (what went wrong, in the domain's words), never a transport
status: shared/entrypoints/http.py maps each kind to its HTTP status in one table.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any


class Refusal(StrEnum):
    """Why a request is refused, so each entry point can answer in its own terms."""

    INVALID = "invalid"  # a field fails validation
    MALFORMED = "malformed"  # the body cannot be read at all (not JSON, not UTF-8, not an alert)
    UNSUPPORTED = "unsupported"  # a content type we do not read
    UNAUTHENTICATED = "unauthenticated"  # no credentials, or wrong ones
    FORBIDDEN = "forbidden"  # authenticated, but not allowed to
    NOT_FOUND = "not_found"  # no such thing (or none the caller may see)
    CONFLICT = "conflict"  # the thing's current state does not allow it
    TOO_MANY = "too_many"  # rate limited or throttled; see ``retry_after``
    TOO_LARGE = "too_large"  # the body is over its limit
    UNAVAILABLE = "unavailable"  # something we depend on is not there now


class RequestRejected(Exception):
    """A request we refuse: ``kind`` says why, ``field`` what was wrong, ``code`` the answer's error.

    ``retry_after`` (seconds) goes with ``Refusal.TOO_MANY``: every entry point sends it as the
    ``Retry-After`` header, in whole seconds rounded up, so a client never retries early.
    """

    def __init__(self, field: str, reason: str, kind: Refusal = Refusal.INVALID, code: str = "invalid_field",
                 retry_after: float | None = None):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.kind = kind
        self.code = code
        self.retry_after = retry_after

    def as_json(self) -> dict[str, Any]:
        return {"error": self.code, "field": self.field, "reason": self.reason}

    def headers(self) -> dict[str, str]:
        return retry_after_header(self.retry_after)


def retry_after_header(seconds: float | None) -> dict[str, str]:
    """``{"Retry-After": "<whole seconds>"}`` (at least 1), or nothing when there is no wait."""
    if seconds is None:
        return {}
    return {"Retry-After": str(max(1, math.ceil(seconds)))}
