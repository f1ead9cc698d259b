"""Message-trace exports into Graph ``exchangeMessageTrace`` items (and, from the extended report, trace details).

- the Exchange admin center's summary download: Date, Sender, Recipient, Subject, Status (one row per recipient;
  no trace id: one is made up per message, stable across files);
- the enhanced summary report: one row per message, ``recipient_status`` = ``addr##Receive, Deliver;addr2##...``;
- the extended report: 27 columns, one row per event, folded into one row per message and recipient;
- Get-MessageTraceV2 (or Get-MessageTrace) saved with Export-Csv (with or without PowerShell 5.1's ``#TYPE`` line)
  or ConvertTo-Json;
- Graph ``messageTraces`` JSON (a response with ``value``, or a bare array).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from toolkit.sources.exports.dates import DateColumn, DateError, parse_instant
from toolkit.sources.exports.model import FileResult, Format, Item, Source, start, synthetic_id
from toolkit.sources.exports.reading import CsvRow

_GUID32 = re.compile(r"^[0-9a-fA-F]{32}$")
_ADDRESS = re.compile(r"^[^@\s;,]+@[^@\s;,]+$")

#: Extended-report event ids as Graph's trace details spell them.
_EVENT_NAMES = {"receive": "Receive", "send": "Send", "deliver": "Deliver", "fail": "Fail", "expand": "Expand",
                "defer": "Defer", "transfer": "Transfer", "resolve": "Resolve", "redirect": "Redirect",
                "quarantine": "Quarantine", "drop": "Drop", "badmail": "Badmail", "poison": "Poison",
                "submit": "Submit", "dsn": "DSN", "process": "Process", "agentinfo": "AgentInfo"}
#: Events that are the message's life, not an agent's note (kept as trace details).
_DETAIL_EVENTS = frozenset(_EVENT_NAMES) - {"agentinfo"}


def trace_id_of(text: str) -> str:
    """A message-trace / network message id as a lowercase dashed GUID (the reports write it without dashes)."""
    value = text.strip().strip("{}").lower()
    if _GUID32.match(value):
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
    return value


def status_from_events(events: list[str], spam: bool) -> str:
    """The trace status from the events a report lists. Failure and quarantine decide; then a spam verdict (only the
    extended report's custom_data carries one); then delivery (Deliver, or Send to another server)."""
    names = {e.strip().lower() for e in events if e and e.strip()}
    if any(n.startswith("fail") for n in names):
        return "failed"
    if any("quarantine" in n for n in names):
        return "quarantined"
    if spam:
        return "filteredAsSpam"
    if names & {"deliver", "send"}:
        return "delivered"
    if "expand" in names:
        return "expanded"
    if "resolve" in names:
        return "resolved"
    if "defer" in names:
        return "pending"
    return "gettingStatus"


def _int(source: Source, line: int | None, key: str, text: str | None) -> int | None:
    if text is None:
        return None
    cleaned = text.replace(",", "").strip()
    if not re.fullmatch(r"\d+", cleaned):
        raise source.fail(line, f"{source.column_name(key)!r} = {text!r} is not a whole number of bytes")
    return int(cleaned)


def _address(source: Source, line: int | None, key: str, text: str | None, *, required: bool = True) -> str | None:
    if text is None:
        if required:
            raise source.fail(line, f"{source.column_name(key)!r} is empty")
        return None
    value = text.strip()
    if not _ADDRESS.match(value):
        if value == "<>" and not required:
            return None
        raise source.fail(line, f"{source.column_name(key)!r} = {value!r} is not an email address")
    return value


def _finish_dates(result: FileResult, items: list[Item], column: DateColumn, field_name: str) -> None:
    for item, text in zip(items, column.parse(), strict=True):
        item[field_name] = text
    note = column.note()
    if note:
        result.notes.append(note)


# --- the admin center's summary ---------------------------------------------------------------------------------------
def read_summary(source: Source) -> FileResult:
    result = start(source)
    header = source.table.header if source.table else None
    assert header is not None
    dates = source.date_column("date")
    items: list[Item] = []
    seen: dict[tuple[str, str], int] = {}
    for row in source.rows():
        result.records += 1
        sender = _address(source, row.line, "sender", row.get("sender"))
        recipient = _address(source, row.line, "recipient", row.get("recipient"))
        date_text = source.require(row, "date")
        subject = row.raw("subject")
        message_id = row.get("message id")
        given = row.get("message trace id")
        if given:
            trace_id = trace_id_of(given)
        else:
            base = synthetic_id("summary", date_text, (sender or "").lower(), subject, message_id)
            n = seen.get((base, (recipient or "").lower()), 0)
            seen[(base, (recipient or "").lower())] = n + 1
            trace_id = base if n == 0 else synthetic_id(base, n)
        item: Item = {
            "id": trace_id, "senderAddress": sender, "recipientAddress": recipient, "messageId": message_id,
            "receivedDateTime": None, "subject": subject if subject is None or subject.strip() else None,
            "size": _int(source, row.line, "size", row.get("size")), "fromIP": row.get("from ip"),
            "toIP": row.get("to ip"), "status": source.require(row, "status"),
        }
        source.check(item, row.line)
        kept = result.add("trace", item, row.line)
        dates.add(date_text, row.line, keep=kept)
        if kept:
            items.append(item)
    _finish_dates(result, items, dates, "receivedDateTime")
    carried = {"trace_id": "message trace id", "message_id": "message id", "size": "size", "from_ip": "from ip",
               "to_ip": "to ip"}
    result.missing["trace"] = tuple(col for col, key in carried.items() if not header.has(key))
    if not header.has("message trace id"):
        result.notes.append("the summary carries no message trace id: one is made up per message (date, sender, "
                            "subject), so rows of one message share it, but it matches no other source")
    if "date" not in header.zones:
        result.notes.append("'Date' names no time zone: read as UTC (set the admin center's time zone to UTC "
                            "before downloading)")
    return result


# --- the enhanced summary report --------------------------------------------------------------------------------------
def _recipient_status(source: Source, row: CsvRow, text: str) -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []
    for part in text.split(";"):
        if not part.strip():
            continue
        if "##" not in part:
            raise source.fail(row.line, f"'recipient_status' = {text[:80]!r} is not 'address##events;...'")
        address, events = part.split("##", 1)
        address = address.strip()
        if not _ADDRESS.match(address):
            raise source.fail(row.line, f"'recipient_status' names {address!r}, which is not an email address")
        out.append((address, [e.strip() for e in events.split(",") if e.strip()]))
    if not out:
        raise source.fail(row.line, "'recipient_status' is empty")
    return out


def read_enhanced(source: Source) -> FileResult:
    result = start(source)
    header = source.table.header if source.table else None
    assert header is not None
    time_key = "origin_timestamp_utc" if header.has("origin_timestamp_utc") else "origin_timestamp"
    dates = source.date_column(time_key)
    items: list[Item] = []
    blank_ip = 0
    for row in source.rows():
        result.records += 1
        sender = _address(source, row.line, "sender_address", row.get("sender_address"), required=False)
        trace_text = source.require(row, "network_message_id")
        date_text = source.require(row, time_key)
        status_text = source.require(row, "recipient_status")
        from_ip = row.get("original_client_ip")
        blank_ip += from_ip is None
        for address, events in _recipient_status(source, row, status_text):
            item: Item = {
                "id": trace_id_of(trace_text), "senderAddress": sender, "recipientAddress": address,
                "messageId": row.get("message_id"), "receivedDateTime": None,
                "subject": row.raw("message_subject") or None,
                "size": _int(source, row.line, "total_bytes", row.get("total_bytes")), "fromIP": from_ip,
                "toIP": None, "status": status_from_events(events, spam=False),
            }
            source.check(item, row.line)
            kept = result.add("trace", item, row.line)
            dates.add(date_text, row.line, keep=kept)
            if kept:
                items.append(item)
    _finish_dates(result, items, dates, "receivedDateTime")
    result.notes.append("status is only approximated, from the delivery events (Receive, Deliver, Send, Fail...): "
                        "the report has no spam verdict, so mail filtered as spam but still sent reads as delivered")
    if blank_ip:
        result.missing["trace"] = (*result.missing.get("trace", ()), "from_ip")
        result.notes.append(f"{blank_ip} message(s) have no original_client_ip (from_ip): the admin center keeps it "
                            "10 days")
    _archive_note(result, items)
    return result


def _archive_note(result: FileResult, items: list[Item]) -> None:
    if items:
        newest = max(str(i["receivedDateTime"]) for i in items)
        result.notes.append(f"built from archived trace data: the newest hours (commonly the last four) are often "
                            f"missing; the rows end at {newest[:16].replace('T', ' ')} UTC")


# --- the extended report ----------------------------------------------------------------------------------------------
@dataclass
class _Group:
    trace_id: str
    recipient: str
    line: int
    sender: str | None = None
    subject: str | None = None
    size: int | None = None
    message_id: str | None = None
    from_ip: str | None = None
    to_ip: str | None = None
    events: list[tuple[int, str, int]] = field(default_factory=list)  # (date index, event id, line)


def read_extended(source: Source) -> FileResult:
    result = start(source)
    header = source.table.header if source.table else None
    assert header is not None
    time_key = "date_time_utc" if header.has("date_time_utc") else "date_time"
    dates = source.date_column(time_key)
    groups: dict[tuple[str, str], _Group] = {}
    spam: set[str] = set()
    message_events: dict[str, list[tuple[int, str, str | None]]] = {}  # events that name no recipient
    for row in source.rows():
        result.records += 1
        trace_id = trace_id_of(source.require(row, "network_message_id"))
        event = source.require(row, "event_id").strip()
        when = dates.add(source.require(row, time_key), row.line)
        custom = row.get("custom_data") or ""
        if re.search(r"\bSFV=SPM\b", custom, re.IGNORECASE):
            spam.add(trace_id)
        recipients = [r.strip() for r in (row.get("recipient_address") or "").split(";") if r.strip()]
        client_ip = row.get("original_client_ip") or row.get("client_ip")
        if not recipients:
            message_events.setdefault(trace_id, []).append((when, event, client_ip))
            continue
        for address in recipients:
            if not _ADDRESS.match(address):
                raise source.fail(row.line, f"'recipient_address' names {address!r}, which is not an email address")
            key = (trace_id, address.lower())
            group = groups.get(key)
            if group is None:
                group = groups[key] = _Group(trace_id, address, row.line)
            group.events.append((when, event, row.line))
            group.sender = group.sender or _address(source, row.line, "sender_address", row.get("sender_address"),
                                                    required=False)
            group.subject = group.subject or row.raw("message_subject") or None
            group.size = group.size if group.size is not None else _int(source, row.line, "total_bytes",
                                                                        row.get("total_bytes"))
            group.message_id = group.message_id or row.get("message_id")
            lowered = event.lower()
            if lowered == "receive":
                group.from_ip = group.from_ip or client_ip
            elif lowered == "send":
                group.to_ip = row.get("server_ip") or group.to_ip
            elif lowered == "fail":
                group.to_ip = group.to_ip or row.get("server_ip")  # where delivery was tried
            source.check([group.subject, group.message_id, group.from_ip, group.to_ip, event], row.line)
    times = dates.parse()
    instants = [parse_instant(t) for t in times]
    note = dates.note()
    if note:
        result.notes.append(note)
    for group in groups.values():
        ordered = sorted(group.events, key=lambda e: (instants[e[0]], e[2]))
        receive = [times[i] for i, ev, _ in ordered if ev.lower() == "receive"]
        received = receive[0] if receive else times[ordered[0][0]]
        extra = message_events.get(group.trace_id, [])
        from_ip = group.from_ip or next((ip for _, ev, ip in extra if ev.lower() == "receive" and ip), None)
        item: Item = {
            "id": group.trace_id, "senderAddress": group.sender, "recipientAddress": group.recipient,
            "messageId": group.message_id, "receivedDateTime": received, "subject": group.subject,
            "size": group.size, "fromIP": from_ip, "toIP": group.to_ip,
            "status": status_from_events([ev for _, ev, _ in ordered] + [ev for _, ev, _ in extra],
                                         spam=group.trace_id in spam),
        }
        if not result.add("trace", item, group.line):
            continue  # someone else's mail: its events are not kept either
        for when, event, line in ordered:
            if event.lower() not in _DETAIL_EVENTS:
                continue
            result.add("trace_details", {
                "id": group.trace_id, "recipientAddress": group.recipient, "dateTime": times[when],
                "event": _EVENT_NAMES.get(event.lower(), event), "action": None, "description": None, "data": None,
                "messageId": group.message_id,
            }, line)
    result.notes.append("one row per message and recipient, folded from the report's events; the trace details "
                        "carry the events (their description and data are not in the report)")
    _archive_note(result, result.items.get("trace", []))
    return result


# --- Get-MessageTraceV2 --------------------------------------------------------------------------------------------
_V2_FIELDS = {"id": "messagetraceid", "senderAddress": "senderaddress", "recipientAddress": "recipientaddress",
              "messageId": "messageid", "subject": "subject", "fromIP": "fromip", "toIP": "toip", "status": "status"}


def _v2_item(source: Source, get: Mapping[str, Any], line: int | None) -> Item:
    item: Item = {}
    for name, key in _V2_FIELDS.items():
        value = get.get(key)
        item[name] = None if value is None or (isinstance(value, str) and not value.strip()) else value
    for name in ("id", "recipientAddress"):
        if item[name] is None:
            raise source.fail(line, f"{_V2_FIELDS[name]!r} is empty")
    if not isinstance(item["id"], str):
        raise source.fail(line, f"'MessageTraceId' = {item['id']!r} is not a GUID")
    item["id"] = trace_id_of(item["id"])
    size = get.get("size")
    if isinstance(size, bool) or (size is not None and not isinstance(size, int | str)):
        raise source.fail(line, f"'Size' = {size!r} is not a whole number of bytes")
    item["size"] = size if isinstance(size, int) else _int(source, line, "size", size or None)
    for name in ("senderAddress", "recipientAddress"):
        if item[name] is not None and not (isinstance(item[name], str) and _ADDRESS.match(item[name].strip())):
            raise source.fail(line, f"{_V2_FIELDS[name]!r} = {item[name]!r} is not an email address")
    return item


def read_v2_csv(source: Source) -> FileResult:
    result = start(source)
    dates = source.date_column("received")
    items: list[Item] = []
    for row in source.rows():
        result.records += 1
        values = {key: row.get(key) for key in (*_V2_FIELDS.values(), "size")}
        values["subject"] = row.raw("subject")
        item = _v2_item(source, values, row.line)
        item["receivedDateTime"] = None
        received = source.require(row, "received")
        source.check(item, row.line)
        kept = result.add("trace", item, row.line)
        dates.add(received, row.line, keep=kept)
        if kept:
            items.append(item)
    _finish_dates(result, items, dates, "receivedDateTime")
    if source.table is not None and source.table.type_line:
        result.notes.append(f"saved by Windows PowerShell 5.1 ({source.table.type_line[:80]})")
    return result


def read_v2_json(source: Source) -> FileResult:
    result = start(source)
    assert source.doc is not None
    dates = DateColumn(source.display, "Received")
    items: list[Item] = []
    for record, line in source.objects(result):
        lowered = {str(k).lower(): v for k, v in record.items()}
        item = _v2_item(source, lowered, line)
        received = lowered.get("received")
        if not isinstance(received, str) or not received.strip():
            raise source.fail(line, f"record {result.records} has no 'Received'")
        item["receivedDateTime"] = None
        source.check(item, line)
        kept = result.add("trace", item, line)
        dates.add(received, line, keep=kept)
        if kept:
            items.append(item)
    _finish_dates(result, items, dates, "receivedDateTime")
    return result


# --- Graph messageTraces JSON -----------------------------------------------------------------------------------------
def read_graph_trace(source: Source) -> FileResult:
    result = start(source)
    for record, line in source.objects(result):
        for name in ("id", "recipientAddress", "receivedDateTime"):
            if not record.get(name):
                raise source.fail(line, f"record {result.records} has no {name!r}")
        try:
            parse_instant(str(record["receivedDateTime"]))
        except DateError as exc:
            raise source.fail(line, f"'receivedDateTime' = {record['receivedDateTime']!r}: {exc}") from None
        source.check(record, line)
        result.add("trace", dict(record), line)
    return result


FORMATS = (
    Format("eac_extended_csv", "Exchange admin center extended message trace report (CSV)", "csv",
           ("trace", "trace_details"),
           (("date_time_utc", "date_time"), ("event_id",), ("network_message_id",), ("recipient_address",),
            ("sender_address",)),
           read_extended, rank=3,
           how="EAC > Mail flow > Message trace > Start a trace > Report type: Extended report; download the CSV "
               "from Downloadable reports (up to 1,000 messages, often UTF-16LE)"),
    Format("eac_enhanced_csv", "Exchange admin center enhanced summary report (CSV)", "csv", ("trace",),
           (("origin_timestamp_utc", "origin_timestamp"), ("sender_address",), ("recipient_status",),
            ("network_message_id",)),
           read_enhanced, missing={"trace": ("to_ip", "status")}, rank=2,
           how="EAC > Mail flow > Message trace > Start a trace > Report type: Enhanced summary report; download "
               "the CSV from Downloadable reports (up to 50,000 rows)"),
    Format("eac_summary_csv", "Exchange admin center message trace summary (CSV)", "csv", ("trace",),
           (("date",), ("sender",), ("recipient",), ("subject",), ("status",)),
           read_summary, rank=1,
           how="EAC > Mail flow > Message trace > Start a trace > Summary report; select the rows, Export results "
               "(at most 10 days per search)"),
    Format("messagetrace_v2_csv", "Get-MessageTraceV2 output saved with Export-Csv", "csv", ("trace",),
           (("received",), ("senderaddress",), ("recipientaddress",), ("messagetraceid",)),
           read_v2_csv, rank=4,
           how="Get-MessageTraceV2 -SenderAddress user@contoso.com -StartDate ... -EndDate ... | Export-Csv "
               "trace.csv -NoTypeInformation -Encoding utf8 (Get-MessageTrace output is read the same way)"),
    Format("messagetrace_v2_json", "Get-MessageTraceV2 output saved with ConvertTo-Json", "json", ("trace",),
           (("received",), ("senderaddress",), ("recipientaddress",), ("messagetraceid",)),
           read_v2_json, rank=4,
           how="Get-MessageTraceV2 ... | ConvertTo-Json | Out-File trace.json"),
    Format("graph_trace_json", "Graph messageTraces JSON", "json", ("trace",),
           (("receiveddatetime",), ("senderaddress",), ("recipientaddress",), ("id",)),
           read_graph_trace, rank=5,
           how="GET /v1.0/admin/exchange/tracing/messageTraces?$filter=... saved as JSON (Graph Explorer, "
               "Invoke-MgGraphRequest -OutputFilePath)"),
)
