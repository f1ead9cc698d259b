"""Normalise: one million message-trace rows, as the JSON pages the client receives, into the ``trace`` frame.

The toolkit's converter (``toolkit.frames.from_graph("trace", items)``) against ``pandas.json_normalize`` plus the
dtype conversion to the same frame (lowercased addresses, the recipient's domain, the direction, UTC timestamps,
categoricals, Arrow strings). Both run in one child process on the same items, the toolkit first; memory per row is
the frame's own (``memory_usage(deep=True)``), and the growth of the process's resident memory while converting is
reported beside it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from bench.common import Figure, StageResult, in_child, rss_mb

ROWS = 1_000_000
PAGE = 5000
TARGET_BYTES = 120
REPEATS = 2


def pages(path: Path, rows: int) -> list[list[dict[str, Any]]]:
    """``rows`` trace rows as 5,000-row pages decoded from JSON page bodies, as the transport decodes them."""
    out: list[list[dict[str, Any]]] = []
    with path.open("rb") as handle:
        chunk: list[bytes] = []
        for n, line in enumerate(handle):
            if n >= rows:
                break
            chunk.append(line.rstrip(b"\n"))
            if len(chunk) == PAGE:
                out.append(json.loads(b'{"value":[' + b",".join(chunk) + b"]}")["value"])
                chunk = []
        if chunk:
            out.append(json.loads(b'{"value":[' + b",".join(chunk) + b"]}")["value"])
    return out


RAW: dict[str, float] = {}


def baseline(items: list[dict[str, Any]], accepted: list[str]) -> Any:
    """pandas.json_normalize, then the dtype conversion to the ``trace`` frame's columns and dtypes."""
    import numpy as np
    import pandas as pd

    from toolkit.frames import STRING, TRACE_STATUSES
    from toolkit.frames.spec import category_dtype

    raw = pd.json_normalize(items)
    RAW["bytes_per_row"] = float(raw.memory_usage(deep=True).sum()) / max(len(raw), 1)  # not timed apart
    out = pd.DataFrame()
    out["received"] = pd.to_datetime(raw["receivedDateTime"], utc=True, format="ISO8601").astype("datetime64[ns, UTC]")
    out["trace_id"] = raw["id"].str.lower().astype(STRING)
    out["message_id"] = raw["messageId"].replace("", None).astype(STRING)
    sender = raw["senderAddress"].str.lower()
    recipient = raw["recipientAddress"].str.lower()
    domain = recipient.str.rsplit("@", n=1).str[-1]
    out["sender"] = sender.astype(STRING).astype("category")
    out["recipient"] = recipient.astype(STRING).astype("category")
    out["recipient_domain"] = domain.astype(STRING).astype("category")
    inside = domain.isin(accepted)
    sender_inside = sender.str.rsplit("@", n=1).str[-1].isin(accepted)
    out["direction"] = pd.Categorical(np.where(inside, np.where(sender_inside, "internal", "inbound"), "outbound"),
                                      dtype=category_dtype(("outbound", "inbound", "internal")))
    out["subject"] = raw["subject"].replace("", None).astype(STRING).astype("category")
    out["status"] = raw["status"].astype(category_dtype(TRACE_STATUSES))
    out["size"] = raw["size"].astype("Int64")
    out["from_ip"] = raw["fromIP"].str.lower().replace("", None).astype(STRING).astype("category")
    out["to_ip"] = raw["toIP"].str.lower().replace("", None).astype(STRING).astype("category")
    out["source"] = pd.Categorical(["graph"] * len(raw), dtype=category_dtype(("graph", "exchange_v2", "file")))
    return out


def measure(path: str, rows: int, accepted: list[str]) -> dict[str, Any]:
    """(child) Decode the pages (not timed), then the toolkit's converter and the baseline, alternating, twice; the
    best time of each. Memory is measured on the first round (the toolkit first, so its resident growth is its
    own)."""
    import gc

    from toolkit import frames

    t = time.perf_counter()
    items = [row for page in pages(Path(path), rows) for row in page]
    decode = time.perf_counter() - t
    gc.collect()
    out: dict[str, Any] = {"rows": len(items), "decode_s": decode}
    runs = (("toolkit", lambda: frames.from_graph("trace", items, accepted_domains=accepted)),
            ("baseline", lambda: baseline(items, accepted)))
    for round_ in range(REPEATS):  # alternating, the best of each: the machine is shared and noisy
        for name, convert in runs:
            before = rss_mb()
            t = time.perf_counter()
            frame = convert()
            seconds = time.perf_counter() - t
            out[f"{name}_s"] = min(seconds, out.get(f"{name}_s", seconds))
            if round_:
                del frame
                gc.collect()
                continue
            out[f"{name}_rss_growth_mb"] = rss_mb() - before
            usage = frame.memory_usage(deep=True)
            out[f"{name}_bytes_per_row"] = float(usage.sum()) / len(frame)
            out[f"{name}_columns"] = {k: float(v) / len(frame) for k, v in usage.items() if k != "Index"}
            out[f"{name}_dtypes"] = {k: str(v) for k, v in frame.dtypes.items()}
            del frame
            gc.collect()
    out["raw_bytes_per_row"] = RAW.get("bytes_per_row", 0.0)
    return out


def run(big: Path, quick: bool = False) -> StageResult:
    from bench import data

    result = StageResult("normalise")
    rows = 200_000 if quick else ROWS
    m, peak = in_child(measure, str(big / "message_traces.jsonl"), rows, data.domains(big))
    speed = m["baseline_s"] / m["toolkit_s"]
    per_row = m["toolkit_bytes_per_row"]
    result.figures += [
        Figure("normalise", f"convert {m['rows']:,} rows (JSON pages -> trace frame)", m["toolkit_s"], "s",
               target=">= 5x faster than json_normalize + dtypes", met=speed >= 5, baseline=m["baseline_s"],
               ratio=speed),
        Figure("normalise", "frame memory per row (baseline: converted to the same dtypes)", per_row, "B/row",
               target=f"<= {TARGET_BYTES} B/row",
               met=per_row <= TARGET_BYTES, baseline=m["baseline_bytes_per_row"],
               ratio=m["baseline_bytes_per_row"] / per_row),
        Figure("normalise", "frame memory per row vs json_normalize's own frame (object columns)", per_row, "B/row",
               baseline=m["raw_bytes_per_row"], ratio=m["raw_bytes_per_row"] / per_row),
        Figure("normalise", "resident memory growth while converting", m["toolkit_rss_growth_mb"] * 1e6 / m["rows"],
               "B/row", baseline=m["baseline_rss_growth_mb"] * 1e6 / m["rows"]),
    ]
    columns = ", ".join(f"{k} {v:.1f}" for k, v in sorted(m["toolkit_columns"].items(), key=lambda kv: -kv[1]))
    result.notes += [
        f"Toolkit frame bytes per row by column: {columns}.",
        "trace_id (a 36-character GUID) and message_id (about 62 characters) are distinct per message and held as "
        "Arrow strings by the frame contract: with received (8) and size (Int64, 9) they alone take about "
        f"{m['toolkit_columns']['trace_id'] + m['toolkit_columns']['message_id'] + 17:.0f} B/row, so 120 B/row "
        "cannot be reached without changing the contract's dtypes for those two columns.",
        f"Decoding the pages (json.loads, not counted above): {m['decode_s']:.1f} s; child peak RSS {peak:,.0f} MB.",
    ]
    return result
