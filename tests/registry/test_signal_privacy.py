"""A strategy's developer reads their signal's journey as aggregates only: never an account
id, a client, or a figure of one account. An admin still reads everything."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devstack.embedded import create_app
from shared.bootstrap import Services
from shared.demo import DEMO_API_KEYS
from shared.domain.models import Collections

ADMIN = {"Authorization": f"Bearer {DEMO_API_KEYS['admin', 'admin']}"}
ALICE = {"Authorization": f"Bearer {DEMO_API_KEYS['developer', 'dev_alice']}"}  # owns momentum_us only
BOB = {"Authorization": f"Bearer {DEMO_API_KEYS['developer', 'dev_bob']}"}
# Keys that exist only per account: none may appear in a developer's answer.
PER_ACCOUNT_KEYS = {"account_id", "account_ids", "accounts", "client_id", "equity", "checks", "inputs", "exec_id",
                    "client_order_id", "broker_order_id", "margin_available", "allocated_capital", "raw", "fills"}


@pytest.fixture
def client(embedded: Services):
    return create_app(embedded).test_client()


def walk(value: Any, path: str = "") -> Iterator[tuple[str, bool, Any]]:
    """Every (path, is a key, key or leaf value) in a JSON answer, however deeply nested."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield f"{path}.{key}", True, key
            yield from walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, f"{path}[{index}]")
    else:
        yield path, False, value


def fund_identities(embedded: Services) -> set[str]:
    """Every account id, account name and client id the fund holds."""
    accounts = embedded.store.query(Collections.ACCOUNTS)
    assert len(accounts) >= 2, "the demo fund has no accounts: the walk would prove nothing"
    return ({a["account_id"] for a in accounts} | {a["client_id"] for a in accounts if a.get("client_id")}
            | {a["name"] for a in accounts if a.get("name")})


def leaks(answer: Any, identities: set[str], figures: set[float]) -> list[str]:
    found = []
    for path, is_key, item in walk(answer):
        if is_key and item in PER_ACCOUNT_KEYS:
            found.append(f"{path}: a per-account key")
        elif isinstance(item, str) and any(i.lower() in item.lower() for i in identities):
            found.append(f"{path}: {item!r}")
        elif isinstance(item, int | float) and not isinstance(item, bool) and float(item) in figures:
            found.append(f"{path}: {item!r} is one account's figure")
    return found


def per_account_figures(embedded: Services, signal_id: str) -> set[float]:
    """Every account's equity, and each account's quantities for this signal when several
    accounts traded it (a total over one account is that account's figure: nothing hides that)."""
    fills = embedded.store.query(Collections.CONFIRMATIONS, where={"signal_id": signal_id})
    orders = embedded.store.query(Collections.ORDERS, where={"signal_id": signal_id})
    figures = {float(a["snapshot"]["equity"]) for a in embedded.store.query(Collections.ACCOUNTS) if a.get("snapshot")}
    if len({f["account_id"] for f in fills}) > 1:
        figures |= {float(f["quantity"]) for f in fills}
    if len({o["account_id"] for o in orders}) > 1:
        figures |= {float(o["order"]["quantity"]) for o in orders}
    return figures


def send(client, embedded: Services, signal_id: str, headers: dict[str, str] = ALICE) -> str:
    answer = client.post("/api/signals", headers=headers, json={
        "strategy_id": "momentum_us", "ticker": "AAPL", "action": "buy", "quantity": 10, "price": 190,
        "signal_id": signal_id})
    assert answer.status_code == 202, answer.get_json()
    assert embedded.bus.drain()
    return answer.get_json()["signal_id"]


def test_the_developer_answer_holds_no_account_of_the_fund_anywhere(client, embedded):
    identities = fund_identities(embedded)
    traded = send(client, embedded, "privacy-1")
    # One account halted with a reason that names it: its decision's text must not reach the developer.
    halted = client.put("/api/admin/trading-states/account:DEMO-CLIENT-B", headers=ADMIN,
                        json={"state": "halted", "reason": "DEMO-CLIENT-B (client_b) margin call"})
    assert halted.status_code == 200, halted.get_json()
    half = send(client, embedded, "privacy-2")
    # An admin's flatten of one chosen account names it in the signal itself.
    flattened = client.post("/api/admin/flatten", headers=ADMIN, json={
        "confirm": "FLATTEN ALL", "strategy_ids": ["momentum_us"], "account_ids": ["DEMO-CLIENT-A"]})
    assert flattened.status_code == 202, flattened.get_json()
    assert embedded.bus.drain()
    flatten = flattened.get_json()["flattening"]["momentum_us"]

    for signal_id in (traded, half, flatten):
        full = client.get(f"/api/signals/{signal_id}", headers=ADMIN).get_json()
        figures = per_account_figures(embedded, signal_id)
        assert leaks(full, identities, figures), "the admin's answer names no account: the walk would prove nothing"
        answer = client.get(f"/api/signals/{signal_id}", headers=ALICE)
        assert answer.status_code == 200
        assert leaks(answer.get_json(), identities, figures) == [], signal_id
    # Everything else a developer reads about the strategy: the list and its dashboard document.
    for path in ("/api/signals?strategy_id=momentum_us", "/api/dashboards/strategies/momentum_us"):
        answer = client.get(path, headers=ALICE)
        assert answer.status_code == 200, path
        found = [leak for leak in leaks(answer.get_json(), identities, set())
                 if not leak.startswith(".equity_curve[")]  # the backtest's growth of 1, not an account's equity
        assert found == [], path


