"""History searches behind InvokeCommand: Get-MessageTraceV2, Get-MessageTraceDetailV2 and Search-UnifiedAuditLog.

All three read time-ordered data in windows measured against the tenant's SIMULATED now, and must stay fast on
tenants with millions of rows: a window is found by bisection (``state.traces_between`` for message trace, a sorted
index built once for the audit log), never by scanning the whole collection.
"""

from __future__ import annotations

import bisect
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from toolkit.sandbox.errors import ExchangeError
from toolkit.sandbox.exchange_cmdlets import (
    ARGUMENT,
    COMPLIANCE_ADMIN,
    EXCHANGE_ADMIN,
    GLOBAL_ADMIN,
    GLOBAL_READER,
    HELPDESK_ADMIN,
    RECIPIENT_ADMIN,
    SECURITY_ADMIN,
    SECURITY_READER,
    Cmdlet,
    Invocation,
    Output,
    Param,
    Row,
    exo_datetime,
    roles,
)
from toolkit.sandbox.snapshot import parse_instant, served

# --- message trace -------------------------------------------------------------------------------------------------
TRACE_RETENTION = timedelta(days=90)
TRACE_MAX_SPAN = timedelta(days=10)
TRACE_DEFAULT_SPAN = timedelta(hours=48)
TRACE_STATUSES = ("Delivered", "Expanded", "Failed", "FilteredAsSpam", "GettingStatus", "Pending", "Quarantined")
SUBJECT_FILTER_TYPES = ("Contains", "StartsWith", "EndsWith")


def _status(value: str) -> str:
    """Graph's camelCase status ("filteredAsSpam") as the cmdlet writes it ("FilteredAsSpam")."""
    return value[:1].upper() + value[1:]


def trace_window(inv: Invocation) -> tuple[datetime, datetime]:
    """[StartDate, EndDate] after the service's checks; the last 48 hours when neither is given.

    The limits are documented (90 days back, 10 days per query); the error wording is UNVERIFIED, modelled on the
    messages the older Get-MessageTrace gave for its 10-day limit.
    """
    now = inv.state.now()
    start, end = inv.args.get("StartDate"), inv.args.get("EndDate")
    if start is None and end is None:
        return now - TRACE_DEFAULT_SPAN, now
    if start is None or end is None:
        missing = "StartDate" if start is None else "EndDate"
        raise ExchangeError(400, ARGUMENT, f"Invalid {missing} value. Specify both StartDate and EndDate, or "
                                           "neither to search the last 48 hours.")
    if start > end:
        raise ExchangeError(400, ARGUMENT, "Invalid StartDate value. The StartDate must be earlier than the EndDate.")
    if start < now - TRACE_RETENTION:
        raise ExchangeError(400, ARGUMENT, "Invalid StartDate value. The StartDate can't be older than 90 days from "
                                           "today.")
    if end - start > TRACE_MAX_SPAN:
        raise ExchangeError(400, ARGUMENT, "Invalid date range. The time range between StartDate and EndDate can't "
                                           "be more than 10 days.")
    return start, end


def _lowered(values: Sequence[str] | None, strip: str = "") -> set[str] | None:
    if not values:
        return None
    return {v.strip().strip(strip).lower() for v in values}


