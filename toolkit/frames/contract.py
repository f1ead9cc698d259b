"""Enforcing the contract: ``validate``, ``empty``, ``dedupe``, ``concat`` and the generated docs table."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.types import union_categoricals

from toolkit.frames.kinds import KINDS, SERVICE_DEFAULTS
from toolkit.frames.spec import DATETIME, STRING, Column, FrameError, FrameSpec, category_dtype

log = logging.getLogger(__name__)

_EXAMPLES = 3


def spec(kind: str) -> FrameSpec:
    """The spec of a kind; a FrameError listing the known kinds otherwise."""
    try:
        return KINDS[kind]
    except (KeyError, TypeError):
        raise FrameError(f"unknown frame kind {kind!r}; the kinds are: {', '.join(KINDS)}") from None


def empty(kind: str) -> pd.DataFrame:
    """A frame of ``kind`` with no rows and the right columns and dtypes (a fresh copy each time)."""
    return _empty_template(spec(kind).kind).copy()


@functools.cache
def _empty_template(kind: str) -> pd.DataFrame:
    # Building a frame of 10-20 typed columns costs milliseconds; an investigation asks for dozens of empty ones.
    s = spec(kind)
    return pd.DataFrame({c.name: pd.Series([], dtype=c.pandas_dtype) for c in s.columns})


# --- coercion, one dtype token at a time ---------------------------------------------------------------------------
def _examples(values: Iterable[Any]) -> str:
    shown = []
    for v in values:
        shown.append(repr(v))
        if len(shown) == _EXAMPLES:
            break
    return ", ".join(shown)


def arrow_text(series: pd.Series) -> pa.ChunkedArray | None:
    """The column as Arrow text when its dtype is a text dtype (any storage), else None."""
    dtype = series.dtype
    arrow_type = dtype.pyarrow_dtype if isinstance(dtype, pd.ArrowDtype) else None
    if arrow_type is not None and not (pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)
                                       or pa.types.is_string_view(arrow_type)):
        return None
    if arrow_type is None and not isinstance(dtype, pd.StringDtype):
        return None
    data = series.array.__arrow_array__()
    chunked = data if isinstance(data, pa.ChunkedArray) else pa.chunked_array([data])
    return chunked if chunked.type == pa.string() else chunked.cast(pa.string())


def _text_array(kind: str, col: Column, series: pd.Series) -> pa.ChunkedArray:
    """The column as Arrow text, whatever text dtype it came in; a FrameError when it is not text."""
    if isinstance(series.dtype, pd.CategoricalDtype) or (
            isinstance(series.dtype, pd.ArrowDtype) and pa.types.is_dictionary(series.dtype.pyarrow_dtype)):
        series = series.astype(object)
    text = arrow_text(series)
    if text is not None:
        return text
    if pd.api.types.is_object_dtype(series.dtype):
        values = series.to_numpy(dtype=object)
        bad = [v for v in values if v is not None and not isinstance(v, str) and not _is_missing(v)]
        if bad:
            raise FrameError(f"{kind}: column {col.name!r} holds values that are not text (e.g. {_examples(bad)}); "
                             f"expected {col.dtype_text}")
        cleaned = [None if v is None or _is_missing(v) else v for v in values]
        return pa.chunked_array([pa.array(cleaned, type=pa.string())])
    raise FrameError(f"{kind}: column {col.name!r} has dtype {series.dtype}, expected {col.dtype_text}")


def _is_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _check_lower(kind: str, col: Column, text: pa.ChunkedArray | pa.Array) -> None:
    if not col.lowercase or len(text) == 0:
        return
    differs = pc.not_equal(pc.utf8_lower(text), text)
    if pc.any(differs).as_py():
        bad = text.filter(pc.fill_null(differs, False)).unique().to_pylist()
        raise FrameError(f"{kind}: column {col.name!r} has values that are not lowercased (e.g. {_examples(bad)}); "
                         "frames hold addresses, domains and ids lowercased")


def _as_string(kind: str, col: Column, series: pd.Series) -> pd.Series:
    text = _text_array(kind, col, series)
    if series.dtype != STRING:
        series = pd.Series(pd.arrays.ArrowExtensionArray(text), index=series.index, name=series.name)
    _check_lower(kind, col, text)
    return series


def _as_category(kind: str, col: Column, series: pd.Series) -> pd.Series:
    if isinstance(series.dtype, pd.CategoricalDtype):
        cats = series.cat.categories
        if cats.dtype != STRING:
            if not all(isinstance(c, str) for c in cats):
                raise FrameError(f"{kind}: column {col.name!r} has categories that are not text "
                                 f"(e.g. {_examples(c for c in cats if not isinstance(c, str))})")
            series = series.cat.rename_categories(pd.Index(list(cats), dtype=STRING))
    else:
        text = _text_array(kind, col, series)
        encoded = text.combine_chunks().dictionary_encode()
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        cats = pd.Index(pd.arrays.ArrowExtensionArray(encoded.dictionary), dtype=STRING)
        series = pd.Series(pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(cats)),
                           index=series.index, name=series.name)
    used = series.cat.categories
    if col.lowercase and len(used):
        _check_lower(kind, col, pa.array(list(used), pa.string()))
    if col.categories is not None and tuple(used) != col.categories:
        present = series.dropna().unique()
        outside = [v for v in present if v not in col.categories]
        if outside:
            raise FrameError(f"{kind}: column {col.name!r} has values outside its vocabulary "
                             f"(e.g. {_examples(outside)}); allowed: {', '.join(col.categories)}")
        series = series.cat.set_categories(category_dtype(col.categories).categories)
    return series


def _as_datetime(kind: str, col: Column, series: pd.Series) -> pd.Series:
    dtype = series.dtype
    if dtype == DATETIME:
        return series
    if isinstance(dtype, pd.ArrowDtype) and pa.types.is_timestamp(dtype.pyarrow_dtype):
        if dtype.pyarrow_dtype.tz is None:
            raise FrameError(f"{kind}: column {col.name!r} holds naive timestamps (no time zone); "
                             "localise them to UTC first")
        series = series.astype(pd.DatetimeTZDtype(unit=dtype.pyarrow_dtype.unit, tz=dtype.pyarrow_dtype.tz))
        dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        try:
            return series.dt.tz_convert("UTC").dt.as_unit("ns")
        except (OverflowError, pd.errors.OutOfBoundsDatetime) as exc:
            raise FrameError(f"{kind}: column {col.name!r} holds instants outside the nanosecond range "
                             f"(1677-2262): {exc}") from None
    if pd.api.types.is_datetime64_dtype(dtype):
        raise FrameError(f"{kind}: column {col.name!r} holds naive timestamps (no time zone); "
                         f"localise them to UTC first (series.dt.tz_localize('UTC'))")
    if series.isna().all():
        return pd.Series(pd.array([pd.NaT] * len(series), dtype=DATETIME), index=series.index, name=series.name)
    if pd.api.types.is_object_dtype(dtype):  # Python datetimes: fine when every one carries its time zone
        values = series.dropna()
        if all(isinstance(v, datetime) for v in values):
            if any(v.tzinfo is None or v.tzinfo.utcoffset(v) is None for v in values):
                raise FrameError(f"{kind}: column {col.name!r} holds naive datetimes (no time zone); "
                                 "give them one (UTC) first")
            try:
                return pd.to_datetime(series, utc=True).dt.as_unit("ns")
            except (ValueError, OverflowError, pd.errors.OutOfBoundsDatetime) as exc:
                raise FrameError(f"{kind}: column {col.name!r} cannot become {col.dtype_text}: {exc}") from None
    raise FrameError(f"{kind}: column {col.name!r} has dtype {dtype}, expected {col.dtype_text}")


def _as_number(kind: str, col: Column, series: pd.Series) -> pd.Series:
    dtype = series.dtype
    target = col.pandas_dtype
    if dtype == target:
        return series
    expected = f"expected {col.dtype_text}"
    if pd.api.types.is_bool_dtype(dtype):
        raise FrameError(f"{kind}: column {col.name!r} holds booleans, {expected}")
    if isinstance(dtype, pd.CategoricalDtype) or arrow_text(series) is not None:
        raise FrameError(f"{kind}: column {col.name!r} has dtype {dtype}, {expected}")
    if pd.api.types.is_object_dtype(dtype):
        bad = [v for v in series.dropna()
               if isinstance(v, bool | np.bool_) or not isinstance(v, int | float | np.number)]
        if bad:
            raise FrameError(f"{kind}: column {col.name!r} holds values that are not numbers "
                             f"(e.g. {_examples(bad)}); {expected}")
    elif not pd.api.types.is_numeric_dtype(dtype):
        raise FrameError(f"{kind}: column {col.name!r} has dtype {dtype}, {expected}")
    if col.dtype == "Int64":
        values = pd.to_numeric(series.dropna())
        if len(values) and pd.api.types.is_float_dtype(values.dtype):
            floats = values.to_numpy(dtype=float)
            fractional = floats[~np.isfinite(floats) | (floats % 1 != 0)]
            if len(fractional):
                raise FrameError(f"{kind}: column {col.name!r} holds numbers that are not whole "
                                 f"(e.g. {_examples(fractional.tolist())}); {expected}")
    try:
        return series.astype(target)
    except (TypeError, ValueError, OverflowError) as exc:
        raise FrameError(f"{kind}: column {col.name!r} cannot become {col.dtype_text}: {exc}") from None


def _as_boolean(kind: str, col: Column, series: pd.Series) -> pd.Series:
    dtype = series.dtype
    if dtype == col.pandas_dtype:
        return series
    if pd.api.types.is_bool_dtype(dtype):
        return series.astype(col.pandas_dtype)
    if pd.api.types.is_object_dtype(dtype):
        bad = [v for v in series.dropna() if not isinstance(v, bool | np.bool_)]
        if bad:
            raise FrameError(f"{kind}: column {col.name!r} holds values that are not booleans "
                             f"(e.g. {_examples(bad)}); expected boolean")
        return series.astype(col.pandas_dtype)
    raise FrameError(f"{kind}: column {col.name!r} has dtype {dtype}, expected {col.dtype_text}")


def _coerce(kind: str, col: Column, series: pd.Series) -> pd.Series:
    if col.dtype == "string":
        return _as_string(kind, col, series)
    if col.dtype == "category":
        return _as_category(kind, col, series)
    if col.dtype == "datetime":
        return _as_datetime(kind, col, series)
    if col.dtype in ("Int64", "Float64"):
        return _as_number(kind, col, series)
    return _as_boolean(kind, col, series)


# --- keys -----------------------------------------------------------------------------------------------------------
def _codes(series: pd.Series) -> np.ndarray:
    """Integer codes that are equal exactly when the values are (missing values never are)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return series.cat.codes.to_numpy(dtype=np.int64)
    text = arrow_text(series)
    if text is not None:
        encoded = text.combine_chunks().dictionary_encode()
        return encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    codes, _ = pd.factorize(series, use_na_sentinel=True)
    return codes.astype(np.int64)


