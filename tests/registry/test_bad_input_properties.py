"""Property tests: whatever arrives, every answer is a 2xx or a 4xx with a JSON error, never a
5xx, and a refused request leaves no half-written record."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devstack.embedded import create_app
from shared.demo import DEMO_API_KEYS, DEMO_PASSPHRASES
from shared.domain.models import Collections

ADMIN = {"Authorization": f"Bearer {DEMO_API_KEYS['admin', 'admin']}"}
FIELDS = ["ticker", "action", "quantity", "target_position", "size_pct", "price",
          "order_type", "limit_price", "stop_price", "signal_id", "time", "exchange", "asset_class", "currency",
          "environment", "multiplier", "contracts", "position_size", "close"]
NASTY_TEXT = st.one_of(st.text(max_size=60), st.sampled_from([
    "'; DROP TABLE signal_store; --", "{{ticker}}", "<script>alert(1)</script>", "../../etc/passwd", "\u0000",
    "NaN", "Infinity", "1e309", "-0", "\uff21\uff21\uff30\uff2c", "🚀", "$where", "{\"$gt\": \"\"}"]))
VALUES = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                                NASTY_TEXT), lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)
SIGNALS = st.fixed_dictionaries(
    {"strategy_id": st.sampled_from(["momentum_us", "fx_carry", "nope", ""]),
     "passphrase": st.sampled_from([DEMO_PASSPHRASES["momentum_us"], "wrong", ""])},
    optional={name: VALUES for name in FIELDS},
)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def client(embedded):
    return create_app(embedded).test_client()


def assert_clean_answer(answer) -> None:
    assert answer.status_code < 500, answer.data[:300]
    body = answer.get_json(silent=True)
    assert isinstance(body, dict), answer.data[:300]
    if answer.status_code >= 400:
        assert {"error", "field", "reason"} <= set(body)


def assert_whole_records(embedded) -> None:
    """Every stored signal has its raw record and dedupe entry, and nothing else exists."""
    raw = {r["signal_id"] for r in embedded.store.query(Collections.RAW_SIGNALS)}
    signals = {s["signal_id"] for s in embedded.store.query(Collections.SIGNALS)}
    dedupe = {d["signal_id"] for d in embedded.store.query(Collections.SIGNAL_DEDUPE)}
    assert raw == signals == dedupe


@SETTINGS
@given(body=st.binary(max_size=2048), content_type=st.sampled_from(
    ["application/json", "text/plain", "", "application/xml", "multipart/form-data", "text/plain; charset=latin-1"]))
def test_arbitrary_bytes(client, embedded, body, content_type):
    assert_clean_answer(client.post("/webhook", data=body, content_type=content_type))
    assert_whole_records(embedded)


@SETTINGS
@given(document=SIGNALS)
def test_json_signals_with_wrong_types_missing_fields_and_injection(client, embedded, document):
    answer = client.post("/webhook", data=json.dumps(document), content_type="application/json")
    assert_clean_answer(answer)
    if answer.status_code >= 400:
        assert answer.get_json()["field"]
    assert_whole_records(embedded)


def test_huge_bodies_are_refused_without_reading_them(client, embedded):
    answer = client.post("/webhook", data=b"{" + b" " * (5 * 1024 * 1024) + b"}", content_type="application/json")
    assert answer.status_code == 413 and answer.get_json()["field"] == "body"
    huge = client.post("/api/strategies", headers=ADMIN, data=b"[" * 100_000, content_type="application/json")
    assert huge.status_code == 413
    assert embedded.store.query(Collections.RAW_SIGNALS) == []


@SETTINGS
@given(route=st.sampled_from(["/api/strategies", "/api/portfolio/tests", "/api/admin/kill-switch",
                              "/api/admin/flatten", "/api/portfolio/tests/pt_x/approve",
                              "/api/admin/brokers/zerodha/session", "/api/signals"]),
       body=st.one_of(VALUES.map(json.dumps), st.binary(max_size=300).map(lambda b: b.decode("latin-1"))))
def test_registry_api_bodies(client, embedded, route, body):
    before = len(embedded.store.query(Collections.STRATEGIES))
    answer = client.post(route, headers=ADMIN, data=body, content_type="application/json")
    assert_clean_answer(answer)
    if answer.status_code >= 400:
        assert len(embedded.store.query(Collections.STRATEGIES)) == before
    assert_whole_records(embedded)


@SETTINGS
@given(path=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40),
       token=st.text(alphabet=st.characters(exclude_categories=["Cc", "Cs"]), max_size=80))
def test_any_path_and_any_token(client, path, token):
    answer = client.get(f"/api/strategies/{path}", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code in (401, 404, 405, 308, 429)  # 429: wrong keys from one address back off
    if answer.status_code == 429:
        assert int(answer.headers["Retry-After"]) >= 1
