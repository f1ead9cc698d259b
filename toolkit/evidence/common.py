"""Small helpers the indicators share: text out of nullable columns, times and lists in sentences, coverage."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

import pandas as pd

from toolkit.case import Case

CoverageState = Literal["complete", "partial", "missing"]


def text(value: object) -> str:
    """A cell as text: '' for a missing value."""
    if value is None:
        return ""
    try:
        if pd.isna(value):  # type: ignore[call-overload]
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


def names_address(value: str, addresses: Iterable[str]) -> bool:
    """Whether ``value`` names one of ``addresses`` as a whole address (``bob@contoso.com`` is not named by
    ``jimbob@contoso.com`` nor by ``bob@contoso.com.evil``), case-insensitively."""
    lowered = value.lower()
    return any(re.search(rf"(?<![\w.+-]){re.escape(a.lower())}(?![\w.-])", lowered) for a in addresses if a)


def texts(series: pd.Series) -> list[str]:
    """A column as a list of text ('' for missing values), whatever its dtype (Arrow string, categorical...)."""
    return [text(v) for v in series.tolist()]


def flag(value: object) -> bool | None:
    """A nullable boolean cell as True, False or None (unknown), whatever its scalar type."""
    if value is None:
        return None
    try:
        if pd.isna(value):  # type: ignore[call-overload]
            return None
    except (TypeError, ValueError):
        return None
    return bool(value)


def truthy(series: pd.Series) -> pd.Series:
    """A nullable boolean column as plain bools (missing is False)."""
    return series.astype("boolean").fillna(False).astype(bool)


def when(value: object) -> str:
    """A timestamp as it reads in a sentence: ``2026-11-17 16:01 UTC``."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return "an unknown time"
    stamp = pd.Timestamp(value)  # type: ignore[arg-type]
    if pd.isna(stamp):
        return "an unknown time"
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return f"{stamp:%Y-%m-%d %H:%M} UTC"


def span(delta: pd.Timedelta) -> str:
    """A duration in words: ``7 minutes``, ``3.5 hours``, ``2 days``."""
    seconds = abs(delta.total_seconds())
    if seconds < 90 * 60:
        minutes = max(1, round(seconds / 60))
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    if seconds < 48 * 3600:
        hours = seconds / 3600
        return f"{hours:.1f} hours" if hours < 10 else f"{round(hours)} hours"
    days = seconds / 86400
    return f"{days:.1f} days" if days < 10 else f"{round(days)} days"


def listing(items: Iterable[str], limit: int = 4) -> str:
    """``a, b and c`` (with ``and N more`` past ``limit``)."""
    values = [i for i in dict.fromkeys(items) if i]
    if not values:
        return "none"
    if len(values) > limit:
        return ", ".join(values[:limit]) + f" and {len(values) - limit} more"
    if len(values) == 1:
        return values[0]
    return ", ".join(values[:-1]) + " and " + values[-1]


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``1 rule``, ``3 rules``, ``2,305 recipients``."""
    return f"{n:,} {noun if n == 1 else (plural or noun + 's')}"


def percent(share: float) -> str:
    return f"{share * 100:.0f}%" if share >= 0.01 or share == 0 else f"{share * 100:.1f}%"


def coverage(case: Case, kind: str) -> CoverageState:
    """Whether ``kind`` was collected in full, in part, or not at all (from the coverage ledger).

    A case without ledger entries for the kind (built by hand, or from files) counts as complete.
    """
    entries = case.ledger.for_kind(kind)
    if not entries:
        return "complete"
    statuses = {entry.status for entry in entries}
    if statuses == {"complete"}:
        return "complete"
    if statuses & {"complete", "partial"}:
        return "partial"
    return "missing"


_VERSION = re.compile(r"\b[\d.]+\b")


def family_of(client: str) -> str:
    """A browser or OS without its version: ``Chrome 131.0.0`` -> ``chrome``."""
    return _VERSION.sub("", client).strip().lower()