def _trace_filter(args: dict[str, Any]) -> Callable[[Row], bool]:
    senders = _lowered(args.get("SenderAddress"))
    recipients = _lowered(args.get("RecipientAddress"))
    message_ids = _lowered(args.get("MessageId"), "<>")
    statuses = _lowered(args.get("Status"))
    trace_id = args.get("MessageTraceId")
    from_ip, to_ip = args.get("FromIP"), args.get("ToIP")
    subject = args.get("Subject")
    mode = args.get("SubjectFilterType") or "Contains"  # UNVERIFIED default when only -Subject is given
    needle = subject.lower() if subject else None

    def subject_ok(text: str) -> bool:
        assert needle is not None
        if mode == "StartsWith":
            return text.startswith(needle)
        if mode == "EndsWith":
            return text.endswith(needle)
        return needle in text

    def matches(row: Row) -> bool:
        if senders is not None and row["senderAddress"].lower() not in senders:
            return False
        if recipients is not None and row["recipientAddress"].lower() not in recipients:
            return False
        if trace_id is not None and row["id"].lower() != trace_id:
            return False
        if statuses is not None and row["status"].lower() not in statuses:
            return False
        if message_ids is not None and str(row.get("messageId") or "").strip("<>").lower() not in message_ids:
            return False
        if from_ip is not None and (row.get("fromIP") or "") != from_ip:
            return False
        if to_ip is not None and (row.get("toIP") or "") != to_ip:
            return False
        return needle is None or subject_ok(str(row.get("subject") or "").lower())

    return matches


def _newest_first(window: Sequence[Row], matches: Callable[[Row], bool]) -> Iterator[tuple[datetime, Row]]:
    """Matching rows of a time-ordered window: Received descending, then RecipientAddress ascending (then trace id).

    The filter runs first, so only matching rows are parsed and ordered within their instant.
    """
    group: list[Row] = []
    group_instant: datetime | None = None
    for row in reversed(window):
        if not matches(row):
            continue
        instant = parse_instant(row["receivedDateTime"])
        if instant != group_instant and group:
            assert group_instant is not None
            yield from _ordered_group(group_instant, group)
            group = []
        group_instant = instant
        group.append(row)
    if group:
        assert group_instant is not None
        yield from _ordered_group(group_instant, group)


def _ordered_group(instant: datetime, rows: list[Row]) -> Iterator[tuple[datetime, Row]]:
    for row in sorted(rows, key=lambda r: (r["recipientAddress"].lower(), r["id"].lower())):
        yield instant, row


def _trace_object(row: Row) -> Row:
    return {
        "Received": exo_datetime(row["receivedDateTime"]),
        "SenderAddress": row["senderAddress"],
        "RecipientAddress": row["recipientAddress"],
        "Subject": row.get("subject"),
        "Status": _status(row["status"]),
        "ToIP": row.get("toIP") or None,
        "FromIP": row.get("fromIP") or None,
        "Size": row.get("size"),
        "MessageId": row.get("messageId"),
        "MessageTraceId@odata.type": "#Guid",
        "MessageTraceId": row["id"],
    }


def get_message_trace_v2(inv: Invocation) -> Output:
    """Get-MessageTraceV2: one row per message and recipient, newest first, at most ResultSize rows.

    The V2 cmdlet has no paging of its own (m365-apis.md 3.2). To go on, the caller re-queries with EndDate = the
    last row's Received and StartingRecipientAddress = the last row's RecipientAddress. UNVERIFIED semantics, as the
    sandbox implements them:
    - rows are ordered by Received descending, then RecipientAddress ascending (case-insensitive);
    - StartingRecipientAddress is an exclusive cursor within the EndDate instant: rows received exactly at EndDate
      whose RecipientAddress sorts at or before it are skipped (they were on the previous page); older rows follow;
    - a page never ends between two rows with the same Received and RecipientAddress (two messages to one
      recipient in the same instant): such ties are all included, so the page may exceed ResultSize by a few rows.
      Without this the cursor could not name the row after the cut and one of them would be lost;
    - when more rows remain, a warning names the follow-up query (as the real cmdlet does; wording UNVERIFIED).
    """
    start, end = trace_window(inv)
    size = inv.args.get("ResultSize", 1000)
    cursor = inv.args.get("StartingRecipientAddress")
    cursor_key = cursor.lower() if cursor else None
    matches = _trace_filter(inv.args)
    window = inv.state.traces_between(start, end)
    rows: list[Row] = []
    last_key: tuple[datetime, str] | None = None
    more = False
    for instant, row in _newest_first(window, matches):
        recipient = row["recipientAddress"].lower()
        if cursor_key is not None and instant == end and recipient <= cursor_key:
            continue
        if len(rows) >= size and (instant, recipient) != last_key:
            more = True
            break
        rows.append(row)
        last_key = (instant, recipient)
    warnings = []
    if more:
        last = rows[-1]
        warnings.append("There are more results, use the following command to get more. Get-MessageTraceV2 "
                        f'-StartDate "{exo_datetime(start)}" -EndDate "{exo_datetime(last["receivedDateTime"])}" '
                        f'-StartingRecipientAddress "{last["recipientAddress"]}" -ResultSize {size}')
    return Output(rows, _trace_object, warnings)


