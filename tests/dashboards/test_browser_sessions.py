"""Dashboard sessions and errors in a real browser (headless Chromium), at the shipped
settings: a refresh keeps you logged in on the same page, a deep link opens its page after
the login, a revoked API key ends the open session within a minute, and an API that goes
away gives one sentence for a person, never a traceback. Screenshots go to pytest's tmp dir."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from dashboards_streamlit import session
from devstack.embedded import create_app
from devstack.processes import free_port, start_dashboards
from shared.adapters.bus_inprocess import InProcessBus
from shared.adapters.store_sqlite import SqliteStore
from shared.auth.api_keys import ApiKeys
from shared.bootstrap import build_services
from shared.config import Settings
from shared.demo import DEMO_API_KEYS
from tests.dashboards.test_browser import (  # noqa: F401 - browser and stack are the shared fixtures
    CHROMEDRIVER,
    CHROMIUM,
    browser,
    stack,
    wait,
)

browser_only = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="SKIPPED: Debian's chromium and chromium-driver are not installed; the session browser tests did not run")
ADMIN = DEMO_API_KEYS["admin", "admin"]
LOGIN_FIELD = "input[type='password']"


def shoot(driver, tmp_path: Path, name: str) -> Path:
    """A screenshot kept with the test's tmp dir, its path printed for whoever reads the run."""
    path = tmp_path / f"{name}.png"
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path


def heading(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "h1").text


def logged_in_on(driver, title: str) -> bool:
    """The page titled ``title`` is shown to a logged-in user (a Log out button, no login form)."""
    from selenium.webdriver.common.by import By

    return (heading(driver).startswith(title)
            and bool(driver.find_elements(By.XPATH, "//button[.//p[text()='Log out']]"))
            and not driver.find_elements(By.CSS_SELECTOR, LOGIN_FIELD))


def submit_login(driver, token: str) -> None:
    """Log in on the login form already shown (unlike test_browser.log_in, which opens the root)."""
    from selenium.webdriver.common.by import By

    field = wait(lambda: driver.find_element(By.CSS_SELECTOR, LOGIN_FIELD))
    assert field, driver.page_source[:500]
    field.send_keys(token)
    driver.find_element(By.XPATH, "//button[.//p[text()='Log in']]").click()


def go_to(driver, title: str) -> None:
    from selenium.webdriver.common.by import By

    link = wait(lambda: driver.find_element(
        By.XPATH, f"//a[@data-testid='stSidebarNavLink'][.//span[@label='{title}']]"))
    assert link, title
    link.click()
    assert wait(lambda: logged_in_on(driver, title)), heading(driver)


