"""Vertical marks shared by the time charts: the restriction, the UTC release of a block for the day, the caller's
events (remediation, unblock). Each is a full-height line with a short label, named so tests and readers find it."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from toolkit.charts.inputs import Event, Restriction, esc1
from toolkit.charts.theme import Palette

#: The name of the shape (and its label) of each kind of mark.
RESTRICTION, RELEASE, EVENT = "restriction", "release", "event"


def when(stamp: pd.Timestamp) -> str:
    return f"{stamp:%b %d %H:%M} UTC"


Span = tuple[pd.Timestamp, pd.Timestamp]


def _side(x: pd.Timestamp, span: Span, prefer: str) -> str:
    """Which side of its line a label goes (the label's ``xanchor``: "left" writes it to the right of the line):
    ``prefer``, unless that runs off the plot's edge (a label is about an eighth of a notebook-wide plot)."""
    width = (span[1] - span[0]) or pd.Timedelta(hours=1)
    where = (x - span[0]) / width
    if prefer == "left" and where > 0.86:
        return "right"
    if prefer == "right" and where < 0.14:
        return "left"
    return prefer


def _vline(fig: go.Figure, x: pd.Timestamp, color: str, dash: str, name: str, label: str, y: float,
           anchor: str, p: Palette) -> None:
    fig.add_shape(type="line", x0=x, x1=x, xref="x", y0=0, y1=1, yref="paper", name=name,
                  line={"color": color, "width": 2, "dash": dash}, layer="above")
    fig.add_annotation(x=x, xref="x", y=y, yref="paper", text=label, showarrow=False, xanchor=anchor,
                       yanchor="top", align=anchor, name=name, bgcolor=p.label_bg, borderpad=2,
                       font={"color": color, "size": 11}, xshift=4 if anchor == "left" else -4)


def why(restriction: Restriction) -> str:
    """The reason in a few words: "spam 45% of its mail", "external limit exceeded"..."""
    reason = restriction.reason or ""
    if restriction.reason_kind == "outbound_spam":
        share = re.search(r"OutboundSpamPercent=(\d+)", reason)
        return f"spam: {share.group(1)}% of its mail" if share else "outbound spam"
    if restriction.reason_kind == "sending_limit":
        kind = re.search(r"ExceedingLimitType=(\w+)", reason)
        return f"{kind.group(1).lower()} limit exceeded" if kind else "sending limit exceeded"
    return (restriction.reason_kind or "").replace("_", " ")


def add_restriction(fig: go.Figure, restriction: Restriction | None, p: Palette, span: Span) -> None:
    """The restriction (solid) and, for a block for the day, its UTC release (dotted). Labels go after their line,
    where the blocked sender's mail has stopped, not over the burst before it."""
    if restriction is None:
        return
    kind = restriction.block_type or "restricted"
    reason = why(restriction)
    _vline(fig, restriction.created, p.restriction, "solid", RESTRICTION,
           f"<b>restricted</b><br>{when(restriction.created)}<br>{esc1(kind)}"
           + (f"<br>{esc1(reason)}" if reason else ""), 1.0,
           _side(restriction.created, span, "left"), p)
    if restriction.release_at is not None:
        _vline(fig, restriction.release_at, p.release, "dot", RELEASE,
               f"<b>block lifts</b><br>{when(restriction.release_at)}<br>(next UTC midnight)", 0.8,
               _side(restriction.release_at, span, "left"), p)


def add_events(fig: go.Figure, events: Sequence[Event], p: Palette, span: Span) -> None:
    """One dash-dot line per event, labels staggered so neighbours do not overlap."""
    for i, event in enumerate(events):
        _vline(fig, event.time, p.event, "dashdot", EVENT, f"<b>{esc1(event.label)}</b><br>{when(event.time)}",
               0.6 - 0.13 * (i % 4), _side(event.time, span, "left"), p)


def shapes_named(fig: go.Figure, name: str) -> list[go.layout.Shape]:
    """The shapes of one kind of mark (for tests and callers that restyle them)."""
    return [s for s in fig.layout.shapes if s.name == name]
