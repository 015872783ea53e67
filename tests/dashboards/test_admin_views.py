"""The admin's controls through streamlit's AppTest: a reason and a confirmation before the
kill switch, flatten or an approval changes anything; the state shown is the state stored;
an approval touches only the chosen accounts; a signal can be found without its id."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
from streamlit.testing.v1 import AppTest

from dashboards_streamlit import formatting as fmt
from shared.bootstrap import Services
from shared.domain.models import KILL_SWITCH_DOC, Collections
from shared.services.cerebro_service import CURRENT_ALLOCATION_DOC
from tests.conftest import signal_body
from tests.dashboards.test_app import ADMIN, APP, CLIENT_B, everything_shown, fund, logged_in, open_page

__all__ = ["fund"]  # the fixture, shared with test_app


def click(app: AppTest, label: str) -> AppTest:
    next(b for b in app.button if b.label == label).click()
    app.run()
    assert not app.exception, app.exception
    return app


def shown_errors(app: AppTest) -> list[str]:
    return [e.value for e in app.error]


def test_the_kill_switch_needs_a_reason_and_a_confirmation_and_shows_what_is_stored(fund: Services):
    app = open_page(logged_in(ADMIN), "admin_controls")
    assert "Kill switch is OFF" in app.success[0].value
    app.toggle[0].set_value(True)
    click(app, "Apply")  # no reason
    assert "A reason is required: the kill switch was not changed." in shown_errors(app)
    assert fund.store.get(Collections.SETTINGS, KILL_SWITCH_DOC) is None
    assert next(m.value for m in app.metric if m.label == "Kill switch") == "off"

    app.text_input[0].input("   ")  # blank is no reason either
    click(app, "Apply")
    assert "A reason is required: the kill switch was not changed." in shown_errors(app)
    app.text_input[0].input("broker outage drill")
    click(app, "Apply")  # not confirmed
    assert "Tick the confirmation box: the kill switch was not changed." in shown_errors(app)
    assert fund.store.get(Collections.SETTINGS, KILL_SWITCH_DOC) is None

    app.checkbox[0].check()
    click(app, "Apply")
    stored = fund.store.get(Collections.SETTINGS, KILL_SWITCH_DOC)
    assert stored["enabled"] is True and stored["reason"] == "broker outage drill" and stored["changed_by"] == "admin"
    banner = app.error[0].value
    assert banner.startswith("**Kill switch is ON") and "Reason: broker outage drill" in banner and "by admin" in banner
    assert next(m.value for m in app.metric if m.label == "Kill switch") == "ON"
    assert "Kill switch turned ON." in [s.value for s in app.success]
    assert "streamlit" not in everything_shown(app).lower()  # no help text rendered by magic

    app.toggle[0].set_value(False)
    app.text_input[0].input("drill over")
    app.checkbox[0].check()
    click(app, "Apply")
    assert fund.store.get(Collections.SETTINGS, KILL_SWITCH_DOC)["enabled"] is False
    assert not app.error and "Kill switch is OFF" in everything_shown(app) and "drill over" in everything_shown(app)


def test_flatten_needs_a_reason_and_the_typed_confirmation_and_says_what_it_did(fund: Services):
    held = [p for p in fund.store.query(Collections.POSITIONS) if p["quantity"]]
    assert held
    app = open_page(logged_in(ADMIN), "admin_controls")
    app.text_input[2].input("FLATTEN ALL")
    click(app, "Flatten all positions")
    assert "A reason is required: nothing was flattened." in shown_errors(app)
    app.text_input[1].input("end of the pilot")
    app.text_input[2].input("flatten all")
    click(app, "Flatten all positions")
    assert "To confirm, type FLATTEN ALL exactly: nothing was flattened." in shown_errors(app)
    assert fund.bus.drain()
    assert [p for p in fund.store.query(Collections.POSITIONS) if p["quantity"]] == held

    app.text_input[2].input("FLATTEN ALL")
    click(app, "Flatten all positions")
    sentence = next(s.value for s in app.success if s.value.startswith("Flatten submitted"))
    strategies = sorted({p["strategy_id"] for p in held})
    assert sentence.startswith(f"Flatten submitted for {len(strategies)} strategies: {strategies[0]} (signal sig_")
    assert sentence.endswith("Reason: end of the pilot.")
    table = app.table[0].value
    assert list(table["strategy"]) == strategies and all(s.startswith("sig_") for s in table["flatten signal"])
    assert {parse_qs(link.proto.query_string)["signal_id"][0] for link in app.page_link
            if "flatten" in link.value} == set(table["flatten signal"])
    assert "{" not in sentence  # a sentence, not a dict
    assert fund.bus.drain()
    assert all(not p["quantity"] for p in fund.store.query(Collections.POSITIONS))


def test_an_approval_changes_only_the_chosen_account_after_showing_its_diff(fund: Services):
    before = fund.store.get(Collections.ALLOCATION, CURRENT_ALLOCATION_DOC)
    app = open_page(logged_in(ADMIN), "admin_portfolio")
    assert app.subheader[0].value == f"Allocation in force: version {before['version']}"
    app.selectbox[0].select("min_variance")
    click(app, "Run")
    test = app.session_state["portfolio_test"]
    performance = next(t.value for t in app.dataframe if "Walk-forward, after costs" in t.value.columns)
    cagr = performance.set_index("measure").loc["CAGR"]
    assert cagr["Walk-forward, after costs"] == fmt.percent(test["walk_forward"]["metrics"]["cagr"])
    assert cagr["Walk-forward, before costs"] == fmt.percent(test["walk_forward"]["gross_metrics"]["cagr"])
    trading = next(c.value for c in app.caption if c.value.startswith("Walk-forward trading"))
    assert f"turnover {test['walk_forward']['annual_turnover']:.1f}x a year" in trading and "at 10 bp" in trading
    accounts = next(m for m in app.multiselect if m.label == "Accounts to apply this allocation to")
    assert accounts.value == [] and accounts.options == ["DEMO-CLIENT-A", "DEMO-CLIENT-B"]

    app.checkbox[0].check()
    click(app, "Approve as the next allocation")  # no account chosen
    assert "Choose at least one account: nothing was approved." in shown_errors(app)
    assert fund.store.get(Collections.ALLOCATION, CURRENT_ALLOCATION_DOC) == before

    next(m for m in app.multiselect if m.label == "Accounts to apply this allocation to").select("DEMO-CLIENT-A")
    app.checkbox[0].uncheck()
    app.run()
    diff = next(t.value for t in app.table if "change" in t.value.columns)
    old_a = before["weights"]["DEMO-CLIENT-A"]
    new_a = {s: w for s, w in test["weights"].items() if w > 1e-9}
    assert set(diff.index) == {"DEMO-CLIENT-A"}
    assert {r.strategy: (r.current, r.new, r.change) for r in diff.itertuples()} == {
        s: (f"{old_a.get(s, 0) * 100:.1f}%", f"{new_a.get(s, 0) * 100:.1f}%",
            f"{(new_a.get(s, 0) - old_a.get(s, 0)) * 100:+.1f} pp") for s in set(old_a) | set(new_a)}
    assert "Unchanged: DEMO-CLIENT-B." in [c.value for c in app.caption]
    click(app, "Approve as the next allocation")  # not confirmed
    assert "Tick the confirmation box after reviewing the changes: nothing was approved." in shown_errors(app)
    assert fund.store.get(Collections.ALLOCATION, CURRENT_ALLOCATION_DOC) == before

    app.checkbox[0].check()
    click(app, "Approve as the next allocation")
    after = fund.store.get(Collections.ALLOCATION, CURRENT_ALLOCATION_DOC)
    assert after["version"] == before["version"] + 1
    assert after["weights"]["DEMO-CLIENT-A"] == new_a
    assert after["weights"]["DEMO-CLIENT-B"] == before["weights"]["DEMO-CLIENT-B"]
    assert f"Approved: allocation version {after['version']} for DEMO-CLIENT-A." in [s.value for s in app.success]
    assert app.subheader[0].value == f"Allocation in force: version {after['version']}"
    in_force = app.table[0].value
    assert {s: in_force.loc["DEMO-CLIENT-B", s] for s in before["weights"]["DEMO-CLIENT-B"]} == {
        s: f"{w * 100:.1f}%" for s, w in before["weights"]["DEMO-CLIENT-B"].items()}


def signal_rows(app: AppTest) -> dict[str, str]:
    """The listed signals: id -> the journey page link's signal_id."""
    return {link.value: parse_qs(link.proto.query_string)["signal_id"][0] for link in app.page_link
            if link.value.startswith("sig_")}


