"""The registry API end to end on the embedded stack: strategies, portfolio tests, approval."""

from __future__ import annotations

import json
import math

import pytest

from devstack.embedded import create_app
from shared.bootstrap import Services
from shared.demo import DEMO_API_KEYS
from shared.domain.models import Collections

ADMIN = {"Authorization": f"Bearer {DEMO_API_KEYS['admin', 'admin']}"}
ALICE = {"Authorization": f"Bearer {DEMO_API_KEYS['developer', 'dev_alice']}"}
BOB = {"Authorization": f"Bearer {DEMO_API_KEYS['developer', 'dev_bob']}"}


@pytest.fixture
def client(embedded: Services):
    return create_app(embedded).test_client()


def returns_csv(days: int = 300, drift: float = 0.0004, wobble: float = 0.006) -> bytes:
    rows = [f"2025-{1 + i // 28:02d}-{1 + i % 28:02d},{drift + wobble * math.sin(i * 1.7):.6f}" for i in range(days)]
    return ("date,return\n" + "\n".join(rows[:days]) + "\n").encode()


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer mt_0000000000000000.not-a-real-key-xyz"},
                                     {"Authorization": "Basic abc"}])
def test_every_route_needs_a_valid_key(client, headers):
    for method, path in [("get", "/api/strategies"), ("post", "/api/portfolio/tests"), ("get", "/api/allocation")]:
        answer = getattr(client, method)(path, headers=headers)
        assert answer.status_code == 401 and answer.get_json()["field"] == "authorization"


def test_admin_registers_a_strategy_whose_passphrase_then_works_on_the_webhook(client, embedded):
    created = client.post("/api/strategies", headers=ADMIN, json={
        "strategy_id": "mean_reversion", "name": "Mean reversion", "owner": "dev_alice",
        "reference_capital": 50000, "instruments": ["AAPL"]})
    assert created.status_code == 201
    passphrase = created.get_json()["passphrase"]
    assert passphrase not in json.dumps(embedded.store.get(Collections.STRATEGIES, "mean_reversion"))
    signal = {"strategy_id": "mean_reversion", "passphrase": passphrase, "ticker": "AAPL", "action": "buy",
              "quantity": 1, "price": 190}
    assert client.post("/webhook", json=signal).status_code == 409  # still a candidate
    assert client.patch("/api/strategies/mean_reversion", headers=ADMIN, json={"status": "live"}).status_code == 200
    assert client.post("/webhook", json=signal).status_code == 202
    rotated = client.post("/api/strategies/mean_reversion/passphrase", headers=ADMIN).get_json()["passphrase"]
    assert client.post("/webhook", json={**signal, "signal_id": "after-rotation"}).status_code == 401
    assert client.post("/webhook", json={**signal, "passphrase": rotated, "signal_id": "new"}).status_code == 202


def test_developers_see_and_change_only_their_own_strategies(client):
    mine = client.get("/api/strategies", headers=ALICE).get_json()["strategies"]
    assert [s["strategy_id"] for s in mine] == ["momentum_us"]
    assert "passphrase_hash" not in mine[0]
    assert client.get("/api/strategies/fx_carry", headers=ALICE).status_code == 404
    assert client.patch("/api/strategies/fx_carry", headers=ALICE, json={"status": "paused"}).status_code == 404
    for_bob = client.post("/api/strategies", headers=ALICE,
                          json={"strategy_id": "x_1", "name": "X", "owner": "dev_bob"})
    assert for_bob.status_code == 403 and for_bob.get_json()["field"] == "owner"
    own = client.post("/api/strategies", headers=ALICE, json={"strategy_id": "alice_2", "name": "Alice two"})
    assert own.status_code == 201 and own.get_json()["strategy"]["owner"] == "dev_alice"
    go_live = client.patch("/api/strategies/alice_2", headers=ALICE, json={"status": "live"})
    assert go_live.status_code == 403 and go_live.get_json()["field"] == "status"
    more_capital = client.patch("/api/strategies/momentum_us", headers=ALICE, json={"reference_capital": 1})
    assert more_capital.status_code == 403 and more_capital.get_json()["field"] == "reference_capital"
    assert client.patch("/api/strategies/momentum_us", headers=ALICE, json={"status": "paused"}).status_code == 200
    assert client.post("/api/portfolio/tests", headers=ALICE, json={"method": "max_sharpe",
                                                                    "strategy_ids": ["momentum_us"]}).status_code == 403


