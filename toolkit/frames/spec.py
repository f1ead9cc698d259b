"""The vocabulary of the contract: what a column and a frame kind are, the dtypes they use, and the error they raise.

Dtypes are named by short tokens so the contract reads as a table; each token maps to exactly one pandas dtype:

| token | pandas dtype | for |
|---|---|---|
| ``string`` | ``pd.ArrowDtype(pa.string())`` | text; missing is ``pd.NA`` |
| ``category`` | ``pd.CategoricalDtype`` whose categories are ``string`` | low-cardinality text |
| ``datetime`` | ``datetime64[ns, UTC]`` | instants (nanoseconds keep Microsoft's 7 fractional digits) |
| ``Int64`` | ``pd.Int64Dtype()`` | counts and sizes, nullable |
| ``Float64`` | ``pd.Float64Dtype()`` | ratios and coordinates, nullable |
| ``boolean`` | ``pd.BooleanDtype()`` | flags, nullable (missing means unknown) |
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa

from toolkit.errors import ToolkitError

#: The one text dtype of every frame: Arrow-backed, 32-bit offsets (half the offset memory of ``string[pyarrow]``).
STRING = pd.ArrowDtype(pa.string())
#: The one timestamp dtype: tz-aware UTC, nanoseconds.
DATETIME = pd.DatetimeTZDtype(unit="ns", tz="UTC")
INT = pd.Int64Dtype()
FLOAT = pd.Float64Dtype()
BOOL = pd.BooleanDtype()

DTYPE_TOKENS = ("string", "category", "datetime", "Int64", "Float64", "boolean")

_PANDAS_TEXT = {
    "string": "string",
    "category": "category",
    "datetime": "datetime64[ns, UTC]",
    "Int64": "Int64",
    "Float64": "Float64",
    "boolean": "boolean",
}


class FrameError(ToolkitError, ValueError):
    """A frame or an input that breaks the contract; the message names the kind, the column or item, and the fault."""


def category_dtype(categories: tuple[str, ...] | list[str]) -> pd.CategoricalDtype:
    """A categorical dtype over ``string`` categories, in the given order."""
    return pd.CategoricalDtype(pd.Index(list(categories), dtype=STRING), ordered=False)


@dataclass(frozen=True)
class Column:
    """One column of a frame kind.

    ``categories`` fixes the vocabulary of a ``category`` column (values outside it are refused); ``None`` leaves it
    open. ``lowercase`` marks addresses, domains and GUIDs, which frames hold lowercased so they compare equal.
    """

    name: str
    dtype: str
    meaning: str
    categories: tuple[str, ...] | None = None
    lowercase: bool = False

    def __post_init__(self) -> None:
        if self.dtype not in DTYPE_TOKENS:
            raise ValueError(f"column {self.name!r}: unknown dtype token {self.dtype!r}; use one of {DTYPE_TOKENS}")
        if self.categories is not None and self.dtype != "category":
            raise ValueError(f"column {self.name!r}: only a category column can fix its categories")

    @property
    def pandas_dtype(self) -> object:
        """The pandas dtype of an empty column (an open ``category`` column starts with no categories)."""
        if self.dtype == "string":
            return STRING
        if self.dtype == "category":
            return category_dtype(self.categories or ())
        if self.dtype == "datetime":
            return DATETIME
        if self.dtype == "Int64":
            return INT
        if self.dtype == "Float64":
            return FLOAT
        return BOOL

    @property
    def dtype_text(self) -> str:
        """The dtype as the docs table shows it."""
        text = _PANDAS_TEXT[self.dtype]
        if self.categories is not None:
            text += " of " + ", ".join(f"`{c}`" for c in self.categories)
        return text


@dataclass(frozen=True)
class FrameSpec:
    """A frame kind: its columns in order, the columns that identify a row, and what one row is."""

    kind: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    doc: str
    _by_name: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name = {c.name: c for c in self.columns}
        if len(by_name) != len(self.columns):
            raise ValueError(f"{self.kind}: duplicate column names")
        missing = [k for k in self.key if k not in by_name]
        if missing:
            raise ValueError(f"{self.kind}: key column(s) {missing} are not columns")
        object.__setattr__(self, "_by_name", by_name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        try:
            return self._by_name[name]
        except KeyError:
            raise FrameError(f"{self.kind}: no column {name!r}") from None

    def dtypes(self) -> dict[str, object]:
        """Column name -> pandas dtype (open categories empty)."""
        return {c.name: c.pandas_dtype for c in self.columns}
