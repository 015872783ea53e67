"""The charts people would rather look at than read."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd


def line(points: list[dict[str, Any]], x: str, y: str, title: str, percent: bool = False) -> alt.Chart:
    frame = pd.DataFrame(points)
    if frame.empty:
        frame = pd.DataFrame({x: [], y: []})
    axis = alt.Axis(format=".1%") if percent else alt.Axis(format=",.0f")
    return alt.Chart(frame, title=title).mark_line(point=len(frame) < 30).encode(
        x=alt.X(f"{x}:T", title=None), y=alt.Y(f"{y}:Q", title=None, axis=axis, scale=alt.Scale(zero=False)),
        tooltip=[x, y])


def bars(points: list[dict[str, Any]], x: str, y: str, title: str, temporal: bool = False) -> alt.Chart:
    frame = pd.DataFrame(points) if points else pd.DataFrame({x: [], y: []})
    return alt.Chart(frame, title=title).mark_bar().encode(
        x=alt.X(f"{x}:{'T' if temporal else 'N'}", title=None), y=alt.Y(f"{y}:Q", title=None),
        color=alt.condition(alt.datum[y] >= 0, alt.value("#2e7d32"), alt.value("#c62828")), tooltip=[x, y])


def allocation(rows: list[dict[str, Any]], label: str = "strategy") -> alt.Chart:
    frame = pd.DataFrame(rows) if rows else pd.DataFrame({label: [], "weight": []})
    return alt.Chart(frame, title="Allocation by strategy").mark_arc(innerRadius=40).encode(
        theta="weight:Q", color=f"{label}:N", tooltip=[label, alt.Tooltip("weight:Q", format=".1%")])


def correlation_heatmap(matrix: dict[str, dict[str, float]]) -> alt.Chart:
    rows = [{"a": a, "b": b, "correlation": value} for a, column in matrix.items() for b, value in column.items()]
    return alt.Chart(pd.DataFrame(rows), title="Correlation").mark_rect().encode(
        x=alt.X("a:N", title=None), y=alt.Y("b:N", title=None),
        color=alt.Color("correlation:Q", scale=alt.Scale(domain=[-1, 1], scheme="redblue", reverse=True)),
        tooltip=["a", "b", alt.Tooltip("correlation:Q", format=".2f")]).properties(height=300)