def _memo(inv: Invocation, name: str, source: list[Row], build: Callable[[list[Row]], Any]) -> Any:
    """An index over ``source`` kept in the sandbox's cmdlet memory, rebuilt if the collection changed size."""
    lock = inv.memory.setdefault("lock", threading.Lock())
    with lock:
        cached = inv.memory.get(name)
        if cached is None or cached[0] is not source or cached[1] != len(source):
            cached = (source, len(source), build(source))
            inv.memory[name] = cached
        return cached[2]


def _detail_index(rows: list[Row]) -> dict[tuple[str, str], list[Row]]:
    index: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        index.setdefault((row["id"].lower(), row["recipientAddress"].lower()), []).append(row)
    return index


def get_message_trace_detail_v2(inv: Invocation) -> Output:
    """Get-MessageTraceDetailV2: the events of one message for one recipient, oldest first.

    Output properties are UNVERIFIED (m365-apis.md 3.2). Without StartDate/EndDate the search covers the 90-day
    retention (UNVERIFIED; with them, the same checks as Get-MessageTraceV2 apply).
    """
    trace_id = inv.args["MessageTraceId"]
    recipient = inv.args["RecipientAddress"].lower()
    now = inv.state.now()
    if inv.has("StartDate") or inv.has("EndDate"):
        start, end = trace_window(inv)
    else:
        start, end = now - TRACE_RETENTION, now
    index = _memo(inv, "trace_detail_index", inv.state.collection("message_trace_details"), _detail_index)
    events = [r for r in index.get((trace_id, recipient), []) if start <= parse_instant(r["dateTime"]) <= end]
    for name, key in (("Event", "event"), ("Action", "action")):
        wanted = _lowered(inv.args.get(name))
        if wanted is not None:
            events = [r for r in events if str(r.get(key) or "").lower() in wanted]
    events.sort(key=lambda r: parse_instant(r["dateTime"]))
    trace = _trace_row(inv, trace_id, recipient, events)
    sender = trace["senderAddress"] if trace else None
    if inv.has("SenderAddress") and (sender or "").lower() != inv.args["SenderAddress"].lower():
        events = []
    if inv.has("MessageId"):
        wanted_id = inv.args["MessageId"].strip("<>").lower()
        events = [r for r in events
                  if str(r.get("messageId") or (trace or {}).get("messageId") or "").strip("<>").lower() == wanted_id]

    def project(row: Row) -> Row:
        return {
            "Date": exo_datetime(row["dateTime"]),
            "Event": row["event"],
            "Action": row.get("action") or None,
            "Detail": row.get("description"),
            "Data": row.get("data"),
            "MessageId": row.get("messageId") or (trace or {}).get("messageId"),
            "MessageTraceId@odata.type": "#Guid",
            "MessageTraceId": row["id"],
            "RecipientAddress": row["recipientAddress"],
            "SenderAddress": sender,
        }

    return Output(events, project)


