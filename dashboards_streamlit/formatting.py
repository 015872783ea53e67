"""How every dashboard writes a number, a time or a column name, so a table reads the same
on every page: money with thousands separators and its currency, percentages, quantities
without float noise, times in the viewer's timezone (labelled), "—" for what is unknown.

The value functions are pure (tested without streamlit); ``table`` builds what
``st.dataframe`` needs: numbers stay numbers (so columns sort) and get a display format.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

MISSING = "—"
TIMEZONE_SETTING = "MT_DISPLAY_TIMEZONE"  # e.g. Europe/London; else the browser's; else UTC

# Column names a person would write; anything else is turned from snake_case into words.
LABELS = {
    "account_id": "Account", "avg_price": "Average price", "pnl": "P&L", "realized_pnl": "Realized P&L",
    "unrealized_pnl": "Unrealized P&L", "market_value": "Market value", "filled_at": "Filled at",
    "received_at": "Received at", "signal_id": "Signal", "slippage_bps": "Slippage (bps)",
    "signal_price": "Signal price", "accounts_approved": "Accounts approved",
    "accounts_rejected": "Accounts rejected", "instrument_key": "Instrument", "broker_quantity": "Broker quantity",
    "our_quantity": "Our quantity", "first_seen": "First seen", "last_seen": "Last seen", "cagr": "CAGR",
    "max_drawdown": "Max drawdown", "as_of": "As of", "margin_used": "Margin used",
    "margin_available": "Margin available", "strategy_id": "Strategy", "mark": "Mark", "total_pnl": "Total P&L",
    "filled_quantity": "Filled", "order_type": "Type", "limit_price": "Limit", "stop_price": "Stop",
    "client_order_id": "Client order id",
}
MONEY, PRICE, QUANTITY, PERCENT, BPS, TIME, TEXT = "money", "price", "quantity", "percent", "bps", "time", "text"


def missing(value: Any) -> bool:
    """None, NaN and empty strings all mean "not known"."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def label(column: str) -> str:
    """A human column name: ``avg_price`` -> ``Average price``."""
    if column in LABELS:
        return LABELS[column]
    words = column.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def money(value: Any, currency: str = "", decimals: int = 2, signed: bool = False) -> str:
    """``1001674.2865`` -> ``1,001,674.29 USD``; ``signed`` writes a plus on gains (P&L)."""
    if missing(value):
        return MISSING
    text = f"{float(value):{'+' if signed else ''},.{decimals}f}"
    return f"{text} {currency}".strip()


def compact(value: Any, currency: str = "") -> str:
    """Large amounts in K/M/B with three significant digits: ``1234567`` -> ``1.23M``."""
    if missing(value):
        return MISSING
    number = float(value)
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(number) >= size:
            return f"{number / size:.3g}{suffix} {currency}".strip()
    return f"{number:.3g} {currency}".strip()


def percent(value: Any, decimals: int = 2, signed: bool = False) -> str:
    """A fraction as a percentage: ``0.1324`` -> ``13.24%``."""
    if missing(value):
        return MISSING
    return f"{float(value) * 100:{'+' if signed else ''},.{decimals}f}%"


def quantity(value: Any) -> str:
    """Whole numbers without decimals, fractions with up to 8 (crypto), never float noise."""
    if missing(value):
        return MISSING
    number = float(value)
    if number == int(number):
        return f"{int(number):,}"
    return f"{number:,.8f}".rstrip("0").rstrip(".")


def price(value: Any) -> str:
    """Two decimals, or as many as a small price needs (an FX rate's fifth, up to 8)."""
    if missing(value):
        return MISSING
    number = float(value)
    text = f"{number:,.8f}".rstrip("0")
    decimals = len(text.split(".")[1]) if "." in text else 0
    return f"{number:,.{max(2, min(decimals, 8))}f}"


def resolve_timezone(setting: str | None = None, browser: str | None = None) -> tzinfo:
    """The setting if it names a zone, else the browser's, else UTC."""
    for name in (setting, browser):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return UTC


def on_a_phone() -> bool:
    """Whether the browser says it is a phone: its pages get fewer, narrower columns."""
    try:
        import streamlit as st

        agent = st.context.headers.get("User-Agent", "")
    except Exception:  # noqa: BLE001 - outside a page there is no browser
        return False
    return "Mobi" in agent or "Android" in agent


