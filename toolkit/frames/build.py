"""Building typed columns from API payloads: Arrow arrays in, pandas arrays of the contract's dtypes out.

Converters gather each field into a Python list or an Arrow array (never a loop over pandas rows), then turn it into
its column here: text and categories through Arrow (lowercasing and blank handling run on the dictionary of distinct
values, not on every row), ISO timestamps through Arrow's parser with a pandas fallback, and errors that name the
item and the field.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from toolkit.frames.contract import check_keys, is_exact, spec
from toolkit.frames.spec import DATETIME, STRING, FrameError, category_dtype

log = logging.getLogger(__name__)

Item = Mapping[str, Any]
Columns = dict[str, Any]

#: .NET's DateTime.MinValue / MaxValue: Exchange writes them for "never"; they are outside the nanosecond range.
_SENTINEL_DATES = ("0001-01-01", "9999-12-31")


# --- items --------------------------------------------------------------------------------------------------------
def as_items(kind: str, items: Iterable[Any], what: str = "item") -> list[Item]:
    """The input as a list of objects; a FrameError naming the first one that is not an object."""
    result = listed(kind, items)
    for n, item in enumerate(result):
        if not isinstance(item, Mapping):
            raise FrameError(f"{kind}: {what} {n} is a {type(item).__name__}, not an object")
    return result


def listed(kind: str, items: Iterable[Any]) -> list[Any]:
    """The input as a list without looking at each item (the fast converters let Arrow check them)."""
    if isinstance(items, Mapping):
        raise FrameError(f"{kind}: expected the list of items (the response's `value` array), got an object")
    if isinstance(items, str | bytes):
        raise FrameError(f"{kind}: expected a list of items, got {type(items).__name__}")
    if isinstance(items, list):
        return items
    try:
        return list(items)
    except TypeError:
        raise FrameError(f"{kind}: expected a list of items, got a {type(items).__name__}") from None


def require(kind: str, items: Sequence[Item], *fields: str, what: str = "item") -> None:
    """Every item has every field, not null; a FrameError naming the first item and field that fail."""
    for n, item in enumerate(items):
        for name in fields:
            if item.get(name) is None:
                state = "a null" if name in item else "no"
                raise FrameError(f"{kind}: {what} {n} has {state} {name!r}")


def aligned(kind: str, name: str, value: str | Sequence[str | None] | None, rows: int) -> list[str | None]:
    """A context value for every item: one text for all, or a sequence with one per item (for pulls that cover many
    mailboxes or users in one list); a FrameError when a sequence does not match the items."""
    if value is None or isinstance(value, str):
        return [value] * rows
    if isinstance(value, Mapping) or not isinstance(value, Sequence):
        raise FrameError(f"{kind}: {name}= must be a text or a sequence of texts, got a {type(value).__name__}")
    if len(value) != rows:
        raise FrameError(f"{kind}: {name}= has {len(value)} values for {rows} items")
    for n, v in enumerate(value):
        if v is not None and not isinstance(v, str):
            raise FrameError(f"{kind}: {name}= value {n} is a {type(v).__name__}, not text")
    return list(value)


def dig(item: Item | None, *path: str) -> Any:
    """``item[path[0]][path[1]]...``, or None where a step is missing or not an object."""
    value: Any = item
    for step in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(step)
    return value


def field(items: Sequence[Item], name: str) -> list[Any]:
    return [item.get(name) for item in items]


# --- the fast path: a whole list of objects through one Arrow struct conversion ------------------------------------
def struct_array(kind: str, items: Sequence[Any], struct: pa.StructType, what: str = "item") -> pa.StructArray:
    """The named fields of every item (nested objects and lists included) converted in one pass (C++).

    Keys the struct does not name are ignored. A value of the wrong type is a FrameError naming the item and the
    field path (``item 5 has a int in 'location.city'``).
    """
    try:
        arr = pa.array(items, type=struct)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        for n, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise FrameError(f"{kind}: {what} {n} is a {type(item).__name__}, not an object") from None
            problem = _wrong_type(item, struct, "")
            if problem:
                raise FrameError(f"{kind}: {what} {n} has {problem}") from None
        raise FrameError(f"{kind}: the {what}s cannot be read: {exc}") from None
    if arr.null_count:
        n = int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0])
        raise FrameError(f"{kind}: {what} {n} is null, not an object")
    return arr


class TableRows(Sequence[Any]):
    """The rows of an Arrow table as a sequence of objects, made one at a time (only to name a bad row in an error)."""

    def __init__(self, table: pa.Table):
        self._table = table

    def __len__(self) -> int:
        return self._table.num_rows

    def __getitem__(self, n: Any) -> Any:
        if isinstance(n, slice):
            raise TypeError("TableRows does not slice")
        return self._table.slice(n, 1).to_pylist()[0]


def struct_from_table(kind: str, table: pa.Table, struct: pa.StructType, what: str = "item") -> pa.StructArray:
    """The named top-level fields of an Arrow table (read from JSON) as one struct array of ``struct``'s types.

    A field the table lacks is null throughout, as a key missing from every object is. A column that cannot be cast
    (text where a number belongs) is a FrameError naming the first row and the field.
    """
    arrays = []
    for position in range(struct.num_fields):
        f = struct.field(position)
        if f.name not in table.column_names:
            arrays.append(pa.nulls(table.num_rows, f.type))
            continue
        column = _single(table.column(f.name))
        if column.type != f.type:
            try:
                column = column.cast(f.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                values = column.to_pylist()
                bad = next(n for n, v in enumerate(values) if v is not None and not _castable(v, f.type))
                raise FrameError(f"{kind}: {what} {bad} has {f.name!r} = {values[bad]!r}, which is not a "
                                 f"{f.type}") from None
        arrays.append(column)
    return pa.StructArray.from_arrays(arrays, fields=list(struct))


def _castable(value: Any, type_: pa.DataType) -> bool:
    try:
        pa.array([value]).cast(type_)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def _wrong_type(value: Mapping[str, Any], struct: pa.StructType, prefix: str) -> str | None:
    for position in range(struct.num_fields):
        f = struct.field(position)
        path = f"{prefix}{f.name}"
        v = value.get(f.name)
        if v is None:
            continue
        t = f.type
        if pa.types.is_struct(t):
            if not isinstance(v, Mapping):
                return f"a {type(v).__name__} in {path!r}, expected an object"
            inner = _wrong_type(v, t, path + ".")
            if inner:
                return inner
        elif pa.types.is_list(t):
            if not isinstance(v, list | tuple):
                return f"a {type(v).__name__} in {path!r}, expected a list"
            bad = [x for x in v if x is not None and not isinstance(x, str)]
            if bad and pa.types.is_string(t.value_type):
                return f"a {type(bad[0]).__name__} in the list {path!r}, expected text"
        elif pa.types.is_integer(t):
            if isinstance(v, bool) or not isinstance(v, int):
                return f"{path!r} = {v!r}, expected a whole number"
        elif pa.types.is_floating(t):
            if isinstance(v, bool) or not isinstance(v, int | float):
                return f"{path!r} = {v!r}, expected a number"
        elif pa.types.is_boolean(t):
            if not isinstance(v, bool):
                return f"{path!r} = {v!r}, expected true or false"
        elif not isinstance(v, str):
            return f"a {type(v).__name__} in {path!r} ({v!r}), expected text"
    return None


def sub(arr: pa.StructArray, *path: str) -> pa.Array:
    """A (nested) field of a struct array; a null parent gives a null child."""
    out: pa.Array = arr
    for name in path:
        out = pc.struct_field(out, name)
    return out


def first_null(kind: str, items: Sequence[Any], values: pa.Array, name: str, what: str = "item") -> None:
    """A FrameError naming the first item whose required field is missing or null."""
    if values.null_count:
        n = int(np.flatnonzero(values.is_null().to_numpy(zero_copy_only=False))[0])
        state = "a null" if isinstance(items[n], Mapping) and name in items[n] else "no"
        raise FrameError(f"{kind}: {what} {n} has {state} {name!r}")


# --- scalars --------------------------------------------------------------------------------------------------------
def text_or_none(value: Any) -> str | None:
    """A scalar as text (numbers and booleans as they print); None for null and blank."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "True" if value else "False"
    text = value if isinstance(value, str) else str(value)
    return text if text.strip() else None


