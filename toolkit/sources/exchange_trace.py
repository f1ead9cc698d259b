"""Message trace through Exchange: Get-MessageTraceV2 and Get-MessageTraceDetailV2 (m365-apis.md 3.2).

The V2 cmdlet searches at most 10 days per query within the last 90 days and has no paging of its own: to go on,
the caller re-queries with ``EndDate`` = the last row's ``Received`` and ``StartingRecipientAddress`` = the last
row's ``RecipientAddress`` (rows come newest first, then by recipient). So a pull here is:

- the window, its part older than 90 days cut off and recorded as a ``retention`` coverage entry (never a silent
  clip), then 10-day slices, oldest first (the oldest is the one retention is about to take);
- in each slice, the cursor until a query returns fewer rows than ``ResultSize`` (the service may return a few more
  than asked to keep rows of one instant and recipient together, so "more" is never "less than asked");
- a cursor that does not move on (more rows in one instant than fit in a page, and a service that cannot page
  inside it) splits the slice in time: the part after that instant is done, the instant itself is searched alone
  with the largest page (5,000) and its own cursor, and the older part is searched afresh. An instant that still
  does not fit is recorded ``partial`` with reason ``cap``; a row outside the window asked for ends the slice with
  reason ``error`` (the service is not doing what the protocol says, so the cursor cannot be trusted);
- rows keyed by (MessageTraceId, RecipientAddress) through ``KeyedRows``: a row served twice (slices share their
  bounds, a cursor query repeats the instant it starts from) is kept once;
- a query budget (``max_queries``) that bounds the whole pull whatever the service does.

Coverage: one entry per slice (and per piece of a split slice), with its window, its new rows and its requests.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from toolkit import frames
from toolkit.coverage import Coverage, Reason, Status
from toolkit.errors import ApiError
from toolkit.sources.base import Item, KeyedRows, Pull, Retention, reason_of, slices
from toolkit.sources.exchange import (
    BACKEND_V2,
    ExchangeTransport,
    RequestCount,
    command_not_found,
    error_coverage,
    fetch,
    known_domains,
    source_name,
    transport_of,
)

log = logging.getLogger(__name__)

CMDLET = "Get-MessageTraceV2"
DETAIL_CMDLET = "Get-MessageTraceDetailV2"
SOURCE = source_name(CMDLET)
KIND = "trace"

RETENTION = timedelta(days=90)  # documented: the last 90 days are searchable
MAX_SPAN = timedelta(days=10)  # documented: at most 10 days per query
MAX_RESULT_SIZE = 5000  # documented: ResultSize 1-5000
#: The oldest start asked for is this much younger than 90 days, so the service's own "now" (a little ahead of the
#: Date header we calibrate on, and moving on while we page) does not find it too old. Each later query of the
#: pull moves its start up again only when it comes within ``REQUERY_MARGIN`` of the edge.
RETENTION_MARGIN = timedelta(minutes=10)
REQUERY_MARGIN = timedelta(minutes=1)
#: Reasons after which the remaining slices are not tried: they would fail the same way.
STOPPING_REASONS = frozenset({"permission", "licence"})


#: One tick of .NET's DateTime, the finest step between two Exchange timestamps.
TICK = pd.Timedelta(100, "ns")


def exo_time(value: datetime) -> str:
    """A UTC instant the way Exchange writes one (7 fractional digits: ticks), for StartDate/EndDate."""
    if value.tzinfo is None:
        raise ValueError(f"a naive datetime is ambiguous here; give it a time zone: {value!r}")
    ts = pd.Timestamp(value).tz_convert("UTC")
    return f"{ts:%Y-%m-%dT%H:%M:%S}.{ts.microsecond:06d}{ts.nanosecond // 100}Z"


def trace_key(row: Item) -> tuple[str, str]:
    return str(row["MessageTraceId"]).lower(), str(row["RecipientAddress"]).lower()


def _addresses(values: Iterable[str] | str) -> list[str]:
    if isinstance(values, str):
        values = [values]
    return list(dict.fromkeys(v.strip() for v in values if v and v.strip()))


@dataclass
class Budget:
    """How many queries a pull may still send."""

    left: int

    def take(self) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        return True


@dataclass
class TracePull:
    """One Get-MessageTraceV2 pull: the cursor per window, splitting, retention and the ledger."""

    transport: ExchangeTransport
    filters: dict[str, Any]
    page_size: int
    budget: Budget
    keyed: KeyedRows = field(default_factory=lambda: KeyedRows(key=trace_key))
    coverage: list[Coverage] = field(default_factory=list)
    retention: Retention = field(
        default_factory=lambda: Retention(KIND, SOURCE, BACKEND_V2, RETENTION, "message trace"))
    stopped: Coverage | None = None  # a failure every later window would repeat (a missing role or licence)

    # -- retention -------------------------------------------------------------------------------------------------
    def clip(self, start: datetime, margin: timedelta = REQUERY_MARGIN) -> datetime:
        """``start`` moved up to the retention edge if it is older (the cut part is remembered for the ledger)."""
        return self.retention.clip(self.transport.now(), start, margin)

    def retention_entry(self) -> Coverage | None:
        return self.retention.entry()

    def window(self, start: datetime, end: datetime, end_text: str | None = None, page_size: int | None = None) -> None:
        """Every row received in [start, end], by cursor (``end_text``: ``end`` exactly as the service wrote it).

        When the cursor cannot move past an instant, that instant is searched on its own (largest page, own cursor)
        and the loop goes on with the part older than it; an instant that still cannot be paged is ``cap``.
        """
        if self.stopped is not None:
            self.add_entry("unavailable", start, end, 0, 0, reason=self.stopped.reason,
                           detail=f"not searched: {self.stopped.detail}")
            return
        size = page_size or self.page_size
        alone = pd.Timestamp(start) == pd.Timestamp(end)  # one instant, split off a stuck window
        count = RequestCount(self.transport)
        new_rows = 0
        upper = end  # the end of what is still to search; it moves down when a stuck instant is split off
        cursor_time: pd.Timestamp = pd.Timestamp(end)
        cursor_text = end_text or exo_time(end)
        cursor_recipient: str | None = None
        while True:
            query_start = self.clip(start)
            if query_start > cursor_time:
                self.add_entry("complete", start, upper, new_rows, count())  # retention took the rest
                return
            if not self.budget.take():
                self.add_entry("partial" if new_rows else "failed", start, upper, new_rows, count(),
                               reason="cap", detail="the pull's query budget was spent before this window was "
                                                    "finished" + self.after(cursor_text, new_rows))
                return
            parameters = {**self.filters, "StartDate": exo_time(query_start), "EndDate": cursor_text,
                          "ResultSize": size}
            if cursor_recipient is not None:
                parameters["StartingRecipientAddress"] = cursor_recipient
            try:
                page = self.transport.invoke(CMDLET, parameters, source=SOURCE)
            except ApiError as exc:
                self.failure(exc, start, upper, new_rows, count(), cursor_text)
                return
            new_rows += self.keyed.add(page)
            if len(page) < size:
                self.add_entry("complete", start, upper, new_rows, count())
                return
            last = page[-1]
            last_text, last_recipient = str(last["Received"]), str(last["RecipientAddress"])
            last_time = pd.Timestamp(last_text)
            if not pd.Timestamp(query_start) <= last_time <= cursor_time:
                self.add_entry("partial" if new_rows else "failed", start, upper, new_rows, count(),
                               reason="error",
                               detail=f"{CMDLET} returned a row received at {last_text}, outside the window asked "
                                      f"for ({exo_time(query_start)} to {cursor_text}), so its cursor cannot be "
                                      "trusted: the rest of this window was not searched"
                                      + self.after(cursor_text, new_rows))
                return
            if last_time < cursor_time or (last_time == cursor_time and (
                    cursor_recipient is None or last_recipient.lower() > cursor_recipient.lower())):
                cursor_time, cursor_text, cursor_recipient = last_time, last_text, last_recipient
                continue
            # The cursor cannot move past this instant.
            stuck_at = f"{cursor_recipient or last_recipient} at {cursor_text}"
            if alone:
                self.add_entry("partial", start, end, new_rows, count(), reason="cap",
                               detail=f"more messages in one instant than the service can page through (stuck at "
                                      f"{stuck_at} with ResultSize {size}): some rows of this instant may be "
                                      "missing")
                return
            log.info("%s: the cursor cannot move past %s; that instant is searched on its own", SOURCE, stuck_at)
            self.add_entry("complete", cursor_time.to_pydatetime(warn=False), upper, new_rows, count(),
                           detail=f"the rows after {cursor_text}; the window was split there because the cursor "
                                  f"could not move past {stuck_at}")
            instant = cursor_time.to_pydatetime(warn=False)
            self.window(instant, instant, cursor_text, MAX_RESULT_SIZE)
            older = cursor_time - TICK
            if older < pd.Timestamp(start):
                return
            upper = older  # one tick before the instant: a Timestamp keeps the nanoseconds
            count, new_rows = RequestCount(self.transport), 0
            cursor_time, cursor_text, cursor_recipient = older, exo_time(older), None

    @staticmethod
    def after(cursor_text: str, new_rows: int) -> str:
        return f"; the rows received after {cursor_text} were read" if new_rows else ""

    def failure(self, exc: ApiError, start: datetime, end: datetime, new_rows: int, requests: int,
                cursor_text: str) -> None:
        entry = error_coverage(KIND, CMDLET, BACKEND_V2, exc, rows=new_rows, start=start, end=end, requests=requests)
        if new_rows:
            entry = replace(entry, detail=f"the rows received after {cursor_text} were read, older ones were not: "
                                          f"{entry.detail}")
        self.coverage.append(entry)
        if command_not_found(exc) or reason_of(exc)[0] in STOPPING_REASONS:
            self.stopped = entry

    def add_entry(self, status: Status, start: datetime, end: datetime, rows: int, requests: int, *,
                  reason: Reason = "", detail: str = "") -> None:
        self.coverage.append(Coverage(kind=KIND, source=SOURCE, backend=BACKEND_V2, status=status, rows=rows,
                                      start=start, end=end, reason=reason, detail=detail, requests=requests))


def message_trace_v2(source: Any, start: datetime, end: datetime, *, senders: Iterable[str] | str = (),
                     recipients: Iterable[str] | str = (), accepted_domains: Iterable[str] | None,
                     page_size: int = MAX_RESULT_SIZE, slice_width: timedelta = MAX_SPAN,
                     max_queries: int = 2000) -> Pull:
    """Every message-trace row (one per message and recipient) received in [start, end], as the ``trace`` frame.

    ``senders`` / ``recipients``: addresses (one query each time, the cmdlet takes lists; both given means both must
    match); none means the whole tenant. ``accepted_domains``: the tenant's domains, for ``direction`` (None or
    empty: unknown). ``page_size``: ResultSize, 1-5000. ``slice_width``: at most 10 days. ``max_queries``: the
    most Get-MessageTraceV2 queries this pull sends (the service allows 100 per 5 minutes; the transport paces
    them).
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be time-zone aware (UTC)")
    if not 1 <= page_size <= MAX_RESULT_SIZE:
        raise ValueError(f"page_size must be 1 to {MAX_RESULT_SIZE}, got {page_size}")
    if not timedelta(0) < slice_width <= MAX_SPAN:
        raise ValueError(f"slice_width must be more than 0 and at most 10 days, got {slice_width}")
    if max_queries < 1:
        raise ValueError(f"max_queries must be positive, got {max_queries}")
    transport = transport_of(source)
    filters: dict[str, Any] = {}
    if _addresses(senders):
        filters["SenderAddress"] = _addresses(senders)
    if _addresses(recipients):
        filters["RecipientAddress"] = _addresses(recipients)
    if end < start:
        raise ValueError(f"the window ends ({end}) before it starts ({start})")
    pull = TracePull(transport, filters, page_size, Budget(max_queries))
    pull.retention.asked_start, pull.retention.asked_end = start, end
    windows = list(slices(pull.clip(start, RETENTION_MARGIN), end, slice_width))
    for lower, upper in windows:
        pull.window(lower, upper)
    retention = pull.retention_entry()
    coverage = ([retention] if retention else []) + pull.coverage
    if not windows and retention is None:  # an empty window: nothing to search, nothing missing
        coverage.append(Coverage(kind=KIND, source=SOURCE, backend=BACKEND_V2, status="complete", start=start,
                                 end=end))
    items = pull.keyed.items()
    if pull.keyed.repeats or pull.keyed.conflicts:
        log.info("%s: %d row(s) served more than once were kept once", SOURCE,
                 pull.keyed.repeats + pull.keyed.conflicts)
    frame = frames.from_exchange(KIND, items, accepted_domains=known_domains(accepted_domains))
    frame = frame.sort_values("received", kind="stable", ignore_index=True)
    log.info("%s: %d row(s) in %d window(s), %d query(ies) left in the budget", SOURCE, len(frame),
             len(pull.coverage), pull.budget.left)
    return Pull(KIND, frame, coverage)


def trace_details_v2(source: Any, trace_id: str, recipient: str) -> Pull:
    """The events of one message for one recipient (Get-MessageTraceDetailV2), as ``trace_details``.

    Rows are keyed by (Date, Event, Action, Detail, Data): an event served twice is kept once.
    """
    kind = "trace_details"

    def key(row: Item) -> tuple[str, ...]:
        return tuple(str(row.get(name) or "") for name in ("Date", "Event", "Action", "Detail", "Data"))

    got = fetch(transport_of(source), kind, DETAIL_CMDLET, {"MessageTraceId": trace_id, "RecipientAddress": recipient},
                key, backend=BACKEND_V2,
                missing=f"no message-trace events for message {trace_id} to {recipient}")
    frame = frames.empty(kind) if got.items is None else frames.from_exchange(kind, got.items)
    if len(frame):
        frame = frame.sort_values(["time", "seq"], kind="stable", ignore_index=True)
    return Pull(kind, frame, [got.coverage])
