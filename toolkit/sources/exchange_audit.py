"""The unified audit log through Exchange: Search-UnifiedAuditLog with ReturnLargeSet sessions.

A session (a SessionId with SessionCommand ReturnLargeSet) fixes its result set at the first call and returns the
next ``ResultSize`` rows on each call, at most 50,000 in all, then empty pages. ``ResultCount`` on every row is the
TRUE number of matches, not capped: a client that loops while ResultIndex < ResultCount never ends on a window of
more than 50,000 records (Hawk's bug). So a pull here is:

- the window, its part older than 180 days cut off and recorded as a ``retention`` coverage entry;
- per window a fresh SessionId, paging until an empty page, at most ``ceil(50,000 / ResultSize) + 2`` calls;
- a window with more than 50,000 matches (known from ResultCount on the first page, or found when the session
  reaches the cap or does not end) is split in two halves in time and each half searched again, recursively, down
  to ``min_window``; a window that narrow that still hits the cap keeps its 50,000 rows and is recorded ``partial``
  with reason ``cap``;
- a session that skips rows (ResultIndex jumps: a call that ran on the service but whose answer was lost, then was
  retried, moved the session on) is searched again with a new session, at most ``SESSION_ATTEMPTS`` times;
- records keyed by their Identity through ``KeyedRows`` (windows share their bounds), and a query budget
  (``max_queries``) that bounds the whole pull whatever the service does.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from toolkit import frames
from toolkit.coverage import Coverage, Reason, Status
from toolkit.errors import ApiError
from toolkit.sources.base import Item, KeyedRows, Pull, Retention, reason_of
from toolkit.sources.exchange import (
    BACKEND,
    ExchangeTransport,
    RequestCount,
    command_not_found,
    error_coverage,
    source_name,
    transport_of,
)
from toolkit.sources.exchange_trace import Budget, exo_time

log = logging.getLogger(__name__)

CMDLET = "Search-UnifiedAuditLog"
SOURCE = source_name(CMDLET)
KIND = "audit"

SESSION_CAP = 50_000  # documented: ReturnLargeSet returns at most 50,000 rows per session
MAX_RESULT_SIZE = 5000  # documented: ResultSize up to 5000
#: UNVERIFIED: Audit (Standard) keeps 180 days; older starts are refused.
RETENTION = timedelta(days=180)
RETENTION_MARGIN = timedelta(minutes=10)
REQUERY_MARGIN = timedelta(minutes=1)
#: Sessions tried per window when a session skips rows.
SESSION_ATTEMPTS = 3
#: Per-session fields that differ between two sessions returning the same record; dropped before keying.
SESSION_FIELDS = ("ResultIndex", "ResultCount")
STOPPING_REASONS = frozenset({"permission", "licence"})


def record_key(row: Item) -> str:
    identity = row.get("Identity")
    if not identity:
        raise KeyError("a Search-UnifiedAuditLog row without Identity")
    return str(identity).lower()


def _texts(values: Iterable[str] | str) -> list[str]:
    if isinstance(values, str):
        values = [values]
    return list(dict.fromkeys(v.strip() for v in values if v and v.strip()))


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


@dataclass
class Session:
    """What one search session returned."""

    rows: list[Item] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    total: int | None = None  # ResultCount of the first page: every match, uncapped
    ended: bool = False  # an empty page came
    gap: str = ""  # how the session skipped rows, if it did
    stalled: bool = False  # a page brought nothing new


@dataclass
class AuditPull:
    transport: ExchangeTransport
    filters: dict[str, Any]
    page_size: int
    min_window: timedelta
    budget: Budget
    keyed: KeyedRows = field(default_factory=lambda: KeyedRows(key=record_key))
    coverage: list[Coverage] = field(default_factory=list)
    retention: Retention = field(
        default_factory=lambda: Retention(KIND, SOURCE, BACKEND, RETENTION, "the audit log"))
    stopped: Coverage | None = None  # a failure every later window would repeat (a missing role or licence)

    @property
    def max_calls(self) -> int:
        """Calls one session may take: every page of the cap, an empty page, and one to spare."""
        return math.ceil(SESSION_CAP / self.page_size) + 2

    def clip(self, start: datetime, margin: timedelta = REQUERY_MARGIN) -> datetime:
        """``start`` moved up to the retention edge if it is older (the cut part is remembered for the ledger)."""
        return self.retention.clip(self.transport.now(), start, margin)

    def retention_entry(self) -> Coverage | None:
        return self.retention.entry()

    def add_entry(self, status: Status, start: datetime, end: datetime, rows: int, requests: int, *,
                  reason: Reason = "", detail: str = "") -> None:
        self.coverage.append(Coverage(kind=KIND, source=SOURCE, backend=BACKEND, status=status, rows=rows,
                                      start=start, end=end, reason=reason, detail=detail, requests=requests))

    # -- one session -------------------------------------------------------------------------------------------------
    def session(self, start: datetime, end: datetime, splittable: bool) -> Session | None:
        """Page one fresh session over [start, end]; None when the budget ran out first.

        Stops early (without reading the rest) when the first page's ResultCount shows more than the cap and the
        window can still be split.
        """
        parameters = {**self.filters, "StartDate": exo_time(start), "EndDate": exo_time(end),
                      "SessionId": str(uuid.uuid4()), "SessionCommand": "ReturnLargeSet",
                      "ResultSize": self.page_size}
        got = Session()
        expected_index = 1
        for call in range(self.max_calls):
            if not self.budget.take():
                return None
            page: list[Item] = []
            for part in self.transport.invoke_pages(CMDLET, parameters, source=SOURCE):
                if call == 0 and not page and part:
                    got.total = _int(part[0].get("ResultCount"))
                    if splittable and got.total is not None and got.total > SESSION_CAP:
                        return got  # too many for one session: no need to read 50,000 rows to find out
                page += part
            if not page:
                got.ended = True
                return got
            first_index = _int(page[0].get("ResultIndex"))
            if first_index is not None and first_index != expected_index:
                got.gap = f"ResultIndex jumped from {expected_index - 1} to {first_index}"
                return got
            expected_index += len(page)
            rows = [{k: v for k, v in row.items() if k not in SESSION_FIELDS} for row in page]
            fresh = {record_key(r) for r in rows} - got.ids
            if not fresh:
                got.stalled = True
                return got
            got.ids |= fresh
            got.rows += rows
            if len(got.ids) >= SESSION_CAP:
                got.ended = got.total is not None and got.total <= len(got.ids)
                return got
        return got  # the session did not end within its bound

    # -- one window ----------------------------------------------------------------------------------------------------
    def window(self, start: datetime, end: datetime) -> None:
        """Every record created in [start, end]: one session, or two halves when the window holds too many."""
        searched = self.clip(start)
        if searched > end:
            return  # retention took all of it (the retention entry says so)
        if self.stopped is not None:
            self.add_entry("unavailable", searched, end, 0, 0, reason=self.stopped.reason,
                           detail=f"not searched: {self.stopped.detail}")
            return
        count = RequestCount(self.transport)
        splittable = end - searched > self.min_window
        got: Session | None = None
        for attempt in range(1, SESSION_ATTEMPTS + 1):
            try:
                got = self.session(searched, end, splittable)
            except ApiError as exc:
                entry = error_coverage(KIND, CMDLET, BACKEND, exc, start=searched, end=end, requests=count())
                self.coverage.append(entry)
                if command_not_found(exc) or reason_of(exc)[0] in STOPPING_REASONS:
                    self.stopped = entry
                return
            if got is None:
                self.add_entry("failed", searched, end, 0, count(), reason="cap",
                               detail="the pull's query budget was spent before this window was searched")
                return
            if not got.gap:
                break
            log.warning("%s: the session for %s .. %s skipped rows (%s); searching again with a new session "
                        "(attempt %d of %d)", SOURCE, searched, end, got.gap, attempt, SESSION_ATTEMPTS)
        assert got is not None
        if got.gap:
            rows = self.keyed.add(got.rows)
            self.add_entry("partial", searched, end, rows, count(), reason="error",
                           detail=f"every search session of this window skipped rows ({got.gap}); "
                                  f"{len(got.rows)} of {got.total if got.total is not None else 'an unknown number of'}"
                                  " records were read")
            return
        if got.ended and not got.stalled:
            self.add_entry("complete", searched, end, self.keyed.add(got.rows), count())
            return
        why = (f"{got.total} records match, more than the {SESSION_CAP:,} one search session returns"
               if got.total is not None and got.total > SESSION_CAP
               else "the search session returned rows it had already returned" if got.stalled
               else f"the search session reached {SESSION_CAP:,} rows, its cap" if len(got.ids) >= SESSION_CAP
               else f"the search session did not end after {self.max_calls} calls")
        if splittable:
            middle = (pd.Timestamp(searched) + (pd.Timestamp(end) - pd.Timestamp(searched)) / 2).floor("s")
            mid = middle.to_pydatetime(warn=False)
            if not searched < mid < end:
                mid = searched + (end - searched) / 2
            log.info("%s: %s for %s .. %s; splitting at %s", SOURCE, why, searched, end, mid)
            self.window(searched, mid)
            self.window(mid, end)
            return
        self.add_entry("partial", searched, end, self.keyed.add(got.rows), count(), reason="cap",
                       detail=f"{why}, and the window is already as narrow as allowed ({self.min_window}): "
                              f"{len(got.ids):,} records were read, the rest of this window is missing")


def audit(source: Any, start: datetime, end: datetime, *, user_ids: Iterable[str] | str = (),
          operations: Iterable[str] | str = (), record_type: str | None = None, page_size: int = MAX_RESULT_SIZE,
          min_window: timedelta = timedelta(minutes=1), max_queries: int = 2000) -> Pull:
    """Every unified audit log record created in [start, end] (Search-UnifiedAuditLog), as the ``audit`` frame.

    ``user_ids``, ``operations``: lists the cmdlet takes (UserIds, Operations); ``record_type``: one AuditRecordType
    name (``ExchangeAdmin``...). ``page_size``: ResultSize, 1-5000. ``min_window``: the narrowest window a capped
    search is split down to. ``max_queries``: the most Search-UnifiedAuditLog calls this pull sends.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be time-zone aware (UTC)")
    if end < start:
        raise ValueError(f"the window ends ({end}) before it starts ({start})")
    if not 1 <= page_size <= MAX_RESULT_SIZE:
        raise ValueError(f"page_size must be 1 to {MAX_RESULT_SIZE}, got {page_size}")
    if max_queries < 1 or min_window <= timedelta(0):
        raise ValueError("max_queries and min_window must be positive")
    transport = transport_of(source)
    filters: dict[str, Any] = {}
    if _texts(user_ids):
        filters["UserIds"] = _texts(user_ids)
    if _texts(operations):
        filters["Operations"] = _texts(operations)
    if record_type:
        filters["RecordType"] = record_type
    pull = AuditPull(transport, filters, page_size, min_window, Budget(max_queries))
    pull.retention.asked_start, pull.retention.asked_end = start, end
    searched_from = pull.clip(start, RETENTION_MARGIN)
    if searched_from <= end:
        pull.window(searched_from, end)
    retention = pull.retention_entry()
    coverage = ([retention] if retention else []) + pull.coverage
    items = pull.keyed.items()
    frame = frames.from_exchange(KIND, items)
    frame = frame.sort_values("time", kind="stable", ignore_index=True)
    log.info("%s: %d record(s) in %d window(s), %d call(s) left in the budget", SOURCE, len(frame),
             len(pull.coverage), pull.budget.left)
    return Pull(KIND, frame, coverage)
