"""Tenant-wide: hourly outbound volume per sender and the campaign grouping over the 50,000-user tenant's 5 million
trace rows, read from the Parquet cache; each side in its own child process (its own peak memory).

The toolkit (``toolkit.charts.grouping.hourly_sender_volume`` and ``campaign_table``) against plain pandas on the
same data: ``groupby(sender, hour, direction).size()`` and a per-row ``.str`` subject normalisation then
``groupby(campaign)`` with ``nunique``. The hourly figures of both are compared cell for cell.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.common import Figure, StageResult, in_child

COLUMNS = ["received", "trace_id", "sender", "recipient", "direction", "subject"]  # what the two answers read
TARGET_S = 10.0
TARGET_MB = 3000.0


def read(folder: str) -> tuple[Any, Any]:
    import pandas as pd

    trace = pd.read_parquet(Path(folder) / "trace.parquet", columns=COLUMNS)
    restricted = pd.read_parquet(Path(folder) / "restricted.parquet")
    return trace, restricted


def toolkit_side(folder: str, profile: bool = False) -> dict[str, Any]:
    """(child) Read the cache, then the toolkit's hourly volume per sender and campaign table."""
    from toolkit.charts import grouping

    t = time.perf_counter()
    trace, restricted = read(folder)
    read_s = time.perf_counter() - t
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    t = time.perf_counter()
    hourly = grouping.hourly_sender_volume(trace)
    hourly_s = time.perf_counter() - t
    t = time.perf_counter()
    campaigns = grouping.campaign_table(trace, restricted=restricted)
    campaign_s = time.perf_counter() - t
    out: dict[str, Any] = {"rows": len(trace), "read_s": read_s, "hourly_s": hourly_s, "campaign_s": campaign_s,
                           "cells": len(hourly), "campaigns": len(campaigns),
                           "hourly_sum": int(hourly["recipients"].sum()),
                           "hourly_digest": _digest(hourly)}
    if profiler is not None:
        import io
        import pstats

        profiler.disable()
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(18)
        out["profile"] = text.getvalue()
    return out


def _digest(hourly: Any) -> int:
    import pandas as pd

    frame = hourly[["sender", "hour", "internal", "external", "unknown"]].astype(
        {"sender": str}).sort_values(["sender", "hour"], ignore_index=True)
    return int(pd.util.hash_pandas_object(frame, index=False).sum() % (1 << 61))


def baseline_side(folder: str) -> dict[str, Any]:
    """(child) Read the cache, then plain pandas groupbys for the same two answers."""
    import numpy as np
    import pandas as pd

    t = time.perf_counter()
    trace, restricted = read(folder)
    read_s = time.perf_counter() - t
    t = time.perf_counter()
    direction = trace["direction"].astype(object)
    sent = trace[direction != "inbound"]
    group = sent["direction"].astype(object).map({"internal": "internal", "outbound": "external"}).fillna("unknown")
    counts = sent.groupby([sent["sender"].astype(str).str.lower(), sent["received"].dt.floor("h"), group],
                          observed=True).size().unstack(fill_value=0)
    counts = counts.reindex(columns=["internal", "external", "unknown"], fill_value=0)
    hourly = counts.rename_axis(["sender", "hour"]).reset_index()
    hourly_s = time.perf_counter() - t
    t = time.perf_counter()
    subject = sent["subject"].astype(object).fillna("").astype(str)
    key = (subject.str.replace(r"(?i)^(?:\s*(?:re|fwd?|aw|wg|sv|vs|tr|rv|antw)\s*(?:\[\d+\])?\s*:\s*)+", "",
                               regex=True)
           .str.lower().str.replace(r"\d+(?:[.,:/-]\d+)*", "#", regex=True)
           .str.replace(r"[\s!.?…]+$", "", regex=True).str.replace(r"\s+", " ", regex=True).str.strip())
    frame = pd.DataFrame({"campaign": key, "sender": sent["sender"].astype(str).str.lower(),
                          "trace_id": sent["trace_id"].astype(object)})
    frame = frame[frame["campaign"] != ""]
    table = frame.groupby("campaign").agg(senders=("sender", "nunique"), recipients=("sender", "size"),
                                          messages=("trace_id", "nunique"))
    table = table[table["senders"] >= 2].sort_values(["recipients", "senders"], ascending=False)
    campaign_s = time.perf_counter() - t
    del restricted, np
    return {"rows": len(trace), "read_s": read_s, "hourly_s": hourly_s, "campaign_s": campaign_s,
            "cells": len(hourly), "campaigns": len(table),
            "hourly_sum": int(hourly[["internal", "external", "unknown"]].to_numpy().sum()),
            "hourly_digest": _digest(hourly)}


def run(big: Path, quick: bool = False) -> StageResult:
    from bench import data

    result = StageResult("tenant-wide")
    folder = str(data.frames_dir(big))
    t = time.perf_counter()
    mine, mine_peak = in_child(toolkit_side, folder, True)  # profiled: a few hundred calls, little overhead
    mine_wall = time.perf_counter() - t
    t = time.perf_counter()
    base, base_peak = in_child(baseline_side, folder)
    base_wall = time.perf_counter() - t
    total = mine["read_s"] + mine["hourly_s"] + mine["campaign_s"]
    base_total = base["read_s"] + base["hourly_s"] + base["campaign_s"]
    compute = mine["hourly_s"] + mine["campaign_s"]
    base_compute = base["hourly_s"] + base["campaign_s"]
    same = mine["hourly_digest"] == base["hourly_digest"] and mine["cells"] == base["cells"]
    result.figures += [
        Figure("tenant-wide", f"read cache + hourly per sender + campaigns, {mine['rows']:,} rows", total, "s",
               target=f"< {TARGET_S:g} s", met=total < TARGET_S, baseline=base_total, ratio=base_total / total),
        Figure("tenant-wide", "peak memory (child process)", mine_peak, "MB", target=f"< {TARGET_MB:,.0f} MB",
               met=mine_peak < TARGET_MB, baseline=base_peak, ratio=base_peak / mine_peak),
        Figure("tenant-wide", "aggregation only (after the read)", compute, "s", baseline=base_compute,
               ratio=base_compute / compute),
        Figure("tenant-wide", "hourly volume per sender", mine["hourly_s"], "s", baseline=base["hourly_s"],
               ratio=base["hourly_s"] / mine["hourly_s"]),
        Figure("tenant-wide", "campaign grouping", mine["campaign_s"], "s", baseline=base["campaign_s"],
               ratio=base["campaign_s"] / mine["campaign_s"]),
    ]
    result.notes += [
        f"Read {mine['read_s']:.1f} s (baseline {base['read_s']:.1f} s); {mine['cells']:,} sender-hours with mail "
        f"(baseline {base['cells']:,}): {'identical, cell for cell' if same else 'DIFFERENT'}; "
        f"{mine['campaigns']:,} campaigns (the baseline's simpler normalisation, without names, finds "
        f"{base['campaigns']:,}). Child wall times incl. start-up: {mine_wall:.1f} s and {base_wall:.1f} s.",
    ]
    if not same:
        result.error = "the toolkit's hourly volume per sender differs from the plain pandas answer"
    result.notes.append("PROFILE:" + mine["profile"])
    return result
