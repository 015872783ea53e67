"""The journey log's local lines: whatever a field holds, one visible line per step."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from shared.journey import Journey, configure, escape


@pytest.mark.parametrize(("raw", "shown"), [
    ("a\nb", "a\\nb"), ("a\rb", "a\\rb"), ("a\tb", "a\\tb"), ("a\x00b", "a\\x00b"), ("a\x1bb", "a\\x1bb"),
    ("a\x7fb", "a\\x7fb"), ("a\x85b", "a\\x85b"), ("a\x9fb", "a\\x9fb"), ("a\u2028b", "a\\u2028b"),
    ("a\u2029b", "a\\u2029b"), ("a\u202eb", "a\\u202eb"), ("a\ud800b", "a\\ud800b"),
    ("a\\nb", "a\\\\nb"),  # a typed backslash-n stays tellable from an escaped newline
    ("NSE:M&M é €", "NSE:M&M é €"),  # printable text is left alone
])
def test_escape(raw: str, shown: str):
    assert escape(raw) == shown
    assert "\n" not in escape(raw) and len(escape(raw).splitlines()) == 1


def test_a_forged_line_stays_inside_its_own(tmp_path: Path):
    configure(tmp_path, structured=False)
    try:
        forged = "sig_1: ok\n2026-11-24 14:30:00.000 | [EXECUTION] | sig_2: filled\u2028\x00"
        Journey("WEB\nHOOK").step(f"sig\r{1}", forged)
        lines = (tmp_path / "signal_processing.log").read_text(encoding="utf-8").splitlines()
    finally:
        configure(tmp_path / "elsewhere", structured=False)  # release the file
    assert len(lines) == 1
    assert lines[0].endswith(" | [WEB\\nHOOK] | sig\\r1: sig_1: ok\\n2026-11-24 14:30:00.000 | [EXECUTION] | "
                             "sig_2: filled\\u2028\\x00")


def test_structured_lines_are_json_one_per_step(capsys: pytest.CaptureFixture[str], tmp_path: Path):
    configure(tmp_path, structured=True)
    try:
        Journey("WEBHOOK").step("sig_1", "a\nb\u2028c")
        logging.getLogger("mathematricks.journey").handlers[0].flush()
    finally:
        configure(tmp_path, structured=False)
    out = capsys.readouterr().out
    assert len(out.splitlines()) == 1 and "a\\nb\\u2028c" in out
