"""The one error every HTTP entry point turns into a 4xx JSON answer."""

from __future__ import annotations

import math
from typing import Any


class RequestRejected(Exception):
    """A request we refuse; ``status`` is the HTTP status, ``field`` what was wrong.

    ``retry_after`` (seconds) goes with a 429: every entry point sends it as the
    ``Retry-After`` header, in whole seconds rounded up, so a client never retries early.
    """

    def __init__(self, field: str, reason: str, status: int = 422, code: str = "invalid_field",
                 retry_after: float | None = None):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.status = status
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
