"""Headless Chromium timing of the Streamlit dashboards, for bench.dashboard_render.

Times are taken inside the page (``performance.now()``, polled every 10 ms), so WebDriver's
round trips do not count. A page counts as rendered when all of these hold:
  - the app's script has finished (``stApp[data-test-script-state=notRunning]``: Streamlit's
    status widget appears only after 500 ms of running, so its absence proves nothing);
  - no element of the previous run is left (``data-stale``) and no lazy component is still a
    skeleton (``stSkeleton``);
  - the page's ``h1`` is the expected title;
  - every Altair chart has drawn its marks and every dataframe its grid canvas;
  - the page's own content (its metrics, tables, forms: ``MARKERS``) is present.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
LOGIN_TITLE = "Mathematricks Trader"
TIMEOUT_SECONDS = 90.0
DATAFRAME, METRIC, CHART = ('[data-testid="stDataFrame"]', '[data-testid="stMetricValue"]',
                            '[data-testid="stVegaLiteChart"]')
FORM, TABLE = '[data-testid="stForm"]', '[data-testid="stTable"]'
# What each page shows once its data is in (from dashboards_streamlit/views); a page not listed
# here (added since) is timed on the generic conditions alone.
MARKERS: dict[str, list[str]] = {
    LOGIN_TITLE: ['input[type="password"]'],
    "System health": [DATAFRAME, METRIC],
    "Signals": ['[data-testid^="stPageLink"]'],
    "Signal journey": ['[data-testid="stTextInput"]', "h3"],
    "Strategies & allocation": [DATAFRAME, TABLE, FORM],
    "Order blotter": [FORM],
    "Positions & P&L": ["h3"],
    "Accounts & reconciliation": [DATAFRAME],
    "Kill switch": [METRIC, FORM],
    "My accounts": [METRIC, CHART],
    "Positions & fills": [DATAFRAME],
    "My strategies": [METRIC, DATAFRAME, CHART],
}

# ready(title, markers): the rendered page's h1, or "" while it is not rendered. title null:
# any page but the login page (the page a login lands on is the role's first).
_READY = f"const LOGIN = {json.dumps(LOGIN_TITLE)};" + """
function ready(title, markers) {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return '';
  if (document.querySelector('[data-stale="true"], [data-testid="stSkeleton"]')) return '';
  const main = document.querySelector('[data-testid="stMain"]');
  const h1 = main && main.querySelector('h1');
  const text = h1 ? h1.textContent.trim() : '';
  if (!text || (title ? !text.startsWith(title) : text.startsWith(LOGIN))) return '';
  for (const chart of main.querySelectorAll('[data-testid="stVegaLiteChart"]'))
    if (!chart.querySelector('.marks')) return '';
  for (const grid of main.querySelectorAll('[data-testid="stDataFrame"]'))
    if (!grid.querySelector('[data-testid="data-grid-canvas"]')) return '';
  const page = Object.keys(markers).find(t => text.startsWith(t));
  for (const selector of (page ? markers[page] : [])) if (!main.querySelector(selector)) return '';
  return text;
}
function state() {
  const app = document.querySelector('[data-testid="stApp"]');
  const h1 = document.querySelector('[data-testid="stMain"] h1');
  return `script ${app && app.getAttribute('data-test-script-state')}, h1 ${h1 && h1.textContent.trim()}, ` +
         `stale ${document.querySelectorAll('[data-stale="true"]').length}`;
}
function wait(t0, title, markers, timeoutMs, done) {
  (function poll() {
    const got = ready(title, markers);
    const ms = performance.now() - t0;
    if (got) return done({ms: ms, title: got});
    if (ms > timeoutMs) return done({ms: -1, title: state()});
    setTimeout(poll, 10);
  })();
}
"""

# Click a sidebar link (by its label) or a button (by its text), then time until rendered.
_CLICK_AND_WAIT = _READY + """
const [kind, label, title, markers, timeoutMs, done] = arguments;
let target = null;
if (kind === 'link') {
  target = [...document.querySelectorAll('a[data-testid="stSidebarNavLink"]')].find(a =>
    (a.querySelector('span[label]') || {getAttribute: () => null}).getAttribute('label') === label);
} else {
  target = [...document.querySelectorAll('button')].find(b => b.textContent.trim() === label);
}
if (!target) return done({ms: -1, title: `no ${kind} ${label}`});
const t0 = performance.now();
target.click();
wait(t0, title, markers, timeoutMs, done);
"""

# After driver.get: navigation start (performance's time origin) until the login page is rendered.
_LOAD = _READY + """
const [markers, timeoutMs, done] = arguments;
wait(0, LOGIN, markers, timeoutMs, done);
"""

_NAV_LABELS = """
return [...document.querySelectorAll('a[data-testid="stSidebarNavLink"]')].map(a =>
  (a.querySelector('span[label]') || {getAttribute: () => null}).getAttribute('label') || a.innerText.trim());
"""


class NotRendered(RuntimeError):
    """The page did not render within TIMEOUT_SECONDS (the message says what the page showed)."""


@dataclass
class Timed:
    title: str
    seconds: float


class Browser:
    """One headless Chromium, as tests/dashboards/test_browser.py starts it."""

    def __init__(self) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1800"):
            options.add_argument(argument)
        self.driver: Any = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_script_timeout(TIMEOUT_SECONDS + 10)

    def _result(self, answer: dict[str, Any], what: str) -> Timed:
        if answer["ms"] < 0:
            raise NotRendered(f"{what}: not rendered within {TIMEOUT_SECONDS:.0f}s ({answer['title']})")
        return Timed(answer["title"], answer["ms"] / 1000)

    def open_login(self, url: str) -> Timed:
        """A fresh Streamlit session (no ?session= in the URL): the login page, timed from navigation start."""
        self.driver.get(url)
        answer = self.driver.execute_async_script(_LOAD, MARKERS, TIMEOUT_SECONDS * 1000)
        return self._result(answer, "login page")

    def log_in(self, api_key: str) -> Timed:
        """Type the key (untimed), then time Log in -> the role's first page rendered."""
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.CSS_SELECTOR, "input[type='password']").send_keys(api_key)
        answer = self.driver.execute_async_script(_CLICK_AND_WAIT, "button", "Log in", None, MARKERS,
                                                  TIMEOUT_SECONDS * 1000)
        return self._result(answer, "log in")

    def nav_labels(self) -> list[str]:
        """The sidebar's pages in order (empty when the role has one page and so no navigation)."""
        return list(self.driver.execute_script(_NAV_LABELS))

    def switch(self, label: str) -> Timed:
        answer = self.driver.execute_async_script(_CLICK_AND_WAIT, "link", label, label, MARKERS,
                                                  TIMEOUT_SECONDS * 1000)
        return self._result(answer, f"page {label}")

    def quit(self) -> None:
        self.driver.quit()
