"""Refused deliveries leave a trace (the audit trail, the admin API, the journey log) and never
a passphrase; tickers and environments are checked at the webhook, on the embedded stack."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from devstack.embedded import create_app
from shared.bootstrap import Services
from shared.demo import DEMO_API_KEYS, DEMO_PASSPHRASES
from shared.domain.errors import Refusal, RequestRejected
from shared.domain.models import Collections
from shared.services import refusals as refusals_module
from shared.services.refusals import REDACTED, RefusalLog, prune_refusals
from tests.conftest import signal_body

ADMIN = {"Authorization": f"Bearer {DEMO_API_KEYS['admin', 'admin']}"}
ALICE = {"Authorization": f"Bearer {DEMO_API_KEYS['developer', 'dev_alice']}"}
PASSPHRASE = DEMO_PASSPHRASES["momentum_us"]
WRONG = "wrong-but-secret-Zq9x7"
FULLWIDTH_AAPL = "\uff21\uff21\uff30\uff2c"
TRADES = [Collections.RAW_SIGNALS, Collections.SIGNALS, Collections.ORDERS, Collections.CONFIRMATIONS]


@pytest.fixture
def client(embedded: Services):
    return create_app(embedded).test_client()


def journey_log(services: Services) -> str:
    return (services.settings.log_dir / "signal_processing.log").read_text(encoding="utf-8")


def refusals(client, limit: int = 50) -> list[dict]:
    answer = client.get(f"/api/admin/refusals?limit={limit}", headers=ADMIN)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["refusals"]


def everything_stored(services: Services) -> str:
    return json.dumps([services.store.query(c) for c in Collections], default=str)


def test_a_wrong_passphrase_is_in_the_audit_trail_and_the_journey_but_the_passphrase_is_nowhere(client, embedded):
    from dataclasses import replace

    embedded.settings = replace(embedded.settings, trusted_proxy_hops=1)  # behind Google's front end
    body = json.dumps({"strategy_id": "momentum_us", "passphrase": WRONG, "ticker": "AAPL", "action": "buy",
                       "quantity": 1, "comment": f"note {WRONG}"}).encode()
    answer = client.post("/webhook", data=body, content_type="application/json",
                         headers={"X-Forwarded-For": "52.89.214.238"})
    assert answer.status_code == 401

    [refusal] = refusals(client)
    assert (refusal["status"], refusal["error"], refusal["field"]) == (401, "unauthorized", "passphrase")
    assert refusal["strategy_id"] == "momentum_us" and refusal["source"] == "52.89.214.238"
    assert refusal["channel"] == "webhook" and refusal["reason"] == "missing or wrong for this strategy"
    assert '"ticker":"AAPL"' in refusal["excerpt"] and f'"passphrase":"{REDACTED}"' in refusal["excerpt"]
    assert refusal["refusal_id"].startswith("ref_") and refusal["expires_at"] > refusal["at"]

    line = next(line for line in journey_log(embedded).splitlines() if refusal["refusal_id"] in line)
    assert f"| [WEBHOOK] | {refusal['refusal_id']}: refused 401 unauthorized: passphrase" in line
    assert "momentum_us" in line and "52.89.214.238" in line
    for place in (json.dumps(refusal), journey_log(embedded), everything_stored(embedded)):
        assert WRONG not in place and PASSPHRASE not in place
    assert [embedded.store.query(c) for c in TRADES] == [[], [], [], []]


def test_a_text_alert_refused_keeps_its_query_but_not_its_passphrase(client, embedded):
    query = f"?strategy_id=momentum_us&passphrase={PASSPHRASE}&environment=staging"
    text = b"order buy @ 10 filled on NVDA. New strategy position is 10"
    answer = client.post(f"/webhook{query}", data=text, content_type="text/plain")
    assert answer.status_code == 422 and answer.get_json()["field"] == "environment"
    [refusal] = refusals(client)
    assert refusal["query"] == {"strategy_id": "momentum_us", "environment": "staging"}
    assert refusal["excerpt"] == text.decode() and refusal["content_type"] == "text/plain"
    assert PASSPHRASE not in everything_stored(embedded) and PASSPHRASE not in journey_log(embedded)


@pytest.mark.parametrize("body", [
    b'{"strategy_id": "momentum_us", "passphrase": "' + WRONG.encode() + b'", "ticker": ',  # cut short: not JSON
    b"passphrase=" + WRONG.encode() + b"&ticker=AAPL",
    b"{'passphrase': '" + WRONG.encode() + b"'}",
])
def test_a_passphrase_in_a_malformed_body_is_blanked(client, embedded, body):
    answer = client.post("/webhook", data=body, content_type="text/plain")
    assert answer.status_code == 400
    [refusal] = refusals(client)
    assert REDACTED in refusal["excerpt"] and WRONG not in refusal["excerpt"]
    assert WRONG not in everything_stored(embedded) and WRONG not in journey_log(embedded)


def test_a_body_too_large_is_recorded_from_its_first_bytes(client, embedded):
    body = json.dumps({"strategy_id": "momentum_us", "passphrase": WRONG, "ticker": "AAPL",
                       "comment": "x" * 40_000}).encode()
    answer = client.post("/webhook?strategy_id=momentum_us", data=body, content_type="application/json")
    assert answer.status_code == 413
    [refusal] = refusals(client)
    assert (refusal["status"], refusal["field"], refusal["body_bytes"]) == (413, "body", len(body))
    assert refusal["strategy_id"] == "momentum_us"
    assert len(refusal["excerpt"]) <= refusals_module.EXCERPT_CHARS and WRONG not in everything_stored(embedded)
    assert f"{refusal['refusal_id']}: refused 413 too_large" in journey_log(embedded)


@pytest.mark.parametrize(("body", "status", "field"), [
    (json.dumps({"strategy_id": "nope", "passphrase": WRONG, "ticker": "AAPL", "action": "buy",
                 "quantity": 1}).encode(), 404, "strategy_id"),
    (signal_body(ticker="TSLA", action="buy", quantity=1), 422, "ticker"),  # not in the instrument master
    (b"{not json", 400, "body"),
])
def test_every_refusal_from_ingest_is_recorded(client, embedded, body, status, field):
    assert client.post("/webhook", data=body, content_type="application/json").status_code == status
    [refusal] = refusals(client)
    assert (refusal["status"], refusal["field"]) == (status, field)


def test_a_candidate_strategy_refusal_409_is_recorded(client, embedded):
    embedded.store.update(Collections.STRATEGIES, "momentum_us", {"status": "candidate"})
    answer = client.post("/webhook", data=signal_body(ticker="AAPL", action="buy", quantity=1),
                         content_type="application/json")
    assert answer.status_code == 409
    assert refusals(client)[0]["error"] == "strategy_not_live"


def test_a_sender_outside_the_allowlist_is_recorded(embedded):
    from dataclasses import replace

    from shared.config import parse_address_list

    embedded.settings = replace(embedded.settings, webhook_ip_allowlist=parse_address_list("tradingview"),
                                trusted_proxy_hops=1)
    client = create_app(embedded).test_client()
    answer = client.post("/webhook", data=signal_body(ticker="AAPL", action="buy", quantity=1),
                         content_type="application/json", headers={"X-Forwarded-For": "203.0.113.9"})
    assert answer.status_code == 403
    [refusal] = refusals(client)
    assert (refusal["field"], refusal["source"], refusal["strategy_id"]) == ("source_ip", "203.0.113.9", "momentum_us")
    assert PASSPHRASE not in everything_stored(embedded)


def test_an_api_signal_refused_is_recorded_under_the_caller(client, embedded):
    body = json.dumps({"strategy_id": "momentum_us", "ticker": FULLWIDTH_AAPL, "action": "buy", "quantity": 1}).encode()
    answer = client.post("/api/signals", data=body, content_type="application/json", headers=ALICE)
    assert answer.status_code == 422 and answer.get_json()["field"] == "ticker"
    [refusal] = refusals(client)
    assert (refusal["channel"], refusal["source"], refusal["field"]) == ("api", "api:dev_alice", "ticker")


def test_the_refusals_route_is_for_admins_with_a_sane_limit(client):
    assert client.get("/api/admin/refusals", headers=ALICE).status_code == 403
    assert client.get("/api/admin/refusals").status_code == 401
    assert client.get("/api/admin/refusals", headers=ADMIN).get_json() == {"refusals": []}  # default limit
    for limit in ("0", "-1", "abc", "501", "\u00b2", "9" * 5000, ""):
        answer = client.get(f"/api/admin/refusals?limit={limit}", headers=ADMIN)
        assert answer.status_code == 422 and answer.get_json()["field"] == "limit"


def test_a_forged_newline_stays_on_one_line_of_the_journey(client, embedded):
    forged = "x\n2026-11-24 14:30:00.000 | [EXECUTION] | sig_fake: DEMO-CLIENT-A buy 1000 AAPL: filled"
    body = json.dumps({"ticker": "AAPL", "action": "buy", "quantity": 1}).encode()
    answer = client.post("/webhook", data=body, content_type="application/json",
                         query_string={"strategy_id": forged, "passphrase": PASSPHRASE})
    assert answer.status_code == 422 and answer.get_json()["field"] == "strategy_id"
    embedded.ingest.refusals.record(RequestRejected("ticker", "unknown \u2028\x00\x85\r\\n"), body=b"",
                                    query={}, source="test", channel="webhook")
    # The demo fund's seeding writes [INSTRUMENTS] lines; the refusals' are the rest.
    lines = [line for line in journey_log(embedded).splitlines() if "[INSTRUMENTS]" not in line]
    assert len(lines) == 2
    assert all(re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \| \[WEBHOOK] \| ref_\w+: refused ", line)
               for line in lines)
    assert "(strategy x\\n2026-11-24 14:30:00.000 | [EXECUTION] | sig_fake" in lines[0]
    assert lines[1].endswith("ticker unknown \\u2028\\x00\\x85\\r\\\\n (strategy ?, from test)")
    assert PASSPHRASE not in "\n".join(lines)


@pytest.mark.parametrize("ticker", [FULLWIDTH_AAPL, "AAPL🚀", "AAPL\x00", "AA\tPL", "AA\u2028PL", "AA\x85PL"])
def test_lookalike_and_control_character_tickers_are_refused_by_name(client, embedded, ticker):
    answer = client.post("/webhook", data=signal_body(ticker=ticker, action="buy", quantity=1),
                         content_type="application/json")
    assert answer.status_code == 422
    error = answer.get_json()
    assert error["field"] == "ticker" and "may contain only ASCII letters" in error["reason"]
    assert [embedded.store.query(c) for c in TRADES] == [[], [], [], []]


def test_a_text_alert_with_a_lookalike_ticker_is_refused(client, embedded):
    query = f"?strategy_id=momentum_us&passphrase={PASSPHRASE}"
    text = "order buy @ 1 filled on \uff2e\uff36\uff24\uff21. New strategy position is 1"
    answer = client.post(f"/webhook{query}", data=text.encode(), content_type="text/plain")
    assert answer.status_code == 422 and answer.get_json()["field"] == "ticker"


def test_a_text_alert_for_staging_is_not_traded_by_production(client, embedded):
    assert embedded.settings.environment.value == "production"
    text = b"order buy @ 10 filled on NVDA. New strategy position is 10"
    for spelled in ("staging", "STAGING"):
        answer = client.post(f"/webhook?strategy_id=momentum_us&passphrase={PASSPHRASE}&environment={spelled}",
                             data=text, content_type="text/plain")
        assert answer.status_code == 422 and answer.get_json()["field"] == "environment"
    assert embedded.bus.drain()
    assert [embedded.store.query(c) for c in TRADES] == [[], [], [], []]
    answer = client.post(f"/webhook?strategy_id=momentum_us&passphrase={PASSPHRASE}&environment=Production",
                         data=text, content_type="text/plain")
    assert answer.status_code == 202
    assert embedded.bus.drain() and len(embedded.store.query(Collections.ORDERS)) == 2


@pytest.mark.parametrize(("environment", "status"), [("STAGING", 422), ("staging", 422), ("PRODUCTION", 202),
                                                       ("dev", 422)])
def test_the_json_environment_is_case_insensitive(client, embedded, environment, status):
    answer = client.post("/webhook", data=signal_body(ticker="AAPL", action="buy", quantity=1, price=190,
                                                      environment=environment), content_type="application/json")
    assert answer.status_code == status
    if status == 422:
        assert answer.get_json()["field"] == "environment"
    if environment.lower() == "staging":
        assert answer.get_json()["reason"] == "this deployment serves production"


def test_query_and_body_environments_must_agree(client):
    answer = client.post("/webhook?environment=staging", data=signal_body(ticker="AAPL", action="buy", quantity=1,
                                                                           environment="production"),
                         content_type="application/json")
    assert answer.status_code == 422 and answer.get_json()["field"] == "environment"


def test_the_tick_keeps_the_newest_and_drops_the_expired(client, embedded, clock, monkeypatch):
    monkeypatch.setattr(refusals_module, "REFUSALS_KEPT", 3)
    for index in range(5):
        clock.advance(1)
        client.post("/webhook", data=f"junk {index}".encode(), content_type="text/plain")
    assert len(refusals(client)) == 5
    embedded.tick()
    assert [r["excerpt"] for r in refusals(client)] == ["junk 4", "junk 3", "junk 2"]
    clock.advance(refusals_module.RETENTION.total_seconds() - 2)
    assert prune_refusals(embedded.store, clock()) == 1  # junk 2, the oldest kept, expires first
    clock.advance(timedelta(seconds=2).total_seconds())
    embedded.tick()
    assert refusals(client) == []


def test_a_flood_is_recorded_up_to_the_per_minute_quota(embedded, clock, monkeypatch):
    monkeypatch.setattr(refusals_module, "MAX_RECORDS_PER_MINUTE", 2)
    log = RefusalLog(embedded.store, clock)
    rejection = RequestRejected("body", "is not valid JSON", Refusal.MALFORMED, "malformed_json")
    ids = [log.record(rejection, body=b"x", query={}, source="1.2.3.4", channel="webhook") for _ in range(4)]
    assert ids[2:] == [None, None] and all(ids[:2])
    clock.advance(60)
    assert log.record(rejection, body=b"x", query={}, source="1.2.3.4", channel="webhook")
    assert len(embedded.store.query(Collections.REFUSED_DELIVERIES)) == 3
    assert "ref_dropped: 2 more refusals in the minute from 14:30 were not recorded" in journey_log(embedded)


def test_a_failing_store_still_answers_the_refusal(client, embedded, monkeypatch):
    def broken(*_: object, **__: object) -> bool:
        raise ConnectionError("store down")

    monkeypatch.setattr(embedded.store, "create", broken)
    answer = client.post("/webhook", data=b"{not json", content_type="application/json")
    assert answer.status_code == 400 and answer.get_json()["field"] == "body"


def test_on_firestore_expires_at_is_a_timestamp_for_the_ttl_policy(clock, emulator_env, project_id):
    """Firestore's TTL policy deletes only by a Timestamp field: the emulator's stored type says
    which one the refusal got, and the admin still reads plain JSON."""
    from google.cloud import firestore

    from shared.adapters.store_firestore import FirestoreStore

    store = FirestoreStore(project=project_id)
    RefusalLog(store, clock).record(
        RequestRejected("body", "is not valid JSON", Refusal.MALFORMED), body=b"{", query={}, source="",
        channel="webhook")
    [raw] = firestore.Client(project=project_id).collection(Collections.REFUSED_DELIVERIES).stream()
    assert raw.to_dict()["expires_at"] == clock() + refusals_module.RETENTION  # a timestamp, not a string
    [shown] = refusals_module.recent_refusals(store)
    assert shown["expires_at"] == (clock() + refusals_module.RETENTION).isoformat(timespec="microseconds")


def test_an_api_body_too_large_is_recorded(client, embedded):
    body = json.dumps({"strategy_id": "momentum_us", "ticker": "AAPL", "comment": "x" * 20_000}).encode()
    answer = client.post("/api/signals", data=body, content_type="application/json", headers=ALICE)
    assert answer.status_code == 413 and answer.get_json()["field"] == "body"
    [refusal] = refusals(client)
    assert (refusal["status"], refusal["channel"], refusal["source"], refusal["strategy_id"]) == (
        413, "api", "api:dev_alice", "momentum_us")  # read from the body's first bytes, though not JSON
    assert refusal["excerpt"].startswith('{"strategy_id": "momentum_us"')