def test_the_signals_page_finds_signals_by_strategy_status_symbol_and_time(fund: Services):
    stored = fund.store.query(Collections.SIGNALS)
    app = open_page(logged_in(ADMIN), "admin_signals")
    listed = signal_rows(app)
    assert set(listed) == {s["signal_id"] for s in stored} and all(k == v for k, v in listed.items())
    assert all(link.proto.page == "admin_journey" for link in app.page_link if link.value in listed)

    app.multiselect[0].select("fx_carry")
    app.run()
    assert set(signal_rows(app)) == {s["signal_id"] for s in stored if s["strategy_id"] == "fx_carry"}
    app.multiselect[0].unselect("fx_carry")
    app.text_input[0].input("msft")
    app.run()
    assert set(signal_rows(app)) == {s["signal_id"] for s in stored
                                     if s["signal"]["instrument"]["symbol"] == "MSFT"}
    app.text_input[0].input("")
    app.selectbox[1].select("Last hour")  # the fund's signals were received at the test clock's time, days ago
    app.run()
    assert signal_rows(app) == {} and app.info[0].value.startswith("No signal matches these filters.")


def test_signals_in_flight_are_linked_from_health_and_listed_however_old(fund: Services):
    record = fund.store.query(Collections.SIGNALS, where={"strategy_id": "fx_carry"})[0]
    fund.store.create(Collections.OPEN_SIGNALS, record["signal_id"], {  # as ingest leaves one not yet decided
        "signal_id": record["signal_id"], "open_orders": None, "since": record["received_at"], "book": "b",
        "received_at": record["received_at"], "arrival_ns": 0})
    app = open_page(logged_in(ADMIN), "admin_health")
    link = next(link for link in app.page_link if link.value.startswith("Signals in flight: 1"))
    assert link.proto.page == "admin_signals" and parse_qs(link.proto.query_string) == {"status": ["open"]}

    app.query_params = {"status": "open"}
    open_page(app, "admin_signals")
    assert app.selectbox[0].value == "open"  # shown as "in flight (open)"
    assert signal_rows(app) == {record["signal_id"]: record["signal_id"]}


