"""The admin's controls in a real browser, asserting on what the page SHOWS: the local stack
started by the CLI, a signal sent, then found and its journey opened; an approval for one
chosen account after its diff; the kill switch refusing an empty reason, then reading ON
with the reason; a resting order cancelled from the blotter; the fund's P&L totals equal to the
API's. Screenshots go under the pytest temporary directory; their paths are printed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from shared.adapters.brokers import mock as broker_mock
from shared.adapters.store_sqlite import SqliteStore
from shared.demo import DEMO_API_KEYS, DEMO_PASSPHRASES
from shared.domain.models import KILL_SWITCH_DOC, Collections
from shared.services.cerebro_service import CURRENT_ALLOCATION_DOC
from tests.dashboards.test_browser import CHROMEDRIVER, CHROMIUM, browser, log_in, metric, wait
from tests.devstack_cli import cli_stack

__all__ = ["browser"]  # the fixture, shared with test_browser
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="SKIPPED: Debian's chromium and chromium-driver are not installed; the admin browser tests did not run")
ADMIN = DEMO_API_KEYS["admin", "admin"]


class Stack:
    """The CLI's local stack: dashboards, webhook and store, plus where screenshots go."""

    def __init__(self, dashboards: str, webhook: str, store: SqliteStore, screenshots: Path):
        self.dashboards, self.webhook, self.store, self.screenshots = dashboards, webhook, store, screenshots

    def shoot(self, driver, name: str) -> None:
        path = self.screenshots / f"{name}.png"
        driver.save_screenshot(str(path))
        print(f"screenshot: {path}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("browser_admin")
    with cli_stack(root) as (env, port, dashboards):
        (root / "screenshots").mkdir()
        yield Stack(f"http://127.0.0.1:{dashboards}", f"http://127.0.0.1:{port}/webhook",
                    SqliteStore(env["MT_SQLITE_PATH"]), root / "screenshots")


def by(kind: str, value: str):
    from selenium.webdriver.common.by import By

    return getattr(By, kind), value


def go(driver, title: str) -> None:
    """Open a page from the sidebar and wait for its title."""
    driver.find_element(*by("XPATH", f"//a[@data-testid='stSidebarNavLink'][.//span[@label='{title}']]")).click()
    assert wait(lambda: driver.find_element(*by("TAG_NAME", "h1")).text.startswith(title)), title


def button(driver, label: str):
    """A button once the page has drawn it."""
    found = wait(lambda: driver.find_element(*by("XPATH", f"//button[.//p[text()={json.dumps(label)}]]")))
    assert found, label
    return found


def tick(driver, label: str) -> None:
    """Click a checkbox or toggle by its label, once the page has drawn it."""
    found = wait(lambda: driver.find_element(*by("XPATH", f"//label[.//p[text()={json.dumps(label)}]]")))
    assert found, label
    found.click()


def field(driver, label: str):
    """A text input, by its label, once the page has drawn it."""
    found = wait(lambda: driver.find_element(*by("CSS_SELECTOR", f"input[aria-label={json.dumps(label)}]")))
    assert found, label
    return found


def alerts(driver) -> list[str]:
    return [a.text for a in driver.find_elements(*by("CSS_SELECTOR", "[data-testid='stAlert']"))]


def tables(driver) -> list[list[list[str]]]:
    """Every st.table on the page: its rows' cell texts, the header row first."""
    return [[[cell.text.strip() for cell in row.find_elements(*by("XPATH", "./th|./td"))]
             for row in table.find_elements(*by("TAG_NAME", "tr"))]
            for table in driver.find_elements(*by("CSS_SELECTOR", "[data-testid='stTable'] table"))]


def metrics(driver, label: str) -> list[str]:
    """Every metric's value under ``label`` (a page may show one per currency)."""
    return [box.find_element(*by("CSS_SELECTOR", "[data-testid='stMetricValue']")).text.strip()
            for box in driver.find_elements(*by("CSS_SELECTOR", "[data-testid='stMetric']"))
            if box.find_element(*by("CSS_SELECTOR", "[data-testid='stMetricLabel']")).text.strip() == label]


def percent(weight: float) -> str:
    return f"{weight * 100:.1f}%"


def send(stack: Stack, signal_id: str, ticker: str, price: float) -> str:
    answer = requests.post(stack.webhook, timeout=30, json={
        "strategy_id": "momentum_us", "passphrase": DEMO_PASSPHRASES["momentum_us"], "ticker": ticker,
        "action": "buy", "quantity": 1, "price": price, "order_type": "market", "signal_id": signal_id})
    assert answer.status_code == 202, answer.text
    return answer.json()["signal_id"]


def test_the_admin_finds_a_signal_sent_now_and_opens_its_journey(stack: Stack, browser):
    sent = send(stack, "browser-admin-find-me", "MSFT", 420.0)
    assert wait(lambda: (stack.store.get(Collections.SIGNALS, sent) or {}).get("status") == "decided", 60)
    log_in(browser, stack.dashboards, ADMIN)
    go(browser, "System health")
    link = wait(lambda: browser.find_element(*by("XPATH", "//a[.//p[starts-with(text(), 'Signals in flight: ')]]")))
    assert link, browser.page_source[:500]
    link.click()  # the in-flight signals: none once everything is decided
    assert wait(lambda: browser.find_element(*by("TAG_NAME", "h1")).text == "Signals")
    assert wait(lambda: field(browser, "Status").get_attribute("value") == "in flight (open)")
    assert wait(lambda: any(a.startswith("No signal matches these filters.") for a in alerts(browser)))
    stack.shoot(browser, "admin_signals_in_flight")

    go(browser, "Signal journey")
    go(browser, "Signals")  # from the sidebar: no filter
    assert wait(lambda: browser.find_elements(*by("XPATH", f"//a[.//p[text()='{sent}']]")))
    symbol = field(browser, "Symbol")
    symbol.send_keys("msft\n")
    assert wait(lambda: "1 signal(s) match" in browser.page_source)
    stack.shoot(browser, "admin_signals_msft")
    browser.find_element(*by("XPATH", f"//a[.//p[text()='{sent}']]")).click()
    assert wait(lambda: browser.find_element(*by("TAG_NAME", "h1")).text == "Signal journey")
    assert wait(lambda: field(browser, "Signal id").get_attribute("value") == sent)
    assert wait(lambda: browser.find_element(*by("TAG_NAME", "h3")).text == "buy MSFT for momentum_us: decided")
    stack.shoot(browser, "admin_signal_journey")


def test_an_approval_shows_the_diff_and_changes_only_the_chosen_account(stack: Stack, browser):
    before = stack.store.get(Collections.ALLOCATION, CURRENT_ALLOCATION_DOC)
    log_in(browser, stack.dashboards, ADMIN)
    go(browser, "Strategies & allocation")
    assert wait(lambda: f"Allocation in force: version {before['version']}" in browser.page_source)
    button(browser, "Run").click()
    assert wait(lambda: "Proposal pt_" in browser.page_source, 90)
    proposed = stack.store.query(Collections.PORTFOLIO_TESTS, order_by="created_at", descending=True, limit=1)[0]
    new_a = {s: w for s, w in proposed["weights"].items() if w > 1e-9}

    button(browser, "Approve as the next allocation").click()  # no account chosen yet: none is preselected
    assert wait(lambda: "Choose at least one account: nothing was approved." in alerts(browser))
    assert stack.store.get(Collections.ALLOCATION, CURRENT_ALLOCATION_DOC) == before

    chooser = browser.find_element(*by("XPATH", "//div[@data-testid='stMultiSelect']"
                                                "[.//p[text()='Accounts to apply this allocation to']]//input"))
    from selenium.webdriver.common.keys import Keys

    chooser.send_keys("DEMO-CLIENT-A\n")
    assert wait(lambda: any(t[0][-3:] == ["current", "new", "change"] for t in tables(browser)))
    diff = next(t for t in tables(browser) if t[0][-3:] == ["current", "new", "change"])
    old_a = before["weights"]["DEMO-CLIENT-A"]
    assert sorted(tuple(row) for row in diff[1:]) == sorted(
        ("DEMO-CLIENT-A", s, percent(old_a.get(s, 0.0)), percent(new_a.get(s, 0.0)),
         f"{(new_a.get(s, 0.0) - old_a.get(s, 0.0)) * 100:+.1f} pp") for s in set(old_a) | set(new_a))
    assert "Unchanged: DEMO-CLIENT-B." in browser.page_source
    chooser.send_keys(Keys.ESCAPE)  # close the account list, then show the diff in the screenshot
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})",
                           browser.find_elements(*by("CSS_SELECTOR", "[data-testid='stTable']"))[-1])
    stack.shoot(browser, "admin_approval_diff")

    tick(browser, "I have reviewed these changes and approve them for the chosen accounts")
    button(browser, "Approve as the next allocation").click()
    version = before["version"] + 1
    assert wait(lambda: f"Approved: allocation version {version} for DEMO-CLIENT-A." in alerts(browser), 60)
    assert wait(lambda: browser.find_element(*by("TAG_NAME", "h3")).text == f"Allocation in force: version {version}")
    after = stack.store.get(Collections.ALLOCATION, CURRENT_ALLOCATION_DOC)
    assert after["version"] == version and after["weights"]["DEMO-CLIENT-A"] == new_a
    assert after["weights"]["DEMO-CLIENT-B"] == before["weights"]["DEMO-CLIENT-B"]
    header, *rows = wait(lambda: tables(browser)[0])  # read again if the page redraws meanwhile
    shown = {row[0]: dict(zip(header[-(len(row) - 1):], row[1:], strict=True)) for row in rows}
    assert {s: shown["DEMO-CLIENT-B"][s] for s in before["weights"]["DEMO-CLIENT-B"]} == {
        s: percent(w) for s, w in before["weights"]["DEMO-CLIENT-B"].items()}
    assert {s: shown["DEMO-CLIENT-A"][s] for s in new_a} == {s: percent(w) for s, w in new_a.items()}
    stack.shoot(browser, "admin_approval_done")