@pytest.mark.parametrize("body, field, status", [
    ({"strategy_id": "Bad Id", "name": "x"}, "strategy_id", 422),
    ({"strategy_id": "ok_id"}, "name", 422),
    ({"strategy_id": "ok_id", "name": "x", "reference_capital": -5}, "reference_capital", 422),
    ({"strategy_id": "ok_id", "name": "x", "colour": "red"}, "colour", 422),
    ({"strategy_id": "momentum_us", "name": "again"}, "strategy_id", 409),
    ([1, 2], "body", 400),
])
def test_bad_strategy_bodies_name_the_field(client, embedded, body, field, status):
    before = len(embedded.store.query(Collections.STRATEGIES))
    answer = client.post("/api/strategies", headers=ADMIN, json=body)
    assert (answer.status_code, answer.get_json()["field"]) == (status, field)
    assert len(embedded.store.query(Collections.STRATEGIES)) == before


def test_return_upload_and_its_errors(client):
    ok = client.put("/api/strategies/momentum_us/returns", headers=ALICE, data=returns_csv(),
                    content_type="text/csv")
    assert ok.status_code == 200 and ok.get_json()["days"] == 300
    bad = client.put("/api/strategies/momentum_us/returns", headers=ALICE, data=b"date,return\n2025-01-01,x\n",
                     content_type="text/csv")
    assert bad.status_code == 422 and bad.get_json()["field"] == "row 2.return"
    assert client.put("/api/strategies/fx_carry/returns", headers=ALICE, data=returns_csv(),
                      content_type="text/csv").status_code == 404


def aapl_fills(client, embedded, signal_id: str) -> dict[str, float]:
    answer = client.post("/webhook", json={"strategy_id": "momentum_us",
                                           "passphrase": "demo-momentum-us-passphrase", "ticker": "AAPL",
                                           "exchange": "NASDAQ", "action": "buy", "quantity": 10, "price": 190,
                                           "signal_id": signal_id})
    assert answer.status_code == 202
    embedded.bus.drain()
    fills = embedded.store.query(Collections.CONFIRMATIONS, where={"signal_id": answer.get_json()["signal_id"]})
    return {f["account_id"]: f["quantity"] for f in fills}


def test_an_approved_optimisation_changes_what_cerebro_trades(client, embedded, clock):
    assert aapl_fills(client, embedded, "before") == {"DEMO-CLIENT-A": 40, "DEMO-CLIENT-B": 15}  # demo weights
    run = client.post("/api/portfolio/tests", headers=ADMIN, json={
        "method": "min_variance", "strategy_ids": ["momentum_us", "trend_futures", "fx_carry"],
        "train_days": 252, "test_days": 63})
    assert run.status_code == 201, run.get_json()
    test = run.get_json()
    assert embedded.store.get(Collections.PORTFOLIO_TESTS, test["test_id"])["status"] == "proposed"
    assert sum(test["weights"].values()) == pytest.approx(1.0)
    assert len(test["walk_forward"]["windows"]) == (756 - 252) // 63
    assert set(test["correlation"]) == {"momentum_us", "trend_futures", "fx_carry"}

    nobody = client.post(f"/api/portfolio/tests/{test['test_id']}/approve", headers=ADMIN, json={"account_ids": []})
    assert nobody.status_code == 422 and nobody.get_json()["field"] == "account_ids"  # an approval that changes nothing
    approved = client.post(f"/api/portfolio/tests/{test['test_id']}/approve", headers=ADMIN, json={})
    assert approved.status_code == 200
    allocation = approved.get_json()["allocation"]
    assert allocation["version"] == 2 and allocation["approved_by"] == "admin"
    momentum = test["weights"]["momentum_us"]
    equity = {a: embedded.store.get(Collections.ACCOUNTS, a)["snapshot"]["equity"] for a in ("DEMO-CLIENT-A",
                                                                                           "DEMO-CLIENT-B")}
    expected = {a: math.trunc(e * momentum / 100_000 * 10) for a, e in equity.items()}
    assert aapl_fills(client, embedded, "after") == {k: v for k, v in expected.items() if v}
    again = client.post(f"/api/portfolio/tests/{test['test_id']}/approve", headers=ADMIN, json={})
    assert again.status_code == 409
    history = client.get("/api/allocation/history", headers=ADMIN).get_json()["versions"]
    assert [v["version"] for v in history] == [2]