_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


def _fixed_width_hash(series: pd.Series) -> np.ndarray | None:
    """A 64-bit hash per value of a text column whose values all have one byte length (GUIDs), straight from the
    Arrow buffers; None when the column does not qualify. Equal values hash equal; distinct values almost never do."""
    text = arrow_text(series)
    if text is None:
        return None
    arr = text.combine_chunks()
    n = len(arr)
    if n == 0 or arr.null_count:
        return None
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset:arr.offset + n + 1]
    width = int(offsets[1] - offsets[0])
    if not 0 < width <= 64 or int(offsets[-1] - offsets[0]) != width * n or not (np.diff(offsets) == width).all():
        return None
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]].reshape(n, width)
    if width % 8:
        data = np.pad(data, ((0, 0), (0, 8 - width % 8)))
    words = np.ascontiguousarray(data).view(np.uint64)
    hashed = np.full(n, _FNV_OFFSET, dtype=np.uint64)
    for j in range(words.shape[1]):
        hashed = (hashed ^ words[:, j]) * _FNV_PRIME
    return hashed


def _maybe_unique(df: pd.DataFrame, key: Sequence[str]) -> bool:
    """True when a cheap hash proves every key distinct (then no exact check is needed); False means 'look closer'."""
    combined: np.ndarray | None = None
    for name in key:
        series = df[name]
        if isinstance(series.dtype, pd.CategoricalDtype):
            part = series.cat.codes.to_numpy().astype(np.uint64)
        else:
            hashed = _fixed_width_hash(series)
            if hashed is None:
                return False
            part = hashed
        combined = part if combined is None else (combined * _FNV_PRIME) ^ part
    return combined is not None and not pd.Series(combined.view(np.int64)).duplicated().any()


