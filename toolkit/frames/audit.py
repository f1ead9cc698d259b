"""Unified audit log records into the ``audit`` frame: AuditData records (the common schema, as dicts) and
Search-UnifiedAuditLog rows (whose ``AuditData`` is a JSON string).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from toolkit.frames import build
from toolkit.frames.spec import FrameError

#: AuditLogRecordType numbers (Office 365 Management Activity API schema) -> names, for records that carry the
#: number (AuditData) rather than the name (Search-UnifiedAuditLog, Sentinel OfficeActivity). Unlisted numbers
#: stay as their digits.
RECORD_TYPES: dict[int, str] = {
    1: "ExchangeAdmin", 2: "ExchangeItem", 3: "ExchangeItemGroup", 4: "SharePoint", 6: "SharePointFileOperation",
    7: "OneDrive", 8: "AzureActiveDirectory", 9: "AzureActiveDirectoryAccountLogon", 10: "DataCenterSecurityCmdlet",
    11: "ComplianceDLPSharePoint", 13: "ComplianceDLPExchange", 14: "SharePointSharingOperation",
    15: "AzureActiveDirectoryStsLogon", 16: "SkypeForBusinessPSTNUsage", 17: "SkypeForBusinessUsersBlocked",
    18: "SecurityComplianceCenterEOPCmdlet", 19: "ExchangeAggregatedOperation", 20: "PowerBIAudit", 21: "CRM",
    22: "Yammer", 23: "SkypeForBusinessCmdlets", 24: "Discovery", 25: "MicrosoftTeams", 28: "ThreatIntelligence",
    29: "MailSubmission", 30: "MicrosoftFlow", 31: "AeD", 32: "MicrosoftStream",
    33: "ComplianceDLPSharePointClassification", 34: "ThreatFinder", 35: "Project", 36: "SharePointListOperation",
    37: "SharePointCommentOperation", 38: "DataGovernance", 39: "Kaizala", 40: "SecurityComplianceAlerts",
    41: "ThreatIntelligenceUrl", 42: "SecurityComplianceInsights", 43: "MIPLabel", 44: "WorkplaceAnalytics",
    45: "PowerAppsApp", 46: "PowerAppsPlan", 47: "ThreatIntelligenceAtpContent", 48: "LabelContentExplorer",
    49: "TeamsHealthcare", 50: "ExchangeItemAggregated", 51: "HygieneEvent", 52: "DataInsightsRestApiAudit",
    53: "InformationBarrierPolicyApplication", 54: "SharePointListItemOperation",
    55: "SharePointContentTypeOperation", 56: "SharePointFieldOperation", 57: "MicrosoftTeamsAdmin",
    58: "HRSignal", 59: "MicrosoftTeamsDevice", 60: "MicrosoftTeamsAnalytics", 61: "InformationWorkerProtection",
    62: "Campaign", 63: "DLPEndpoint", 64: "AirInvestigation", 65: "Quarantine", 66: "MicrosoftForms",
    67: "ApplicationAudit", 68: "ComplianceSupervisionExchange", 69: "CustomerKeyServiceEncryption",
    70: "OfficeNative",
}


def normalise_ip(value: Any) -> str | None:
    """A client address without port or brackets: ``[2001:db8::1]:443`` -> ``2001:db8::1``, ``203.0.113.7:51000``
    -> ``203.0.113.7``; IPv6 lowercased; an IPv4-mapped IPv6 address (``::ffff:203.0.113.7``) as the IPv4 one."""
    text = build.text_or_none(value)
    if text is None:
        return None
    host = text.strip()
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1 and "." in host:
        host = host.split(":", 1)[0]
    host = host.lower()
    if host.startswith("::ffff:") and "." in host:
        host = host[7:]
    return host or None


def record_type_name(value: Any) -> str | None:
    """RecordType as its name, whether it came as a number (1), digits ("1") or a name ("ExchangeAdmin")."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return RECORD_TYPES.get(value, str(value))
    text = str(value).strip()
    if text.isdigit():
        return RECORD_TYPES.get(int(text), text)
    return text or None