def _trace_row(inv: Invocation, trace_id: str, recipient: str, events: list[Row]) -> Row | None:
    """The trace row of a message, looked up in the few minutes around its events (a bisected window)."""
    if not events:
        return None
    times = [parse_instant(r["dateTime"]) for r in events]
    window = inv.state.traces_between(min(times) - timedelta(hours=1), max(times) + timedelta(hours=1))
    same_id = [r for r in window if r["id"].lower() == trace_id]
    exact = [r for r in same_id if r["recipientAddress"].lower() == recipient]
    return (exact or same_id or [None])[0]


# --- unified audit log ---------------------------------------------------------------------------------------------
AUDIT_RETENTION = timedelta(days=180)  # UNVERIFIED: Audit (Standard) keeps 180 days; older starts are refused
LARGE_SET_CAP = 50_000  # ReturnLargeSet: at most 50,000 rows per session (documented)
PREVIEW_CAP = 5_000  # ReturnNextPreviewPage: at most 5,000 rows (documented)
MAX_SESSIONS = 100  # open sessions kept (each holds up to 50,000 row references)

#: AuditLogRecordType values (Office 365 Management Activity API common schema) for the record types seen most.
RECORD_TYPES: dict[int, str] = {
    1: "ExchangeAdmin", 2: "ExchangeItem", 3: "ExchangeItemGroup", 4: "SharePoint", 6: "SharePointFileOperation",
    7: "OneDrive", 8: "AzureActiveDirectory", 9: "AzureActiveDirectoryAccountLogon", 10: "DataCenterSecurityCmdlet",
    11: "ComplianceDLPSharePoint", 13: "ComplianceDLPExchange", 14: "SharePointSharingOperation",
    15: "AzureActiveDirectoryStsLogon", 18: "SecurityComplianceCenterEOPCmdlet", 19: "ExchangeAggregatedOperation",
    20: "PowerBIAudit", 22: "Yammer", 24: "Discovery", 25: "MicrosoftTeams", 28: "ThreatIntelligence",
    29: "MailSubmission", 30: "MicrosoftFlow", 36: "SharePointListOperation", 40: "SecurityComplianceAlerts",
    41: "ThreatIntelligenceUrl", 47: "ThreatIntelligenceAtpContent", 50: "ExchangeItemAggregated",
    64: "AirInvestigation", 65: "Quarantine", 66: "MicrosoftForms",
}
_RECORD_TYPE_IDS = {name.lower(): number for number, name in RECORD_TYPES.items()}


@dataclass
class AuditSession:
    """One SessionId: its result set fixed at the first call, and how far the caller has read it."""

    rows: list[Row]  # newest first, already cut at the session's cap
    total: int  # every match, uncapped: what ResultCount reports
    cap: int
    position: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, size: int) -> tuple[int, list[Row]]:
        with self.lock:
            start = self.position
            end = min(start + size, self.cap, len(self.rows))
            self.position = max(start, end)
            return start, self.rows[start:end]


class AuditSessions:
    """Open search sessions per caller, oldest evicted first."""

    def __init__(self) -> None:
        self._sessions: OrderedDict[tuple[str, str], AuditSession] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_open(self, key: tuple[str, str], open_session: Callable[[], AuditSession]) -> AuditSession:
        with self._lock:
            session = self._sessions.get(key)
            if session is not None:
                self._sessions.move_to_end(key)
                return session
        created = open_session()  # outside the lock: the first search can take a moment
        with self._lock:
            session = self._sessions.setdefault(key, created)
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
            return session


def _audit_index(rows: list[Row]) -> tuple[list[datetime], list[Row]]:
    keyed = sorted(((parse_instant(r["CreationTime"]), n) for n, r in enumerate(rows)))
    return [t for t, _ in keyed], [rows[n] for _, n in keyed]


def _ip_of(row: Row) -> str:
    text = str(row.get("ClientIP") or row.get("ClientIPAddress") or "")
    if text.startswith("["):  # "[2001:db8::1]:443"
        return text[1:].split("]", 1)[0].lower()
    if text.count(":") == 1:  # "203.0.113.7:51000"
        return text.split(":", 1)[0]
    return text.lower()


