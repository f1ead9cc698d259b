"""Tenant-wide aggregation for the tenant charts: volume per sender and campaigns across senders.

Everything here is vectorised over category codes (NumPy ``bincount`` / ``unique`` and pyarrow string kernels on
the distinct values), never a Python loop over rows: a few hundred thousand trace rows aggregate in well under a
second. Text work (normalising subjects) runs once per distinct subject, not per row.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from toolkit.charts.inputs import Instant, instant, require, text, utc
from toolkit.frames.spec import STRING

log = logging.getLogger(__name__)

#: direction codes
INTERNAL, EXTERNAL, UNKNOWN, INBOUND = 0, 1, 2, 3
CampaignKey = Literal["subject", "recipient_domain"]


def categorical(series: pd.Series) -> pd.Series:
    """``series`` as a categorical (free when it already is one)."""
    return series if isinstance(series.dtype, pd.CategoricalDtype) else series.astype("category")


def arrow_text(values: pd.Index | pd.Series) -> pa.Array:
    """Text values as one Arrow string array (zero-copy when they are Arrow-backed already)."""
    array = values.array
    if hasattr(array, "__arrow_array__"):
        arrow = array.__arrow_array__()
        arrow = arrow.combine_chunks() if isinstance(arrow, pa.ChunkedArray) else arrow
        return arrow if arrow.type == pa.string() else arrow.cast(pa.string())
    objects = pd.Series(values).astype(object)
    return pa.array(objects.where(objects.notna(), None).to_numpy(dtype=object), pa.string(), from_pandas=True)


def text_codes(series: pd.Series, mask: np.ndarray | None = None) -> np.ndarray:
    """Integer codes of a text column's values (equal texts, equal codes; -1 for missing), for the rows in
    ``mask``, with no Python object per row. Texts of one width (GUIDs: every trace id) are read as fixed-width
    bytes and factorised through a 64-bit hash (NumPy, a few passes); others through one Arrow hash pass. Codes
    say which rows hold equal texts: for counting distinct values, not for naming them."""
    arrow = arrow_text(series)
    if mask is not None:
        arrow = arrow.filter(pa.array(mask, pa.bool_()))
    hashed = _fixed_width_hash(arrow)
    if hashed is not None:
        codes, _ = pd.factorize(hashed)
        return codes.astype(np.int64, copy=False)
    indices = arrow.dictionary_encode().indices
    return indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def _fixed_width_hash(arrow: pa.Array) -> np.ndarray | None:
    """A 64-bit hash per value when every value is present and of one byte width (else None)."""
    if len(arrow) == 0 or arrow.null_count or arrow.type != pa.string():
        return None
    offsets = np.frombuffer(arrow.buffers()[1], dtype=np.int32, count=len(arrow) + 1, offset=arrow.offset * 4)
    width = int(offsets[1] - offsets[0])
    if width == 0 or int(offsets[-1] - offsets[0]) != width * len(arrow) or np.any(np.diff(offsets) != width):
        return None
    data = np.frombuffer(arrow.buffers()[2], dtype=np.uint8, count=width * len(arrow), offset=int(offsets[0]))
    padded = -width % 8
    rows = data.reshape(len(arrow), width)
    if padded:
        rows = np.concatenate([rows, np.zeros((len(arrow), padded), dtype=np.uint8)], axis=1)
    words = np.ascontiguousarray(rows).view(np.uint64)
    hashed = np.full(len(arrow), np.uint64(0xCBF29CE484222325), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in range(words.shape[1]):
            hashed ^= words[:, column]
            hashed *= np.uint64(0x100000001B3)
            hashed ^= hashed >> np.uint64(29)
    return hashed.view(np.int64)


def hour_numbers(received: pd.Series) -> np.ndarray:
    """Whole hours since the epoch of tz-aware timestamps (int64; NaT gives a very negative number)."""
    stamps = utc(received, "trace.received").dt.as_unit("ns")
    return stamps.array.asi8 // 3_600_000_000_000


def unique_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of an integer array, sorted, and how often each occurs (sort-based, fast)."""
    ordered = np.sort(values, kind="stable")
    if not len(ordered):
        return ordered, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    return ordered[starts], np.diff(np.append(starts, len(ordered)))


