"""API keys for the HTTP APIs: issued once, stored hashed, rotatable and revocable.

A key reads ``mt_<key_id>.<secret>``. The key id finds the record without scanning;
the secret is 32 random bytes, so a salted SHA-256 is enough (there is nothing to
brute-force) and keeps every request's check to microseconds.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from shared.domain.models import Collections
from shared.ports.store import Store

Role = Literal["admin", "developer", "client"]
_TOKEN = re.compile(r"^mt_(?P<key_id>[0-9a-f]{16})\.(?P<secret>[A-Za-z0-9_-]{20,100})$")
TOKEN_PATTERN = _TOKEN  # the key id part names a failed attempt's throttle (shared/auth/throttle.py)


class Principal(BaseModel):
    """Who is calling, as established by a valid key."""

    model_config = ConfigDict(frozen=True)

    role: Role
    subject: str  # admin name, developer id or client id
    key_id: str


class ApiKey(BaseModel):
    key_id: str
    role: Role
    subject: str
    label: str = ""
    key_hash: str
    salt: str
    created_at: datetime
    revoked_at: datetime | None = None
    rate_limit_per_minute: int = 120

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _digest(secret: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}:{secret}".encode()).hexdigest()


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ApiKeys:
    def __init__(self, store: Store, clock: Callable[[], datetime] = _utcnow):
        self._store = store
        self._clock = clock

    def issue(self, role: Role, subject: str, label: str = "", rate_limit_per_minute: int = 120,
              token: str | None = None) -> tuple[ApiKey, str]:
        """A new key; the token is returned once and never stored. ``token`` pins a known
        value (the demo fund's public keys); real keys are always random."""
        if token is not None:
            match = _TOKEN.match(token)
            if match is None:
                raise ValueError("token must look like mt_<16 hex>.<secret>")
            key_id, secret = match["key_id"], match["secret"]
        else:
            key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        key = ApiKey(key_id=key_id, role=role, subject=subject, label=label, key_hash=_digest(secret, salt),
                     salt=salt, created_at=self._clock(), rate_limit_per_minute=rate_limit_per_minute)
        if not self._store.create(Collections.API_KEYS, key_id, key.model_dump(mode="json")):
            raise ValueError(f"key id {key_id} already exists")
        return key, f"mt_{key_id}.{secret}"

    def authenticate(self, token: str | None) -> tuple[Principal, ApiKey] | None:
        """The caller behind a token, or None for a malformed, unknown, wrong or revoked key."""
        match = _TOKEN.match(token or "")
        if match is None:
            return None
        record = self._store.get(Collections.API_KEYS, match["key_id"])
        if record is None:
            return None
        key = ApiKey.model_validate(record)
        if not key.active or not hmac.compare_digest(_digest(match["secret"], key.salt), key.key_hash):
            return None
        return Principal(role=key.role, subject=key.subject, key_id=key.key_id), key

    def revoke(self, key_id: str) -> ApiKey:
        record = self._store.get(Collections.API_KEYS, key_id)
        if record is None:
            raise KeyError(key_id)
        key = ApiKey.model_validate(record)
        if key.active:
            key = key.model_copy(update={"revoked_at": self._clock()})
            self._store.put(Collections.API_KEYS, key_id, key.model_dump(mode="json"))
        return key

    def rotate(self, key_id: str) -> tuple[ApiKey, str]:
        """Revoke a key and issue its replacement for the same caller."""
        old = self.revoke(key_id)
        return self.issue(old.role, old.subject, old.label, old.rate_limit_per_minute)

    def list(self, subject: str | None = None) -> list[ApiKey]:
        where = {"subject": subject} if subject else None
        return [ApiKey.model_validate(doc) for doc in self._store.query(Collections.API_KEYS, where=where)]