def test_the_journey_page_opens_the_signal_named_in_the_link(fund: Services):
    record = fund.store.query(Collections.SIGNALS, where={"strategy_id": "momentum_us"})[0]
    app = logged_in(ADMIN)
    app.query_params = {"signal_id": record["signal_id"]}
    open_page(app, "admin_journey")
    assert app.text_input[0].value == record["signal_id"]
    assert app.subheader[0].value == (f"{record['signal']['action']} {record['signal']['instrument']['symbol']} "
                                      f"for momentum_us: {record['status']}")


def test_the_signals_page_checks_the_role_itself(fund: Services):
    app = AppTest.from_file(str(APP.parent / "views" / "admin_signals.py"), default_timeout=60)
    app.session_state["principal"] = fund.api_keys.authenticate(CLIENT_B)[0]
    app.run()
    assert [e.value for e in app.error] == ["This page is not available to you."]
    assert not app.page_link and not app.multiselect


@pytest.mark.parametrize("page", ["admin_signals", "admin_controls", "admin_portfolio", "admin_orders",
                                  "admin_positions"])
def test_admin_pages_render_no_magic_help_text(fund: Services, page: str):
    """A bare expression on a page renders streamlit's own docs: none may."""
    app = open_page(logged_in(ADMIN), page)
    assert not app.get("help") and "DeltaGenerator" not in everything_shown(app)


def test_the_blotter_cancels_the_chosen_order_after_confirmation(fund: Services):
    entry = fund.ingest.ingest(signal_body("momentum_us", ticker="SPY", action="buy", quantity=10,
                                           order_type="limit", limit_price=400.0, signal_id="dip"),
                               "application/json", {}, "127.0.0.1")
    assert entry.status == 202 and fund.bus.drain()
    resting = fund.store.query(Collections.ORDERS, where={"open": True})
    assert resting
    app = open_page(logged_in(ADMIN), "admin_orders")
    table = app.dataframe[0].value
    assert set(table["client_order_id"]) == {o["client_order_id"] for o in resting}
    assert set(table["status"]) == {"working"}

    chosen = resting[0]["client_order_id"]
    app.selectbox[0].select(chosen)
    click(app, "Cancel order")
    assert shown_errors(app) == ["Tick the box to confirm: nothing was cancelled."]
    app.checkbox[0].check()
    click(app, "Cancel order")
    assert fund.bus.drain()
    notice = app.success[0].value
    assert notice.startswith("Cancel sent for buy ") and "SPY at 400.00" in notice and chosen in notice
    app.run()  # the blotter re-reads: the broker's confirmation has been recorded
    listed = set(app.dataframe[0].value["client_order_id"]) if app.dataframe else set()
    assert listed == {o["client_order_id"] for o in resting} - {chosen}
    assert fund.store.get(Collections.ORDERS, chosen)["status"] == "cancelled"


def test_positions_and_pnl_show_the_apis_figures(fund: Services):
    app = open_page(logged_in(ADMIN), "admin_positions")
    per_account, per_strategy, lots = (table.value for table in app.dataframe)
    book = fund_book(fund)
    assert list(per_account["account_id"]) == [row["account_id"] for row in book["by_account"]]
    assert list(per_account["realized_pnl"]) == pytest.approx([row["realized_pnl"] for row in book["by_account"]])
    assert list(per_strategy["strategy_id"]) == [row["strategy_id"] for row in book["by_strategy"]]
    assert list(lots["quantity"]) == pytest.approx([row["quantity"] for row in book["positions"]])
    assert list(lots["market_value"]) == pytest.approx([row["market_value"] for row in book["positions"]])
    assert "Realized P&L is booked from fills" in app.caption[0].value


def fund_book(fund: Services) -> dict:
    from shared.dashboards.fund_views import positions_book

    book = positions_book(fund.store)
    assert book["positions"], "the fund holds nothing: the page would prove nothing"
    return book