def viewer_timezone() -> tzinfo:
    """The viewer's zone: ``MT_DISPLAY_TIMEZONE``, else what the browser reports, else UTC."""
    browser = None
    try:
        import streamlit as st

        browser = st.context.timezone
    except Exception:  # noqa: BLE001 - outside a page (tests, scripts) there is no browser
        browser = None
    return resolve_timezone(os.environ.get(TIMEZONE_SETTING), browser)


def zone_name(zone: tzinfo) -> str:
    """What to write next to a time: ``UTC``, ``Europe/London``."""
    return "UTC" if zone is UTC else str(getattr(zone, "key", zone))


def timestamp(value: Any, zone: tzinfo = UTC, seconds: bool = False) -> str:
    """An ISO time (naive ones are UTC, as stored) in ``zone``, to the minute, no microseconds."""
    if missing(value):
        return MISSING
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def day(value: Any) -> str:
    """``2026-11-03`` -> ``3 Nov 2026``."""
    if missing(value):
        return MISSING
    found = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    return f"{found.day} {found:%b %Y}"


def text(value: Any) -> str:
    """Lists joined, missing as a dash."""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or MISSING
    return MISSING if missing(value) else str(value)


def decimals_needed(values: Sequence[Any], least: int, most: int) -> int:
    """How many decimals show every value exactly (within ``most``): one column, one precision."""
    found = least
    for value in values:
        if not missing(value):
            written = f"{float(value):.{most}f}".rstrip("0")
            found = max(found, len(written.split(".")[1]) if "." in written else 0)
    return min(found, most)


def number_format(kind: str, currency: str = "", values: Sequence[Any] = ()) -> str:
    """The ``st.column_config.NumberColumn`` format of a kind of number (percent: fractions)."""
    suffix = f" {currency}" if currency else ""
    if kind == PRICE:
        return f"%,.{decimals_needed(values, 2, 6)}f"
    if kind == QUANTITY:
        return f"%,.{decimals_needed(values, 0, 8)}f"
    return {MONEY: f"%,.2f{suffix}", PERCENT: "percent", BPS: "%.2f"}.get(kind, "%,.2f")


def table(rows: Sequence[Mapping[str, Any]], kinds: Mapping[str, str], currency: str = "",
          zone: tzinfo = UTC, widths: Mapping[str, int | str] | None = None,
          headers: Mapping[str, str] | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A frame and its column config for ``st.dataframe``: only the columns in ``kinds``, in
    that order, with human headers. A numeric column stays numeric (it sorts) unless some
    value is missing, then it becomes text with "—"; times become text in ``zone``. Money
    columns name their currency in the header, so cells stay narrow enough for a phone;
    ``headers`` replaces a header (a phone's shorter one)."""
    import streamlit as st

    frame = pd.DataFrame([{column: row.get(column) for column in kinds} for row in rows], columns=list(kinds))
    config: dict[str, Any] = {}
    for column, kind in kinds.items():
        width = (widths or {}).get(column)
        header = f"{label(column)} ({currency})" if kind == MONEY and currency else label(column)
        header = (headers or {}).get(column, header)
        values = list(frame[column])
        if kind == TIME:
            frame[column] = [timestamp(v, zone) for v in values]
            config[column] = st.column_config.TextColumn(f"{header} ({zone_name(zone)})", width=width)
        elif kind == TEXT:
            frame[column] = [text(v) for v in values]
            config[column] = st.column_config.TextColumn(header, width=width)
        elif any(missing(v) for v in values):
            shown = {MONEY: money, PRICE: price, QUANTITY: quantity,
                     PERCENT: percent, BPS: lambda v: MISSING if missing(v) else f"{v:.2f}"}[kind]
            frame[column] = pd.Series([shown(v) for v in values], dtype=object)
            config[column] = st.column_config.TextColumn(header, width=width)
        else:
            config[column] = st.column_config.NumberColumn(header, format=number_format(kind, values=values),
                                                          width=width)
    return frame, config


def signals_found(listed: Mapping[str, Any]) -> str:
    """What the API's signal list says about the signals not shown, in one phrase."""
    shown = len(listed["signals"])
    if listed["matched"] is None:
        return f"The newest {shown} signal(s)" + ("; older ones exist" if listed["more"] else "")
    return f"{listed['matched']} signal(s) match" + (f"; the newest {shown} are shown" if listed["more"] else "")