def test_the_developer_answer_has_the_signal_aggregates(client, embedded):
    halted = client.put("/api/admin/trading-states/account:DEMO-CLIENT-B", headers=ADMIN,
                        json={"state": "halted", "reason": "margin call"})
    assert halted.status_code == 200, halted.get_json()
    signal_id = send(client, embedded, "privacy-3")
    answer = client.get(f"/api/signals/{signal_id}", headers=ALICE).get_json()
    fills = embedded.store.query(Collections.CONFIRMATIONS, where={"signal_id": signal_id})
    orders = embedded.store.query(Collections.ORDERS, where={"signal_id": signal_id})
    assert len(fills) == 1 and len(orders) == 1  # account A traded, account B was stopped
    assert answer["decisions"] == {"total": 2, "approved": 1, "rejected": 1, "skipped": 0}
    assert answer["reasons"] == [{"reason": "trading_state check failed", "decisions": 1}]
    assert answer["orders"] == {"total": 1, "by_status": {"filled": 1}}
    [execution] = answer["executions"]
    price = fills[0]["price"]
    assert execution["symbol"] == "AAPL" and execution["side"] == "buy" and execution["purpose"] == "trade"
    assert execution["quantity_ordered"] == orders[0]["order"]["quantity"]
    assert execution["quantity_filled"] == fills[0]["quantity"]
    assert execution["average_fill_price"] == pytest.approx(price)
    assert execution["slippage_bps"] == pytest.approx((price - 190) / 190 * 1e4)
    assert answer["signal"]["price"] == 190 and answer["signal"]["action"] == "buy"
    assert "accounts" not in answer["signal"]


def test_several_fills_average_by_quantity_and_sell_slippage_is_signed(client, embedded):
    send(client, embedded, "privacy-4")
    answer = client.post("/api/signals", headers=ALICE, json={
        "strategy_id": "momentum_us", "ticker": "AAPL", "action": "sell", "quantity": 10, "price": 191,
        "signal_id": "privacy-5"})
    assert answer.status_code == 202 and embedded.bus.drain()
    signal_id = answer.get_json()["signal_id"]
    fills = embedded.store.query(Collections.CONFIRMATIONS, where={"signal_id": signal_id})
    assert len(fills) == 2
    average = sum(f["quantity"] * f["price"] for f in fills) / sum(f["quantity"] for f in fills)
    [execution] = client.get(f"/api/signals/{signal_id}", headers=ALICE).get_json()["executions"]
    assert execution["side"] == "sell" and execution["quantity_filled"] == sum(f["quantity"] for f in fills)
    assert execution["average_fill_price"] == pytest.approx(average)
    assert execution["slippage_bps"] == pytest.approx(-(average - 191) / 191 * 1e4)  # selling lower is worse


def test_the_admin_still_sees_every_account(client, embedded):
    signal_id = send(client, embedded, "privacy-6")
    full = client.get(f"/api/signals/{signal_id}", headers=ADMIN).get_json()
    assert {f["account_id"] for f in full["fills"]} == {"DEMO-CLIENT-A", "DEMO-CLIENT-B"}
    assert {d["account_id"] for d in full["signal"]["decisions"]} == {"DEMO-CLIENT-A", "DEMO-CLIENT-B"}
    assert all(d["checks"] and d["inputs"]["equity"] for d in full["signal"]["decisions"])


def test_another_developer_and_a_client_get_nothing(client, embedded):
    signal_id = send(client, embedded, "privacy-7")
    other = client.get(f"/api/signals/{signal_id}", headers=BOB)
    assert other.status_code in (403, 404) and "DEMO-CLIENT" not in other.get_data(as_text=True)
    _, token = embedded.api_keys.issue("client", "client_a")
    refused = client.get(f"/api/signals/{signal_id}", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code in (403, 404) and "DEMO-CLIENT" not in refused.get_data(as_text=True)


def test_a_strategy_restricted_to_accounts_does_not_name_them_to_its_developer(client, embedded: Services):
    account = sorted(fund_identities(embedded) & {a["account_id"] for a in embedded.store.query(
        Collections.ACCOUNTS)})[0]
    restricted = client.patch("/api/strategies/momentum_us", headers=ADMIN, json={"eligible_accounts": [account]})
    assert restricted.status_code == 200 and restricted.get_json()["strategy"]["eligible_accounts"] == [account]
    for path in ("/api/strategies", "/api/strategies/momentum_us"):
        answer = client.get(path, headers=ALICE).get_json()
        assert leaks(answer, fund_identities(embedded), set()) == [], path
    created = client.post("/api/strategies", headers=ALICE, json={
        "strategy_id": "alice_new", "name": "New", "eligible_accounts": [account]})
    assert created.status_code == 403 and created.get_json()["field"] == "eligible_accounts"