def errors_shown(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    return [box.text for box in driver.find_elements(By.CSS_SELECTOR, "[data-testid='stAlertContentError']")]


@browser_only
def test_a_refresh_keeps_you_logged_in_on_the_same_page(stack, browser, tmp_path):  # noqa: F811
    url, _ = stack
    browser.get(url)
    submit_login(browser, ADMIN)
    assert wait(lambda: browser.find_elements("xpath", "//button[.//p[text()='Log out']]"))
    go_to(browser, "Kill switch")
    assert wait(lambda: f"{session.SESSION_PARAM}=" in browser.current_url), browser.current_url
    assert "mt_" not in browser.current_url  # the URL carries the signed session, never the API key
    before = browser.current_url
    browser.refresh()
    assert wait(lambda: logged_in_on(browser, "Kill switch")), heading(browser)
    assert browser.current_url.split("?")[0] == before.split("?")[0]
    shoot(browser, tmp_path, "refreshed_kill_switch")

    browser.get(before.split("?")[0])  # the same page without the token: a new visitor must log in
    assert wait(lambda: browser.find_elements("css selector", LOGIN_FIELD))
    shoot(browser, tmp_path, "without_token")


@browser_only
def test_a_deep_link_opens_its_page_after_the_login(stack, browser, tmp_path):  # noqa: F811
    url, _ = stack
    browser.get(f"{url}/admin_accounts")
    assert wait(lambda: browser.find_elements("css selector", LOGIN_FIELD))
    time.sleep(1)  # a "Page not found" dialog would be up by now
    assert "Page not found" not in browser.page_source
    shoot(browser, tmp_path, "deep_link_login")
    submit_login(browser, ADMIN)
    assert wait(lambda: logged_in_on(browser, "Accounts & reconciliation")), heading(browser)
    assert "/admin_accounts" in browser.current_url and "Page not found" not in browser.page_source
    shoot(browser, tmp_path, "deep_link_after_login")

    token = browser.current_url.split(f"{session.SESSION_PARAM}=")[1].split("&")[0]
    browser.get(f"{url}/admin_controls?{session.SESSION_PARAM}={token}")  # a logged-in deep link: straight there
    assert wait(lambda: logged_in_on(browser, "Kill switch")), heading(browser)
    shoot(browser, tmp_path, "deep_link_logged_in")


@browser_only
def test_a_revoked_key_ends_the_open_session_within_a_minute(stack, browser, tmp_path):  # noqa: F811
    url, store = stack
    keys = ApiKeys(store)
    key, token = keys.issue("admin", "admin", label="revoked in a browser test")
    browser.get(url)
    submit_login(browser, token)
    assert wait(lambda: logged_in_on(browser, "System health")), heading(browser)
    go_to(browser, "Accounts & reconciliation")  # an open page that only refreshes its fragments
    shoot(browser, tmp_path, "before_revocation")
    keys.revoke(key.key_id)
    revoked_at = time.monotonic()
    assert wait(lambda: browser.find_elements("css selector", LOGIN_FIELD), 65), "still logged in after 65 s"
    took = time.monotonic() - revoked_at
    print(f"logged out {took:.1f} s after the revocation")
    shoot(browser, tmp_path, "after_revocation")
    assert took < 60, f"logged out {took:.0f} s after the revocation"
    assert wait(lambda: "Your API key has been revoked" in browser.page_source)
    assert session.RECHECK_SECONDS <= 30  # the shipped interval is the one this test ran with

    browser.refresh()  # the revoked session's link no longer opens anything
    assert wait(lambda: browser.find_elements("css selector", LOGIN_FIELD))
    assert not browser.find_elements("xpath", "//button[.//p[text()='Log out']]")


class VanishingApi:
    """The trading API on the stack's own store, served from this test so it can stop it."""

    def __init__(self, sqlite_path: str, log_dir: Path):
        settings = Settings(sqlite_path=sqlite_path, log_dir=log_dir)
        self.services = build_services(settings, store=SqliteStore(sqlite_path), bus=InProcessBus(0.01))
        self.server = make_server("127.0.0.1", 0, create_app(self.services), threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def dashboards_with_vanishing_api(stack, tmp_path) -> Iterator[tuple[str, VanishingApi]]:  # noqa: F811
    """A second dashboards process whose MT_API_URL is an API this test stops when it likes."""
    _, store = stack
    path = store._connection.execute("PRAGMA database_list").fetchone()[2]  # the stack's own SQLite file
    api = VanishingApi(path, tmp_path / "api-logs")
    env = {**os.environ, "MT_API_URL": api.url, "MT_LOG_DIR": str(tmp_path / "logs")}
    port = free_port()
    process = start_dashboards(port, env, tmp_path / "logs")
    try:
        yield f"http://127.0.0.1:{port}", api
    finally:
        process.stop()
        api.stop()
        api.services.close()


@browser_only
def test_an_unreachable_api_gives_one_friendly_sentence(dashboards_with_vanishing_api, browser, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By

    url, api = dashboards_with_vanishing_api
    browser.get(url)
    submit_login(browser, ADMIN)
    assert wait(lambda: logged_in_on(browser, "System health"))
    api.stop()  # the API goes away under an open session
    for title, name in (("Kill switch", "api_down_kill_switch"), ("Strategies & allocation", "api_down_portfolio")):
        link = browser.find_element(By.XPATH, f"//a[@data-testid='stSidebarNavLink'][.//span[@label='{title}']]")
        link.click()
        assert wait(lambda page=title: heading(browser).startswith(page) and errors_shown(browser)), title
        time.sleep(1.5)  # the page has finished its run: nothing stale from the last page is left
        shoot(browser, tmp_path, name)
        [shown] = errors_shown(browser)
        assert_one_friendly_sentence(browser, shown, api.url)

    browser.find_element(By.XPATH, "//button[.//p[text()='Log out']]").click()
    submit_login(browser, ADMIN)  # nobody can log in while the API that checks keys is away
    assert wait(lambda: errors_shown(browser))
    shoot(browser, tmp_path, "api_down_login")
    assert_one_friendly_sentence(browser, errors_shown(browser)[0], api.url)


def assert_one_friendly_sentence(driver, shown: str, url: str) -> None:
    assert shown.startswith(f"Could not reach the trading API at {url}"), shown
    assert "python -m devstack up" in shown and "MT_API_URL" in shown
    for raw in ("HTTPConnectionPool", "Connection refused", "Traceback", "Errno", "{'", "unreachable"):
        assert raw not in driver.page_source, (raw, shown)


def test_a_session_token_is_refused_when_changed_or_expired():
    token = session.sign_session("abc", "00000000000000a1", int(time.time()) + 60)
    assert session.verify_session(token) == ("abc", "00000000000000a1")
    session_id, key_id, expires, signature = token.split(".")
    assert session.verify_session(f"{session_id}.00000000000000d2.{expires}.{signature}") is None  # another key
    assert session.verify_session(f"{session_id}.{key_id}.{int(expires) + 3600}.{signature}") is None  # longer
    assert session.verify_session(token, at=int(expires) + 1) is None  # expired
    assert session.verify_session("mt_00000000000000a1.secret") is None


@pytest.mark.parametrize(("method", "status", "body", "expected"), [
    ("GET", 503, {"error": "unreachable", "field": "MT_API_URL"}, "Could not reach the trading API at http://h"),
    ("POST", 503, {"error": "unreachable", "field": "MT_API_URL"}, "(nothing was changed)"),
    ("POST", 422, {"error": "invalid_field", "field": "confirm", "reason": "type 'FLATTEN ALL' to flatten"},
     "Not done: type 'FLATTEN ALL' to flatten (confirm). Correct it and try again."),
    ("GET", 401, {"error": "unauthenticated", "field": "authorization", "reason": "revoked"}, "log in with a current"),
    ("GET", 500, None, "HTTP 500 without a readable reply"),
    ("POST", 503, {"error": "unavailable", "field": "x", "reason": "bus down"}, "failed while trying to make this"),
])
def test_every_failure_is_one_sentence_for_a_person(method, status, body, expected):
    message = session.problem(method, status, body, "http://h")["message"]
    assert expected in message
    assert message.endswith(".") and "\n" not in message and "{" not in message


def test_the_flatten_result_reads_as_a_sentence():
    said = session.describe_flatten({"flattening": {"momentum_us": "sig_1", "fx_carry": "sig_2"}})
    assert said.startswith("Flatten submitted for 2 strategies: fx_carry (signal sig_2), momentum_us (signal sig_1).")
    assert "{" not in said
    assert "nothing to close" in session.describe_flatten({"flattening": {}})
