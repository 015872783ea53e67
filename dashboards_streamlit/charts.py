"""The charts people would rather look at than read.

Every axis is written for a person: dates on x in a format that fits the span shown, with
one tick per day, month or hour so no two labels repeat; money in compact units with as
many decimals as the span needs (a million-dollar account moving by a thousand must not
read "1M 1M 1M"); percentages likewise. Charts render as SVG so their labels are text a
screen reader (and a browser test) can read.
"""

from __future__ import annotations

import math
from typing import Any

import altair as alt
import pandas as pd

from dashboards_streamlit import formatting

SVG = {"embedOptions": {"renderer": "svg"}}
DAILY_PNL_EMPTY = ("Daily P&L appears here after the account's second day: each bar is one day's closing "
                   "equity minus the previous day's, from the account poller's quarter-hourly snapshots. "
                   "There is only {days} of equity history so far.")


def span_decimals(values: list[float], scale: float = 1.0) -> int:
    """Decimals that keep ~10 ticks across the values' span distinct, in units of ``scale``."""
    finite = [v / scale for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return 0
    span = max(finite) - min(finite) or abs(max(finite)) * 0.01 or 0.01
    return max(0, math.ceil(-math.log10(span / 10)))


def money_axis(values: list[float], currency: str = "") -> alt.Axis:
    """Compact units (K, M, B) with enough decimals for the span, or whole amounts with separators
    when the span is small against the balance; the currency in the title."""
    largest = max((abs(v) for v in values), default=0.0)
    scale, suffix = next(((s, u) for s, u in ((1e9, "B"), (1e6, "M"), (1e3, "K")) if largest >= s), (1.0, ""))
    if span_decimals(values, scale) > 2:  # a small move on a big balance: 1,000,400 reads better than 1.0004M
        scale, suffix = 1.0, ""
    decimals = min(span_decimals(values, scale), 6)
    return alt.Axis(labelExpr=f"format(datum.value / {scale}, ',.{decimals}f') + '{suffix}'", tickCount=6,
                    title=currency or None, labelOverlap=True)


def percent_axis(values: list[float]) -> alt.Axis:
    """Percent with enough decimals for the span: a 0.12% drawdown reads 0.02%, 0.04%, ..."""
    decimals = min(span_decimals([v * 100 for v in values]), 4)
    return alt.Axis(format=f".{decimals}%", tickCount=6, title=None, labelOverlap=True)


def time_axis(moments: list[Any]) -> alt.Axis:
    """A label format fine enough that ticks (vega puts about six across the span) never
    share a label, and no finer: hours within a week, days within ~13 months, else months."""
    parsed = [pd.Timestamp(m) for m in moments if not formatting.missing(m)]
    hours = (max(parsed) - min(parsed)).total_seconds() / 3600 if len(parsed) > 1 else 0.0
    fmt = "%b %Y" if hours > 24 * 400 else "%d %b" if hours > 24 * 7 else "%d %b %H:%M"
    return alt.Axis(format=fmt, tickCount=6, title=None, labelOverlap=True, labelAngle=0)


def _frame(points: list[dict[str, Any]], *columns: str) -> pd.DataFrame:
    return pd.DataFrame(points, columns=list(columns)) if points else pd.DataFrame({c: [] for c in columns})


def line(points: list[dict[str, Any]], x: str, y: str, title: str, percent: bool = False,
         currency: str = "") -> alt.Chart:
    """A time series: money (compact, in ``currency``) or a fraction shown as percent."""
    frame = _frame(points, x, y)
    values = [float(v) for v in frame[y]]
    axis = percent_axis(values) if percent else money_axis(values, currency)
    tip = alt.Tooltip(f"{y}:Q", title=formatting.label(y), format=".2%" if percent else ",.2f")
    return alt.Chart(frame, title=title, usermeta=SVG).mark_line(point=len(frame) < 30).encode(
        x=alt.X(f"{x}:T", axis=time_axis(list(frame[x]))),
        y=alt.Y(f"{y}:Q", axis=axis, scale=alt.Scale(zero=False)),
        tooltip=[alt.Tooltip(f"{x}:T", title="When", format="%Y-%m-%d %H:%M"), tip])


def growth(points: list[dict[str, Any]], x: str, y: str, title: str) -> alt.Chart:
    """A growth-of-one curve shown as its cumulative return, which is what the number means."""
    shifted = [{x: p[x], "cumulative_return": p[y] - 1.0} for p in points]
    return line(shifted, x, "cumulative_return", title, percent=True)


def growth_by_series(points: list[dict[str, Any]], x: str, y: str, series: str, title: str) -> alt.Chart:
    """Growth-of-one curves side by side (before and after costs), as cumulative returns."""
    frame = _frame([{x: p[x], "cumulative_return": p[y] - 1.0, series: p[series]} for p in points],
                   x, "cumulative_return", series)
    values = [float(v) for v in frame["cumulative_return"]]
    return alt.Chart(frame, title=title, usermeta=SVG).mark_line().encode(
        x=alt.X(f"{x}:T", axis=time_axis(list(frame[x]))),
        y=alt.Y("cumulative_return:Q", axis=percent_axis(values), scale=alt.Scale(zero=False)),
        color=alt.Color(f"{series}:N", title=None, legend=alt.Legend(orient="bottom")),
        tooltip=[alt.Tooltip(f"{x}:T", title="Day", format="%Y-%m-%d"), alt.Tooltip(f"{series}:N", title=" "),
                 alt.Tooltip("cumulative_return:Q", title="Cumulative return", format=".2%")])


def frontier(points: list[dict[str, Any]], proposal: dict[str, Any]) -> alt.Chart:
    """The efficient frontier (least volatility for each expected return) with the proposal on it,
    or inside it for a method that does not optimise mean against variance."""
    frame = _frame(points, "volatility", "expected_return", "sharpe")
    chosen = _frame([{"volatility": proposal["annual_volatility"], "expected_return": proposal["annual_return"],
                      "sharpe": proposal.get("sharpe")}], "volatility", "expected_return", "sharpe")
    values = [*frame["volatility"], *chosen["volatility"]]
    returns = [*frame["expected_return"], *chosen["expected_return"]]
    tips = [alt.Tooltip("volatility:Q", title="Volatility", format=".2%"),
            alt.Tooltip("expected_return:Q", title="Expected return", format=".2%"),
            alt.Tooltip("sharpe:Q", title="Sharpe", format=".2f")]
    axes = {"x": alt.X("volatility:Q", axis=percent_axis(values), scale=alt.Scale(zero=False), title="Volatility"),
            "y": alt.Y("expected_return:Q", axis=percent_axis(returns), scale=alt.Scale(zero=False),
                       title="Expected return")}
    curve = alt.Chart(frame).mark_line(point=True).encode(**axes, tooltip=tips)
    marker = alt.Chart(chosen).mark_point(shape="diamond", size=160, filled=True, color="#c62828").encode(
        **axes, tooltip=tips)
    return alt.layer(curve, marker, title="Efficient frontier (line) and this proposal (red)", usermeta=SVG)


def day_axis(days: list[Any]) -> alt.Axis:
    """Labels for one point per UTC day: days (never hours, which would repeat a date), one tick
    a day over a short span, about six ticks over a longer one, months past ~13 months. Read on
    a UTC scale (``daily_line``), so no browser shows a day early."""
    parsed = [pd.Timestamp(str(d)[:10]) for d in days if not formatting.missing(d)]
    span = (max(parsed) - min(parsed)).days if parsed else 0
    ticks: Any = {"interval": "day", "step": 1} if span <= 8 else 6
    return alt.Axis(format="%b %Y" if span > 400 else "%d %b", tickCount=ticks, title=None,
                    labelOverlap=True, labelAngle=0)


def daily_line(points: list[dict[str, Any]], x: str, y: str, title: str, percent: bool = False,
               currency: str = "") -> alt.Chart:
    """A daily series (``x`` an ISO date): like ``line``, with day labels read in UTC, the zone
    the days were cut in, so a browser west of Greenwich does not show each point a day early."""
    frame = _frame(points, x, y)
    frame["day_label"] = [formatting.day(v) for v in frame[x]]  # text: a time would be read in the browser's zone
    values = [float(v) for v in frame[y]]
    axis = percent_axis(values) if percent else money_axis(values, currency)
    tip = alt.Tooltip(f"{y}:Q", title=formatting.label(y), format=".2%" if percent else ",.2f")
    return alt.Chart(frame, title=title, usermeta=SVG).mark_line(point=len(frame) < 30).encode(
        x=alt.X(f"{x}:T", axis=day_axis(list(frame[x])), scale=alt.Scale(type="utc")),
        y=alt.Y(f"{y}:Q", axis=axis, scale=alt.Scale(zero=False)),
        tooltip=[alt.Tooltip("day_label:N", title="Day (UTC)"), tip])


def drawdown(points: list[dict[str, Any]], x: str = "at", y: str = "drawdown") -> alt.Chart:
    """The fall from the running peak, drawn below zero."""
    frame = _frame([{x: p[x], y: -p[y]} for p in points], x, y)
    values = [float(v) for v in frame[y]] + [0.0]
    return alt.Chart(frame, title="Drawdown", usermeta=SVG).mark_area(line=True, opacity=0.3, color="#c62828").encode(
        x=alt.X(f"{x}:T", axis=time_axis(list(frame[x]))),
        y=alt.Y(f"{y}:Q", axis=percent_axis(values), scale=alt.Scale(domainMax=0)),
        tooltip=[alt.Tooltip(f"{x}:T", title="When", format="%Y-%m-%d %H:%M"),
                 alt.Tooltip(f"{y}:Q", title="Drawdown", format=".2%")])


def bars(points: list[dict[str, Any]], x: str, y: str, title: str, temporal: bool = False,
         currency: str = "") -> alt.Chart:
    """Gains green, losses red; money on y like ``line``; categories keep the data's order."""
    frame = _frame(points, x, y)
    values = [float(v) for v in frame[y]] + [0.0]
    x_axis = time_axis(list(frame[x])) if temporal else alt.Axis(title=None, labelAngle=0, labelOverlap=True)
    return alt.Chart(frame, title=title, usermeta=SVG).mark_bar().encode(
        x=alt.X(f"{x}:{'T' if temporal else 'N'}", axis=x_axis, sort=None),
        y=alt.Y(f"{y}:Q", axis=money_axis(values, currency)),
        color=alt.condition(alt.datum[y] >= 0, alt.value("#2e7d32"), alt.value("#c62828")),
        tooltip=[alt.Tooltip(f"{x}:{'T' if temporal else 'N'}", title=formatting.label(x)),
                 alt.Tooltip(f"{y}:Q", title=formatting.label(y), format=",.2f")])


def daily_pnl_empty(curve: list[dict[str, Any]]) -> str:
    """Why the daily P&L chart has no bars yet, and what will appear."""
    days = len({str(p["at"])[:10] for p in curve})
    return DAILY_PNL_EMPTY.format(days="no day" if not days else "1 day" if days == 1 else f"{days} days")


def allocation(rows: list[dict[str, Any]], label: str = "strategy", currency: str = "") -> alt.Chart:
    """A donut whose legend gives each slice's share and amount, so nobody has to guess from angles."""
    shown = [{**row, "slice": f"{row[label]}: {formatting.percent(row.get('share', row['weight']), 1)}"
                               + (f" · {formatting.compact(row['capital'], currency)}" if "capital" in row else "")}
             for row in rows]
    frame = _frame(shown, label, "weight", "share", "capital", "slice")
    return alt.Chart(frame, title="Allocation by strategy", usermeta=SVG).mark_arc(innerRadius=50).encode(
        theta="weight:Q",
        color=alt.Color("slice:N", title=None, legend=alt.Legend(orient="bottom", direction="vertical",
                                                                 labelLimit=400)),
        tooltip=[alt.Tooltip(f"{label}:N", title="Strategy"), alt.Tooltip("share:Q", title="Share", format=".1%"),
                 alt.Tooltip("capital:Q", title=f"Capital {currency}".strip(), format=",.0f")])


def correlation_heatmap(matrix: dict[str, dict[str, float]]) -> alt.Chart:
    rows = [{"a": a, "b": b, "correlation": value} for a, column in matrix.items() for b, value in column.items()]
    return alt.Chart(pd.DataFrame(rows), title="Correlation").mark_rect().encode(
        x=alt.X("a:N", title=None), y=alt.Y("b:N", title=None),
        color=alt.Color("correlation:Q", scale=alt.Scale(domain=[-1, 1], scheme="redblue", reverse=True)),
        tooltip=["a", "b", alt.Tooltip("correlation:Q", format=".2f")]).properties(height=300)

