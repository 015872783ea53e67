"""The strategy registry: who may create, change, pause and retire which strategy.

Admins manage every strategy. A developer registers their own strategies as
candidates, uploads their return series, and may pause (never go live with) their
own; only an admin puts a strategy live. Webhook passphrases are generated here,
shown once, and stored hashed.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat

from shared.adapters.brokers.registry import KnownBroker
from shared.auth.api_keys import Principal
from shared.domain.errors import Refusal, RequestRejected
from shared.domain.models import Collections, SessionPolicy, Strategy, StrategyStatus
from shared.domain.returns_csv import ReturnsCsvError, parse_returns_csv
from shared.ports.store import Store
from shared.services.ingest import hash_passphrase

Status = Literal["candidate", "live", "paused", "retired"]
_ID = r"^[a-z0-9][a-z0-9_]{1,63}$"
# Who may move a strategy from one status to another. Retired is final.
_S = StrategyStatus
_TRANSITIONS: dict[str, dict[StrategyStatus, set[Status]]] = {
    "admin": {_S.CANDIDATE: {"live", "retired"}, _S.LIVE: {"paused", "retired"}, _S.PAUSED: {"live", "retired"},
              _S.RETIRED: set()},
    "developer": {_S.CANDIDATE: {"retired"}, _S.LIVE: {"paused"}, _S.PAUSED: set(), _S.RETIRED: set()},
}
PUBLIC_FIELDS = ("strategy_id", "name", "owner", "status", "reference_capital", "eligible_accounts",
                 "eligible_brokers", "instruments")


class StrategySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    strategy_id: Annotated[str, Field(pattern=_ID)]
    name: Annotated[str, Field(min_length=1, max_length=120)]
    owner: Annotated[str | None, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] = None
    reference_capital: PositiveFloat = 100_000.0
    eligible_accounts: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list, max_length=200)
    eligible_brokers: list[KnownBroker] = Field(default_factory=list)
    instruments: list[Annotated[str, Field(max_length=40)]] = Field(default_factory=list, max_length=500)


class StrategyChanges(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Annotated[str | None, Field(min_length=1, max_length=120)] = None
    status: Status | None = None
    reference_capital: PositiveFloat | None = None
    eligible_accounts: list[Annotated[str, Field(max_length=64)]] | None = None
    eligible_brokers: list[KnownBroker] | None = None
    instruments: list[Annotated[str, Field(max_length=40)]] | None = None
    session_policy: SessionPolicy | None = None  # admin only: hold, refuse or any_time outside sessions



ADMIN_ONLY_FIELDS = ("eligible_accounts",)  # account ids: a developer never learns whose accounts trade


def public(strategy: Strategy, viewer: Principal) -> dict[str, Any]:
    """A strategy as the API shows it: never the passphrase hash or salt; to its developer,
    never the accounts it is restricted to."""
    document = strategy.model_dump(mode="json")
    return {name: document[name] for name in PUBLIC_FIELDS
            if viewer.role == "admin" or name not in ADMIN_ONLY_FIELDS}


class StrategyRegistry:
    def __init__(self, store: Store, clock: Callable[[], datetime]):
        self._store = store
        self._clock = clock

    def create(self, spec: StrategySpec, caller: Principal) -> tuple[Strategy, str]:
        """Register a strategy; returns it and its webhook passphrase (shown only now)."""
        _require(caller, "admin", "developer")
        owner = spec.owner or caller.subject
        if caller.role == "developer" and owner != caller.subject:
            raise RequestRejected("owner", "developers register strategies for themselves only",
                                  Refusal.FORBIDDEN, "forbidden")
        if caller.role == "developer" and spec.eligible_accounts:
            raise RequestRejected("eligible_accounts", "only an admin restricts a strategy to accounts",
                                  Refusal.FORBIDDEN,
                                  "forbidden")
        passphrase = secrets.token_urlsafe(24)
        digest, salt = hash_passphrase(passphrase)
        strategy = Strategy(**spec.model_dump(exclude={"owner"}), owner=owner, status=StrategyStatus.CANDIDATE,
                            passphrase_hash=digest, passphrase_salt=salt)
        if not self._store.create(Collections.STRATEGIES, strategy.strategy_id, strategy.model_dump(mode="json")):
            raise RequestRejected("strategy_id", f"{spec.strategy_id!r} already exists", Refusal.CONFLICT, "conflict")
        return strategy, passphrase

    def get(self, strategy_id: str, caller: Principal) -> Strategy:
        _require(caller, "admin", "developer")
        document = self._store.get(Collections.STRATEGIES, strategy_id)
        strategy = Strategy.model_validate(document) if document else None
        # A developer asking for someone else's strategy learns no more than for a missing one.
        if strategy is None or (caller.role == "developer" and strategy.owner != caller.subject):
            raise RequestRejected("strategy_id", f"no strategy {strategy_id!r}", Refusal.NOT_FOUND, "not_found")
        return strategy

    def list(self, caller: Principal) -> list[Strategy]:
        _require(caller, "admin", "developer")
        where = {"owner": caller.subject} if caller.role == "developer" else None
        documents = self._store.query(Collections.STRATEGIES, where=where, order_by="strategy_id")
        return [Strategy.model_validate(d) for d in documents]

    def update(self, strategy_id: str, changes: StrategyChanges, caller: Principal) -> Strategy:
        strategy = self.get(strategy_id, caller)
        fields = changes.model_dump(exclude_none=True)
        if "status" in fields and fields["status"] != strategy.status:
            allowed = _TRANSITIONS[caller.role][strategy.status]
            if fields["status"] not in allowed:
                raise RequestRejected("status", f"a {caller.role} cannot move a {strategy.status} strategy to "
                                                f"{fields['status']}",
                                      Refusal.FORBIDDEN if caller.role == "developer" else Refusal.CONFLICT,
                                      "forbidden" if caller.role == "developer" else "conflict")
        if caller.role == "developer" and set(fields) - {"status", "name", "instruments"}:
            field = sorted(set(fields) - {"status", "name", "instruments"})[0]
            raise RequestRejected(field, "only an admin changes capital and eligibility",
                                  Refusal.FORBIDDEN, "forbidden")
        if strategy.status == StrategyStatus.RETIRED and fields:
            raise RequestRejected("status", "the strategy is retired", Refusal.CONFLICT, "conflict")
        if "status" in fields:  # model_copy does not validate: keep the field a StrategyStatus
            fields["status"] = StrategyStatus(fields["status"])
        updated = strategy.model_copy(update=fields)
        self._store.put(Collections.STRATEGIES, strategy_id, updated.model_dump(mode="json"))
        return updated

    def rotate_passphrase(self, strategy_id: str, caller: Principal) -> str:
        """A new webhook passphrase; the old one stops working at once."""
        self.get(strategy_id, caller)
        passphrase = secrets.token_urlsafe(24)
        digest, salt = hash_passphrase(passphrase)
        self._store.update(Collections.STRATEGIES, strategy_id, {"passphrase_hash": digest, "passphrase_salt": salt})
        return passphrase

    def upload_returns(self, strategy_id: str, csv_bytes: bytes, caller: Principal) -> dict[str, Any]:
        self.get(strategy_id, caller)
        try:
            series = parse_returns_csv(csv_bytes)
        except ReturnsCsvError as error:
            raise RequestRejected(error.field, error.reason) from None
        document = {"strategy_id": strategy_id, **series.as_document(), "source": "csv_upload",
                    "uploaded_by": caller.subject, "uploaded_at": self._clock().isoformat()}
        self._store.put(Collections.STRATEGY_RETURNS, strategy_id, document)
        return {"strategy_id": strategy_id, "days": len(series.returns), "first": document["dates"][0],
                "last": document["dates"][-1]}


def _require(caller: Principal, *roles: str) -> None:
    if caller.role not in roles:
        raise RequestRejected("authorization", f"a {caller.role} key cannot do this", Refusal.FORBIDDEN, "forbidden")