def _duplicated(df: pd.DataFrame, key: Sequence[str]) -> np.ndarray:
    """Rows whose key appeared earlier in the frame (the first occurrence is not marked)."""
    if _maybe_unique(df, key):
        return np.zeros(len(df), dtype=bool)
    combined: np.ndarray | None = None
    for name in key:
        codes = _codes(df[name]) + 1  # 0 is never a missing value here: keys were checked for them
        if combined is None:
            combined = codes
            continue
        width = int(codes.max()) + 1 if len(codes) else 1
        if int(combined.max()) >= np.iinfo(np.int64).max // max(width, 1):  # keep the product inside int64
            combined = pd.factorize(combined)[0].astype(np.int64) + 1
        combined = combined * width + codes
    assert combined is not None
    return pd.Series(combined).duplicated(keep="first").to_numpy()


def check_keys(kind: str, s: FrameSpec, df: pd.DataFrame, dedupe: bool) -> pd.DataFrame:
    for name in s.key:
        missing = df[name].isna().to_numpy()
        if missing.any():
            rows = np.flatnonzero(missing)
            raise FrameError(f"{kind}: key column {name!r} has {len(rows)} missing value(s) "
                             f"(e.g. row {df.index[rows[0]]!r})")
    if not len(df):
        return df
    if dedupe:
        keep_last = ~_duplicated(df.iloc[::-1], s.key)[::-1]
        dropped = int((~keep_last).sum())
        if dropped:
            log.debug("%s: dropped %d row(s) with a repeated key, kept the last", kind, dropped)
            return df[keep_last]
        return df
    dup = _duplicated(df, s.key)
    if dup.any():
        first = df.loc[df.index[np.flatnonzero(dup)[0]], list(s.key)]
        example = tuple(first.tolist())
        raise FrameError(f"{kind}: {int(dup.sum())} row(s) repeat a key ({', '.join(s.key)}), e.g. "
                         f"{example[0] if len(example) == 1 else example!r}; use frames.dedupe to keep the last")
    return df


