"""The signal journey log: one line per step a signal takes.

Locally it is ``logs/signal_processing.log`` in the seed's format
``Timestamp | [SERVICE] | Message``; in the cloud, one JSON object per line on
stdout carrying the signal id, which Cloud Logging indexes.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

_LOGGER = logging.getLogger("mathematricks.journey")


class _SeedFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        return f"{stamp} | [{getattr(record, 'service', 'SYSTEM')}] | {record.getMessage()}"


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
