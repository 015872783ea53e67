"""A client's pages in headless Chromium, on a desktop (1440x900) and a phone (390x844):
the investor numbers on screen equal those computed from the store, chart axes never
repeat a label, an empty daily P&L says why, and no table scrolls sideways on the phone.
Screenshots are saved under the test's temporary directory; their paths are printed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dashboards_streamlit import formatting as fmt
from shared.dashboards.documents import client_document
from shared.demo import DEMO_API_KEYS
from shared.domain.models import Collections
from tests.dashboards.test_browser import CHROMEDRIVER, CHROMIUM, log_in, metric, stack, wait

__all__ = ["stack"]  # the running stack and its store, shared with the other browser tests' fixture
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="SKIPPED: Debian's chromium and chromium-driver are not installed; the client browser test did not run")
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.0 Mobile/15E148 Safari/604.1")
# Each labelled axis's labels (vega-lite also draws grid-only axes, which have none).
AXES = """return Array.from(document.querySelectorAll('g.role-axis')).map(axis =>
    Array.from(axis.querySelectorAll('g.role-axis-label text')).map(t => t.textContent))
    .filter(labels => labels.length > 0);"""
SIDEWAYS = """const page = document.documentElement.scrollWidth > window.innerWidth + 1;
const tables = Array.from(document.querySelectorAll("[data-testid='stDataFrame'] .dvn-scroller"))
    .filter(s => s.scrollWidth > s.clientWidth + 1).length;
return [page, tables, document.querySelectorAll("[data-testid='stDataFrame']").length];"""


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


def chromium(width: int, height: int, phone: bool) -> object:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}"):
        options.add_argument(argument)
    if phone:  # a phone's viewport and user agent, as the page sees them
        options.add_experimental_option("mobileEmulation", {
            "deviceMetrics": {"width": width, "height": height, "pixelRatio": 3.0}, "userAgent": IPHONE})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture(params=[(1440, 900, False), (390, 844, True)], ids=["desktop", "phone"])
def screen(request: pytest.FixtureRequest) -> Iterator[tuple[object, str]]:
    width, height, phone = request.param
    driver = chromium(width, height, phone)
    yield driver, request.node.callspec.id
    driver.quit()


def go(driver, title: str) -> None:
    """Open a page from the sidebar, expanding it first where it starts collapsed (a phone)."""
    from selenium.webdriver.common.by import By

    xpath = f"//a[@data-testid='stSidebarNavLink'][.//span[@label='{title}']]"
    if not any(link.is_displayed() for link in driver.find_elements(By.XPATH, xpath)):
        for opener in driver.find_elements(By.CSS_SELECTOR, "[data-testid='stExpandSidebarButton'], "
                                                            "[data-testid='stSidebarCollapsedControl'] button"):
            if opener.is_displayed():
                opener.click()
                break
    link = wait(lambda: next(a for a in driver.find_elements(By.XPATH, xpath) if a.is_displayed()), 15)
    if link:  # a role with one page has no navigation: it is already open
        link.click()
    assert wait(lambda: driver.find_element(By.TAG_NAME, "h1").text.startswith(title)), title
    if driver.get_window_size()["width"] < 640:  # the phone's sidebar covers the page: close it again
        for closer in driver.find_elements(By.CSS_SELECTOR, "[data-testid='stSidebarCollapseButton'] button"):
            if closer.is_displayed():
                closer.click()


def save(driver, shots: Path, name: str) -> None:
    time.sleep(1.5)  # let the charts draw
    path = shots / f"{name}.png"
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")


def text(driver) -> str:
    """What the page shows, as a person reads it (the HTML source escapes "&")."""
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def expected(store) -> dict:
    [account] = client_document(store, "client_a", datetime.now(UTC))["accounts"]
    return account


def add_history(store) -> None:
    """Earlier today's quarter hours (as the poller records them), so the equity and drawdown
    charts have a span to label: a 900 USD range on a million, the kind that read "1M 1M 1M"."""
    now = datetime.now(UTC)
    minutes = min(60.0, (now - now.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds() / 60 - 1)
    for step, equity in enumerate([1_000_000.0, 1_000_400.0, 999_700.0, 1_000_900.0]):
        at = now - timedelta(minutes=minutes * (4 - step) / 4)
        store.put(Collections.ACCOUNT_HISTORY, f"DEMO-CLIENT-A|test-{step}",
                  {"account_id": "DEMO-CLIENT-A", "at": at.isoformat(), "equity": equity})


def test_a_client_sees_their_pnl_return_and_market_value(stack, screen, shots):
    from selenium.webdriver.common.by import By

    url, store = stack
    driver, size = screen
    add_history(store)
    log_in(driver, url, DEMO_API_KEYS["client", "client_a"])
    go(driver, "My accounts")

    def shown_equals_stored() -> bool:
        account = expected(store)
        currency = account["currency"]
        return (metric(driver, "Equity") == fmt.money(account["equity"], currency)
                and metric(driver, "P&L today") == fmt.money(account["pnl_today"], currency, signed=True)
                and metric(driver, "P&L since inception") == fmt.money(account["pnl_since_inception"], currency,
                                                                       signed=True)
                and metric(driver, "Return since inception") == fmt.percent(account["return_since_inception"],
                                                                            signed=True)
                and metric(driver, "Market value of positions") == fmt.money(account["market_value"], currency)
                and metric(driver, "Unrealized P&L") == fmt.money(account["unrealized_pnl"], currency,
                                                                  signed=True))

    assert wait(shown_equals_stored, 60), [metric(driver, label) for label in (
        "Equity", "P&L today", "P&L since inception", "Return since inception", "Market value of positions")]
    account = expected(store)
    assert account["market_value"] and account["positions"]  # the sample signals left positions to value

    # A stack started today has one day of history: the daily P&L explains itself.
    assert wait(lambda: "Daily P&L appears here after the account's second day" in text(driver))
    assert wait(lambda: len(driver.execute_script(AXES)) >= 4, 30), driver.get_log("browser")  # equity, drawdown: x, y
    for labels in driver.execute_script(AXES):
        assert len(labels) >= 2 and len(labels) == len(set(labels)), labels
    print("axis labels:", driver.execute_script(AXES))
    legend = " ".join(t.text for t in driver.find_elements(By.CSS_SELECTOR, "g.role-legend-label text"))
    for row in account["allocation"]:
        assert f"{row['strategy']}: {fmt.percent(row['share'], 1)}" in legend, legend
    if size == "phone":  # metrics stacked: one column, each below the last
        boxes = driver.find_elements(By.CSS_SELECTOR, "[data-testid='stMetric']")[:4]
        lefts, tops = [b.rect["x"] for b in boxes], [b.rect["y"] for b in boxes]
        assert max(lefts) - min(lefts) < 2 and tops == sorted(tops) and len(set(tops)) == 4, (lefts, tops)
    save(driver, shots, f"client_overview_{size}")
    assert driver.execute_script(SIDEWAYS)[0] is False  # the page itself never scrolls sideways

    go(driver, "Positions & fills")
    caption = (f"Market value {fmt.money(account['market_value'], account['currency'])} · unrealized P&L "
               f"{fmt.money(account['unrealized_pnl'], account['currency'], signed=True)}")
    assert wait(lambda: caption in text(driver), 30), text(driver)
    assert wait(lambda: driver.execute_script(SIDEWAYS)[2] >= 2, 30)
    time.sleep(1)
    page_scrolls, tables_scrolling, _ = driver.execute_script(SIDEWAYS)
    assert page_scrolls is False
    if size == "phone":
        assert tables_scrolling == 0
    save(driver, shots, f"client_positions_{size}")
