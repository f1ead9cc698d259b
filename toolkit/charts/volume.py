"""One sender's outbound volume against the limits of its effective outbound spam policy."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from toolkit.charts import hourly, marks
from toolkit.charts.hourly import DAY, HOUR, Baseline, Burst
from toolkit.charts.inputs import (
    Event,
    EventsInput,
    Instant,
    Limits,
    Restriction,
    Source,
    addresses_of,
    case_window,
    esc1,
    events_of,
    frame_of,
    instant,
    limits_of,
    optional_frame,
    require,
    restriction_of,
    text,
)
from toolkit.charts.theme import Palette, Theme, finish, no_data, palette

log = logging.getLogger(__name__)

CHART = "outbound_volume"
TRACE_COLUMNS = ("received", "direction")
#: A limit is drawn inside the scale when it is at most this many times the busiest hour; above, it is named.
IN_SCALE = 4.0


def _sender_rows(trace: pd.DataFrame, addresses: tuple[str, ...]) -> tuple[pd.DataFrame, str]:
    """The sender's rows and the address to name it by."""
    if "sender" not in trace.columns:
        return trace, addresses[0] if addresses else "the sender"
    senders = text(trace["sender"]).str.lower()
    if addresses:
        return trace[senders.isin(list(addresses)).to_numpy()], addresses[0]
    distinct = senders[senders != ""].unique()
    if len(distinct) > 1:
        raise ValueError(f"{CHART}: the trace holds {len(distinct)} senders ({', '.join(sorted(distinct)[:3])}, ...); "
                         "pass sender= to choose one")
    return trace, distinct[0] if len(distinct) else "the sender"


def _window(data: object, rows: pd.DataFrame, start: Instant | None, end: Instant | None
            ) -> tuple[pd.Timestamp, pd.Timestamp]:
    case_start, case_end = case_window(data)
    received = rows["_received"]
    first = instant(start, "start") or case_start or received.min().floor("D")
    last = instant(end, "end") or case_end or received.max()
    return first, last


