"""Spreadsheet-safe CSV: every CSV the toolkit writes goes through here, so a cell an attacker chose (a subject, a
rule name, a user agent) can never run as a formula when an analyst opens the file in Excel or LibreOffice.

A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading apostrophe
(OWASP's advice for CSV injection): the spreadsheet shows the text and runs nothing. Numbers, dates and booleans
are left alone; so is text that starts with anything else. The change is visible and deliberate: the file is for
people, the Parquet store keeps the values exactly.

    from toolkit import csvsafe
    csvsafe.to_csv(case.trace, "trace.csv")
    csvsafe.write_rows("rows.csv", ["a", "b"], [["=1+1", "x"]])
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """The value as a spreadsheet should receive it: text starting with a trigger gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(TRIGGERS):
        return "'" + value
    return value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell neutralised (text, categorical and object columns)."""
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        dtype = column.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            categories = [neutralise(c) for c in dtype.categories]
            if categories != list(dtype.categories):
                out[name] = column.cat.rename_categories(categories)
        elif pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
            out[name] = column.map(neutralise, na_action="ignore").astype(dtype)
    return out


def to_csv(frame: pd.DataFrame, path: str | Path, *, encoding: str = "utf-8-sig", index: bool = False,
           **kwargs: Any) -> Path:
    """Write ``frame`` as CSV with every text cell neutralised (UTF-8 with BOM and CRLF by default, as Excel
    expects; with CRLF as the line end, a cell holding a lone CR or LF is quoted, so it cannot split a row)."""
    target = Path(path)
    kwargs.setdefault("lineterminator", "\r\n")
    neutralise_frame(frame).to_csv(target, encoding=encoding, index=index, **kwargs)
    return target


def write_rows(path: str | Path, header: Sequence[str], rows: Iterable[Sequence[Any]], *,
               encoding: str = "utf-8-sig") -> Path:
    """Write plain rows as CSV, every text cell (header included) neutralised."""
    target = Path(path)
    with target.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow([neutralise(h) for h in header])
        for row in rows:
            writer.writerow([neutralise(v) for v in row])
    return target