def _audit_matches(inv: Invocation, start: datetime, end: datetime) -> list[Row]:
    times, ordered = _memo(inv, "audit_index", inv.state.collection("audit"), _audit_index)
    window = ordered[bisect.bisect_left(times, start):bisect.bisect_right(times, end)]
    users = _lowered(inv.args.get("UserIds"))
    operations = _lowered(inv.args.get("Operations"))
    objects = _lowered(inv.args.get("ObjectIds"))
    addresses = _lowered(inv.args.get("IPAddresses"))
    record_type = inv.args.get("RecordType")
    record_id = _RECORD_TYPE_IDS[record_type.lower()] if record_type else None
    free_text = (inv.args.get("FreeText") or "").lower() or None
    matched = []
    for row in reversed(window):  # newest first
        if users is not None and str(row["UserId"]).lower() not in users:
            continue
        if operations is not None and str(row["Operation"]).lower() not in operations:
            continue
        if record_id is not None and row["RecordType"] != record_id:
            continue
        if objects is not None and str(row.get("ObjectId") or "").lower() not in objects:
            continue
        if addresses is not None and _ip_of(row) not in addresses:
            continue
        if free_text is not None and free_text not in json.dumps(served(row, "audit")).lower():
            continue
        matched.append(row)
    return matched


def _audit_object(row: Row, index: int, total: int) -> Row:
    record = served(row, "audit")
    return {
        "RecordType": RECORD_TYPES.get(row["RecordType"], str(row["RecordType"])),
        "CreationDate": exo_datetime(row["CreationTime"]),
        "UserIds": row["UserId"],
        "Operations": row["Operation"],
        "AuditData": json.dumps(record, separators=(",", ":")),
        "ResultIndex": index,
        "ResultCount": total,
        "Identity": row["Id"],
        "IsValid": True,
        "ObjectState": "Unchanged",
    }


def search_unified_audit_log(inv: Invocation) -> Output:
    """Search-UnifiedAuditLog over audit.jsonl (AuditData records in the common schema).

    Without SessionId each call returns the first ResultSize rows (default 100), newest first. With a SessionId the
    result set is fixed at the session's first call, and each call returns the next ResultSize rows of it:
    ReturnLargeSet up to 50,000 rows in all, ReturnNextPreviewPage up to 5,000 (documented caps); past the cap the
    calls return empty pages. ResultIndex is the row's 1-based position in the session, ResultCount every match
    (not capped): Hawk's logs show "Retrieved: 50000 Total: 254452" from the real service, and a client that loops
    until ResultIndex reaches ResultCount never ends there - it must stop on an empty page.
    UNVERIFIED: ReturnLargeSet is documented as unsorted; the sandbox returns newest first for both commands. A
    SessionId without SessionCommand behaves as ReturnNextPreviewPage. Later calls with other filters keep reading
    the session's first result set.
    """
    start, end = inv.args["StartDate"], inv.args["EndDate"]
    now = inv.state.now()
    if start > end:
        raise ExchangeError(400, ARGUMENT, "The StartDate must be earlier than the EndDate.")
    if start < now - AUDIT_RETENTION:
        raise ExchangeError(400, ARGUMENT, "The StartDate is outside the audit log retention period: audit records "
                                           "are kept for 180 days.")
    size = inv.args.get("ResultSize", 100)
    session_id, command = inv.args.get("SessionId"), inv.args.get("SessionCommand")
    if command and not session_id:
        raise ExchangeError(400, ARGUMENT, "The SessionCommand parameter requires the SessionId parameter.")
    if session_id:
        cap = LARGE_SET_CAP if command == "ReturnLargeSet" else PREVIEW_CAP

        def open_session() -> AuditSession:
            matched = _audit_matches(inv, start, end)
            return AuditSession(matched[:cap], len(matched), cap)

        sessions: AuditSessions = inv.memory.setdefault("audit_sessions", AuditSessions())
        session = sessions.get_or_open((inv.caller, session_id), open_session)
        first, page = session.take(size)
        total = session.total
    else:
        matched = _audit_matches(inv, start, end)
        first, page, total = 0, matched[:size], len(matched)
    rows = [(first + offset + 1, row) for offset, row in enumerate(page)]
    return Output(rows, lambda item: _audit_object(item[1], item[0], total))


