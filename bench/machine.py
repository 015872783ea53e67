"""What a benchmark ran on: its figures mean little without it.

Absolute times move threefold between our machines (and with other work on the same cores),
so every bench prints this line beside its figures, and reports ratios measured in one run.
"""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path


def cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
                platform.processor() or "unknown CPU")


def memory_gib() -> float:
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
    except OSError:
        return 0.0
    return next((int(line.split()[1]) / 2**20 for line in lines if line.startswith("MemTotal:")), 0.0)


def load() -> str:
    """The 1, 5 and 15 minute load averages: other work sharing the cores shows here."""
    try:
        return "/".join(f"{value:.1f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def describe() -> str:
    """One line: the CPU, its cores, memory, Python, the load average and the time."""
    return (f"{cpu_model()}, {len(os.sched_getaffinity(0))} cores, {memory_gib():.0f} GiB, "
            f"Python {platform.python_version()}, load {load()} (1/5/15 min), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
