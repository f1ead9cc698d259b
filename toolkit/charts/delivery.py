"""Where the user's mail went and what became of it: recipient domains and delivery status."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from toolkit.charts import grouping
from toolkit.charts.inputs import Source, addresses_of, esc, esc1, frame_of, require, text
from toolkit.charts.theme import Theme, finish, no_data, palette, text_on

log = logging.getLogger(__name__)

CHART = "delivery"
#: Statuses in the order they are stacked; anything else is drawn as "other".
STATUS_ORDER = ("delivered", "expanded", "pending", "gettingStatus", "filteredAsSpam", "quarantined", "failed")
STATUS_NAMES = {"delivered": "delivered", "expanded": "expanded (group)", "pending": "pending",
                "gettingStatus": "getting status", "filteredAsSpam": "filtered as spam", "quarantined": "quarantined",
                "failed": "failed", "other": "other"}
OTHER_DOMAINS = "other domains"
#: "other domains" may run off the scale when it is this many times the largest domain shown (it is labelled).
OFF_SCALE = 2.0


def _statuses(series: pd.Series) -> pd.Series:
    raw = text(series)
    return raw.where(raw.isin(STATUS_ORDER), "other")


def delivery(data: Source, *, sender: str | Sequence[str] | None = None, top: int = 10, theme: Theme = "light",
             height: int = 460) -> go.Figure:
    """The user's recipients by delivery status: overall (share of each status) and for the ``top`` recipient
    domains (the rest as "other domains"). ``data`` is a Case or a trace frame (``sender`` chooses the sender when
    the frame holds several; inbound mail is left out)."""
    p = palette(theme)
    trace = frame_of(data, "trace", CHART)
    require(trace, "trace", ("recipient_domain", "status"), CHART)
    if top < 1:
        raise ValueError(f"{CHART}: top must be at least 1, got {top}")
    addresses = addresses_of(data, sender)
    rows = trace
    if addresses and "sender" in trace.columns:
        rows = rows[text(rows["sender"]).str.lower().isin(list(addresses)).to_numpy()]
    if "direction" in rows.columns:
        rows = rows[grouping.direction_codes(rows["direction"]) != grouping.INBOUND]
    who = addresses[0] if addresses else "the sender"
    title = f"Recipient domains and delivery: {esc1(who)}"
    if rows.empty:
        return no_data(title, f"no mail sent by {esc1(who)} in the message trace", theme, height)
    rows = rows.assign(_status=_statuses(rows["status"]).to_numpy(),
                       _domain=text(rows["recipient_domain"]).str.lower().replace("", "(no domain)").to_numpy())
    by_domain = rows.groupby("_domain").size().sort_values(ascending=False, kind="stable")
    keep = list(by_domain.index[:top])
    rows["_shown"] = np.where(rows["_domain"].isin(keep), rows["_domain"], OTHER_DOMAINS)
    order = keep + ([OTHER_DOMAINS] if len(by_domain) > top else [])
    counts = rows.groupby(["_shown", "_status"]).size().unstack(fill_value=0).reindex(order, fill_value=0)
    statuses = [s for s in (*STATUS_ORDER, "other") if s in counts.columns and counts[s].any()]
    examples = _examples(rows)
    totals = counts.sum(axis=1)
    overall = counts.sum(axis=0)
    everyone = int(overall.sum())

    others = len(by_domain) - len(keep)
    labels = [esc1(d) if d != OTHER_DOMAINS else f"{others:,} other domains" for d in order]
    fig = make_subplots(rows=2, cols=1, row_heights=[0.16, 0.84], vertical_spacing=0.1)
    for status in statuses:
        color = p.status(status) if status != "other" else p.unknown
        name = STATUS_NAMES[status]
        share = overall[status] / everyone
        fig.add_trace(go.Bar(
            y=["all recipients"], x=[share], orientation="h", name=name, legendgroup=status, showlegend=False,
            marker={"color": color}, meta={"status": status, "overall": True},
            text=[f"{share:.0%}" if share >= 0.06 else ""], textposition="inside", insidetextanchor="middle",
            insidetextfont={"color": text_on(color) if color.startswith("#") else p.text},
            hovertemplate=f"{name}: {int(overall[status]):,} of {everyone:,} recipients ({share:.1%})<extra></extra>"),
            row=1, col=1)
        info = examples.xs(status, level="_status").reindex(order) if status in examples.index.get_level_values(
            "_status") else pd.DataFrame(index=order, columns=["examples", "subject"])
        custom = np.column_stack([esc(pd.Series(order)), totals.map("{:,}".format).to_numpy(),
                                  info["examples"].fillna("").to_numpy(), info["subject"].fillna("").to_numpy()])
        fig.add_trace(go.Bar(
            y=labels, x=counts[status], orientation="h", name=name, legendgroup=status,
            marker={"color": color}, customdata=custom, meta={"status": status},
            hovertemplate=(f"<b>%{{customdata[0]}}</b><br>{name}: %{{x:,}} of %{{customdata[1]}} recipients<br>"
                           "e.g. %{customdata[2]}<br>subject: %{customdata[3]}<extra></extra>")), row=2, col=1)
    finish(fig, theme, f"{title} ({everyone:,} recipients, {len(by_domain):,} domains)", height)
    fig.update_layout(barmode="stack", bargap=0.22, legend_traceorder="normal",
                      meta={"chart": CHART, "domains": order, "statuses": statuses})
    fig.update_xaxes(tickformat=".0%", range=[0, 1], showgrid=False, row=1, col=1)
    fig.update_xaxes(title_text="recipients", rangemode="tozero", row=2, col=1)
    _other_off_scale(fig, counts, labels[-1] if others else None, statuses)
    fig.update_yaxes(autorange="reversed", row=2, col=1)
    return fig


def _other_off_scale(fig: go.Figure, counts: pd.DataFrame, label: str | None, statuses: list[str]) -> None:
    """When "other domains" dwarfs the named domains, the scale follows the named ones and the other bar runs
    off the right edge, its total and statuses written at the edge (the clipped part would hide them)."""
    totals = counts.sum(axis=1)
    named = totals.drop(OTHER_DOMAINS, errors="ignore")
    if label is None or named.empty or totals[OTHER_DOMAINS] <= OFF_SCALE * named.max():
        return
    fig.update_xaxes(range=[0, float(named.max()) * 1.6], row=2, col=1)
    other = counts.loc[OTHER_DOMAINS]
    parts = " · ".join(f"{int(other[s]):,} {STATUS_NAMES[s]}" for s in statuses if other[s])
    fig.add_annotation(x=1.0, xref="x2 domain", y=label, yref="y2", xanchor="right", showarrow=False,
                       text=f"{int(totals[OTHER_DOMAINS]):,} recipients: {parts} ▶", name="off-scale",
                       font={"size": 11, "color": "#ffffff"}, bgcolor="rgba(0,0,0,0.6)", borderpad=2)


def _examples(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (domain shown, status): up to three recipients and the most common subject."""
    keys = ["_shown", "_status"]
    if "recipient" in rows.columns:
        firsts = rows.drop_duplicates([*keys, "recipient"]).assign(_r=esc(rows["recipient"]))
        examples = firsts.groupby(keys)["_r"].agg(lambda s: ", ".join(s.iloc[:3]))
    else:
        examples = rows.groupby(keys).size().map(lambda _: "")
    out = pd.DataFrame({"examples": examples})
    if "subject" in rows.columns:
        subject = rows.assign(_s=esc(rows["subject"])).groupby([*keys, "_s"]).size().rename("n").reset_index()
        subject = subject.sort_values([*keys, "n"], ascending=[True, True, False]).drop_duplicates(keys)
        out["subject"] = subject.set_index(keys)["_s"]
    else:
        out["subject"] = ""
    return out