def test_the_kill_switch_refuses_an_empty_reason_then_reads_on_with_the_reason(stack: Stack, browser):
    log_in(browser, stack.dashboards, ADMIN)
    go(browser, "Kill switch")
    assert wait(lambda: metric(browser, "Kill switch") == "off")
    assert any(a.startswith("Kill switch is OFF") for a in alerts(browser))
    tick(browser, "Stop all new risk")
    tick(browser, "I understand this changes trading for every account and strategy")
    button(browser, "Apply").click()
    assert wait(lambda: "A reason is required: the kill switch was not changed." in alerts(browser))
    assert not (stack.store.get(Collections.SETTINGS, KILL_SWITCH_DOC) or {}).get("enabled")
    assert metric(browser, "Kill switch") == "off"
    stack.shoot(browser, "admin_kill_switch_refused")

    field(browser, "Reason (required)").send_keys("browser drill")
    button(browser, "Apply").click()
    assert wait(lambda: metric(browser, "Kill switch") == "ON")
    banner = next(a for a in alerts(browser) if "Kill switch is ON: all new risk is stopped." in a)
    assert "Reason: browser drill." in banner and "Turned on by admin at" in banner
    assert "Kill switch turned ON." in alerts(browser)
    stored = stack.store.get(Collections.SETTINGS, KILL_SWITCH_DOC)
    assert stored["enabled"] is True and stored["reason"] == "browser drill"
    height = browser.execute_script(
        "return document.querySelector(\"[data-testid='stMainBlockContainer']\").scrollHeight")
    assert 300 < height < 2500, height  # the page, without screens of streamlit's help text
    stack.shoot(browser, "admin_kill_switch_on")


