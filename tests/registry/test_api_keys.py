"""API keys: shown once, stored hashed, revocable, rotatable; rate limits per key."""

from __future__ import annotations

import json

import pytest

from devstack.keys import main as keys_cli
from shared.adapters.store_sqlite import SqliteStore
from shared.auth.api_keys import ApiKeys
from shared.auth.rate_limit import RateLimiter
from shared.domain.errors import RequestRejected
from shared.domain.models import Collections
from shared.entrypoints.http import http_status
from tests.conftest import FakeClock


@pytest.fixture
def store(tmp_path) -> SqliteStore:
    return SqliteStore(str(tmp_path / "keys.sqlite"))


def test_an_issued_key_authenticates_its_caller_and_is_not_stored(store):
    keys = ApiKeys(store)
    key, token = keys.issue("developer", "dev_alice", label="laptop")
    principal, found = keys.authenticate(token)
    assert (principal.role, principal.subject, found.key_id) == ("developer", "dev_alice", key.key_id)
    stored = json.dumps(store.query(Collections.API_KEYS))
    assert token.split(".")[1] not in stored


@pytest.mark.parametrize("token", [None, "", "Bearer x", "mt_zz.abc", "mt_0123456789abcdef.wrong-secret-value-123"])
def test_malformed_unknown_or_wrong_tokens_are_refused(store, token):
    ApiKeys(store).issue("admin", "root", token="mt_0123456789abcdef.right-secret-value-123")
    assert ApiKeys(store).authenticate(token) is None


def test_revoked_and_rotated_keys_stop_working(store):
    keys = ApiKeys(store)
    key, token = keys.issue("admin", "ops")
    replacement, new_token = keys.rotate(key.key_id)
    assert keys.authenticate(token) is None
    assert keys.authenticate(new_token)[0].subject == "ops" and replacement.key_id != key.key_id
    keys.revoke(replacement.key_id)
    assert keys.authenticate(new_token) is None


def test_rate_limit_answers_429_until_the_next_minute(store):
    clock = FakeClock()
    limiter = RateLimiter(store, clock)
    for _ in range(3):
        limiter.check("k1", per_minute=3)
    with pytest.raises(RequestRejected) as refused:
        limiter.check("k1", per_minute=3)
    assert http_status(refused.value) == 429 and "3 requests per minute" in refused.value.reason
    assert refused.value.headers() == {"Retry-After": str(60 - clock().second)}  # the next window's start
    limiter.check("k2", per_minute=3)  # other keys are unaffected
    clock.advance(60)
    limiter.check("k1", per_minute=3)


def test_the_keys_cli_issues_a_working_key_and_revokes_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MT_SQLITE_PATH", str(tmp_path / "keys.sqlite"))
    assert keys_cli(["issue", "admin", "alice", "--label", "first"]) == 0
    printed = capsys.readouterr().out
    token = printed.split("store it now): ")[1].strip()
    key_id = printed.split()[1].rstrip(":")
    store = SqliteStore(str(tmp_path / "keys.sqlite"))
    principal, _ = ApiKeys(store).authenticate(token)
    assert (principal.role, principal.subject) == ("admin", "alice")
    assert keys_cli(["revoke", key_id]) == 0 and "revoked" in capsys.readouterr().out
    assert ApiKeys(store).authenticate(token) is None
    assert keys_cli(["revoke", "ffffffffffffffff"]) == 1