# --- the public entry points -----------------------------------------------------------------------------------------
def validate(kind: str, df: pd.DataFrame, *, dedupe: bool = False) -> pd.DataFrame:
    """``df`` as a frame of ``kind``: the contract's columns in order, each coerced to its dtype where that is lossless.

    Raises FrameError naming the kind, the column and what is wrong: a missing or unexpected column, a dtype that
    cannot be coerced without loss (text in a number column, naive timestamps), an address that is not lowercased, a
    value outside a fixed vocabulary, a missing key value, or a repeated key (unless ``dedupe``: then the last row of
    each key is kept). The index is kept as it is.
    """
    s = spec(kind)
    if not isinstance(df, pd.DataFrame):
        raise FrameError(f"{kind}: expected a pandas DataFrame, got {type(df).__name__}")
    columns = list(df.columns)
    repeated = sorted({c for c in columns if columns.count(c) > 1}, key=str)
    if repeated:
        raise FrameError(f"{kind}: column(s) appear more than once: {', '.join(map(repr, repeated))}")
    missing = [c for c in s.names if c not in df.columns]
    if missing:
        raise FrameError(f"{kind}: missing column(s): {', '.join(map(repr, missing))}")
    extra = [c for c in columns if c not in s.names]
    if extra:
        raise FrameError(f"{kind}: unexpected column(s): {', '.join(map(repr, extra))}; "
                         f"the contract has: {', '.join(s.names)}")
    out = {c.name: _coerce(kind, c, df[c.name]) for c in s.columns}
    result = pd.DataFrame(out, index=df.index, copy=False)
    return check_keys(kind, s, result, dedupe)


def dedupe(kind: str, df: pd.DataFrame) -> pd.DataFrame:
    """``df`` validated, keeping the last row of each key."""
    return validate(kind, df, dedupe=True)


