"""Tenant-wide views: the top senders and their share of the volume, and campaigns shared by several senders."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from toolkit.charts import grouping
from toolkit.charts.grouping import CampaignKey
from toolkit.charts.inputs import Instant, esc, esc1, require, utc
from toolkit.charts.theme import Palette, Theme, finish, no_data, palette

log = logging.getLogger(__name__)

MARK = "⚠ "


def _label(name: str, restricted: bool, p: Palette, width: int = 44) -> str:
    short = name if len(name) <= width else name[: width - 1] + "…"
    return f'<span style="color:{p.restriction}"><b>{MARK}{esc1(short)}</b></span>' if restricted else esc1(short)


def _labels(names: list[str], flagged: set[str], p: Palette, width: int) -> list[str]:
    """Axis labels, shortened to ``width`` unless that would make two of them the same (plotly would merge them)."""
    short = [_label(n, n in flagged, p, width) for n in names]
    return short if len(set(short)) == len(short) else [_label(n, n in flagged, p, 10_000) for n in names]


def _since(values: pd.Series) -> pd.Series:
    stamps = pd.to_datetime(values, utc=True)
    return pd.Series(np.where(stamps.notna(), stamps.dt.strftime("%b %d %H:%M UTC"), ""), index=values.index)


def _span(trace: pd.DataFrame, start: Instant | None, end: Instant | None, chart: str) -> str:
    """" · Nov 11 00:00 – Nov 20 12:00 UTC": the time the counted mail was received in."""
    rows = grouping.window(trace, start, end, chart) if "received" in trace.columns else trace.iloc[0:0]
    if rows.empty:
        return ""
    received = utc(rows["received"], "trace.received")
    return f" · {received.min():%b %d %H:%M} – {received.max():%b %d %H:%M} UTC"


def tenant_volume(trace: pd.DataFrame, restricted: pd.DataFrame | None = None, top: int = 20, *,
                  include_restricted: bool = True, start: Instant | None = None, end: Instant | None = None,
                  theme: Theme = "light", height: int | None = None) -> go.Figure:
    """The ``top`` senders by recipients (internal and external stacked) with their share of everything sent in
    the frame; restricted senders (in ``restricted``) are marked ⚠ in red on the axis, crossed at the bar's end,
    and listed even below the top when ``include_restricted``. ``start``/``end`` narrow the range."""
    chart = "tenant_volume"
    p = palette(theme)
    require(trace, "trace", ("sender", "direction"), chart)
    if top < 1:
        raise ValueError(f"{chart}: top must be at least 1, got {top}")
    volume = grouping.sender_volume(trace, restricted, start=start, end=end)
    title = "Top senders by recipients"
    if volume.empty:
        return no_data(title, "no outbound or internal mail in the message trace", theme, height or 380)
    total = int(volume["recipients"].sum())
    shown = volume.head(top)
    extra = volume.iloc[top:]
    extra = extra[extra["restricted"]] if include_restricted else extra.iloc[0:0]
    shown = pd.concat([shown, extra])
    share_top = float(volume.head(top)["share"].sum())
    title = (f"Top {min(top, len(volume))} of {len(volume):,} senders: {share_top:.0%} of {total:,} recipients"
             + (f" · {int(volume['restricted'].sum())} restricted ⚠" if volume["restricted"].any() else "")
             + _span(trace, start, end, chart))
    labels = _labels(list(shown.index), set(shown.index[shown["restricted"].to_numpy()]), p, 44)
    since = _since(shown["restricted_since"])
    blocked = np.where(shown["restricted"], "<br><b>restricted</b> " + shown["block_type"].fillna("").astype(str)
                       + " since " + since, "")
    custom = np.column_stack([esc(pd.Series(shown.index, index=shown.index)), shown["recipients"].map("{:,}".format),
                              shown["messages"].fillna(0).astype("int64").map("{:,}".format),
                              (shown["share"] * 100).map("{:.1f} %".format), blocked])
    fig = go.Figure()
    for group, color, name in (("internal", p.internal, "internal recipients"),
                               ("external", p.external, "external recipients"),
                               ("unknown", p.unknown, "direction unknown")):
        if group == "unknown" and not shown[group].any():
            continue
        fig.add_trace(go.Bar(
            y=labels, x=shown[group], orientation="h", name=name, customdata=custom, meta={"group": group},
            marker={"color": color, "line": {"width": 0}},
            hovertemplate=(f"<b>%{{customdata[0]}}</b><br>{group}: %{{x:,}}<br>all: %{{customdata[1]}} recipients in "
                           "%{customdata[2]} messages (%{customdata[3]} of the tenant)%{customdata[4]}"
                           "<extra></extra>")))
    fig.add_trace(go.Scatter(y=labels, x=shown["recipients"], mode="text", text=(shown["share"] * 100).map(
        "     {:.1f} %".format), textposition="middle right", showlegend=False, hoverinfo="skip", name="share",
        textfont={"color": p.muted}))
    flagged = shown[shown["restricted"]]
    if len(flagged):
        marked = shown["restricted"].to_numpy()
        fig.add_trace(go.Scatter(
            y=[lab for lab, r in zip(labels, marked, strict=True) if r], x=flagged["recipients"], mode="markers",
            name=f"{MARK}restricted sender", marker={"symbol": "x", "size": 9, "color": p.restriction},
            customdata=custom[marked], meta={"restricted": list(flagged.index)},
            hovertemplate="<b>%{customdata[0]}</b>%{customdata[4]}<extra></extra>"))
    finish(fig, theme, title, height or 150 + 22 * len(shown))
    fig.update_layout(barmode="stack", bargap=0.25, meta={"chart": chart, "senders": list(shown.index),
                                                          "restricted": list(flagged.index), "total": total})
    fig.update_yaxes(autorange="reversed", categoryorder="array", categoryarray=labels)
    fig.update_xaxes(title_text="recipients (one per message and recipient)", rangemode="tozero")
    fig.update_xaxes(range=[0, float(shown["recipients"].max()) * 1.18])
    return fig


def campaigns(trace: pd.DataFrame, *, by: CampaignKey = "subject", top: int = 15, max_senders: int = 30,
              min_senders: int = 2, restricted: pd.DataFrame | None = None, start: Instant | None = None,
              end: Instant | None = None, theme: Theme = "light", height: int = 480) -> go.Figure:
    """Campaigns across senders: a heatmap of recipients per campaign (rows) and sender (columns), for the
    ``top`` campaigns by recipients that at least ``min_senders`` senders share. ``by="subject"`` groups
    normalised subjects (``grouping.normalise_subjects``); ``by="recipient_domain"`` external recipient domains.
    Restricted senders are marked ⚠ in red. The table behind it is ``grouping.campaign_table``."""
    chart = "campaigns"
    p = palette(theme)
    table, members = grouping.campaign_frames(trace, by=by, min_senders=min_senders, restricted=restricted,
                                              start=start, end=end, chart=chart)
    what = "subjects" if by == "subject" else "external recipient domains"
    title = f"Campaigns: senders sharing {what}"
    if table.empty:
        return no_data(title, f"no {what} shared by {min_senders} or more senders", theme, height)
    table = table.head(top)
    members = members[members["campaign"].isin(table["campaign"])]
    per_sender = members.groupby("sender")["recipients"].sum().sort_values(ascending=False, kind="stable")
    senders = list(per_sender.index[:max_senders])
    members = members[members["sender"].isin(senders)]
    grid = members.pivot_table(index="campaign", columns="sender", values="recipients", aggfunc="sum",
                               observed=True).reindex(index=table["campaign"], columns=senders)
    flagged = set(members.loc[members["restricted"], "sender"])
    x_labels = _labels(senders, flagged, p, 30)
    y_labels = [f"{label} ({n})" for label, n in zip(_labels(list(table["campaign"]), set(), p, 48),
                                                      table["senders"], strict=True)]
    z = grid.to_numpy(dtype=float)
    example = np.repeat(esc(table["example"]).to_numpy(dtype=object)[:, None], len(senders), axis=1)
    key = np.repeat(esc(table["campaign"]).to_numpy(dtype=object)[:, None], len(senders), axis=1)
    who = np.repeat(np.array([esc1(s) + (" (restricted)" if s in flagged else "") for s in senders],
                             dtype=object)[None, :], len(table), axis=0)
    fig = go.Figure(go.Heatmap(
        z=np.log10(z), x=x_labels, y=y_labels, customdata=np.dstack([key, example, who, np.nan_to_num(z)]),
        colorscale=[[0.0, p.heat[0]], [1.0, p.heat[1]]], hoverongaps=False, xgap=1, ygap=1, name="recipients",
        text=np.where(np.isnan(z), "", np.nan_to_num(z).astype(np.int64).astype(str)),
        texttemplate="%{text}" if z.size <= 450 else None, textfont={"size": 9},
        colorbar={"title": {"text": "recipients"}, "tickvals": list(range(0, 7)),
                  "ticktext": [f"{10 ** i:,}" for i in range(0, 7)], "thickness": 12},
        zmin=0, zmax=max(1.0, float(np.nanmax(np.log10(z)))),
        meta={"senders": senders, "campaigns": list(table["campaign"]), "restricted": sorted(flagged)},
        hovertemplate=("<b>%{customdata[0]}</b><br>e.g. “%{customdata[1]}”<br>%{customdata[2]}: "
                       "%{customdata[3]:,} recipients<extra></extra>")))
    note = (f"the {len(senders)} largest of {len(per_sender):,} senders shown" if len(per_sender) > len(senders)
            else "")
    finish(fig, theme, title + (f" · {note}" if note else ""), height)
    fig.update_layout(meta={"chart": chart, "by": by})
    fig.update_yaxes(autorange="reversed", title_text="campaign (senders)")
    fig.update_xaxes(tickangle=-35, title_text="sender")
    return fig