def int_or_none(value: Any) -> int | None:
    """An integer from an int, a whole float, or digits in text ("500"); None otherwise (including "Unlimited")."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        if re.fullmatch(r"[+-]?\d+", text):
            return int(text)
        if re.fullmatch(r"[+-]?\d+\.0*", text):
            return int(float(text))
    return None


def float_or_none(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def bool_or_none(value: Any) -> bool | None:
    """A flag from a bool or from text ("True", "false", "1", "0" as Exchange and audit parameters write them)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes", "$true"):
            return True
        if lowered in ("false", "0", "no", "$false"):
            return False
    return None


def joined(values: Iterable[str | None], sep: str = ",") -> str:
    """Distinct non-blank values, in first-seen order, joined."""
    seen: dict[str, None] = {}
    for v in values:
        if v:
            seen.setdefault(v, None)
    return sep.join(seen)


# --- arrays -------------------------------------------------------------------------------------------------------
def _single(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def text_array(kind: str, values: Sequence[Any] | pa.Array | pa.ChunkedArray, name: str,
               what: str = "item") -> pa.Array:
    """Arrow text from a list (None stays null); a FrameError naming the first value that is not text."""
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return _single(values)
    try:
        return pa.array(values, type=pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        for n, v in enumerate(values):
            if v is not None and not isinstance(v, str):
                raise FrameError(f"{kind}: {what} {n} has a {type(v).__name__} in {name!r} ({v!r}), "
                                 "expected text") from None
        raise


def blank_to_null(arr: pa.Array, *, trim: bool = True) -> pa.Array:
    """Empty (or, with ``trim``, all-blank) text as null (Graph writes "" for "none", e.g. toIP of inbound mail)."""
    if len(arr) == 0:
        return arr
    blank = pc.equal(pc.utf8_trim_whitespace(arr) if trim else arr, "")
    if not pc.any(blank).as_py():
        return arr
    return pc.if_else(blank, pa.scalar(None, pa.string()), arr)


def string(arr: pa.Array, *, lower: bool = False, blank: bool = True) -> pd.api.extensions.ExtensionArray:
    """A ``string`` column. ``blank``: empty text becomes missing."""
    arr = _single(arr)
    if arr.type != pa.string():
        arr = arr.cast(pa.string())
    if blank:
        arr = blank_to_null(arr, trim=False)  # whole columns: only exact "" (one pass); dictionaries are trimmed
    if lower and len(arr):
        arr = pc.utf8_lower(arr)
    return pd.arrays.ArrowExtensionArray(arr)


def encode(arr: pa.Array, *, lower: bool = False, blank: bool = True) -> tuple[np.ndarray, pa.Array]:
    """Dictionary codes (int32, -1 for missing) and the distinct values, lowercased and blanks dropped on request.

    The work after the first encoding runs on the distinct values only, so a million rows with a few thousand
    senders cost a few thousand lowercasings.
    """
    arr = _single(arr)
    if not pa.types.is_dictionary(arr.type):
        if arr.type != pa.string():
            arr = arr.cast(pa.string())
        arr = arr.dictionary_encode()
    dictionary = arr.dictionary
    indices = arr.indices
    if lower or blank:
        cleaned = dictionary
        if blank:
            cleaned = blank_to_null(cleaned)
        if lower:
            cleaned = pc.utf8_lower(cleaned)
        if not cleaned.equals(dictionary):
            again = cleaned.dictionary_encode()
            indices = pc.take(again.indices, indices)
            dictionary = again.dictionary
    codes = indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    return codes, dictionary


def categorical_from_codes(codes: np.ndarray, dictionary: pa.Array | Sequence[str],
                           categories: tuple[str, ...] | None = None) -> pd.Categorical:
    """A ``category`` column from codes into ``dictionary``; with fixed ``categories``, recoded into them.

    Values of the dictionary outside fixed categories are an error for the caller to have mapped already.
    """
    if categories is None:
        cats = pd.Index(pd.arrays.ArrowExtensionArray(dictionary if isinstance(dictionary, pa.Array)
                                                      else pa.array(list(dictionary), pa.string())), dtype=STRING)
        return pd.Categorical.from_codes(codes, dtype=_distinct_dtype(cats), validate=False)
    values = dictionary.to_pylist() if isinstance(dictionary, pa.Array) else list(dictionary)
    position = {c: n for n, c in enumerate(categories)}
    lookup = np.array([position[v] if v is not None else -1 for v in values] + [-1], dtype=np.int32)
    return pd.Categorical.from_codes(lookup[codes], dtype=category_dtype(categories), validate=False)


def _distinct_dtype(categories: pd.Index) -> pd.CategoricalDtype:
    """A categorical dtype over values already known to be distinct (an Arrow dictionary).

    The public constructor proves them distinct by building a hash table of the categories, which the index then
    keeps: time, and about 25 bytes per category (2.7 MB for the senders of a million trace rows). The dictionary is
    distinct by construction, so the check is skipped (pandas builds the table only if asked to look a value up by
    label); on a pandas without that path the table is built and then dropped.
    """
    fast = getattr(pd.CategoricalDtype, "_from_fastpath", None)
    if fast is not None:
        return fast(categories, ordered=False)  # type: ignore[no-any-return]
    dtype = pd.CategoricalDtype(categories)
    dtype.categories._cleanup()  # frees the hash table the uniqueness check built
    return dtype


def category(arr: pa.Array, *, lower: bool = False, blank: bool = True,
             categories: tuple[str, ...] | None = None) -> pd.Categorical:
    codes, dictionary = encode(arr, lower=lower, blank=blank)
    return categorical_from_codes(codes, dictionary, categories)


def timestamps(kind: str, values: Sequence[Any] | pa.Array, name: str, what: str = "item") -> pd.Series:
    """ISO 8601 texts as ``datetime64[ns, UTC]``: ``Z``, offsets, up to 9 fractional digits (Microsoft writes 7).

    Texts without an offset (the audit log's ``CreationTime``) are UTC. Blank texts and .NET's MinValue/MaxValue
    ("0001-01-01...", "9999-12-31...") are missing. Anything else that does not parse is a FrameError naming the item.
    """
    arr = text_array(kind, values, name, what)
    if len(arr) == 0:
        return pd.Series(pd.array([], dtype=DATETIME))
    try:  # the common case: every value has an offset or Z
        return pc.cast(arr, pa.timestamp("ns", tz="UTC")).to_pandas().astype(DATETIME)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    arr = blank_to_null(arr)
    sentinel = pc.or_(pc.starts_with(arr, _SENTINEL_DATES[0]), pc.starts_with(arr, _SENTINEL_DATES[1]))
    if pc.any(sentinel).as_py():
        arr = pc.if_else(sentinel, pa.scalar(None, pa.string()), arr)
    try:
        return pc.cast(arr, pa.timestamp("ns", tz="UTC")).to_pandas().astype(DATETIME)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    try:  # no offset (UTC by convention), or forms Arrow does not read
        parsed = pd.to_datetime(pd.Series(pd.arrays.ArrowExtensionArray(arr)), format="ISO8601", utc=True)
        return parsed.dt.as_unit("ns").astype(DATETIME)
    except (ValueError, OverflowError, pd.errors.OutOfBoundsDatetime):
        pass
    for n, v in enumerate(arr.to_pylist()):
        if v is None:
            continue
        try:
            pd.to_datetime(pd.Series([v]), format="ISO8601", utc=True).dt.as_unit("ns")
        except (ValueError, OverflowError, pd.errors.OutOfBoundsDatetime):
            raise FrameError(f"{kind}: {what} {n} has an unreadable {name!r}: {v!r} (expected an ISO 8601 "
                             "date-time)") from None
    raise FrameError(f"{kind}: the {name!r} values mix forms that cannot be read together")


def timestamps_of(kind: str, items: Sequence[Item], name: str, what: str = "item") -> pd.Series:
    return timestamps(kind, field(items, name), name, what)


def ints(values: Sequence[int | None] | pa.Array | pa.ChunkedArray) -> pd.api.extensions.ExtensionArray:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return _single(values).cast(pa.int64()).to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get).array
    return pd.array(list(values), dtype="Int64")


def floats(values: Sequence[float | None] | pa.Array | pa.ChunkedArray) -> pd.api.extensions.ExtensionArray:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return _single(values).cast(pa.float64()).to_pandas(types_mapper={pa.float64(): pd.Float64Dtype()}.get).array
    return pd.array(list(values), dtype="Float64")


def bools(values: Sequence[bool | None] | pa.Array | pa.ChunkedArray) -> pd.api.extensions.ExtensionArray:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return _single(values).to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype()}.get).array
    return pd.array(list(values), dtype="boolean")


