"""A sender's recipients per hour, the burst in them, and the usual hour before it (pure pandas, no figures).

Counts are trace rows, one per message and recipient, which is what the outbound limits count. ``internal`` is
mail to an accepted domain, ``external`` mail that leaves the tenant (``direction == "outbound"``), ``unknown`` rows
whose direction was not decided (the accepted domains were not known); inbound rows are not the sender's sending.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from toolkit.charts.inputs import esc, text, utc

log = logging.getLogger(__name__)

HOUR = pd.Timedelta(hours=1)
DAY = pd.Timedelta(days=1)
GROUPS = ("internal", "external", "unknown")


def direction_groups(direction: pd.Series) -> pd.Series:
    """``internal``, ``external`` or ``unknown`` per row, and ``inbound`` for mail that came in."""
    values = text(direction).str.lower().to_numpy(dtype=object)
    group = np.select([values == "internal", values == "outbound", values == "inbound"],
                      ["internal", "external", "inbound"], default="unknown")
    return pd.Series(group, index=direction.index)


def sent_rows(trace: pd.DataFrame) -> pd.DataFrame:
    """The rows the sender sent (inbound dropped) with ``hour`` and ``group`` columns added."""
    group = direction_groups(trace["direction"])
    rows = trace.assign(_received=utc(trace["received"], "trace.received"), group=group.to_numpy())
    rows = rows[rows["group"] != "inbound"]
    return rows.assign(hour=rows["_received"].dt.floor("h"))


def hour_grid(start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    """Every hour from the hour of ``start`` up to the hour holding ``end`` (at least one)."""
    first, last = start.floor("h"), max(end, start).floor("h")
    return pd.date_range(first, last, freq="h", tz="UTC")


def hourly_counts(rows: pd.DataFrame, grid: pd.DatetimeIndex) -> pd.DataFrame:
    """Recipients per hour of ``grid`` in each group (internal, external, unknown) and their ``total``."""
    counts = rows.groupby(["hour", "group"]).size().unstack("group", fill_value=0)
    counts = counts.reindex(index=grid, columns=list(GROUPS), fill_value=0).astype("int64")
    counts.index.name = "hour"
    counts["total"] = counts[list(GROUPS)].sum(axis=1)
    return counts


def _top(rows: pd.DataFrame, keys: list[str], column: str, k: int) -> pd.Series:
    """The ``k`` most frequent values of ``column`` per ``keys`` as "value (n)", comma-joined."""
    if column not in rows.columns or rows.empty:
        return pd.Series(dtype=object)
    counted = (rows.assign(_v=esc(rows[column])).groupby([*keys, "_v"]).size().rename("n").reset_index())
    counted = counted[counted["_v"] != ""]
    counted = counted.sort_values([*keys, "n", "_v"], ascending=[*([True] * len(keys)), False, True])
    counted = counted.groupby(keys).head(k)
    counted["label"] = counted["_v"] + " (" + counted["n"].map("{:,}".format) + ")"
    return counted.groupby(keys)["label"].agg(", ".join)


def hourly_details(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (hour, group): messages, the top subjects, recipient domains and an example recipient, for hover."""
    keys = ["hour", "group"]
    if rows.empty:
        return pd.DataFrame(columns=["messages", "subjects", "domains", "example"])
    details = pd.DataFrame(index=rows.groupby(keys).size().index)
    if "trace_id" in rows.columns:
        details["messages"] = rows.drop_duplicates([*keys, "trace_id"]).groupby(keys).size()
    else:
        details["messages"] = np.nan
    details["subjects"] = _top(rows, keys, "subject", 2)
    details["domains"] = _top(rows, keys, "recipient_domain", 3)
    if "recipient" in rows.columns:
        details["example"] = esc(rows.groupby(keys)["recipient"].first().astype(object))
    else:
        details["example"] = ""
    return details.fillna({"subjects": "", "domains": "", "example": ""})


@dataclass(frozen=True)
class Burst:
    """The run of unusually busy hours around the restriction (or the busiest hour)."""

    start: pd.Timestamp
    end: pd.Timestamp
    peak_hour: pd.Timestamp
    peak: int
    recipients: int
    threshold: float


@dataclass(frozen=True)
class Baseline:
    """The sender's usual hour before the burst: median and 95th percentile of recipients per hour."""

    median: float
    p95: float
    hours: int
    start: pd.Timestamp
    end: pd.Timestamp


def find_burst(total: pd.Series, anchor: pd.Timestamp | None, gap_hours: int = 2) -> Burst | None:
    """The burst: consecutive hours (gaps of up to ``gap_hours`` quiet hours allowed) above the hot threshold,
    ending at or shortly before ``anchor`` (the restriction), or around the busiest hour when there is none.

    Hot means more than twice the 95th percentile of the hours more than a day before the anchor, and at least three
    recipients over it. None when there is no mail, or no hot hour near the anchor.
    """
    if total.empty or int(total.sum()) == 0:
        return None
    values = total.to_numpy()
    index = total.index
    if anchor is None:
        pos = int(values.argmax())
    else:
        pos = int(np.clip(index.searchsorted(anchor.floor("h"), side="right") - 1, 0, len(values) - 1))
    prior = values[: max(0, pos - 24)]
    p95 = float(np.quantile(prior, 0.95)) if len(prior) >= 24 else 0.0
    threshold = max(2 * p95, p95 + 3)
    hot = np.flatnonzero(values > threshold)
    if not len(hot):
        return None
    run_id = np.concatenate([[0], np.cumsum(np.diff(hot) > gap_hours + 1)])
    reach = gap_hours + 1
    before = np.flatnonzero((hot <= pos) & (hot >= pos - reach))
    after = np.flatnonzero((hot > pos) & (hot <= pos + reach))
    if len(before):
        chosen = run_id[before[-1]]
    elif len(after):
        chosen = run_id[after[0]]
    else:
        return None
    members = hot[run_id == chosen]
    first, last = int(members[0]), int(members[-1])
    span = values[first: last + 1]
    peak_at = first + int(span.argmax())
    return Burst(start=index[first], end=index[last] + HOUR, peak_hour=index[peak_at], peak=int(values[peak_at]),
                 recipients=int(span.sum()), threshold=threshold)


def find_baseline(total: pd.Series, before: pd.Timestamp | None, days: int, min_hours: int = 24) -> Baseline | None:
    """Median and p95 of recipients per hour (quiet hours included) over the ``days`` days before ``before``."""
    if total.empty:
        return None
    end = before if before is not None else total.index[-1] + HOUR
    start = end - pd.Timedelta(days=days)
    window = total[(total.index >= start) & (total.index < end)]
    if len(window) < min_hours:
        return None
    values = window.to_numpy()
    return Baseline(median=float(np.median(values)), p95=float(np.quantile(values, 0.95)), hours=len(window),
                    start=window.index[0], end=window.index[-1] + HOUR)
