"""Unified audit log exports into AuditData records (the common schema the ``audit`` frame is built from).

- the Purview audit search download (CSV): ``CreationDate, UserIds, Operations, AuditData`` (classic) or
  ``RecordId, CreationDate, RecordType, Operation, UserId, AuditData, ...`` (current); AuditData is the record;
- Search-UnifiedAuditLog output saved with Export-Csv or ConvertTo-Json (the same columns plus ResultIndex,
  ResultCount, Identity);
- AuditData records as JSON (an array of records: Management Activity API, Purview JSON export);
- Microsoft Sentinel ``OfficeActivity`` exported to CSV: flat columns (``TimeGenerated [UTC]``, ``OfficeId``,
  ``OfficeWorkload``, ``OfficeObjectId``, ``Parameters`` as multi-line JSON...), reduced column sets included
  (msticpy's ``TimeGenerated, UserId, ClientIP, Operation, Parameters``: ids are then made up).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from toolkit.sources.exports.dates import DateColumn, DateError, parse_instant
from toolkit.sources.exports.model import FileResult, Format, Item, Source, start, synthetic_id
from toolkit.sources.exports.reading import CsvRow


def _check_time(source: Source, line: int | None, record: Mapping[str, Any]) -> None:
    value = record.get("CreationTime")
    if not isinstance(value, str) or not value.strip():
        raise source.fail(line, "the audit record has no 'CreationTime'")
    try:
        parse_instant(value)
    except DateError as exc:
        raise source.fail(line, f"'CreationTime' = {value!r}: {exc}") from None


def _record(source: Source, line: int | None, audit: Any, outer: Mapping[str, Any]) -> Item:
    """The AuditData record of one search row, with the row's own columns filling what the record lacks."""
    if isinstance(audit, str):
        if not audit.strip():
            raise source.fail(line, "'AuditData' is empty")
        try:
            audit = json.loads(audit)
        except json.JSONDecodeError as exc:
            raise source.fail(line, f"'AuditData' is not JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(audit, dict):
        raise source.fail(line, "'AuditData' is not a JSON object")
    record = dict(audit)
    for name, fallback in (("Id", "id"), ("Operation", "operation"), ("UserId", "user"),
                           ("RecordType", "record_type"), ("CreationTime", "time")):
        if record.get(name) in (None, "") and outer.get(fallback) not in (None, ""):
            record[name] = outer[fallback]
    if not record.get("Id"):
        raise source.fail(line, "the audit record has no 'Id' (neither in AuditData nor in RecordId / Identity)")
    if not record.get("Operation"):
        raise source.fail(line, "the audit record has no 'Operation'")
    return record


def _finish(result: FileResult, pending: list[tuple[Item, int]], dates: DateColumn) -> None:
    """Fill the CreationTime of records that lacked one from the row's CreationDate, then check every time."""
    if dates.texts:
        parsed = dates.parse()
        for item, index in pending:
            item["CreationTime"] = parsed[index]
        note = dates.note()
        if note:
            result.notes.append(note)


# --- Purview / Search-UnifiedAuditLog --------------------------------------------------------------------------------
def read_search_csv(source: Source) -> FileResult:
    result = start(source)
    dates = source.date_column("creationdate", "CreationDate")
    pending: list[tuple[Item, int]] = []
    for row in source.rows():
        result.records += 1
        outer = {"id": row.get("recordid") or row.get("identity"),
                 "operation": row.get("operations") or row.get("operation"),
                 "user": row.get("userids") or row.get("userid"), "record_type": row.get("recordtype")}
        record = _record(source, row.line, source.require(row, "auditdata"), outer)
        source.check(record, row.line)
        kept = result.add("audit", record, row.line)
        if not record.get("CreationTime"):
            index = dates.add(source.require(row, "creationdate"), row.line, keep=kept)
            if kept:
                pending.append((record, index))
        else:
            _check_time(source, row.line, record)
    _finish(result, pending, dates)
    if source.table is not None and source.table.type_line:
        result.notes.append(f"saved by Windows PowerShell 5.1 ({source.table.type_line[:80]})")
    return result


def read_search_json(source: Source) -> FileResult:
    result = start(source)
    assert source.doc is not None
    dates = DateColumn(source.display, "CreationDate")
    pending: list[tuple[Item, int]] = []
    for item, line in zip(source.doc.records, source.doc.lines, strict=True):
        result.records += 1
        if not isinstance(item, dict):
            raise source.fail(line, f"record {result.records} is a {type(item).__name__}, not an object")
        lowered = {str(k).lower(): v for k, v in item.items()}
        outer = {"id": lowered.get("recordid") or lowered.get("identity"),
                 "operation": lowered.get("operations") or lowered.get("operation"),
                 "user": lowered.get("userids") or lowered.get("userid"), "record_type": lowered.get("recordtype")}
        record = _record(source, line, lowered.get("auditdata"), outer)
        source.check(record, line)
        kept = result.add("audit", record, line)
        if not record.get("CreationTime"):
            created = lowered.get("creationdate")
            if not isinstance(created, str) or not created.strip():
                raise source.fail(line, "the audit record has no 'CreationTime' and the row no 'CreationDate'")
            index = dates.add(created, line, keep=kept)
            if kept:
                pending.append((record, index))
        else:
            _check_time(source, line, record)
    _finish(result, pending, dates)
    return result


def read_records_json(source: Source) -> FileResult:
    result = start(source)
    for record, line in source.objects(result):
        checked = _record(source, line, record, {})
        _check_time(source, line, checked)
        source.check(checked, line)
        result.add("audit", checked, line)
    return result


# --- Sentinel OfficeActivity ----------------------------------------------------------------------------------------
def _json_list(source: Source, row: CsvRow, key: str) -> Any:
    text = row.get(key)
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise source.fail(row.line, f"{source.column_name(key)!r} is not JSON ({exc.msg} at character "
                                    f"{exc.pos})") from None


def _office_time(row: CsvRow) -> tuple[str, str] | None:
    for key in ("timegenerated", "creationtime", "start_time"):
        text = row.get(key)
        if text:
            return text, key
    return None


def read_office_activity(source: Source) -> FileResult:
    result = start(source)
    header = source.table.header if source.table else None
    assert header is not None
    zone_key = next((k for k in ("timegenerated", "creationtime", "start_time") if header.has(k)), "timegenerated")
    dates = source.date_column(zone_key, "TimeGenerated")
    items: list[Item] = []
    made_up = 0
    start_time = 0
    seen: dict[str, int] = {}
    for row in source.rows():
        result.records += 1
        when = _office_time(row)
        if when is None:
            raise source.fail(row.line, "the record has no time (no TimeGenerated, CreationTime or Start_Time)")
        start_time += when[1] == "start_time"
        operation = source.require(row, "operation")
        parameters = _json_list(source, row, "parameters")
        user = row.get("userid") or row.get("userid_")
        record_id = row.get("officeid") or row.get("sourcerecordid") or row.get("id")
        if record_id is None:
            base = synthetic_id("officeactivity", when[0], operation, user, row.get("clientip"),
                                row.get("parameters"))
            count = seen.get(base, 0)
            seen[base] = count + 1
            record_id = base if count == 0 else synthetic_id(base, count)
            made_up += 1
        record: Item = {
            "Id": record_id, "CreationTime": None, "Operation": operation, "UserId": user,
            "ClientIP": row.get("clientip") or row.get("client_ipaddress") or row.get("actoripaddress"),
            "RecordType": row.get("recordtype"), "Workload": row.get("officeworkload"),
            "ObjectId": row.get("officeobjectid"), "ResultStatus": row.get("resultstatus"),
            "Parameters": parameters, "ClientInfoString": row.get("clientinfostring"),
            "OrganizationId": row.get("organizationid"), "UserKey": row.get("userkey"),
            "UserType": row.get("usertype"), "MailboxOwnerUPN": row.get("mailboxownerupn"),
            "OperationProperties": _json_list(source, row, "operationproperties"),
        }
        source.check(record, row.line)
        kept = result.add("audit", record, row.line)
        dates.add(when[0], row.line, keep=kept)
        if kept:
            items.append(record)
    for record, text in zip(items, dates.parse(), strict=True):
        record["CreationTime"] = text
    note = dates.note()
    if note:
        result.notes.append(note)
    if made_up:
        result.notes.append(f"{made_up} record(s) carry no OfficeId: their record ids are made up from their "
                            "content (stable across files, but matching no other source)")
    if start_time:
        result.notes.append(f"{start_time} record(s) have no TimeGenerated: their time is Start_Time")
    return result


FORMATS = (
    Format("purview_audit_csv", "Purview audit search download or Search-UnifiedAuditLog Export-Csv (CSV)", "csv",
           ("audit",),
           (("creationdate",), ("userids", "userid"), ("operations", "operation"), ("auditdata",)),
           read_search_csv, rank=2,
           how="Purview portal > Audit > New search (users, dates) > Export; or Search-UnifiedAuditLog -UserIds ... "
               "-StartDate ... -EndDate ... -SessionCommand ReturnLargeSet | Export-Csv audit.csv"),
    Format("unified_audit_json", "Search-UnifiedAuditLog output saved with ConvertTo-Json", "json",
           ("audit",),
           (("creationdate",), ("userids", "userid"), ("operations", "operation"), ("auditdata",)),
           read_search_json, rank=2,
           how="Search-UnifiedAuditLog ... | ConvertTo-Json -Depth 4 | Out-File audit.json"),
    Format("audit_records_json", "Unified audit log records (AuditData JSON)", "json", ("audit",),
           (("creationtime",), ("id",), ("operation",), ("recordtype",)),
           read_records_json, rank=3,
           how="the AuditData objects as a JSON array (Office 365 Management Activity API content, Purview JSON "
               "export, or $rows.AuditData | ConvertFrom-Json | ConvertTo-Json)"),
    Format("sentinel_officeactivity_csv", "Microsoft Sentinel / Log Analytics OfficeActivity export (CSV)", "csv",
           ("audit",),
           (("timegenerated", "start_time", "creationtime"), ("operation",), ("userid",),
            ("officeid", "parameters", "officeworkload")),
           read_office_activity, absent=("auditdata", "resulttype"), rank=1,
           how="Sentinel > Logs: OfficeActivity | where UserId =~ '...' > Export > CSV (all columns)"),
)