def checked_ints(kind: str, items: Sequence[Item], name: str, what: str = "item") -> pd.api.extensions.ExtensionArray:
    """Integers of one field; a FrameError naming the item when a value is not a whole number."""
    out: list[int | None] = []
    for n, item in enumerate(items):
        raw = item.get(name)
        value = int_or_none(raw)
        if value is None and raw is not None and not (isinstance(raw, str) and not raw.strip()):
            raise FrameError(f"{kind}: {what} {n} has {name!r} = {raw!r}, expected a whole number")
        out.append(value)
    return ints(out)


def checked_bools(kind: str, items: Sequence[Item], name: str, what: str = "item") -> pd.api.extensions.ExtensionArray:
    """Flags of one field; a FrameError naming the item when a value is not a boolean."""
    out: list[bool | None] = []
    for n, item in enumerate(items):
        raw = item.get(name)
        value = bool_or_none(raw)
        if value is None and raw is not None:
            raise FrameError(f"{kind}: {what} {n} has {name!r} = {raw!r}, expected true or false")
        out.append(value)
    return bools(out)


# --- the frame ------------------------------------------------------------------------------------------------------
def _column(kind: str, name: str, dtype: str, lower: bool, categories: tuple[str, ...] | None, value: Any) -> Any:
    """One column from what a converter gathered: a pandas array of the right dtype, an Arrow array, or a list."""
    if isinstance(value, pd.Series):
        value = value.array
    if isinstance(value, pd.Categorical | pd.api.extensions.ExtensionArray) and not isinstance(
            value, pd.arrays.ArrowExtensionArray):
        return value
    if isinstance(value, pd.arrays.ArrowExtensionArray) and dtype == "string":
        return value
    if dtype == "string":
        arr = text_array(kind, value, name)
        return string(arr, lower=lower)
    if dtype == "category":
        return category(text_array(kind, value, name), lower=lower, categories=categories)
    if dtype == "Int64":
        return ints(value)
    if dtype == "Float64":
        return floats(value)
    if dtype == "boolean":
        return bools(value)
    raise FrameError(f"{kind}: column {name!r} needs timestamps parsed by the converter")