# --- the table -----------------------------------------------------------------------------------------------------
# UNVERIFIED role sets (m365-apis.md 3.2 names Organization Management, Compliance Management, Help Desk and similar
# for the V2 cmdlets; audit search needs the View-Only Audit Logs role, held by the admin, compliance and security
# role groups and by Global Reader).
_TRACE_ROLES = roles(GLOBAL_ADMIN, EXCHANGE_ADMIN, RECIPIENT_ADMIN, HELPDESK_ADMIN, COMPLIANCE_ADMIN, SECURITY_ADMIN,
                     SECURITY_READER, GLOBAL_READER)
_AUDIT_ROLES = roles(GLOBAL_ADMIN, EXCHANGE_ADMIN, COMPLIANCE_ADMIN, SECURITY_ADMIN, SECURITY_READER, GLOBAL_READER)
_TRACE_QUOTA = "exo_message_trace"  # 100 queries per 5 minutes, shared by the two V2 cmdlets

CMDLETS: tuple[Cmdlet, ...] = (
    Cmdlet("Get-MessageTraceV2", (
        Param("StartDate", "datetime"), Param("EndDate", "datetime"),
        Param("SenderAddress", "smtp_list"), Param("RecipientAddress", "smtp_list"),
        Param("MessageId", "string_list"), Param("MessageTraceId", "guid"),
        Param("Status", "choice_list", choices=TRACE_STATUSES),
        Param("Subject"), Param("SubjectFilterType", "choice", choices=SUBJECT_FILTER_TYPES),
        Param("FromIP"), Param("ToIP"),
        Param("ResultSize", "int", low=1, high=5000),
        Param("StartingRecipientAddress"),
    ), get_message_trace_v2, _TRACE_ROLES, quota=_TRACE_QUOTA),
    Cmdlet("Get-MessageTraceDetailV2", (
        Param("MessageTraceId", "guid", required=True), Param("RecipientAddress", "smtp", required=True),
        Param("Action", "string_list"), Param("Event", "string_list"), Param("MessageId"),
        Param("SenderAddress", "smtp"), Param("StartDate", "datetime"), Param("EndDate", "datetime"),
    ), get_message_trace_detail_v2, _TRACE_ROLES, quota=_TRACE_QUOTA),
    Cmdlet("Search-UnifiedAuditLog", (
        Param("StartDate", "datetime", required=True), Param("EndDate", "datetime", required=True),
        Param("UserIds", "string_list"), Param("Operations", "string_list"), Param("ObjectIds", "string_list"),
        Param("IPAddresses", "string_list"), Param("FreeText"),
        Param("RecordType", "enum", choices=tuple(RECORD_TYPES.values()),
              type_name="Microsoft.Exchange.Management.SystemConfigurationTasks.AuditRecordType"),
        Param("SessionId"),
        Param("SessionCommand", "enum", choices=("ReturnLargeSet", "ReturnNextPreviewPage"),
              type_name="Microsoft.Exchange.Management.SystemConfigurationTasks.UnifiedAuditSessionCommand"),
        Param("ResultSize", "int", low=1, high=5000),
        # -Formatted only turns enum numbers in AuditData into names; the snapshot's AuditData is served as stored.
        Param("Formatted", "switch"),
    ), search_unified_audit_log, _AUDIT_ROLES,
        unsimulated=frozenset({"SiteIds", "HighCompleteness", "LongerRetentionEnabled", "LegacyFlow"})),
)