def test_the_blotter_cancels_a_resting_order_and_positions_show_the_apis_totals(stack: Stack, browser):
    api = stack.webhook.removesuffix("/webhook")
    headers = {"Authorization": f"Bearer {ADMIN}"}
    released = requests.post(f"{api}/api/admin/kill-switch", headers=headers, timeout=30,
                             json={"enabled": False, "reason": "drill over"})  # another test may have thrown it
    assert released.status_code == 200, released.text
    held = send(stack, "browser-admin-held", "AAPL", 190.0)  # something to hold, so totals are not all zero
    assert wait(lambda: stack.store.query(Collections.CONFIRMATIONS, where={"signal_id": held}), 60)
    answer = requests.post(stack.webhook, timeout=30, json={
        "strategy_id": "momentum_us", "passphrase": DEMO_PASSPHRASES["momentum_us"], "ticker": "SPY",
        "action": "buy", "quantity": 10, "order_type": "limit", "limit_price": 400.0, "signal_id": "browser-dip"})
    assert answer.status_code == 202, answer.text

    def working() -> list[dict]:
        return requests.get(f"{api}/api/orders", headers=headers, timeout=30).json()["orders"]

    assert wait(lambda: working(), 60)
    resting = working()
    log_in(browser, stack.dashboards, ADMIN)
    go(browser, "Order blotter")
    assert wait(lambda: f"{len(resting)} working order(s), oldest first." in browser.page_source)
    target = resting[0]["client_order_id"]
    field(browser, "Order").send_keys(f"{target}\n")
    tick(browser, "Cancel this order at its broker")
    button(browser, "Cancel order").click()
    assert wait(lambda: any(a.startswith("Cancel sent for buy ") and target in a for a in alerts(browser)))
    assert wait(lambda: f"{len(resting) - 1} working order(s)" in browser.page_source
                or (len(resting) == 1 and "No working orders" in browser.page_source), 30)
    at_broker = stack.store.get(broker_mock.ORDERS, f"{resting[0]['account_id']}:{target}")
    assert at_broker and at_broker["update"]["status"] == "cancelled"
    stack.shoot(browser, "admin_blotter_cancelled")

    go(browser, "Positions & P&L")
    book = requests.get(f"{api}/api/positions", headers=headers, timeout=30).json()
    assert book["by_currency"], "the fund holds nothing: the page would prove nothing"
    values = {f"{fund['market_value']:,.2f} {fund['currency']}" for fund in book["by_currency"]}
    realized = {f"{fund['realized_pnl']:+,.2f} {fund['currency']}" for fund in book["by_currency"]}
    assert wait(lambda: values <= set(metrics(browser, "Market value"))), metrics(browser, "Market value")
    assert realized <= set(metrics(browser, "Realized P&L"))
    stack.shoot(browser, "admin_positions")
