"""Broker session tokens sealed at rest with AES-256-GCM.

A Kite access token trades the account until the next morning, so a copy of the store
(a Firestore export, a backup, a leaked SQLite file) must not be enough to trade. Tokens
are sealed with ``BROKER_TOKEN_KEY`` (urlsafe base64 of 32 random bytes; in GCP the Secret
Manager secret ``broker-token-key`` mounted as that variable) before they reach the store,
bound to their document id so a sealed token cannot be moved to another account.

Rotation: each sealed token records the id of its key (a hash of it, never the key). Put
the new key in ``BROKER_TOKEN_KEY`` and the old one in ``BROKER_TOKEN_KEY_PREVIOUS``: old
tokens still open, and each is sealed again with the new key the next time it is read or
written. Kite tokens expire daily, so after one morning's login the previous key can go.

The key is read only when a token is sealed or opened, so a stack that never logs in to
Kite starts without it; a missing or malformed key is a ``TokenKeyError`` naming the setting.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.ports.broker import BrokerError

KEY_SETTING = "BROKER_TOKEN_KEY"
PREVIOUS_KEY_SETTING = "BROKER_TOKEN_KEY_PREVIOUS"
ALGORITHM = "AES-256-GCM"
_NONCE_BYTES = 12


class TokenKeyError(BrokerError):
    """The token key is missing, malformed or not the one a token was sealed with: an operator problem."""

    def __init__(self, message: str):
        super().__init__(message, retryable=False)


def _decode_key(setting: str, raw: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(raw.strip().encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        key = b""
    if len(key) != 32:
        raise TokenKeyError(f"setting {setting} must be urlsafe base64 of 32 random bytes (generate one with: "
                            "python -c \"import base64,os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())\")")
    return key


def key_id(key: bytes) -> str:
    """A short public name for a key, stored beside each token: a hash, never the key."""
    return hashlib.sha256(b"broker-token-key:" + key).hexdigest()[:16]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


@dataclass(frozen=True, repr=False)
class TokenCipher:
    """The current key (seals) and the previous one (still opens, during a rotation)."""

    current: bytes | None
    previous: bytes | None = None

    @classmethod
    def from_settings(cls, key: str, previous: str = "") -> TokenCipher:
        return cls(_decode_key(KEY_SETTING, key) if key.strip() else None,
                   _decode_key(PREVIOUS_KEY_SETTING, previous) if previous.strip() else None)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TokenCipher:
        """The keys from the environment (completed from ``.env``, as Settings are)."""
        if env is None:
            from shared.config import load_env_file

            load_env_file()
            env = os.environ
        return cls.from_settings(env.get("BROKER_TOKEN_KEY", ""), env.get("BROKER_TOKEN_KEY_PREVIOUS", ""))

    def require_key(self) -> bytes:
        """The current key, or the clear error naming the setting."""
        if self.current is None:
            raise TokenKeyError(f"setting {KEY_SETTING} is not set: broker session tokens are stored encrypted "
                                f"and need it (see README, Settings; in GCP the secret broker-token-key)")
        return self.current

    def seal(self, token: str, bound_to: str) -> dict[str, str]:
        """``token`` encrypted for the store; ``bound_to`` (the document id) is authenticated with it."""
        key = self.require_key()
        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(key).encrypt(nonce, token.encode("utf-8"), bound_to.encode("utf-8"))
        return {"alg": ALGORITHM, "kid": key_id(key), "nonce": _b64(nonce), "ciphertext": _b64(sealed)}

    def open(self, sealed: Mapping[str, Any], bound_to: str) -> str:
        """The clear token; a TokenKeyError when no configured key sealed it or it was altered."""
        keys = {key_id(k): k for k in (self.require_key(), self.previous) if k is not None}
        key = keys.get(str(sealed.get("kid", "")))
        if key is None:
            raise TokenKeyError(f"the stored session {bound_to} was sealed with key id {sealed.get('kid')!r}, which "
                                f"is neither {KEY_SETTING} nor {PREVIOUS_KEY_SETTING}: set the old key as "
                                f"{PREVIOUS_KEY_SETTING}, or log in again")
        try:
            clear = AESGCM(key).decrypt(base64.urlsafe_b64decode(sealed["nonce"]),
                                        base64.urlsafe_b64decode(sealed["ciphertext"]), bound_to.encode("utf-8"))
        except (InvalidTag, KeyError, binascii.Error, ValueError):
            raise TokenKeyError(f"the stored session {bound_to} does not decrypt: it was altered or moved; "
                                "log in again") from None
        return clear.decode("utf-8")

    def is_current(self, sealed: Mapping[str, Any]) -> bool:
        """Sealed with the current key (False: seal it again, the rotation is not done)."""
        return self.current is not None and sealed.get("kid") == key_id(self.current)

    def __repr__(self) -> str:  # never the keys
        state = {name: "set" if key else "unset" for name, key in (("current", self.current),
                                                                   ("previous", self.previous))}
        return f"TokenCipher(current={state['current']}, previous={state['previous']})"