def test_a_future_approval_waits_for_its_effective_time(client, embedded, clock):
    test = client.post("/api/portfolio/tests", headers=ADMIN, json={
        "method": "equal_weight", "strategy_ids": ["momentum_us", "fx_carry"], "train_days": 252,
        "test_days": 126}).get_json()
    later = clock.now.replace(hour=clock.now.hour + 1).isoformat()
    answer = client.post(f"/api/portfolio/tests/{test['test_id']}/approve", headers=ADMIN,
                         json={"account_ids": ["DEMO-CLIENT-A"], "effective_from": later})
    assert answer.status_code == 200
    state = client.get("/api/allocation", headers=ADMIN).get_json()
    assert state["in_effect"]["version"] == 1 and state["pending"]["version"] == 2
    assert aapl_fills(client, embedded, "early")["DEMO-CLIENT-A"] == 40
    clock.advance(3601)
    embedded.poller.poll_all()
    equity = embedded.store.get(Collections.ACCOUNTS, "DEMO-CLIENT-A")["snapshot"]["equity"]
    assert aapl_fills(client, embedded, "due")["DEMO-CLIENT-A"] == math.trunc(equity * 0.5 / 100_000 * 10)
    assert client.get("/api/allocation", headers=ADMIN).get_json()["in_effect"]["weights"]["DEMO-CLIENT-B"] == {
        "momentum_us": 0.6, "fx_carry": 0.4}  # untouched account keeps its weights


@pytest.mark.parametrize("body, field", [
    ({"method": "best", "strategy_ids": ["momentum_us"]}, "method"),
    ({"method": "max_sharpe", "strategy_ids": []}, "strategy_ids"),
    ({"method": "max_sharpe", "strategy_ids": ["mean_reversion_none"]}, "strategy_ids.mean_reversion_none"),
    ({"method": "max_sharpe", "strategy_ids": ["momentum_us", "fx_carry"], "leverage_cap": 0.5,
      "min_weight": {"momentum_us": 0.4, "fx_carry": 0.4}}, "constraints"),
])
def test_bad_optimisation_requests_name_the_field_and_store_nothing(client, embedded, body, field):
    answer = client.post("/api/portfolio/tests", headers=ADMIN, json=body)
    assert answer.status_code == 422 and answer.get_json()["field"].startswith(field), answer.get_json()
    assert embedded.store.query(Collections.PORTFOLIO_TESTS) == []


def test_the_cli_drives_the_api_over_http(embedded, monkeypatch, capsys):
    import threading

    from werkzeug.serving import make_server

    from devstack import registry_cli

    server = make_server("127.0.0.1", 0, create_app(embedded), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("MT_API_URL", f"http://127.0.0.1:{server.server_port}")
        monkeypatch.setenv("MT_API_KEY", DEMO_API_KEYS["admin", "admin"])
        assert registry_cli.main(["--json", "optimise", "risk_parity", "momentum_us", "fx_carry"]) == 0
        test_id = json.loads(capsys.readouterr().out)["test_id"]
        assert registry_cli.main(["--json", "approve", test_id, "--accounts", "DEMO-CLIENT-B"]) == 0
        assert json.loads(capsys.readouterr().out)["allocation"]["version"] == 2
        assert registry_cli.main(["--json", "status", "fx_carry", "paused"]) == 0
        assert json.loads(capsys.readouterr().out)["strategy"]["status"] == "paused"
        monkeypatch.setenv("MT_API_KEY", "mt_0000000000000000.revoked-or-never-issued")
        assert registry_cli.main(["strategies"]) == 1
    finally:
        server.shutdown()
