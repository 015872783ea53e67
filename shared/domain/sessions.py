"""Trading sessions from a maintained calendar library (exchange_calendars), never a
hand-written holiday list. Pure given ``now``; calendars are built once per process."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

import exchange_calendars
import pandas as pd


@dataclass(frozen=True)
class SessionStatus:
    open: bool
    next_open: datetime | None  # None when open


@functools.cache
def _calendar(code: str) -> exchange_calendars.ExchangeCalendar:
    return exchange_calendars.get_calendar(code)


def session_status(calendar: str, now: datetime) -> SessionStatus:
    if calendar == "24/7":
        return SessionStatus(True, None)
    minute = pd.Timestamp(now).tz_convert("UTC").floor("min")
    cal = _calendar(calendar)
    if cal.is_open_on_minute(minute):
        return SessionStatus(True, None)
    return SessionStatus(False, cal.next_open(minute).to_pydatetime())
