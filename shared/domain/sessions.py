"""Trading sessions from a maintained calendar library (exchange_calendars), never a
hand-written holiday list. Pure given ``now``; calendars are built once per process.

The library and pandas are imported on the first session check, not with this module:
every function imports it, and most (the webhook first) never ask whether a market is open,
so they do not pay their import time at a cold start."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import exchange_calendars


@dataclass(frozen=True)
class SessionStatus:
    open: bool
    next_open: datetime | None  # None when open


@functools.cache
def _calendar(code: str) -> exchange_calendars.ExchangeCalendar:
    import exchange_calendars

    return exchange_calendars.get_calendar(code)


def session_status(calendar: str, now: datetime) -> SessionStatus:
    if calendar == "24/7":
        return SessionStatus(True, None)
    import pandas as pd

    minute = pd.Timestamp(now).tz_convert("UTC").floor("min")
    cal = _calendar(calendar)
    if cal.is_open_on_minute(minute):
        return SessionStatus(True, None)
    return SessionStatus(False, cal.next_open(minute).to_pydatetime())
