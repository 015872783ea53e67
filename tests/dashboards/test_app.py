"""Every dashboard page for every role, through streamlit's AppTest; reads and writes through
a real API server with the viewer's key (conftest: served). Nobody sees what is not theirs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from devstack.embedded import create_app
from shared.bootstrap import Services
from shared.demo import DEMO_API_KEYS
from shared.domain.models import Collections
from tests.conftest import signal_body

APP = Path(__file__).resolve().parents[2] / "dashboards_streamlit" / "app.py"
ADMIN = DEMO_API_KEYS["admin", "admin"]
ALICE = DEMO_API_KEYS["developer", "dev_alice"]
BOB = DEMO_API_KEYS["developer", "dev_bob"]
CLIENT_A = DEMO_API_KEYS["client", "client_a"]
CLIENT_B = DEMO_API_KEYS["client", "client_b"]


@pytest.fixture
def fund(served: Services) -> Services:
    """The demo fund after a few trades, its API served for the pages (conftest: served)."""
    client = create_app(served).test_client()
    for index, (strategy, ticker, quantity, price) in enumerate([
        ("momentum_us", "AAPL", 10, 190.0), ("momentum_us", "MSFT", 5, 420.0), ("fx_carry", "EURUSD", 10000, 1.08),
    ]):
        answer = client.post("/webhook", data=signal_body(strategy, ticker=ticker, action="buy", quantity=quantity,
                                                          price=price, signal_id=f"dash-{index}"),
                             content_type="application/json")
        assert answer.status_code == 202, answer.get_json()
    assert served.bus.drain()
    served.poller.poll_all()
    return served


def logged_in(token: str) -> AppTest:
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.run()
    app.text_input[0].input(token)
    app.button[0].click()
    app.run()
    assert not app.exception, app.exception
    return app


def open_page(app: AppTest, page: str) -> AppTest:
    app.switch_page(f"views/{page}.py")
    app.run()
    assert not app.exception, app.exception
    return app


def everything_shown(app: AppTest) -> str:
    """All text and table contents on the page, to search for what must not be there."""
    parts = [e.value for kind in ("title", "subheader", "markdown", "caption", "info", "error", "success")
             for e in getattr(app, kind)]
    parts += [f"{m.label} {m.value}" for m in app.metric]
    parts += [frame.value.to_json() for frame in app.dataframe]
    parts += [json.dumps(box.options) for box in app.selectbox]
    return "\n".join(str(p) for p in parts)


def test_a_wrong_key_is_refused(fund: Services):
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.run()
    app.text_input[0].input("mt_0000000000000000.wrong")
    app.button[0].click()
    app.run()
    assert "Unknown, revoked or malformed API key." in [e.value for e in app.error]


def test_a_client_sees_their_accounts_numbers_and_nobody_elses(fund: Services):
    app = open_page(logged_in(CLIENT_A), "client_overview")
    snapshot = fund.store.get(Collections.ACCOUNTS, "DEMO-CLIENT-A")["snapshot"]
    equity = next(m.value for m in app.metric if m.label == "Equity")
    assert equity == f"{snapshot['equity']:,.2f} USD"
    shown = everything_shown(app)
    assert "DEMO-CLIENT-A" in shown and "DEMO-CLIENT-B" not in shown

    app = open_page(app, "client_activity")
    positions = app.dataframe[0].value
    stored = {(p["instrument"]["symbol"], p["quantity"]) for p in fund.store.query(
        Collections.POSITIONS, where={"account_id": "DEMO-CLIENT-A"}) if p["quantity"]}
    assert set(zip(positions["symbol"], positions["quantity"], strict=True)) == stored
    fills = app.dataframe[1].value
    assert len(fills) == len(fund.store.query(Collections.CONFIRMATIONS, where={"account_id": "DEMO-CLIENT-A"}))
    assert "DEMO-CLIENT-B" not in everything_shown(app)

    other = open_page(logged_in(CLIENT_B), "client_activity")
    assert "DEMO-CLIENT-A" not in everything_shown(other) and "DEMO-CLIENT-B" in everything_shown(other)


ADMIN_PAGES = {"admin_health", "admin_signals", "admin_journey", "admin_portfolio", "admin_orders", "admin_positions",
               "admin_accounts", "admin_controls"}
ALL_PAGES = sorted(ADMIN_PAGES | {"client_overview", "client_activity", "developer_strategies"})


@pytest.mark.parametrize(("token", "own"), [
    (CLIENT_A, {"client_overview", "client_activity"}), (ALICE, {"developer_strategies"}),
    (ADMIN, ADMIN_PAGES)])
def test_each_role_can_navigate_only_to_its_own_pages(fund: Services, token: str, own: set[str]):
    app = logged_in(token)
    for page in ALL_PAGES:
        if page in own:
            open_page(app, page)
        else:
            with pytest.raises(ValueError, match="Could not find a navigation page"):
                app.switch_page(f"views/{page}.py")


@pytest.mark.parametrize("page", ALL_PAGES)
def test_every_page_checks_the_role_itself(fund: Services, page: str):
    """Reached some other way (a stale session, a hand-made URL), a page still refuses."""
    intruder = fund.api_keys.authenticate(CLIENT_B if not page.startswith("client") else ALICE)[0]
    app = AppTest.from_file(str(APP.parent / "views" / f"{page}.py"), default_timeout=60)
    app.session_state["principal"] = intruder
    app.run()
    assert [e.value for e in app.error] == ["This page is not available to you."]
    assert not app.dataframe and not app.metric


def test_a_developer_sees_only_their_strategies_and_no_client(fund: Services):
    app = open_page(logged_in(ALICE), "developer_strategies")
    assert app.selectbox[0].options == ["momentum_us"]
    stored = fund.store.query(Collections.SIGNALS, where={"strategy_id": "momentum_us"})
    signals = app.dataframe[-1].value  # the signal history, last on the page
    assert sorted(signals["signal_id"]) == sorted(s["signal_id"] for s in stored)
    executions = app.dataframe[0].value  # per signal, instrument and side: never one account's fill
    fills = fund.store.query(Collections.CONFIRMATIONS, where={"strategy_id": "momentum_us"})
    assert len(executions) == len({(f["signal_id"], f["side"]) for f in fills})
    assert sum(executions["quantity"]) == sum(f["quantity"] for f in fills)
    assert all(abs(s) < 50 for s in executions["slippage_bps"])  # the Mock's 1 bp, in the adverse direction
    shown = everything_shown(app)
    assert "DEMO-CLIENT" not in shown and "client_a" not in shown and "fx_carry" not in shown
    assert next(m.value for m in app.metric if m.label == "Sharpe") != "—"
    app.text_input[0].input("msft")  # the history's symbol filter, served by the API
    app.run()
    assert list(app.dataframe[-1].value["signal_id"]) == [
        s["signal_id"] for s in stored if s["signal"]["instrument"]["symbol"] == "MSFT"]

    bob = open_page(logged_in(BOB), "developer_strategies")
    assert bob.selectbox[0].options == ["fx_carry", "trend_futures"]
    assert "momentum_us" not in everything_shown(bob)


def test_admin_health_journey_and_accounts(fund: Services):
    app = open_page(logged_in(ADMIN), "admin_health")
    components = app.dataframe[0].value
    assert list(components["component"]) == ["webhook", "cerebro", "execution", "confirmations", "account poller"]
    assert set(components["state"]) <= {"active", "idle"}
    assert next(m.value for m in app.metric if m.label == "Signals in flight") == "0"

    app = open_page(app, "admin_journey")
    signal_id = fund.store.query(Collections.SIGNALS, where={"strategy_id": "momentum_us"})[0]["signal_id"]
    app.text_input[0].input(signal_id)
    app.run()
    orders = app.dataframe[-2].value
    assert set(orders["status"]) == {"filled"} and len(orders) == 2

    app = open_page(app, "admin_accounts")
    accounts = app.dataframe[0].value
    assert list(accounts["account"]) == ["DEMO-CLIENT-A", "DEMO-CLIENT-B"]
    assert list(accounts["equity"]) == [fund.store.get(Collections.ACCOUNTS, a)["snapshot"]["equity"]
                                        for a in ("DEMO-CLIENT-A", "DEMO-CLIENT-B")]
