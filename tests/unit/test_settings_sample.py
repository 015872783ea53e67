""".env.sample documents every setting the code reads, and copying it changes nothing."""

from __future__ import annotations

import re

from dotenv import dotenv_values

from devstack.processes import REPO_ROOT
from shared.config import CLOUD_SETTINGS, GATEWAY_SETTINGS, LOCAL_ONLY_SETTINGS, SECRET_SETTINGS, Settings

SAMPLE = REPO_ROOT / ".env.sample"
CODE_FOLDERS = ("shared", "devstack", "functions", "gateway_vm", "dashboards_streamlit")
# os.environ.get("X"), os.environ["X"], os.getenv("X"), env.get("X"), env["X"], number("X")
READ = re.compile(r'(?:environ\.get|environ\[|getenv\(|env\.get|env\[|number)\(?\s*[\'"]([A-Z][A-Z0-9_]+)[\'"]')
NOT_SETTINGS = {"MT_ENV_FILE"}  # names the file itself: documented in the sample's header, not as a line


def documented() -> set[str]:
    """Names the sample assigns, commented out or not."""
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", SAMPLE.read_text(), re.MULTILINE))


def read_by_the_code() -> set[str]:
    names: set[str] = set()
    for folder in CODE_FOLDERS:
        for path in (REPO_ROOT / folder).rglob("*.py"):
            names |= set(READ.findall(path.read_text()))
    return names


def test_every_setting_the_code_reads_is_in_the_sample_with_a_comment():
    names = read_by_the_code() | {*CLOUD_SETTINGS, *SECRET_SETTINGS, *GATEWAY_SETTINGS, *LOCAL_ONLY_SETTINGS}
    assert {"LOG_LEVEL", "MT_API_URL", "IBKR_POLL_SECONDS", "MAX_ORDER_NOTIONAL"} <= names  # the scan works
    assert names - NOT_SETTINGS - documented() == set()
    assert "MT_ENV_FILE" in SAMPLE.read_text()
    lines = SAMPLE.read_text().splitlines()
    for number, line in enumerate(lines):
        if re.match(r"^#?\s*[A-Z][A-Z0-9_]+=", line):
            above = lines[number - 1]
            assert above.startswith("#"), f"{line!r} has no comment above it"


def test_copying_the_sample_gives_the_shipped_defaults():
    values = {k: v for k, v in dotenv_values(SAMPLE).items() if v is not None}
    assert Settings.from_env(values) == Settings()


def test_the_sample_holds_no_secret():
    values = dotenv_values(SAMPLE)
    for name in (*SECRET_SETTINGS, "MONGODB_URI", "MT_API_KEY", "IMAP_PASSWORD"):
        assert values.get(name, "") == "", name
