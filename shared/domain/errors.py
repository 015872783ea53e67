"""The one error every HTTP entry point turns into a 4xx JSON answer."""

from __future__ import annotations

from typing import Any


class RequestRejected(Exception):
    """A request we refuse; ``status`` is the HTTP status, ``field`` what was wrong."""

    def __init__(self, field: str, reason: str, status: int = 422, code: str = "invalid_field"):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.status = status
        self.code = code

    def as_json(self) -> dict[str, Any]:
        return {"error": self.code, "field": self.field, "reason": self.reason}
