"""What every source shares: the result of a pull, keyed accounting, time slicing, and honest coverage.

A pull returns a :class:`Pull`: the frame and the coverage entries that say how complete it is. Rows are gathered
through :class:`KeyedRows`, which keys every row (a trace row by trace id and recipient) so a row served twice
(a repeated page, a retried slice) is kept once, and counts what it saw, kept and dropped: rows seen equal rows
kept plus exact repeats, always. A failure becomes a coverage entry with the reason in plain words, never a
silently short frame.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from toolkit.coverage import Coverage, Reason
from toolkit.errors import (
    ApiError,
    BadRequest,
    ConnectionFailed,
    LicenceRequired,
    NotFound,
    PermissionDenied,
    ServiceUnavailable,
    Throttled,
    Unauthorized,
)

log = logging.getLogger(__name__)

Item = dict[str, Any]


@dataclass
class Pull:
    """A frame and the account of how it was obtained."""

    kind: str
    frame: pd.DataFrame
    coverage: list[Coverage] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return all(c.complete for c in self.coverage)


class AccountingError(AssertionError):
    """Rows seen and rows kept disagree: a bug, never a data condition."""


@dataclass
class KeyedRows:
    """Rows keyed by ``key``; an exact repeat is dropped and counted, a conflicting repeat keeps the newer one."""

    key: Callable[[Item], Hashable]
    rows: dict[Hashable, Item] = field(default_factory=dict)
    seen: int = 0
    repeats: int = 0
    conflicts: int = 0

    def add(self, items: Iterable[Item]) -> int:
        """Add rows; returns how many were new."""
        new = 0
        for item in items:
            self.seen += 1
            ident = self.key(item)
            old = self.rows.get(ident)
            if old is None:
                new += 1
            elif old == item:
                self.repeats += 1
                continue
            else:
                self.conflicts += 1  # the service changed the row between two reads: keep the newer
            self.rows[ident] = item
        return new

    def check(self) -> None:
        """The accounting invariant: every row seen is kept, or an exact or conflicting repeat of a kept one."""
        if self.seen != len(self.rows) + self.repeats + self.conflicts:
            raise AccountingError(f"seen {self.seen} rows but kept {len(self.rows)} with {self.repeats} repeats and "
                                  f"{self.conflicts} conflicts")

    def items(self) -> list[Item]:
        self.check()
        return list(self.rows.values())


def reason_of(exc: Exception) -> tuple[Reason, str]:
    """The ledger's reason and plain-words detail for a failed call."""
    detail = str(exc)
    if isinstance(exc, LicenceRequired):
        return "licence", f"the tenant lacks the licence: {exc.detail}"
    if isinstance(exc, PermissionDenied):
        return "permission", f"the credential lacks a permission or role: {exc.detail}"
    if isinstance(exc, Throttled):
        return "throttled", f"throttled past the retry budget ({detail})"
    if isinstance(exc, NotFound):
        return "not_found", detail
    if isinstance(exc, BadRequest):
        lowered = exc.detail.lower()
        if "90 days" in lowered or "older than" in lowered or "retention" in lowered:
            return "retention", detail
        return "error", detail
    if isinstance(exc, Unauthorized | ServiceUnavailable | ConnectionFailed | ApiError):
        return "error", detail
    return "error", f"{type(exc).__name__}: {detail}"


def failed(kind: str, source: str, backend: str, exc: Exception, *, rows: int = 0, start: datetime | None = None,
           end: datetime | None = None, requests: int = 0) -> Coverage:
    """A coverage entry for a pull that failed (unavailable when nothing came, partial when some rows did)."""
    reason, detail = reason_of(exc)
    status = "unavailable" if reason in {"licence", "permission"} and rows == 0 else "partial" if rows else "failed"
    log.warning("%s: %s", source, detail)
    return Coverage(kind=kind, source=source, backend=backend, status=status, rows=rows, start=start, end=end,
                    reason=reason, detail=detail, requests=requests)


@dataclass
class Retention:
    """A service's retention edge for one pull: clips windows to it and reports, once, what lay beyond it.

    ``margin`` moves the edge a little later than the service's own, so a query sent a moment later is still
    inside what the service keeps. The cut part is a coverage gap with reason "retention", never a silent clip.
    """

    kind: str
    source: str
    backend: str
    keeps: timedelta
    what: str  # "message trace", "the audit log" ... for the sentence
    asked_start: datetime | None = None
    asked_end: datetime | None = None
    until: datetime | None = None  # the searched part starts here; before it, retention took the rows

    def clip(self, now: datetime, start: datetime, margin: timedelta = timedelta(minutes=1)) -> datetime:
        floor = pd.Timestamp(now - self.keeps + margin).ceil("s").to_pydatetime()
        if start >= floor:
            return start
        if self.until is None or floor > self.until:
            self.until = floor
        return floor

    def entry(self) -> Coverage | None:
        if self.until is None or self.asked_start is None:
            return None
        until = self.until if self.asked_end is None else min(self.until, self.asked_end)
        return Coverage(kind=self.kind, source=self.source, backend=self.backend, status="unavailable",
                        start=self.asked_start, end=until, reason="retention",
                        detail=f"{self.what} keeps {self.keeps.days} days: nothing before "
                               f"{self.until:%Y-%m-%d %H:%M} UTC can be searched")


def slices(start: datetime, end: datetime, width: timedelta) -> Iterator[tuple[datetime, datetime]]:
    """Consecutive [start, end] windows of at most ``width``, newest last; bounds shared at the seams."""
    if end <= start:
        return
    cursor = start
    while cursor < end:
        upper = min(end, cursor + width)
        yield cursor, upper
        cursor = upper


def iso(value: datetime) -> str:
    """The ISO form Graph filters take: seconds and 'Z'."""
    if value.tzinfo is None:
        raise ValueError(f"a naive datetime is ambiguous here; give it a time zone: {value!r}")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