def frame(kind: str, columns: Columns, *, rows: int, dedupe: bool = False,
          constant: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The frame of ``kind`` from gathered columns (every contract column must be given, or be in ``constant``).

    ``constant`` fills a column with one value (e.g. ``source``). The key is checked: a repeated key is a FrameError
    unless ``dedupe`` (then the last row wins).
    """
    s = spec(kind)
    out: dict[str, Any] = {}
    for col in s.columns:
        if constant and col.name in constant:
            value: Any = _constant(col.dtype, col.categories, constant[col.name], rows)
        elif col.name in columns:
            value = columns[col.name]
        else:
            raise FrameError(f"{kind}: the converter gave no column {col.name!r}")  # a bug, not an input problem
        built = _column(kind, col.name, col.dtype, col.lowercase, col.categories, value)
        if len(built) != rows:
            raise FrameError(f"{kind}: column {col.name!r} has {len(built)} values for {rows} rows")
        out[col.name] = built
    df = pd.DataFrame(out, copy=False)
    if not is_exact(s, df):
        bad = [c.name for c in s.columns if not _exact_column(c, df[c.name])]
        raise FrameError(f"{kind}: the converter built column(s) {bad} with the wrong dtype")
    return check_keys(kind, s, df, dedupe).reset_index(drop=True)


def _constant(dtype: str, categories: tuple[str, ...] | None, value: Any, rows: int) -> Any:
    if dtype == "category":
        codes = np.full(rows, -1 if value is None else 0, dtype=np.int32)
        return categorical_from_codes(codes, pa.array([value], pa.string()), categories)
    return [value] * rows


def _exact_column(col: Any, series: pd.Series) -> bool:
    if col.dtype == "category" and col.categories is None:
        return isinstance(series.dtype, pd.CategoricalDtype) and series.dtype.categories.dtype == STRING
    return bool(series.dtype == col.pandas_dtype)


def per_item(kind: str, items: Sequence[Item], row: Callable[[int, Item], Mapping[str, Any]],
             names: Sequence[str]) -> Columns:
    """Columns gathered item by item (for the small kinds): ``row(n, item)`` returns one row's values by name."""
    gathered: Columns = {name: [] for name in names}
    for n, item in enumerate(items):
        values = row(n, item)
        for name in names:
            gathered[name].append(values.get(name))
    return gathered