def direction_codes(direction: pd.Series) -> np.ndarray:
    """0 internal, 1 external (outbound), 2 unknown (missing or unrecognised), 3 inbound; decided per category."""
    cat = categorical(direction)
    names = [str(c).lower() for c in cat.cat.categories]
    lookup = np.array([{"internal": INTERNAL, "outbound": EXTERNAL, "inbound": INBOUND}.get(n, UNKNOWN)
                       for n in names] + [UNKNOWN], dtype=np.int8)
    codes = cat.cat.codes.to_numpy()
    return lookup[np.where(codes < 0, len(names), codes)]


def lower_categories(series: pd.Series) -> pd.Series:
    """A text column as a categorical of lowercased, stripped values (distinct values merged)."""
    cat = categorical(series)
    cleaned = pd.Index(text(pd.Series(cat.cat.categories)).str.strip().str.lower())
    codes, uniques = pd.factorize(cleaned)
    row_codes = cat.cat.codes.to_numpy()
    mapped = np.where(row_codes < 0, -1, codes[np.maximum(row_codes, 0)] if len(codes) else -1)
    return pd.Series(pd.Categorical.from_codes(mapped, categories=pd.Index(uniques, dtype=object)),
                     index=series.index, name=series.name)


def window(trace: pd.DataFrame, start: Instant | None, end: Instant | None, chart: str) -> pd.DataFrame:
    """The rows received in [start, end] (all rows when neither is given)."""
    first, last = instant(start, "start"), instant(end, "end")
    if first is None and last is None:
        return trace
    require(trace, "trace", ("received",), chart)
    received = utc(trace["received"], "trace.received")
    keep = np.ones(len(trace), dtype=bool)
    if first is not None:
        keep &= (received >= first).to_numpy()
    if last is not None:
        keep &= (received <= last).to_numpy()
    return trace[keep]


def restricted_senders(restricted: pd.DataFrame | None, chart: str) -> pd.DataFrame:
    """One row per restricted sender (lowercased): block type, since when, reason kind."""
    columns = ["block_type", "created", "reason_kind"]
    if restricted is None or restricted.empty:
        return pd.DataFrame(columns=columns, index=pd.Index([], name="sender", dtype=object))
    require(restricted, "restricted", ("sender",), chart)
    out = pd.DataFrame({"sender": text(restricted["sender"]).str.strip().str.lower()})
    for column in columns:
        out[column] = restricted[column].to_numpy() if column in restricted.columns else None
    return out.drop_duplicates("sender", keep="last").set_index("sender")