def concat(kind: str, frames: Iterable[pd.DataFrame], *, dedupe: bool = False) -> pd.DataFrame:
    """Frames of one kind as one frame (categories unioned, so categorical columns stay categorical), validated.

    ``dedupe`` keeps the last row of a repeated key (later frames win); without it a repeated key is refused.
    """
    s = spec(kind)
    parts = [f if is_exact(s, f) else validate(kind, f, dedupe=dedupe) for f in frames]
    parts = [p for p in parts if len(p)] or [empty(kind)]
    if len(parts) == 1:
        return check_keys(kind, s, parts[0].reset_index(drop=True), dedupe)
    columns: dict[str, Any] = {}
    for col in s.columns:
        pieces = [p[col.name].array for p in parts]
        if col.dtype == "category" and col.categories is None:
            columns[col.name] = union_categoricals(pieces)  # one recoding pass; categories stay ``string``
        else:  # same dtype everywhere (checked above): the ExtensionArray interface's own concatenation
            columns[col.name] = type(pieces[0])._concat_same_type(pieces)
    combined = pd.DataFrame(columns, copy=False)
    if not is_exact(s, combined):  # pandas changed a dtype on the way: coerce it back
        return validate(kind, combined, dedupe=dedupe)
    return check_keys(kind, s, combined, dedupe)


def is_exact(s: FrameSpec, df: pd.DataFrame) -> bool:
    """True when ``df`` already has exactly the contract's columns and dtypes (open categories aside)."""
    if not isinstance(df, pd.DataFrame) or tuple(df.columns) != s.names:
        return False
    for col, dtype in zip(s.columns, df.dtypes, strict=True):
        if col.dtype == "category":
            if not isinstance(dtype, pd.CategoricalDtype) or dtype.categories.dtype != STRING:
                return False
            if col.categories is not None and tuple(dtype.categories) != col.categories:
                return False
        elif dtype != col.pandas_dtype:
            return False
    return True


def markdown_table() -> str:
    """The frames reference (docs/frames.md), generated from the contract."""
    from toolkit.frames.convert import EXCHANGE, GRAPH  # the converters import this module: import them late

    lines = [
        "# Frames",
        "",
        "<!-- Generated by `python -m toolkit.frames > docs/frames.md` from toolkit/frames/kinds.py; "
        "tests/test_frames.py checks it. Do not edit by hand. -->",
        "",
        "Every source (Graph, Exchange, exported files, the sandbox) yields the same frame kinds with the same "
        "columns. `toolkit.frames` declares them once and validates them on the way in.",
        "",
        "Conventions:",
        "",
        "- timestamps are tz-aware UTC, `datetime64[ns, UTC]` (nanoseconds keep Microsoft's 7 fractional digits);",
        "- `string` is `pd.ArrowDtype(pa.string())` (Arrow-backed, missing is `pd.NA`); `category` is a pandas "
        "categorical over those strings, for low-cardinality text; `category of ...` fixes the vocabulary;",
        "- counts are `Int64`, ratios and coordinates `Float64`, flags `boolean` (all nullable: missing means "
        "unknown);",
        "- addresses, domains and ids marked *lowercase* are held lowercased; multi-valued fields are "
        "comma-joined text (OAuth scopes: space-joined, as Graph writes them);",
        "- a frame never repeats its key; `frames.dedupe` keeps the last row of each key.",
        "",
        "Service defaults for a 0 limit in an outbound spam policy: "
        + ", ".join(f"`{k}` {v:,}" for k, v in SERVICE_DEFAULTS.items())
        + " (per day: documented hard limit; per hour: UNVERIFIED, Microsoft does not document them).",
        "",
    ]
    for s in KINDS.values():
        makers = [f"`frames.{table[s.kind].__name__}`" for table in (GRAPH, EXCHANGE) if s.kind in table]
        if s.kind == "audit":
            makers.append("`frames.audit_from_records`")
        lines += [f"## `{s.kind}`", "", s.doc, "", f"Key: {', '.join(f'`{k}`' for k in s.key)}. "
                  f"Built by {', '.join(makers)}.", "", "| column | dtype | meaning |", "|---|---|---|"]
        for c in s.columns:
            meaning = c.meaning.replace("|", "\\|") + (" *(lowercase)*" if c.lowercase else "")
            lines.append(f"| `{c.name}` | {c.dtype_text} | {meaning} |")
        lines.append("")
    return "\n".join(lines)