def parameters(value: Any) -> dict[str, Any] | None:
    """``Parameters`` ([{Name, Value}], or that list as JSON text, as Sentinel exports write it) as {Name: Value}."""
    if value is None:
        return None
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return {"": value}
    if isinstance(value, Mapping):
        return dict(value)
    if not isinstance(value, list):
        return {"": value}
    out: dict[str, Any] = {}
    for entry in value:
        if isinstance(entry, Mapping) and "Name" in entry:
            out[str(entry["Name"])] = entry.get("Value")
    return out


def _user(value: Any) -> str | None:
    text = build.text_or_none(value)
    if text is None:
        return None
    text = text.strip()
    return text.lower() if "@" in text else text


_NAMES = ("record_id", "operation", "user", "client_ip", "record_type", "workload", "object_id", "target",
          "result_status", "parameters", "client_info")


def _row(record: Mapping[str, Any], outer: Mapping[str, Any]) -> dict[str, Any]:
    params = parameters(record.get("Parameters"))
    object_id = build.text_or_none(record.get("ObjectId"))
    identity = build.text_or_none(params.get("Identity")) if params else None
    return {
        "record_id": build.text_or_none(record.get("Id") or outer.get("Identity")),
        "operation": build.text_or_none(record.get("Operation") or outer.get("Operations")),
        "user": _user(record.get("UserId") or outer.get("UserIds")),
        "client_ip": normalise_ip(record.get("ClientIP") or record.get("ClientIPAddress")
                                  or record.get("ActorIpAddress")),
        "record_type": record_type_name(record.get("RecordType") if record.get("RecordType") is not None
                                        else outer.get("RecordType")),
        "workload": build.text_or_none(record.get("Workload")),
        "object_id": object_id,
        "target": identity or object_id,
        "result_status": build.text_or_none(record.get("ResultStatus")),
        "parameters": None if params is None else json.dumps(params, ensure_ascii=False, default=str),
        "client_info": build.text_or_none(record.get("ClientInfoString")),
    }


def _frame(kind: str, records: list[Mapping[str, Any]], outers: list[Mapping[str, Any]], what: str,
           dedupe: bool) -> pd.DataFrame:
    rows = [_row(r, o) for r, o in zip(records, outers, strict=True)]
    for n, row in enumerate(rows):
        if row["record_id"] is None:
            raise FrameError(f"{kind}: {what} {n} has no 'Id'")
    columns: build.Columns = {name: [row[name] for row in rows] for name in _NAMES}
    times = [r.get("CreationTime") or o.get("CreationDate") for r, o in zip(records, outers, strict=True)]
    columns["time"] = build.timestamps(kind, times, "CreationTime", what)
    return build.frame(kind, columns, rows=len(rows), dedupe=dedupe)


def audit_from_records(records: Iterable[Mapping[str, Any]], *, dedupe: bool = False) -> pd.DataFrame:
    """AuditData records (dicts in the common schema: Management Activity API, Purview JSON) as ``audit``."""
    kind = "audit"
    listed = build.as_items(kind, records, "record")
    return _frame(kind, listed, [{}] * len(listed), "record", dedupe)


def audit_from_exchange(items: Iterable[Mapping[str, Any]], *, dedupe: bool = False) -> pd.DataFrame:
    """Search-UnifiedAuditLog rows (RecordType, CreationDate, UserIds, Operations, AuditData as JSON) as ``audit``."""
    kind = "audit"
    listed = build.as_items(kind, items)
    records: list[Mapping[str, Any]] = []
    for n, item in enumerate(listed):
        data = item.get("AuditData")
        if isinstance(data, Mapping):
            records.append(data)
            continue
        if not isinstance(data, str) or not data.strip():
            raise FrameError(f"{kind}: item {n} has no 'AuditData'")
        try:
            decoded = json.loads(data)
        except json.JSONDecodeError as exc:
            raise FrameError(f"{kind}: item {n} has 'AuditData' that is not JSON ({exc.msg} at character "
                             f"{exc.pos})") from None
        if not isinstance(decoded, Mapping):
            raise FrameError(f"{kind}: item {n} has 'AuditData' that is not a JSON object")
        records.append(decoded)
    return _frame(kind, records, listed, "item", dedupe)