def _shown(first: pd.Timestamp, last: pd.Timestamp, focus: pd.Timestamp, restriction: Restriction | None,
           events: Sequence[pd.Timestamp], context_days: int | None) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The x range: ``context_days`` UTC days before the focus day up to the end, widened to every mark."""
    start = first.floor("h") if context_days is None else max(first.floor("h"),
                                                              focus.floor("D") - context_days * DAY)
    stops = [last.floor("h") + HOUR, *events]
    if restriction is not None:
        stops += [restriction.created] + ([restriction.release_at] if restriction.release_at is not None else [])
    starts = [start, *events] + ([restriction.created] if restriction is not None else [])
    return min(starts).floor("h"), max(stops).ceil("h") + HOUR


#: Room above the tallest bar for the labels of the restriction and event lines.
HEADROOM = 1.3


def _top(peak: float, lines: Sequence[int | None]) -> float:
    top = max(peak, 1.0) * HEADROOM
    for line in lines:
        if line is not None and line <= IN_SCALE * max(peak, 1.0):
            top = max(top, line * 1.1)
    return top


def _limit_trace(x0: pd.Timestamp, x1: pd.Timestamp, value: int, name: str, color: str, dash: str, top: float,
                 row: int, fig: go.Figure, legendgroup: str) -> None:
    above = value > top
    label = f"{name} {value:,}" + (" (above the scale)" if above else "")
    fig.add_trace(go.Scatter(x=[x0, x1], y=[value, value], mode="lines", name=label, legendgroup=legendgroup,
                             line={"color": color, "dash": dash, "width": 2}, meta={"limit": legendgroup},
                             hovertemplate=f"{esc1(name)}: {value:,}<extra></extra>"), row=row, col=1)


def _bars(fig: go.Figure, counts: pd.DataFrame, details: pd.DataFrame, p: Palette) -> None:
    colors = {"internal": p.internal, "external": p.external, "unknown": p.unknown}
    names = {"internal": "internal recipients", "external": "external recipients",
             "unknown": "recipients, direction unknown"}
    for group in hourly.GROUPS:
        y = counts[group]
        if group == "unknown" and not y.any():
            continue
        present = group in details.index.get_level_values("group") if len(details) else False
        info = details.xs(group, level="group") if present else pd.DataFrame(columns=details.columns)
        info = info.reindex(counts.index)
        custom = np.column_stack([
            counts.index.strftime("%a %b %d %H:00"),
            info["messages"].fillna(0).astype("int64").map("{:,}".format),
            info["subjects"].fillna(""), info["domains"].fillna(""), info["example"].fillna(""),
            counts["total"].map("{:,}".format),
        ])
        fig.add_trace(go.Bar(
            x=counts.index, y=y, name=names[group], marker={"color": colors[group], "line": {"width": 0}},
            xperiod=3_600_000, xperiodalignment="middle", customdata=custom, meta={"group": group},
            hovertemplate=(f"<b>%{{customdata[0]}} UTC</b><br>{group}: %{{y:,}} recipients in "
                           "%{customdata[1]} message(s) (hour total %{customdata[5]})<br>"
                           "subjects: %{customdata[2]}<br>domains: %{customdata[3]}<br>"
                           "e.g. %{customdata[4]}<extra></extra>"),
        ), row=1, col=1)


def _band(fig: go.Figure, base: Baseline | None, x0: pd.Timestamp, x1: pd.Timestamp, p: Palette) -> None:
    if base is None:
        return
    usual = (f"{base.median:,.0f}" if round(base.median) == round(base.p95)
             else f"{base.median:,.0f}–{base.p95:,.0f}")
    label = f"usual hour: {usual} recipients (median–p95 of the {base.hours // 24} days before the burst)"
    hover = (f"usual hour before the burst: median {base.median:,.1f}, p95 {base.p95:,.1f} recipients "
             f"({base.start:%b %d}–{base.end:%b %d})<extra></extra>")
    fig.add_trace(go.Scatter(x=[x0, x1], y=[base.median] * 2, mode="lines", line={"width": 1, "color": p.band_line},
                             name=label, legendgroup="baseline", showlegend=False, hovertemplate=hover,
                             meta={"baseline": "median"}), row=1, col=1)
    fig.add_trace(go.Scatter(x=[x0, x1], y=[base.p95] * 2, mode="lines", fill="tonexty", fillcolor=p.band,
                             line={"width": 1, "color": p.band_line}, name=label, legendgroup="baseline",
                             hovertemplate=hover, meta={"baseline": "p95"}), row=1, col=1)


def _daily(fig: go.Figure, counts: pd.DataFrame, limits: Limits | None, x0: pd.Timestamp, x1: pd.Timestamp,
           p: Palette) -> None:
    today = counts["total"].groupby(counts.index.floor("D")).cumsum()
    per_day = limits.per_day if limits else None
    custom = np.column_stack([counts.index.strftime("%a %b %d %H:59"), today.map("{:,}".format)])
    limit_text = f" of {per_day:,}" if per_day else ""
    # a step per hour, from the hour's start to its end: the running count once the hour's mail is sent
    x = list(counts.index) + ([counts.index[-1] + pd.Timedelta(minutes=59)] if len(counts) else [])
    y = list(today) + ([today.iloc[-1]] if len(today) else [])
    custom = np.vstack([custom, custom[-1:]]) if len(custom) else custom
    fig.add_trace(go.Scatter(x=x, y=y, name="recipients so far today (UTC day)", mode="lines",
                             line={"color": p.muted, "width": 1.5, "shape": "hv"}, fill="tozeroy",
                             fillcolor=p.band, customdata=custom, meta={"daily": True},
                             hovertemplate=(f"by %{{customdata[0]}} UTC: %{{customdata[1]}}{limit_text} recipients "
                                            "today<extra></extra>")), row=2, col=1)
    top = _top(float(today.max()) if len(today) else 0.0, [per_day])
    if per_day:
        _limit_trace(x0, x1, per_day, "daily limit", p.limit_daily, "dash", top, 2, fig, "per_day")
    fig.update_yaxes(range=[0, top], row=2, col=1)
    if per_day and per_day > top:
        _note(fig, f"daily limit {per_day:,} is above the scale", "y2 domain", p)


def _note(fig: go.Figure, message: str, yref: str, p: Palette) -> None:
    fig.add_annotation(text=message, xref="x domain", x=0.0, xanchor="left", yref=yref, y=1.0, yanchor="top",
                       showarrow=False, font={"size": 11, "color": p.muted}, name="note")


def outbound_volume(data: Source, *, restricted: pd.DataFrame | None = None,
                    policy: pd.DataFrame | pd.Series | None = None, policy_rules: pd.DataFrame | None = None,
                    sender: str | Sequence[str] | None = None, events: EventsInput | None = None,
                    start: Instant | None = None, end: Instant | None = None, context_days: int | None = 2,
                    baseline_days: int = 14, theme: Theme = "light", height: int = 520) -> go.Figure:
    """Recipients per hour (internal and external stacked) against the effective hourly limits, the running
    daily count against the daily limit, the usual hour before the burst, the restriction, the UTC release of a
    block for the day and the caller's ``events`` (e.g. ``[(when, "unblocked")]``).

    ``data`` is a Case or a trace frame. The other frames come from the Case unless given: ``restricted``,
    ``policy`` (the policies frame, resolved for the sender with ``policy_rules``, or the applicable policy row),
    ``sender`` (an address or the user's addresses; needed when a bare trace holds several senders).
    ``context_days``: UTC days shown before the day the burst starts (None: the whole window). The baseline is
    the median..p95 of recipients per hour, quiet hours included, over ``baseline_days`` days before the burst.
    """
    p = palette(theme)
    trace = frame_of(data, "trace", CHART)
    require(trace, "trace", TRACE_COLUMNS, CHART)
    addresses = addresses_of(data, sender)
    mine, who = _sender_rows(trace, addresses)
    title = f"Outbound recipients per hour (UTC): {esc1(who)}"
    marks_events = events_of(events, CHART)
    rows = hourly.sent_rows(mine)
    if rows.empty:
        return no_data(title, f"no mail sent by {esc1(who)} in the message trace", theme, height)
    restriction = restriction_of(optional_frame(data, restricted, "restricted", CHART), addresses or (who,), CHART)
    limits = limits_of(policy if policy is not None else optional_frame(data, None, "policy", CHART),
                       optional_frame(data, policy_rules, "policy_rules", CHART), who if "@" in who else None, CHART)

    first, last = _window(data, rows, start, end)
    rows = rows[(rows["_received"] >= first.floor("h")) & (rows["_received"] <= last)]
    if rows.empty:
        return no_data(title, f"no mail sent by {esc1(who)} between {first:%b %d} and {last:%b %d}", theme, height)
    counts = hourly.hourly_counts(rows, hourly.hour_grid(first, last))
    burst = hourly.find_burst(counts["total"], restriction.created if restriction else None)
    anchor = restriction.created if restriction else counts["total"].idxmax()
    base = hourly.find_baseline(counts["total"], burst.start if burst else anchor.floor("h") - DAY, baseline_days)
    x0, x1 = _shown(first, last, burst.start if burst else anchor, restriction, [e.time for e in marks_events],
                    context_days)
    shown = counts[(counts.index >= x0) & (counts.index < x1)]
    details = hourly.hourly_details(rows[(rows["hour"] >= x0) & (rows["hour"] < x1)])
    return _figure(shown, details, restriction, limits, base, burst, marks_events, (x0, x1), title, p, theme,
                   height)


def _figure(counts: pd.DataFrame, details: pd.DataFrame, restriction: Restriction | None, limits: Limits | None,
            base: Baseline | None, burst: Burst | None, events: Sequence[Event],
            span: tuple[pd.Timestamp, pd.Timestamp], title: str, p: Palette, theme: Theme, height: int) -> go.Figure:
    x0, x1 = span
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.66, 0.34], vertical_spacing=0.06)
    notes: list[str] = []  # under the title, where no line's label can cover them
    _bars(fig, counts, details, p)
    _band(fig, base, x0, x1, p)
    peak = float(max(counts["total"].max(), base.p95 if base else 0))
    top = _top(peak, [])
    if limits is not None:
        # a limit is worth the scale when its own kind of mail comes near it
        top = max(top, _top(float(counts["external"].max()), [limits.external_per_hour]),
                  _top(float(counts["internal"].max()), [limits.internal_per_hour]))
    if limits is not None:
        if limits.external_per_hour:
            _limit_trace(x0, x1, limits.external_per_hour, "external limit / hour", p.external, "dash", top, 1, fig,
                         "external_per_hour")
        if limits.internal_per_hour:
            _limit_trace(x0, x1, limits.internal_per_hour, "internal limit / hour", p.internal, "dash", top, 1, fig,
                         "internal_per_hour")
        above = [f"{n} {v:,}/h" for n, v in (("external", limits.external_per_hour),
                                            ("internal", limits.internal_per_hour)) if v and v > top]
        notes.append(f"outbound spam policy: {esc1(limits.policy)}")
        if above:
            limit = "limits are" if len(above) > 1 else "limit is"
            notes.append(f"{' and '.join(above)} {limit} above the scale")
    else:
        notes.append("outbound policy unknown: no limit lines")
    if base is None:
        notes.append("not enough history before the burst for a usual-hour band")
    _daily(fig, counts, limits, x0, x1, p)
    if burst is not None:
        fig.add_vrect(x0=burst.start, x1=burst.end, fillcolor=p.burst, line_width=0, layer="below", name="burst",
                      row="all", col=1)
    marks.add_restriction(fig, restriction, p, span)
    marks.add_events(fig, events, p, span)
    finish(fig, theme, title, height)
    fig.update_layout(title_subtitle={"text": " · ".join(notes), "font": {"size": 12, "color": p.muted}},
                      margin_t=70 if notes else 48)
    fig.update_layout(barmode="stack", bargap=0.08, hovermode="closest",
                      meta={"chart": CHART, "limits": asdict(limits) if limits else None,
                            "burst": None if burst is None else {"start": burst.start.isoformat(),
                                                                 "end": burst.end.isoformat(), "peak": burst.peak}})
    fig.update_yaxes(range=[0, top], title_text="recipients / hour", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="since 00:00 UTC", row=2, col=1)
    fig.update_xaxes(range=[x0, x1], row=2, col=1)
    return fig
