"""Kite's daily access token: obtained by login, kept sealed in the store, expired each morning.

Kite access tokens expire around 06:00 IST the next day and an expired one is
answered with 403 TokenException. That is an operator problem (someone must log in
again), so it becomes ``ZerodhaSessionExpired``, which the notifier turns into an alert.

The token never reaches the store in clear: ``tokens.TokenCipher`` seals it (AES-GCM, the
``BROKER_TOKEN_KEY`` setting). A document still holding a clear token (written before
sealing existed) is sealed on its first read.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from kiteconnect import KiteConnect

from shared.domain.schema import Collections
from shared.ports.broker import BrokerError, BrokerSessionExpired
from shared.ports.store import Store

from .config import ZerodhaAccountConfig, ZerodhaConfig
from .tokens import TokenCipher

SESSIONS = Collections.BROKER_SESSIONS


class ZerodhaSessionExpired(BrokerSessionExpired):
    """Kite's token for this account expired or was never obtained (the account poller alerts on it)."""

    def __init__(self, account_id: str):
        super().__init__(f"Zerodha session for account {account_id} expired or missing: log in again "
                         f"(Kite login, then POST the request_token to /api/admin/brokers/zerodha/session)")
        self.account_id = account_id


class ZerodhaSessions:
    """One KiteConnect client per account, built from the token kept in the store."""

    def __init__(self, store: Store, config: ZerodhaConfig, clock: Callable[[], datetime],
                 cipher: TokenCipher | None = None):
        """``cipher`` None: the keys come from the environment, read when a token is first sealed or opened."""
        self._store = store
        self._config = config
        self._clock = clock
        self._cipher = cipher
        self._clients: dict[str, tuple[str, KiteConnect]] = {}

    @property
    def cipher(self) -> TokenCipher:
        if self._cipher is None:
            self._cipher = TokenCipher.from_env()
        return self._cipher

    def account(self, account_id: str) -> ZerodhaAccountConfig:
        if account_id not in self._config.accounts:
            raise BrokerError(f"account {account_id} has no Zerodha credentials configured")
        return self._config.accounts[account_id]

    def client(self, account_id: str) -> KiteConnect:
        document_id = f"zerodha:{account_id}"
        document = self._store.get(SESSIONS, document_id)
        if not document or document.get("expired"):
            raise ZerodhaSessionExpired(account_id)
        token = self._token(document_id, document)
        cached = self._clients.get(account_id)
        if cached is None or cached[0] != token:
            kite = self._new_client(account_id)
            kite.set_access_token(token)
            cached = (token, kite)
            self._clients[account_id] = cached
        return cached[1]

    def login(self, account_id: str, request_token: str) -> None:
        """Exchange the login redirect's request token for the day's access token."""
        account = self.account(account_id)
        cipher = self.cipher
        cipher.require_key()  # before Kite spends the one-time request token
        session = self._new_client(account_id).generate_session(request_token, account.api_secret.get_secret_value())
        document_id = f"zerodha:{account_id}"
        self._store.put(SESSIONS, document_id, {
            "account_id": account_id, "sealed_token": cipher.seal(session["access_token"], document_id),
            "user_id": session.get("user_id", ""), "login_time": str(session.get("login_time", "")),
            "stored_at": self._clock().isoformat(), "expired": False,
        })

    def logged_in(self) -> list[str]:
        """Accounts whose session has not been seen to expire."""
        return [d["account_id"] for d in self._store.query(SESSIONS, where={"expired": False}) if "account_id" in d]

    def mark_expired(self, account_id: str) -> None:
        self._store.update(SESSIONS, f"zerodha:{account_id}", {"expired": True})
        self._clients.pop(account_id, None)

    def _token(self, document_id: str, document: dict) -> str:
        """The clear token; one sealed with the previous key, or stored in clear, is sealed anew
        (compare-and-set: a login racing with this read wins)."""
        legacy = "access_token" in document  # written before tokens were sealed
        if legacy:
            token = str(document["access_token"])
        else:
            token = self.cipher.open(document["sealed_token"], document_id)
            if self.cipher.is_current(document["sealed_token"]):
                return token
        resealed = {k: v for k, v in document.items() if k != "access_token"}
        resealed["sealed_token"] = self.cipher.seal(token, document_id)
        expected = {"access_token": token} if legacy else {"sealed_token": document["sealed_token"]}
        self._store.replace_if(SESSIONS, document_id, expected, resealed)
        return token

    def _new_client(self, account_id: str) -> KiteConnect:
        account = self.account(account_id)
        # debug stays False: kiteconnect's debug log prints the Authorization header.
        return KiteConnect(account.api_key, root=self._config.root, timeout=self._config.timeout_seconds)
