"""A strategy's daily return series from the CSV a developer uploads (a backtest export).

Two layouts are accepted, recognised by the header: ``date,return`` (simple daily
returns, 0.004 = +0.4%) or ``date,equity`` (an equity curve, turned into returns).
Every problem names the row and the column, so the developer can fix the file.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from typing import Any

MAX_CSV_BYTES = 2 * 1024 * 1024
MAX_ROWS = 20_000
RETURN_COLUMNS = ("return", "returns", "daily_return")
EQUITY_COLUMNS = ("equity", "nav", "balance")


class ReturnsCsvError(ValueError):
    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class ReturnSeries:
    dates: tuple[date, ...]
    returns: tuple[float, ...]

    def as_document(self) -> dict[str, list[str] | list[float]]:
        return {"dates": [d.isoformat() for d in self.dates], "returns": list(self.returns)}

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> ReturnSeries:
        return cls(tuple(date.fromisoformat(d) for d in document["dates"]), tuple(document["returns"]))


def parse_returns_csv(data: bytes) -> ReturnSeries:
    if len(data) > MAX_CSV_BYTES:
        raise ReturnsCsvError("body", f"larger than {MAX_CSV_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ReturnsCsvError("body", "is not valid UTF-8") from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise ReturnsCsvError("body", "is empty")
    header = [cell.strip().lower() for cell in rows[0]]
    if len(header) != 2 or header[0] != "date" or header[1] not in RETURN_COLUMNS + EQUITY_COLUMNS:
        raise ReturnsCsvError("header", "must be 'date,return' or 'date,equity'")
    if len(rows) - 1 > MAX_ROWS:
        raise ReturnsCsvError("body", f"more than {MAX_ROWS} rows")
    dates, values = _read_rows(rows[1:], header[1])
    if header[1] in EQUITY_COLUMNS:
        returns = tuple(after / before - 1 for before, after in pairwise(values))
        dates = dates[1:]
    else:
        returns = values
    if len(returns) < 2:
        raise ReturnsCsvError("body", "needs at least two daily returns")
    return ReturnSeries(dates, returns)


def _read_rows(rows: list[list[str]], column: str) -> tuple[tuple[date, ...], tuple[float, ...]]:
    dates: list[date] = []
    values: list[float] = []
    for number, row in enumerate(rows, start=2):  # row 1 is the header
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != 2:
            raise ReturnsCsvError(f"row {number}", "must have exactly two cells")
        try:
            day = date.fromisoformat(row[0].strip())
        except ValueError:
            raise ReturnsCsvError(f"row {number}.date", f"{row[0]!r} is not a YYYY-MM-DD date") from None
        try:
            value = float(row[1])
        except ValueError:
            raise ReturnsCsvError(f"row {number}.{column}", f"{row[1]!r} is not a number") from None
        if not math.isfinite(value):
            raise ReturnsCsvError(f"row {number}.{column}", "must be a finite number (no NaN or inf)")
        if column in EQUITY_COLUMNS and value <= 0:
            raise ReturnsCsvError(f"row {number}.{column}", "equity must be positive")
        if column in RETURN_COLUMNS and value <= -1:
            raise ReturnsCsvError(f"row {number}.{column}", "a daily return of -100% or worse is impossible")
        if dates and day <= dates[-1]:
            raise ReturnsCsvError(f"row {number}.date", f"{day} is not after {dates[-1]}: dates must increase")
        dates.append(day)
        values.append(value)
    return tuple(dates), tuple(values)
