"""The signal journey log: one line per step a signal takes.

Locally it is ``logs/signal_processing.log`` in the operators' long-standing format
``Timestamp | [SERVICE] | Message``; in the cloud, one JSON object per line on
stdout carrying the signal id, which Cloud Logging indexes.

Every field of a local line is escaped: alert text (a ticker, a strategy id, a reason
quoting them) reaches the log, and a raw newline in it would forge a line of its own.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

_LOGGER = logging.getLogger("mathematricks.journey")


def _escape_table() -> dict[int, str]:
    """A backslash is doubled, so an escape in the log always means the character was there.
    Escaped: C0, DEL and C1 controls, Unicode line and paragraph separators, bidi overrides
    (they reorder what a reader sees), and lone surrogates (UTF-8 cannot write them)."""
    table = {ord("\\"): "\\\\", ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"}
    for code in [*range(0x20), *range(0x7F, 0xA0)]:
        table.setdefault(code, f"\\x{code:02x}")
    for code in [0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0xFEFF, *range(0xD800, 0xE000)]:
        table[code] = f"\\u{code:04x}"
    return table


_ESCAPES = _escape_table()


def escape(text: object) -> str:
    """``text`` on one visible line: control characters written as backslash escapes."""
    return str(text).translate(_ESCAPES)


class _SeedFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        service = escape(getattr(record, "service", "SYSTEM"))
        return f"{stamp} | [{service}] | {escape(record.getMessage())}"


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({
            "severity": record.levelname,
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "service": getattr(record, "service", "SYSTEM"),
            "signal_id": getattr(record, "signal_id", None),
            "message": record.getMessage(),
        })


def configure(log_dir: Path, structured: bool) -> None:
    """Point the journey log at ``log_dir`` (or stdout as JSON); idempotent per target."""
    target = "stdout" if structured else str((log_dir / "signal_processing.log").resolve())
    if getattr(_LOGGER, "_mt_target", None) == target:
        return
    for old in list(_LOGGER.handlers):
        _LOGGER.removeHandler(old)
        old.close()
    _LOGGER._mt_target = target  # type: ignore[attr-defined]
    if structured:
        handler: logging.Handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(_JsonFormatter())
    else:
        log_dir.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_dir / "signal_processing.log", encoding="utf-8")
        handler.setFormatter(_SeedFormatter())
    _LOGGER.addHandler(handler)
    _LOGGER.setLevel(logging.INFO)
    _LOGGER.propagate = False


class Journey:
    """Logs journey steps for one service (WEBHOOK, CEREBRO, EXECUTION, ...)."""

    def __init__(self, service: str):
        self.service = service

    def step(self, signal_id: str, message: str) -> None:
        _LOGGER.info("%s: %s", signal_id, message, extra={"service": self.service, "signal_id": signal_id})
