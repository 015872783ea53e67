"""The HTTP signal API: a developer's API key sends signals for their own strategies only."""

from __future__ import annotations

import json

import pytest

from devstack.embedded import create_app
from shared.bootstrap import Services
from shared.demo import DEMO_API_KEYS
from shared.domain.models import Collections

ADMIN = {"Authorization": f"Bearer {DEMO_API_KEYS['admin', 'admin']}"}
ALICE = {"Authorization": f"Bearer {DEMO_API_KEYS['developer', 'dev_alice']}"}  # owns momentum_us only
SIGNAL = {"strategy_id": "momentum_us", "ticker": "AAPL", "action": "buy", "quantity": 10, "price": 190}


@pytest.fixture
def client(embedded: Services):
    return create_app(embedded).test_client()


def stored_signals(embedded: Services) -> list[dict]:
    return embedded.store.query(Collections.SIGNALS)


def test_a_developer_signal_for_their_own_strategy_trades(client, embedded):
    answer = client.post("/api/signals", headers=ALICE, json={**SIGNAL, "signal_id": "alice-1"})
    assert answer.status_code == 202, answer.get_json()
    signal_id = answer.get_json()["signal_id"]
    assert embedded.bus.drain()
    journey = client.get(f"/api/signals/{signal_id}", headers=ALICE).get_json()
    assert journey["source"] == "http_api" and journey["decisions"]["approved"] == 2
    assert [(e["symbol"], e["quantity_filled"]) for e in journey["executions"]] == [("AAPL", 55)]  # 40 + 15
    assert "fills" not in journey and "DEMO-CLIENT" not in json.dumps(journey)  # no account: see test_signal_privacy
    full = client.get(f"/api/signals/{signal_id}", headers=ADMIN).get_json()
    assert full["raw"]["source_ip"] == "api:dev_alice"
    assert {f["account_id"]: f["quantity"] for f in full["fills"]} == {"DEMO-CLIENT-A": 40, "DEMO-CLIENT-B": 15}
    again = client.post("/api/signals", headers=ALICE, json={**SIGNAL, "signal_id": "alice-1"})
    assert again.get_json() == {"status": "duplicate", "signal_id": signal_id}


@pytest.mark.parametrize(("strategy_id", "status", "field"), [
    ("fx_carry", 403, "strategy_id"),        # another developer's strategy
    ("trend_futures", 403, "strategy_id"),
    ("no_such_strategy", 404, "strategy_id"),
])
def test_a_developer_cannot_signal_for_strategies_they_do_not_own(client, embedded, strategy_id, status, field):
    answer = client.post("/api/signals", headers=ALICE, json={**SIGNAL, "strategy_id": strategy_id})
    assert (answer.status_code, answer.get_json()["field"]) == (status, field)
    assert stored_signals(embedded) == []


def test_clients_cannot_send_signals_and_admins_can_for_any_strategy(client, embedded):
    _, client_token = embedded.api_keys.issue("client", "client_a")
    refused = client.post("/api/signals", headers={"Authorization": f"Bearer {client_token}"}, json=SIGNAL)
    assert refused.status_code == 403 and stored_signals(embedded) == []
    accepted = client.post("/api/signals", headers=ADMIN, json={**SIGNAL, "strategy_id": "fx_carry",
                                                                "ticker": "EURUSD", "exchange": "IDEALPRO",
                                                                "price": 1.08})
    assert accepted.status_code == 202, accepted.get_json()


@pytest.mark.parametrize(("headers", "body", "content_type", "status", "field"), [
    ({}, SIGNAL, "application/json", 401, "authorization"),
    (ALICE, {**SIGNAL, "passphrase": "x"}, "application/json", 422, "passphrase"),
    (ALICE, {**SIGNAL, "quantity": "ten"}, "application/json", 422, "quantity"),
    (ALICE, "strategy_id=momentum_us", "text/plain", 415, "content_type"),
])
def test_bad_requests_name_the_field_and_store_nothing(client, embedded, headers, body, content_type, status, field):
    data = body if isinstance(body, str) else json.dumps(body)
    answer = client.post("/api/signals", headers=headers, data=data, content_type=content_type)
    assert (answer.status_code, answer.get_json()["field"]) == (status, field)
    assert stored_signals(embedded) == []


def test_a_revoked_key_stops_sending(client, embedded):
    key, token = embedded.api_keys.issue("developer", "dev_alice")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/signals", headers=headers, json={**SIGNAL, "signal_id": "k1"}).status_code == 202
    embedded.api_keys.revoke(key.key_id)
    assert client.post("/api/signals", headers=headers, json={**SIGNAL, "signal_id": "k2"}).status_code == 401
