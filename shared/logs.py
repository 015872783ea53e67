"""Process logging from settings, configured in one place for every entry point.

The embedded stack, the IBKR bridge and each Cloud Function call :func:`configure_logging`
once, so ``LOG_LEVEL``, ``LOG_FORMAT`` and ``LOG_DIR`` mean the same everywhere:

* console (stderr) always; one JSON object per line when ``MT_STRUCTURED_LOGS`` is on, so
  Cloud Logging reads each record's severity;
* ``<LOG_DIR>/<service>.log`` as well when ``LOG_DIR`` is set, size-bounded by rotation;
* ``LOG_FORMAT=plain`` (``2026-11-24 14:30:00.123 INFO name: message``) or ``original``
  (``|INFO|message|2026-11-24 14:30:00.123|file:embedded.py:line No.52|``).

Every record is exactly one line: control characters in a message (or its traceback) are
escaped, so text from a request cannot forge a log line. The signal journey log
(``shared/journey.py``) does not propagate here and keeps its own file and format.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path

from shared.config import Settings

MAX_LOG_BYTES = 10 * 1024 * 1024  # per file; with the backups, at most ~60 MB per service
LOG_BACKUPS = 5
_OURS = "_mt_configured_by_shared_logs"

# Every C0/C1 control character, DEL and the Unicode line/paragraph separators that line-splitting
# readers honour; the backslash itself so an escaped sequence cannot be faked either.
_ESCAPES: dict[int, str] = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}
_ESCAPES.update({ord("\\"): "\\\\", ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t", 0: "\\0",
                 0x2028: "\\u2028", 0x2029: "\\u2029"})
_PIPE_ESCAPES = {**_ESCAPES, ord("|"): "\\|"}  # the original format's field separator


def escape(text: str, separator: bool = False) -> str:
    """``text`` on one line: control characters (and ``|`` when it separates fields) escaped."""
    return text.translate(_PIPE_ESCAPES if separator else _ESCAPES)


def _stamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


class _OneLineFormatter(logging.Formatter):
    """Shared by both text formats: the message with any traceback, as a single escaped line."""

    def full_message(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            message = f"{message}\n{record.exc_text}"
        if record.stack_info:
            message = f"{message}\n{self.formatStack(record.stack_info)}"
        return message


class PlainFormatter(_OneLineFormatter):
    """``2026-11-24 14:30:00.123 INFO devstack.embedded: message`` (UTC, like the journey log)."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{_stamp(record)} {record.levelname} {record.name}: {escape(self.full_message(record))}"


class OriginalFormatter(_OneLineFormatter):
    """``|LEVEL|Message|Timestamp|file:name.py:line No.N|``: the pipe format operators grep."""

    def format(self, record: logging.LogRecord) -> str:
        message = escape(self.full_message(record), separator=True)
        return f"|{record.levelname}|{message}|{_stamp(record)}|file:{record.filename}:line No.{record.lineno}|"


class JsonFormatter(_OneLineFormatter):
    """One JSON object per line (json.dumps escapes control characters) with Cloud Logging's severity."""

    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({
            "severity": record.levelname, "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "service": self.service, "logger": record.name, "message": self.full_message(record),
            "file": f"{record.filename}:{record.lineno}",
        })


def formatter_for(log_format: str) -> logging.Formatter:
    return OriginalFormatter() if log_format == "original" else PlainFormatter()


def service_log_path(log_dir: Path, service: str) -> Path:
    """``<LOG_DIR>/<service>.log``; the name is reduced to safe characters so it stays inside LOG_DIR."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", service).strip(".") or "service"
    return log_dir / f"{safe}.log"


def configure_logging(service: str, settings: Settings | None = None, level: str | None = None) -> Path | None:
    """Configure the root logger for this process from ``settings`` (read from the environment and
    ``.env`` when not given); ``level`` (e.g. a command-line flag) beats ``LOG_LEVEL``.

    Idempotent: handlers from an earlier call are replaced, other handlers are left alone.
    Returns the service's log file when ``LOG_DIR`` is set.
    """
    settings = Settings.from_env() if settings is None else settings
    chosen = (level or settings.log_level).upper()
    if chosen not in logging.getLevelNamesMapping():
        raise ValueError(f"log level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL; got {chosen!r}")
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(old)
        old.close()
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(JsonFormatter(service) if settings.structured_logs else formatter_for(settings.log_format))
    handlers: list[logging.Handler] = [console]
    path = None
    if settings.service_log_dir is not None:
        path = service_log_path(settings.service_log_dir, service)
        path.parent.mkdir(parents=True, exist_ok=True)
        file = RotatingFileHandler(path, maxBytes=MAX_LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8")
        file.setFormatter(formatter_for(settings.log_format))
        handlers.append(file)
    for handler in handlers:
        setattr(handler, _OURS, True)
        root.addHandler(handler)
    root.setLevel(chosen)
    return path