# --- volume per sender --------------------------------------------------------------------------------------------
def sender_volume(trace: pd.DataFrame, restricted: pd.DataFrame | None = None, *, start: Instant | None = None,
                  end: Instant | None = None) -> pd.DataFrame:
    """Recipients sent per sender (inbound rows left out): ``internal``, ``external``, ``unknown``, ``recipients``,
    ``messages`` (distinct trace ids), ``share`` of every recipient sent in the frame, ``restricted`` and its
    ``block_type`` / ``restricted_since``; sorted by recipients, largest first."""
    chart = "sender_volume"
    require(trace, "trace", ("sender", "direction"), chart)
    rows = window(trace, start, end, chart)
    senders = lower_categories(rows["sender"])
    s_codes = senders.cat.codes.to_numpy()
    d_codes = direction_codes(rows["direction"])
    keep = (s_codes >= 0) & (d_codes != INBOUND)
    n = len(senders.cat.categories)
    counts = np.bincount(s_codes[keep].astype(np.int64) * 3 + d_codes[keep], minlength=n * 3).reshape(n, 3)
    out = pd.DataFrame(counts, columns=["internal", "external", "unknown"],
                       index=pd.Index(senders.cat.categories.astype(str), name="sender"))
    out["recipients"] = counts.sum(axis=1)
    if "trace_id" in rows.columns:
        t_codes = text_codes(rows["trace_id"], keep)
        width = int(t_codes.max(initial=0)) + 2
        pairs, _ = unique_counts(s_codes[keep].astype(np.int64) * width + t_codes + 1)
        out["messages"] = np.bincount(pairs // width, minlength=n)
    else:
        out["messages"] = pd.NA
    total = int(out["recipients"].sum())
    out = out[out["recipients"] > 0]
    out["share"] = out["recipients"] / total if total else 0.0
    blocked = restricted_senders(restricted, chart)
    out["restricted"] = out.index.isin(blocked.index)
    out["block_type"] = blocked["block_type"].reindex(out.index).to_numpy()
    out["restricted_since"] = blocked["created"].reindex(out.index).to_numpy()
    return out.sort_values(["recipients", "messages"], ascending=False, kind="stable")


def hourly_sender_volume(trace: pd.DataFrame, *, start: Instant | None = None,
                         end: Instant | None = None) -> pd.DataFrame:
    """Recipients per sender and hour (inbound rows left out): one row per (``sender``, ``hour``) that has mail,
    with ``internal``, ``external``, ``unknown`` and ``recipients``; sorted by sender, then hour; ``sender`` is a
    categorical of the lowercased addresses. The tenant-wide
    input of "who went over an hourly limit": one sort of integer keys, no grouping of text."""
    chart = "hourly_sender_volume"
    require(trace, "trace", ("sender", "direction", "received"), chart)
    rows = window(trace, start, end, chart)
    columns = ["sender", "hour", "internal", "external", "unknown", "recipients"]
    senders = lower_categories(rows["sender"])
    names = np.asarray(senders.cat.categories.astype(str), dtype=object)
    by_name = np.argsort(names, kind="stable")
    rank = np.empty(len(names), dtype=np.int64)
    rank[by_name] = np.arange(len(names))  # codes in name order: the result comes sorted
    s_codes = senders.cat.codes.to_numpy().astype(np.int64)
    d_codes = direction_codes(rows["direction"]).astype(np.int64)
    hours = hour_numbers(rows["received"])
    keep = (s_codes >= 0) & (d_codes != INBOUND) & rows["received"].notna().to_numpy()
    if not keep.any():
        return pd.DataFrame({c: pd.Series(dtype=object if c == "sender" else "int64") for c in columns})
    first = int(hours[keep].min())
    span = int(hours[keep].max()) - first + 1
    key = (rank[s_codes[keep]] * span + (hours[keep] - first)) * 3 + d_codes[keep]
    distinct, counts = unique_counts(key)
    cell, direction = distinct // 3, distinct % 3
    starts = np.flatnonzero(np.concatenate([[True], cell[1:] != cell[:-1]]))  # ``cell`` is sorted
    cells = cell[starts]
    table = np.zeros((len(cells), 3), dtype=np.int64)
    table[np.repeat(np.arange(len(cells)), np.diff(np.append(starts, len(cell)))), direction] = counts
    hour_ns = ((cells % span + first) * 3_600_000_000_000).astype("datetime64[ns]")
    sender_cats = pd.Index(pd.array(names[by_name], dtype=STRING))
    out = pd.DataFrame({
        "sender": pd.Categorical.from_codes(cells // span, dtype=pd.CategoricalDtype(sender_cats)),
        "hour": pd.DatetimeIndex(hour_ns).tz_localize("UTC"),
        "internal": table[:, INTERNAL], "external": table[:, EXTERNAL], "unknown": table[:, UNKNOWN],
    })
    out["recipients"] = table.sum(axis=1)
    return out


def top_values(keys: np.ndarray, values: pd.Series, n_keys: int) -> np.ndarray:
    """The most frequent value of ``values`` per key code (``keys`` from 0 to ``n_keys - 1``; -1 skipped)."""
    cat = categorical(values)
    v_codes = cat.cat.codes.to_numpy().astype(np.int64)
    ok = (keys >= 0) & (v_codes >= 0)
    best = np.full(n_keys, "", dtype=object)
    if not ok.any():
        return best
    width = len(cat.cat.categories) + 1
    pair, count = unique_counts(keys[ok].astype(np.int64) * width + v_codes[ok])
    order = np.lexsort((-count, pair // width))
    pair = pair[order]
    first = np.concatenate([[True], np.diff(pair // width) != 0])
    chosen = pair[first]
    names = np.asarray(cat.cat.categories.astype(str), dtype=object)
    best[chosen // width] = names[chosen % width]
    return best


def joined(frame: pd.DataFrame, key: str, column: str, limit: int | None) -> pd.Series:
    """``column`` joined with ", " per ``key``, in frame order, at most ``limit`` values then "+N more" (one
    vectorised reduction over the values grouped by key, not a Python call per group)."""
    if frame.empty:
        return pd.Series(dtype=object)
    codes, uniques = pd.factorize(frame[key].to_numpy())
    order = np.argsort(codes, kind="stable")
    codes = codes[order]
    starts = np.flatnonzero(np.concatenate([[True], codes[1:] != codes[:-1]]))
    sizes = np.diff(np.append(starts, len(codes)))
    if limit is not None:  # only the values shown are turned into text and joined
        rank = np.arange(len(codes)) - np.repeat(starts, sizes)
        order = order[rank < limit]
        starts = np.concatenate([[0], np.cumsum(np.minimum(sizes, limit))[:-1]])
    values = frame[column].to_numpy(dtype=object)[order]
    pieces = np.array([", " + str(v) for v in values], dtype=object)
    out = pd.Series(np.add.reduceat(pieces, starts), index=pd.Index(uniques, name=key), dtype=object).str.slice(2)
    if limit is not None:
        more = sizes - np.minimum(sizes, limit)
        out = out + np.where(more > 0, np.char.add(np.char.add(" +", more.astype(str)), " more"), "").astype(object)
    return out


# --- campaigns ----------------------------------------------------------------------------------------------------
LISTED = 8
_PREFIXES = r"(?i)^(?:\s*(?:re|fwd?|aw|wg|sv|vs|tr|rv|antw)\s*(?:\[\d+\])?\s*:\s*)+"
_NAME = r"\p{Lu}\p{Ll}+(?:[-']\p{Lu}?\p{Ll}+)?"
_MAX_NAMES = 5000


def _recipient_first_names(recipients: pd.Series | None) -> set[str]:
    """First names guessed from distinct recipient addresses of the form first.last@ / first_last@."""
    if recipients is None:
        return set()
    distinct = pc.utf8_lower(arrow_text(categorical(recipients).cat.categories))
    local = pc.extract_regex(distinct, r"^(?P<first>[a-z]{2,})[._][a-z]{2,}[a-z._-]*@")
    firsts = pc.struct_field(local, [0]).drop_null()
    return {name.capitalize() for name in pc.unique(firsts).to_pylist()}


def normalise_subjects(subjects: pd.Series, recipients: pd.Series | None = None) -> pd.Series:
    """Subjects reduced to their template, so a campaign's variants fall together: reply and forward prefixes
    dropped; names replaced by ``<name>`` (first names of ``recipients`` addresses such as ``ana.silva@``, and a
    single capitalised word after a final comma, before a leading one, or ending the subject after "for", "to",
    "dear", "hi", "hello" or "thanks"); numbers by ``#``; trailing punctuation dropped; lowercased and
    whitespace collapsed. Works on the distinct subjects and maps them back: a categorical, row for row."""
    cat = categorical(subjects)
    work = pc.replace_substring_regex(arrow_text(cat.cat.categories), _PREFIXES, "")
    names = _recipient_first_names(recipients)
    if names and len(work):
        words = pc.unique(pc.list_flatten(pc.split_pattern_regex(work, r"[^\p{L}'-]+"))).to_pylist()
        present = sorted(names.intersection(words))[:_MAX_NAMES]
        if present:
            work = pc.replace_substring_regex(work, r"\b(?:" + "|".join(present) + r")\b", "<name>")
    work = pc.replace_substring_regex(work, r"(,\s*)" + _NAME + r"\s*([!.?]?)\s*$", r"\1<name>\2")
    work = pc.replace_substring_regex(work, r"^" + _NAME + r"(\s*,\s)", r"<name>\1")
    work = pc.replace_substring_regex(work, r"(?i:\b(for|to|dear|hi|hello|thanks)\s+)" + _NAME + r"\s*([!.?]?)\s*$",
                                      r"\1 <name>\2")
    work = pc.utf8_lower(work)
    work = pc.replace_substring_regex(work, r"\d+(?:[.,:/-]\d+)*", "#")
    work = pc.replace_substring_regex(work, r"[\s!.?…]+$", "")
    work = pc.utf8_trim_whitespace(pc.replace_substring_regex(work, r"\s+", " "))
    encoded = pc.fill_null(work, "").dictionary_encode()
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    uniques = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
    row_codes = cat.cat.codes.to_numpy()
    mapped = np.where(row_codes < 0, -1, codes[np.maximum(row_codes, 0)] if len(codes) else -1)
    empty = np.flatnonzero(np.asarray(uniques, dtype=object) == "")
    if len(empty):
        mapped = np.where(mapped == empty[0], -1, mapped)
    return pd.Series(pd.Categorical.from_codes(mapped, categories=pd.Index(uniques, dtype=object)),
                     index=subjects.index, name="campaign")


def campaign_frames(trace: pd.DataFrame, *, by: CampaignKey = "subject", min_senders: int = 2,
                    restricted: pd.DataFrame | None = None, start: Instant | None = None,
                    end: Instant | None = None, chart: str = "campaign_table") -> tuple[pd.DataFrame, pd.DataFrame]:
    """The campaigns and their members: (one row per campaign, one row per campaign and sender)."""
    if by not in ("subject", "recipient_domain"):
        raise ValueError(f"{chart}: by must be 'subject' or 'recipient_domain', got {by!r}")
    require(trace, "trace", ("sender", "direction", by), chart)
    rows = window(trace, start, end, chart)
    d_codes = direction_codes(rows["direction"])
    keep = d_codes != INBOUND if by == "subject" else d_codes == EXTERNAL
    # Trace ids are coded before the rows are narrowed, so their text is never copied (only the codes are).
    trace_codes = text_codes(rows["trace_id"])[keep] if "trace_id" in rows.columns else None
    rows = rows.drop(columns=["trace_id"], errors="ignore")[keep]
    if by == "subject":
        keys = normalise_subjects(rows["subject"], rows["recipient"] if "recipient" in rows.columns else None)
    else:
        keys = lower_categories(rows["recipient_domain"])
    senders = lower_categories(rows["sender"])
    k_codes = keys.cat.codes.to_numpy().astype(np.int64)
    s_codes = senders.cat.codes.to_numpy().astype(np.int64)
    ok = (k_codes >= 0) & (s_codes >= 0)
    n_keys, n_senders = len(keys.cat.categories), max(len(senders.cat.categories), 1)
    pair, recipients = unique_counts(k_codes[ok] * n_senders + s_codes[ok])
    pair_key, pair_sender = pair // n_senders, pair % n_senders
    sender_count = np.bincount(pair_key, minlength=n_keys)
    chosen = np.flatnonzero(sender_count >= min_senders)
    members_mask = np.isin(pair_key, chosen)
    sender_names = np.asarray(senders.cat.categories.astype(str), dtype=object)
    key_names = np.asarray(keys.cat.categories.astype(str), dtype=object)
    members = pd.DataFrame({"campaign": key_names[pair_key[members_mask]],
                            "sender": sender_names[pair_sender[members_mask]],
                            "recipients": recipients[members_mask]})
    blocked = restricted_senders(restricted, chart)
    members["restricted"] = members["sender"].isin(blocked.index)
    members = members.sort_values(["campaign", "recipients"], ascending=[True, False], kind="stable")

    table = pd.DataFrame({"campaign": key_names[chosen], "senders": sender_count[chosen],
                          "recipients": np.bincount(pair_key, weights=recipients, minlength=n_keys)[chosen]
                          .astype(np.int64)})
    if trace_codes is not None:
        t_codes = trace_codes[ok]
        width = int(t_codes.max(initial=0)) + 2
        distinct, _ = unique_counts(k_codes[ok] * width + t_codes + 1)
        table["messages"] = np.bincount(distinct // width, minlength=n_keys)[chosen]
    if "received" in rows.columns and ok.any():
        received = utc(rows["received"], "trace.received")[ok]
        spans = received.groupby(k_codes[ok]).agg(["min", "max"])
        table["first"] = spans["min"].reindex(chosen).to_numpy()
        table["last"] = spans["max"].reindex(chosen).to_numpy()
    example_of = rows["subject"] if "subject" in rows.columns else keys
    table["example"] = top_values(np.where(ok, k_codes, -1), example_of, n_keys)[chosen]
    table["sender_list"] = joined(members, "campaign", "sender", LISTED).reindex(table["campaign"]).to_numpy()
    flagged = joined(members[members["restricted"]], "campaign", "sender", None)
    table["restricted_senders"] = flagged.reindex(table["campaign"]).fillna("").to_numpy()
    table = table.sort_values(["recipients", "senders"], ascending=False, kind="stable").reset_index(drop=True)
    return table, members.reset_index(drop=True)


def campaign_table(trace: pd.DataFrame, *, by: CampaignKey = "subject", min_senders: int = 2,
                   restricted: pd.DataFrame | None = None, start: Instant | None = None,
                   end: Instant | None = None) -> pd.DataFrame:
    """Campaigns: senders that share a normalised subject (``by="subject"``) or an external recipient domain
    (``by="recipient_domain"``), at least ``min_senders`` of them. One row per campaign: ``campaign`` (the key),
    ``senders``, ``recipients``, ``messages``, ``first``, ``last``, ``example`` (its most common raw subject),
    ``sender_list`` (largest first) and ``restricted_senders``; largest campaigns first."""
    table, _ = campaign_frames(trace, by=by, min_senders=min_senders, restricted=restricted, start=start, end=end)
    return table
