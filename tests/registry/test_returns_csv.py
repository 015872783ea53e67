"""Return-series CSV uploads: both layouts, and errors that name the row."""

from __future__ import annotations

from datetime import date

import pytest

from shared.domain.returns_csv import ReturnsCsvError, parse_returns_csv


def test_returns_layout():
    series = parse_returns_csv(b"date,return\n2026-01-02,0.01\n2026-01-05,-0.02\n\n2026-01-06,0.005\n")
    assert series.dates == (date(2026, 1, 2), date(2026, 1, 5), date(2026, 1, 6))
    assert series.returns == (0.01, -0.02, 0.005)


def test_equity_layout_becomes_returns():
    series = parse_returns_csv(b"\xef\xbb\xbfDate,Equity\n2026-01-02,100\n2026-01-05,110\n2026-01-06,99\n")
    assert series.dates == (date(2026, 1, 5), date(2026, 1, 6))
    assert series.returns == pytest.approx((0.10, -0.10))


@pytest.mark.parametrize("body, field, reason", [
    (b"day,ret\n2026-01-02,0.1\n", "header", "date,return"),
    (b"date,return\n2026-01-02,abc\n2026-01-05,0.1\n", "row 2.return", "not a number"),
    (b"date,return\n2026-01-02,0.1\n2026-13-05,0.1\n", "row 3.date", "YYYY-MM-DD"),
    (b"date,return\n2026-01-02,nan\n2026-01-05,0.1\n", "row 2.return", "finite"),
    (b"date,return\n2026-01-02,-1.5\n2026-01-05,0.1\n", "row 2.return", "-100%"),
    (b"date,return\n2026-01-05,0.1\n2026-01-02,0.1\n", "row 3.date", "must increase"),
    (b"date,return\n2026-01-02,0.1,7\n", "row 2", "two cells"),
    (b"date,return\n2026-01-02,0.1\n", "body", "at least two"),
    (b"date,equity\n2026-01-02,0\n2026-01-05,1\n", "row 2.equity", "positive"),
    (b"\xff\xfe", "body", "UTF-8"),
])
def test_bad_files_name_the_row_and_reason(body, field, reason):
    with pytest.raises(ReturnsCsvError) as refused:
        parse_returns_csv(body)
    assert refused.value.field == field and reason in refused.value.reason
