"""A tenant snapshot written out as the files the admin centers, PowerShell and Sentinel would give an analyst.

    python -m toolkit.sandbox export --tenant DIR --out DIR2 [--user UPN] [--start ISO --end ISO]

Server side: it reads the snapshot the sandbox serves and knows nothing of the client's importers (the two meet only
through these files, as a real tenant and the toolkit do). Every format the importers accept is written, in the
encodings real files come in (``docs/exports.md`` has the table):

- message trace: the EAC summary download (one file per 10 days, UTF-8 with BOM), the enhanced summary report
  (UTF-16LE with BOM), the extended report (27 columns, one row per event, 1,000 messages a file, UTF-16LE without
  BOM), Get-MessageTraceV2 through Export-Csv in Windows PowerShell 5.1 (``#TYPE`` line, UTF-8 with BOM) and through
  ConvertTo-Json | Out-File (UTF-16LE with BOM, ``/Date(ms)/``);
- sign-ins: the Entra download as CSV (interactive and non-interactive files) and JSON, and a Sentinel SigninLogs
  export (``CreatedDateTime [UTC]``, multi-line JSON cells);
- audit: the Purview audit search download, Search-UnifiedAuditLog through ConvertTo-Json (PowerShell 7), a
  Sentinel OfficeActivity export (without Entra directory records, which Sentinel keeps in AuditLogs);
- Exchange objects through ConvertTo-Json: Get-BlockedSenderAddress, Get-Mailbox, Get-InboxRule with and without
  -IncludeHidden, the outbound spam policies and rules, Get-AcceptedDomain;
- Graph responses saved as JSON: the user, risky user, risk detections, alerts, authentication methods, grants and
  their service principals, inbox messageRules.

Quirks kept: the enhanced and extended reports lack the newest ``archive_lag`` hours (4 by default) and
``original_client_ip`` older than 10 days; sign-ins older than 30 days are gone; without Entra ID P1 there is no
sign-in file and without P2 risk fields read ``hidden``; a Get-InboxRule listing with no rule writes no file (as
ConvertTo-Json of nothing does). Cells that would start a spreadsheet formula are neutralised with a leading
apostrophe, as every CSV the toolkit writes.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from toolkit.sandbox.clock import SimClock
from toolkit.sandbox.exchange_cmdlets import (
    default_accepted_domain,
    exchange_object,
    exo_datetime,
    inbox_rule_object,
)
from toolkit.sandbox.exchange_trace import RECORD_TYPES
from toolkit.sandbox.graph_signals import alert_view, risk_detection_view, risky_user_view, signin_view
from toolkit.sandbox.snapshot import Snapshot, load_snapshot, parse_instant, served
from toolkit.sandbox.state import TenantState, strip_smtp

log = logging.getLogger(__name__)

SIGNIN_RETENTION = timedelta(days=30)
TRACE_RETENTION = timedelta(days=90)
AUDIT_RETENTION = timedelta(days=180)
DETECTION_RETENTION = timedelta(days=90)
CLIENT_IP_RETENTION = timedelta(days=10)  # original_client_ip in the enhanced and extended reports
SUMMARY_SPAN = timedelta(days=10)
EXTENDED_MESSAGES = 1000
DEFAULT_SPAN = timedelta(days=30)
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
#: Graph's user properties the investigation selects (the client's ``$select``).
USER_SELECT = ("id", "userPrincipalName", "displayName", "mail", "proxyAddresses", "accountEnabled", "userType",
               "department", "jobTitle", "usageLocation", "createdDateTime", "lastPasswordChangeDateTime",
               "signInSessionsValidFromDateTime")
GRAPH = "https://graph.microsoft.com/v1.0/$metadata#"

_SUMMARY_STATUS = {"delivered": "Delivered", "failed": "Failed", "pending": "Pending", "expanded": "Expanded",
                   "quarantined": "Quarantined", "filteredAsSpam": "Filtered as spam",
                   "gettingStatus": "Getting status", "recalled": "Recalled", "resolved": "Resolved"}
_V2_STATUS = {"delivered": "Delivered", "failed": "Failed", "pending": "Pending", "expanded": "Expanded",
              "quarantined": "Quarantined", "filteredAsSpam": "FilteredAsSpam", "gettingStatus": "GettingStatus",
              "recalled": "Recalled", "resolved": "Resolved"}
_USER_TYPES = {0: "Regular", 1: "Reserved", 2: "Admin", 3: "DcAdmin", 4: "System", 5: "Application",
               6: "ServicePrincipal", 7: "CustomPolicy", 8: "SystemPolicy"}
_ENTRA_CA = {"success": "Success", "failure": "Failure", "notApplied": "Not Applied"}
_ENTRA_REQUIREMENT = {"singleFactorAuthentication": "Single-factor authentication",
                      "multiFactorAuthentication": "Multifactor authentication"}
_EXTENDED = ("date_time_utc", "client_ip", "client_hostname", "server_ip", "server_hostname", "source_context",
             "connector_id", "source", "event_id", "internal_message_id", "message_id", "network_message_id",
             "recipient_address", "recipient_status", "total_bytes", "recipient_count", "related_recipient_address",
             "reference", "message_subject", "sender_address", "return_path", "message_info", "directionality",
             "tenant_id", "original_client_ip", "original_server_ip", "custom_data")
_ENHANCED = ("origin_timestamp_utc", "sender_address", "recipient_status", "message_subject", "total_bytes",
             "message_id", "network_message_id", "original_client_ip", "directionality", "connector_id",
             "delivery_priority")
_ENTRA_CSV = ("Date (UTC)", "Request ID", "User agent", "Correlation ID", "User ID", "User", "Username", "User type",
              "Cross tenant access type", "Incoming token type", "Authentication Protocol", "Unique token identifier",
              "Original transfer method", "Client credential type", "Token Protection - Sign In Session",
              "Application", "Application ID ", "Resource", "Resource ID ", "Resource tenant ID", "Home tenant ID",
              "IP address", "Location", "Status", "Sign-in error code", "Failure reason", "Client app", "Device ID",
              "Browser", "Operating System", "Compliant", "Managed", "Join Type", "Multifactor authentication result",
              "Authentication requirement", "Sign-in identifier", "Session ID", "Flagged for review",
              "Token issuer type", "Incoming token type", "Latency", "Conditional Access")
_SIGNINLOGS = ("TenantId", "SourceSystem", "TimeGenerated [UTC]", "ResourceId", "OperationName", "Category",
               "ResultType", "ResultSignature", "ResultDescription", "CorrelationId", "Identity", "Location",
               "AppDisplayName", "AppId", "AuthenticationDetails", "AuthenticationRequirement", "ClientAppUsed",
               "ConditionalAccessStatus", "CreatedDateTime [UTC]", "DeviceDetail_dynamic", "IsInteractive", "Id",
               "IPAddress", "LocationDetails_dynamic", "OriginalRequestId", "RiskDetail", "RiskEventTypes",
               "RiskEventTypes_V2", "RiskLevelAggregated", "RiskLevelDuringSignIn", "RiskState",
               "ResourceDisplayName", "Status_dynamic", "UserAgent", "UserDisplayName", "UserId",
               "UserPrincipalName", "AADTenantId", "UserType", "Type")
_OFFICE = ("TenantId", "RecordType", "TimeGenerated [UTC]", "Operation", "OrganizationId", "UserType", "UserKey",
           "OfficeWorkload", "ResultStatus", "OfficeObjectId", "UserId", "ClientIP", "Parameters",
           "ClientInfoString", "OperationProperties", "SourceSystem", "OfficeId", "SourceRecordId", "Type")
_WORKSPACE = "5c2b1f3e-7a44-4d0e-9b6a-2f8e1d3c4b5a"  # the Log Analytics workspace of the Sentinel exports


class ExportError(ValueError):
    """The export cannot be made as asked (no such user, an unusable window, an output folder in use)."""


# --- writing --------------------------------------------------------------------------------------------------------
def neutralise(value: Any) -> Any:
    """A copy of ``toolkit.csvsafe.neutralise`` (the sandbox imports nothing from the client side): text that would
    start a spreadsheet formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


_ENCODINGS: dict[str, tuple[str, bytes]] = {
    "utf-8": ("utf-8", b""), "utf-8-bom": ("utf-8", b"\xef\xbb\xbf"),
    "utf-16le-bom": ("utf-16-le", b"\xff\xfe"), "utf-16le": ("utf-16-le", b""),
}
_LABELS = {"utf-8": "UTF-8", "utf-8-bom": "UTF-8 with BOM", "utf-16le-bom": "UTF-16LE with BOM",
           "utf-16le": "UTF-16LE without BOM"}


@dataclass(frozen=True)
class Written:
    file: str
    format: str
    rows: int
    encoding: str


@dataclass
class ExportReport:
    out: Path
    files: list[Written] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"{w.file}: {w.format}, {w.rows} row(s), {w.encoding}" for w in self.files]
        lines += [f"(not written) {s}" for s in self.skipped]
        return "\n".join(lines)


def _write_bytes(path: Path, text: str, encoding: str) -> None:
    codec, bom = _ENCODINGS[encoding]
    path.write_bytes(bom + text.encode(codec))


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]], encoding: str, *,
              quote_all: bool = False, type_line: str | None = None) -> int:
    buffer = io.StringIO()
    if type_line:
        buffer.write(type_line + "\r\n")
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow(["" if v is None else neutralise(v if isinstance(v, str) else str(v)) for v in row])
        count += 1
    _write_bytes(path, buffer.getvalue(), encoding)
    return count


def write_json(path: Path, value: Any, encoding: str, *, indent: int = 2) -> None:
    _write_bytes(path, json.dumps(value, indent=indent, ensure_ascii=False) + "\r\n", encoding)


# --- time texts -------------------------------------------------------------------------------------------------------
def _clock(dt: datetime) -> tuple[int, str]:
    hour = dt.hour % 12 or 12
    return hour, "AM" if dt.hour < 12 else "PM"


def us_time(dt: datetime) -> str:
    """``11/7/2026 2:37:24 AM``: the admin centers and PowerShell in an en-US culture."""
    hour, half = _clock(dt)
    return f"{dt.month}/{dt.day}/{dt.year} {hour}:{dt.minute:02d}:{dt.second:02d} {half}"


def sentinel_time(dt: datetime) -> str:
    """``4/28/2021, 2:08:45.221 PM``: Log Analytics' CSV export."""
    hour, half = _clock(dt)
    return f"{dt.month}/{dt.day}/{dt.year}, {hour}:{dt.minute:02d}:{dt.second:02d}.{dt.microsecond // 1000:03d} {half}"


def iso7(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def dotnet_date(dt: datetime) -> str:
    """Windows PowerShell 5.1 ConvertTo-Json's DateTime: ``/Date(1763634600000)/``."""
    return f"/Date({int(dt.astimezone(UTC).timestamp() * 1000)})/"


def _instant(text: str) -> datetime:
    value = parse_instant(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _dates_as(value: Any, form: Callable[[datetime], str]) -> Any:
    """Exchange date-time texts (``...0000000+00:00``) in an object rewritten as PowerShell writes them."""
    if isinstance(value, dict):
        return {k: _dates_as(v, form) for k, v in value.items()}
    if isinstance(value, list):
        return [_dates_as(v, form) for v in value]
    if isinstance(value, str) and len(value) >= 25 and value.endswith("+00:00") and value[10:11] == "T":
        try:
            return form(_instant(value))
        except ValueError:
            return value
    return value


def _plain(obj: dict[str, Any]) -> dict[str, Any]:
    """A cmdlet object without OData annotations (PowerShell's objects have none)."""
    return {k: v for k, v in obj.items() if "@odata" not in k and "@data" not in k}


def _ps_json(items: list[dict[str, Any]]) -> Any:
    """ConvertTo-Json of a cmdlet's output: one object alone, several as an array."""
    return items[0] if len(items) == 1 else items


# --- the export ------------------------------------------------------------------------------------------------------
@dataclass
class Exporter:
    snapshot: Snapshot
    out: Path
    start: datetime
    end: datetime
    user: dict[str, Any] | None
    archive_lag: timedelta
    report: ExportReport
    state: TenantState = field(init=False)
    now: datetime = field(init=False)
    domains: set[str] = field(init=False)
    tag: str = field(init=False)

    def __post_init__(self) -> None:
        self.state = TenantState(self.snapshot, SimClock(self.snapshot.tenant.now, rate=0.0))
        tenant = self.snapshot.tenant
        self.now = tenant.now
        self.domains = set(tenant.domains)
        self.tag = self.user["userPrincipalName"].split("@")[0] if self.user else "tenant"

    # -- whose --------------------------------------------------------------------------------------------------
    @property
    def addresses(self) -> set[str]:
        if self.user is None:
            return set()
        found = {self.user["userPrincipalName"].lower()}
        if self.user.get("mail"):
            found.add(self.user["mail"].lower())
        found |= {strip_smtp(a) for a in self.user.get("proxyAddresses") or [] if str(a).lower().startswith("smtp:")}
        return found

    def mine(self, *values: Any) -> bool:
        if self.user is None:
            return True
        names = self.addresses | {self.user["id"].lower()}
        return any(str(v).lower() in names for v in values if v)

    def within(self, text: str | None, retention: timedelta) -> bool:
        if not text:
            return False
        instant = _instant(text)
        return max(self.start, self.now - retention) <= instant <= self.end

    def wrote(self, name: str, form: str, rows: int, encoding: str) -> None:
        self.report.files.append(Written(name, form, rows, _LABELS[encoding]))

    # -- message trace --------------------------------------------------------------------------------------------
    def traces(self) -> list[dict[str, Any]]:
        rows = [r for r in self.snapshot.collection("message_traces")
                if self.mine(r["senderAddress"]) and self.within(r["receivedDateTime"], TRACE_RETENTION)]
        return sorted(rows, key=lambda r: (_instant(r["receivedDateTime"]), r["id"], r["recipientAddress"].lower()))

    def details(self) -> dict[tuple[str, str], list[dict[str, Any]]]:
        index: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for row in self.snapshot.collection("message_trace_details"):
            index.setdefault((row["id"].lower(), row["recipientAddress"].lower()), []).append(row)
        for events in index.values():
            events.sort(key=lambda r: _instant(r["dateTime"]))
        return index

    def internal(self, address: str) -> bool:
        return address.rsplit("@", 1)[-1].lower() in self.domains

    def events(self, row: dict[str, Any], details: dict[tuple[str, str], list[dict[str, Any]]]
               ) -> list[tuple[datetime, str]]:
        """(time, event) for one message and recipient: the snapshot's details, else what the status implies."""
        received = _instant(row["receivedDateTime"])
        found = details.get((row["id"].lower(), row["recipientAddress"].lower()))
        if found:
            events = [(_instant(d["dateTime"]), str(d["event"])) for d in found]
            if not any(e.lower() == "receive" for _, e in events):
                events.insert(0, (received, "Receive"))
            return [(max(t, received), e) for t, e in events]
        status = row.get("status")
        final = {"failed": "Fail", "quarantined": "Quarantine", "pending": "Defer", "expanded": "Expand",
                 "resolved": "Resolve", "gettingStatus": None}.get(status, "Send" if not self.internal(
                     row["recipientAddress"]) else "Deliver")
        later = received + timedelta(seconds=2)
        return [(received, "Receive")] + ([(later, final)] if final else [])

    def export_trace(self) -> None:
        rows = self.traces()
        details = self.details()
        self._summary(rows)
        cut = self.end - self.archive_lag
        archived = [r for r in rows if _instant(r["receivedDateTime"]) < cut]
        self._enhanced(archived, details)
        self._extended(archived, details)
        self._v2(rows)

    def _summary(self, rows: list[dict[str, Any]]) -> None:
        cursor, part = self.start, 1
        while cursor < self.end:
            upper = min(self.end, cursor + SUMMARY_SPAN)
            last = upper == self.end
            chosen = [r for r in rows if cursor <= _instant(r["receivedDateTime"]) and (
                _instant(r["receivedDateTime"]) <= upper if last else _instant(r["receivedDateTime"]) < upper)]
            cursor = upper
            if not chosen:
                continue  # the portal exports the rows one selects: a search that found none gives no file
            name = f"MessageTrace_Summary_{self.tag}_{part}.csv"
            count = write_csv(self.out / name, ("Date", "Sender", "Recipient", "Subject", "Status"), (
                (us_time(_instant(r["receivedDateTime"])), r["senderAddress"], r["recipientAddress"], r.get("subject"),
                 _SUMMARY_STATUS.get(r["status"], r["status"])) for r in reversed(chosen)), "utf-8-bom")
            self.wrote(name, "EAC message trace summary", count, "utf-8-bom")
            part += 1

    def _messages(self, rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        grouped: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            grouped.setdefault(row["id"].lower(), []).append(row)
        return list(grouped.values())

    def _client_ip(self, row: dict[str, Any]) -> str | None:
        recent = self.now - _instant(row["receivedDateTime"]) <= CLIENT_IP_RETENTION
        return (row.get("fromIP") or None) if recent else None

    def _direction(self, sender: str) -> str:
        return "Originating" if self.internal(sender) else "Incoming"

    def _enhanced(self, rows: list[dict[str, Any]], details: dict[tuple[str, str], list[dict[str, Any]]]) -> None:
        out = []
        for message in self._messages(rows):
            first = message[0]
            statuses = ";".join(f"{r['recipientAddress']}##" + ", ".join(e for _, e in self.events(r, details))
                                for r in message)
            out.append((iso7(_instant(first["receivedDateTime"])), first["senderAddress"], statuses,
                        first.get("subject"), first.get("size"), first.get("messageId"),
                        first["id"].replace("-", "").lower(), self._client_ip(first),
                        self._direction(first["senderAddress"]), "", "Normal"))
        name = f"MTSummary_Report_{self.tag}.csv"
        count = write_csv(self.out / name, _ENHANCED, out, "utf-16le-bom")
        self.wrote(name, "EAC enhanced summary report", count, "utf-16le-bom")

    def _extended(self, rows: list[dict[str, Any]], details: dict[tuple[str, str], list[dict[str, Any]]]) -> None:
        messages = self._messages(rows)
        tenant = self.snapshot.tenant.tenant_id
        for part, offset in enumerate(range(0, max(len(messages), 1), EXTENDED_MESSAGES), start=1):
            out = []
            for message in messages[offset:offset + EXTENDED_MESSAGES]:
                for row in message:
                    spam = row.get("status") == "filteredAsSpam"
                    nmid = row["id"].replace("-", "").lower()
                    events = self.events(row, details)
                    agent = (events[0][0], "AGENTINFO")
                    for when, event in [events[0], agent, *events[1:]]:
                        upper = event.upper()
                        custom = ""
                        if upper == "AGENTINFO":
                            verdict = "SPM" if spam else "NSPM"
                            custom = f"S:SFA=SUM|SFV={verdict}|IPV=NLI|SRV=|SCL={9 if spam else 1}|SCORE=-1|LIST=0;"
                        out.append({
                            "date_time_utc": iso7(when), "client_ip": row.get("fromIP") if upper == "RECEIVE" else "",
                            "server_ip": row.get("toIP") if upper in ("SEND", "FAIL") else "",
                            "source": {"RECEIVE": "SMTP", "SEND": "SMTP", "DELIVER": "STOREDRIVER",
                                       "AGENTINFO": "AGENT"}.get(upper, "SMTP"),
                            "event_id": upper, "internal_message_id": str(int(nmid[:12], 16) % 10**12),
                            "message_id": row.get("messageId"), "network_message_id": nmid,
                            "recipient_address": row["recipientAddress"],
                            "recipient_status": "250 2.1.5 RESOLVER.MSGTYPE.AF; handled" if upper == "DELIVER" else "",
                            "total_bytes": row.get("size"), "recipient_count": len(message),
                            "message_subject": row.get("subject"), "sender_address": row["senderAddress"],
                            "return_path": row["senderAddress"], "directionality": self._direction(
                                row["senderAddress"]), "tenant_id": tenant,
                            "original_client_ip": self._client_ip(row) if upper == "RECEIVE" else "",
                            "custom_data": custom,
                        })
            name = f"MTDetail_Report_{self.tag}_{part}.csv"
            write_csv(self.out / name, _EXTENDED, ([r.get(c) for c in _EXTENDED] for r in out), "utf-16le")
            self.wrote(name, "EAC extended report", len(out), "utf-16le")

    def _v2_object(self, row: dict[str, Any], index: int) -> dict[str, Any]:
        return {"Organization": self.snapshot.tenant.default_domain, "MessageId": row.get("messageId"),
                "Received": _instant(row["receivedDateTime"]), "SenderAddress": row["senderAddress"],
                "RecipientAddress": row["recipientAddress"], "Subject": row.get("subject"),
                "Status": _V2_STATUS.get(row["status"], row["status"]), "ToIP": row.get("toIP") or None,
                "FromIP": row.get("fromIP") or None, "Size": row.get("size"), "MessageTraceId": row["id"],
                "StartDate": self.start, "EndDate": self.end, "Index": index}

    def _v2(self, rows: list[dict[str, Any]]) -> None:
        newest_first = list(reversed(rows))
        objects = [self._v2_object(r, n) for n, r in enumerate(newest_first)]
        header = ("Organization", "MessageId", "Received", "SenderAddress", "RecipientAddress", "Subject", "Status",
                  "ToIP", "FromIP", "Size", "MessageTraceId", "StartDate", "EndDate", "Index")
        name = f"MessageTraceV2_{self.tag}.csv"
        count = write_csv(self.out / name, header, (
            [us_time(v) if isinstance(v, datetime) else v for v in (o[h] for h in header)] for o in objects),
            "utf-8-bom", quote_all=True,
            type_line="#TYPE Deserialized.Microsoft.Exchange.Management.FfoReporting.MessageTraceV2")
        self.wrote(name, "Get-MessageTraceV2 | Export-Csv (PowerShell 5.1)", count, "utf-8-bom")
        name = f"MessageTraceV2_{self.tag}.json"
        as_json = [{k: dotnet_date(v) if isinstance(v, datetime) else v for k, v in o.items()} for o in objects]
        if as_json:
            write_json(self.out / name, _ps_json(as_json), "utf-16le-bom", indent=4)
            self.wrote(name, "Get-MessageTraceV2 | ConvertTo-Json (PowerShell 5.1)", len(as_json), "utf-16le-bom")
        else:
            self.report.skipped.append(f"{name}: no message, and ConvertTo-Json of nothing writes nothing")

    # -- sign-ins ----------------------------------------------------------------------------------------------------
    def export_signins(self) -> None:
        licences = self.snapshot.tenant.licences
        if not licences.entra_id_p1:
            self.report.skipped.append("sign-ins: the tenant has no Entra ID P1 (the sign-in log download needs it)")
            return
        rows = [signin_view(r, licences.entra_id_p2) for r in self.snapshot.collection("sign_ins")
                if self.mine(r.get("userPrincipalName"), r.get("userId"))
                and self.within(r["createdDateTime"], SIGNIN_RETENTION)]
        rows.sort(key=lambda r: _instant(r["createdDateTime"]), reverse=True)
        for interactive, label in ((True, "Interactive"), (False, "NonInteractive")):
            chosen = [r for r in rows if bool(r.get("isInteractive", True)) is interactive]
            name = f"{label}SignIns_{self.tag}.csv"
            count = write_csv(self.out / name, _ENTRA_CSV, (self._entra_row(r) for r in chosen), "utf-8-bom")
            self.wrote(name, f"Entra sign-in log download, {label.lower()} (CSV)", count, "utf-8-bom")
        name = f"SignIns_{self.tag}.json"
        write_json(self.out / name, rows, "utf-8")
        self.wrote(name, "Entra sign-in log download (JSON)", len(rows), "utf-8")
        name = f"SigninLogs_{self.tag}.csv"
        count = write_csv(self.out / name, _SIGNINLOGS, (self._sentinel_signin(r) for r in rows), "utf-8-bom")
        self.wrote(name, "Sentinel SigninLogs export (CSV)", count, "utf-8-bom")

    def _entra_row(self, r: dict[str, Any]) -> list[Any]:
        location = r.get("location") or {}
        device = r.get("deviceDetail") or {}
        status = r.get("status") or {}
        code = status.get("errorCode")
        place = ", ".join(str(location.get(k) or "") for k in ("city", "state", "countryOrRegion"))
        values = {
            "Date (UTC)": r["createdDateTime"], "Request ID": r["id"], "User agent": r.get("userAgent"),
            "Correlation ID": r.get("correlationId"), "User ID": r.get("userId"), "User": r.get("userDisplayName"),
            "Username": r.get("userPrincipalName"), "User type": "Member", "Application": r.get("appDisplayName"),
            "Application ID ": r.get("appId"), "Resource": r.get("resourceDisplayName"),
            "Resource ID ": r.get("resourceId"), "IP address": r.get("ipAddress"),
            "Location": place if place.strip(", ") else "",
            "Status": "Success" if code == 0 else "Failure", "Sign-in error code": code,
            "Failure reason": status.get("failureReason"), "Client app": r.get("clientAppUsed"),
            "Device ID": device.get("deviceId"), "Browser": device.get("browser"),
            "Operating System": device.get("operatingSystem"),
            "Compliant": device.get("isCompliant"), "Managed": device.get("isManaged"),
            "Join Type": device.get("trustType"),
            "Authentication requirement": _ENTRA_REQUIREMENT.get(str(r.get("authenticationRequirement")),
                                                                 r.get("authenticationRequirement")),
            "Sign-in identifier": r.get("userPrincipalName"), "Token issuer type": "AzureAD",
            "Conditional Access": _ENTRA_CA.get(str(r.get("conditionalAccessStatus")),
                                                r.get("conditionalAccessStatus")),
        }
        return [values.get(column) for column in _ENTRA_CSV]

    def _sentinel_signin(self, r: dict[str, Any]) -> list[Any]:
        status = r.get("status") or {}
        code = status.get("errorCode")
        created = _instant(r["createdDateTime"])
        step = json.dumps([{"authenticationStepDateTime": r["createdDateTime"], "authenticationMethod": "Password",
                            "succeeded": code == 0, "StatusSequence": 0, "RequestSequence": 1}], indent=2)
        location = r.get("location") or {}
        values = {
            "TenantId": _WORKSPACE, "SourceSystem": "Azure AD", "TimeGenerated [UTC]": sentinel_time(created),
            "ResourceId": f"/tenants/{self.snapshot.tenant.tenant_id}/providers/Microsoft.aadiam",
            "OperationName": "Sign-in activity", "Category": "SignInLogs", "ResultType": code,
            "ResultSignature": "None", "ResultDescription": status.get("failureReason"),
            "CorrelationId": r.get("correlationId"), "Identity": r.get("userDisplayName"),
            "Location": location.get("countryOrRegion"), "AppDisplayName": r.get("appDisplayName"),
            "AppId": r.get("appId"), "AuthenticationDetails": step.replace("\n", "\r\n"),
            "AuthenticationRequirement": r.get("authenticationRequirement"), "ClientAppUsed": r.get("clientAppUsed"),
            "ConditionalAccessStatus": r.get("conditionalAccessStatus"),
            "CreatedDateTime [UTC]": sentinel_time(created),
            "DeviceDetail_dynamic": json.dumps(r["deviceDetail"]) if r.get("deviceDetail") is not None else None,
            "IsInteractive": "TRUE" if r.get("isInteractive", True) else "FALSE", "Id": r["id"],
            "IPAddress": r.get("ipAddress"),
            "LocationDetails_dynamic": json.dumps(location) if r.get("location") is not None else None,
            "OriginalRequestId": r["id"], "RiskDetail": r.get("riskDetail"),
            "RiskEventTypes": json.dumps(r.get("riskEventTypes") or []),
            "RiskEventTypes_V2": json.dumps(r.get("riskEventTypes_v2") or []),
            "RiskLevelAggregated": r.get("riskLevelAggregated"),
            "RiskLevelDuringSignIn": r.get("riskLevelDuringSignIn"),
            "RiskState": r.get("riskState"), "ResourceDisplayName": r.get("resourceDisplayName"),
            "Status_dynamic": json.dumps(status), "UserAgent": r.get("userAgent"),
            "UserDisplayName": r.get("userDisplayName"), "UserId": r.get("userId"),
            "UserPrincipalName": r.get("userPrincipalName"), "AADTenantId": self.snapshot.tenant.tenant_id,
            "UserType": "Member", "Type": "SigninLogs",
        }
        return [values.get(column) for column in _SIGNINLOGS]

    # -- audit ---------------------------------------------------------------------------------------------------------
    def export_audit(self) -> None:
        records = [served(r, "audit") for r in self.snapshot.collection("audit")
                   if self.mine(r.get("UserId")) and self.within(r["CreationTime"], AUDIT_RETENTION)]
        records.sort(key=lambda r: _instant(r["CreationTime"]), reverse=True)
        header = ("RecordId", "CreationDate", "RecordType", "Operation", "UserId", "AuditData", "AssociatedAdminUnits",
                  "AssociatedAdminUnitsNames")
        name = f"AuditLog_{self.tag}.csv"
        count = write_csv(self.out / name, header, ((
            r["Id"], iso7(_instant(r["CreationTime"])), RECORD_TYPES.get(r["RecordType"], str(r["RecordType"])),
            r["Operation"], r["UserId"], json.dumps(r, separators=(",", ":")), "", "") for r in records), "utf-8-bom")
        self.wrote(name, "Purview audit search download (CSV)", count, "utf-8-bom")
        name = f"UnifiedAuditLog_{self.tag}.json"
        objects = [{"RunspaceId": "00000000-0000-0000-0000-000000000000",
                    "RecordType": RECORD_TYPES.get(r["RecordType"], str(r["RecordType"])),
                    "CreationDate": _instant(r["CreationTime"]).strftime("%Y-%m-%dT%H:%M:%S"),
                    "UserIds": r["UserId"], "Operations": r["Operation"],
                    "AuditData": json.dumps(r, separators=(",", ":")), "ResultIndex": n + 1,
                    "ResultCount": len(records), "Identity": r["Id"], "IsValid": True, "ObjectState": "Unchanged"}
                   for n, r in enumerate(records)]
        if objects:
            write_json(self.out / name, _ps_json(objects), "utf-8")
            self.wrote(name, "Search-UnifiedAuditLog | ConvertTo-Json (PowerShell 7)", len(objects), "utf-8")
        else:
            self.report.skipped.append(f"{name}: no record, and ConvertTo-Json of nothing writes nothing")
        office = [r for r in records if str(r.get("Workload")) != "AzureActiveDirectory"]
        name = f"OfficeActivity_{self.tag}.csv"
        count = write_csv(self.out / name, _OFFICE, (self._office(r) for r in office), "utf-8-bom")
        self.wrote(name, "Sentinel OfficeActivity export (CSV)", count, "utf-8-bom")

    def _office(self, r: dict[str, Any]) -> list[Any]:
        parameters = r.get("Parameters")
        properties = r.get("OperationProperties")
        values = {
            "TenantId": _WORKSPACE, "RecordType": RECORD_TYPES.get(r["RecordType"], str(r["RecordType"])),
            "TimeGenerated [UTC]": sentinel_time(_instant(r["CreationTime"])), "Operation": r["Operation"],
            "OrganizationId": r.get("OrganizationId"),
            "UserType": _USER_TYPES.get(r.get("UserType"), r.get("UserType")) if isinstance(r.get("UserType"), int)
            else r.get("UserType"), "UserKey": r.get("UserKey"), "OfficeWorkload": r.get("Workload"),
            "ResultStatus": r.get("ResultStatus"), "OfficeObjectId": r.get("ObjectId"), "UserId": r.get("UserId"),
            "ClientIP": r.get("ClientIP") or r.get("ClientIPAddress"),
            "Parameters": json.dumps(parameters, indent=2).replace("\n", "\r\n") if parameters is not None else None,
            "ClientInfoString": r.get("ClientInfoString"),
            "OperationProperties": json.dumps(properties) if properties is not None else None,
            "SourceSystem": "OfficeActivityManager", "OfficeId": r["Id"], "SourceRecordId": r["Id"],
            "Type": "OfficeActivity",
        }
        return [values.get(column) for column in _OFFICE]

    # -- Exchange objects ----------------------------------------------------------------------------------------
    def export_exchange(self) -> None:
        blocked = [self._blocked(r) for r in self.state.active_blocks() if self.mine(r["SenderAddress"])]
        if blocked:
            write_json(self.out / "BlockedSenders.json", _ps_json(_dates_as(blocked, dotnet_date)), "utf-16le-bom",
                       indent=4)
            self.wrote("BlockedSenders.json", "Get-BlockedSenderAddress | ConvertTo-Json (PowerShell 5.1)",
                       len(blocked), "utf-16le-bom")
        else:
            self.report.skipped.append("BlockedSenders.json: no restricted sender, and ConvertTo-Json of nothing "
                                       "writes nothing")
        policies = [_plain(exchange_object(r, "outbound_policies")) for r in
                    self.snapshot.collection("outbound_policies")]
        rules = [_plain(exchange_object(r, "outbound_rules")) for r in self.snapshot.collection("outbound_rules")]
        for name, objects, form in (("OutboundSpamPolicies.json", policies, "Get-HostedOutboundSpamFilterPolicy"),
                                    ("OutboundSpamRules.json", rules, "Get-HostedOutboundSpamFilterRule")):
            if objects:
                write_json(self.out / name, _ps_json(objects), "utf-8")
                self.wrote(name, f"{form} | ConvertTo-Json (PowerShell 7)", len(objects), "utf-8")
        tenant = self.snapshot.tenant
        default = default_accepted_domain(tenant.domains, tenant.default_domain)
        domains = [{"DomainName": d, "DomainType": "Authoritative", "Default": d == default, "Name": d,
                    "Identity": d} for d in tenant.domains]
        write_json(self.out / "AcceptedDomains.json", _ps_json(domains), "utf-8")
        self.wrote("AcceptedDomains.json", "Get-AcceptedDomain | ConvertTo-Json (PowerShell 7)", len(domains), "utf-8")
        if self.user is not None:
            self._mailbox_files()
            return
        boxes = [_plain(exchange_object(b, "mailboxes")) for b in self.snapshot.collection("mailboxes")]
        if boxes:
            write_json(self.out / "Mailboxes.json", _ps_json(boxes), "utf-8")
            self.wrote("Mailboxes.json", "Get-Mailbox -ResultSize Unlimited | ConvertTo-Json (PowerShell 7)",
                       len(boxes), "utf-8")

    def _blocked(self, row: dict[str, Any]) -> dict[str, Any]:
        obj = served(row, "blocked_senders")
        created = obj.get("CreatedDatetime")
        return {"SenderAddress": obj["SenderAddress"], "Reason": obj.get("Reason"),
                "CreatedDatetime": exo_datetime(created), "ChangedDatetime": exo_datetime(obj.get("ChangedDatetime")
                                                                                           or created),
                "TemporaryBlock": bool(obj.get("TemporaryBlock", False)), "Identity": obj["SenderAddress"]}

    def _mailbox_files(self) -> None:
        assert self.user is not None
        box = self.state.find_mailbox(self.user["userPrincipalName"])
        if box is None:
            self.report.skipped.append(f"Mailbox_{self.tag}.json: the user has no mailbox")
            return
        name = f"Mailbox_{self.tag}.json"
        write_json(self.out / name, _plain(exchange_object(box, "mailboxes")), "utf-8")
        self.wrote(name, "Get-Mailbox | ConvertTo-Json (PowerShell 7)", 1, "utf-8")
        for hidden, name in ((True, f"InboxRules_{self.tag}.json"), (False, f"InboxRules_{self.tag}_visible.json")):
            rules = [_plain(inbox_rule_object(r, box)) for r in self.state.inbox_rules(self.user, hidden)]
            if rules:
                write_json(self.out / name, _ps_json(rules), "utf-16le-bom", indent=4)
                flag = " -IncludeHidden" if hidden else ""
                self.wrote(name, f"Get-InboxRule{flag} | ConvertTo-Json (PowerShell 5.1)", len(rules), "utf-16le-bom")
            else:
                self.report.skipped.append(f"{name}: no inbox rule, and ConvertTo-Json of nothing writes nothing")

    # -- Graph objects ---------------------------------------------------------------------------------------------
    def export_graph(self) -> None:
        licences = self.snapshot.tenant.licences
        alerts = [alert_view(a, self.snapshot.tenant.tenant_id) for a in self.snapshot.collection("alerts")
                  if self.start <= _instant(a["createdDateTime"]) <= self.end]
        write_json(self.out / "Alerts.json", {"@odata.context": f"{GRAPH}security/alerts_v2", "value": alerts},
                   "utf-8")
        self.wrote("Alerts.json", "Graph alerts_v2 JSON", len(alerts), "utf-8")
        users = [self.user] if self.user is not None else list(self.snapshot.collection("users"))
        selected = [self._selected_user(u) for u in users]
        if self.user is not None:
            name = f"User_{self.tag}.json"
            write_json(self.out / name, {"@odata.context": f"{GRAPH}users({','.join(USER_SELECT)})/$entity",
                                         **selected[0]}, "utf-8")
            self.wrote(name, "Graph user JSON", 1, "utf-8")
        else:
            self._graph_list("Users.json", f"users({','.join(USER_SELECT)})", selected, "Graph users JSON")
        ids = {u["id"].lower() for u in users}
        if licences.entra_id_p2:
            risky = [risky_user_view(r) for r in self.snapshot.collection("risky_users") if r["id"].lower() in ids]
            if self.user is None:
                self._graph_list("RiskyUsers.json", "identityProtection/riskyUsers", risky, "Graph riskyUsers JSON")
            elif risky:
                name = f"RiskyUser_{self.tag}.json"
                write_json(self.out / name, {"@odata.context": f"{GRAPH}identityProtection/riskyUsers/$entity",
                                             **risky[0]}, "utf-8")
                self.wrote(name, "Graph riskyUser JSON", 1, "utf-8")
        if licences.entra_id_p1 or licences.entra_id_p2:
            detections = [risk_detection_view(r, licences.entra_id_p2)
                          for r in self.snapshot.collection("risk_detections")
                          if self.mine(r.get("userId"), r.get("userPrincipalName"))
                          and self.within(r.get("detectedDateTime"), DETECTION_RETENTION)]
            self._graph_list(f"RiskDetections_{self.tag}.json", "identityProtection/riskDetections", detections,
                             "Graph riskDetections JSON")
        grants = [served(g, "oauth_grants") for g in self.snapshot.collection("oauth_grants")
                  if str(g.get("principalId") or "").lower() in ids]
        context = f"users('{users[0]['id']}')/oauth2PermissionGrants" if self.user else "oauth2PermissionGrants"
        self._graph_list(f"Grants_{self.tag}.json", context, grants, "Graph oauth2PermissionGrants JSON")
        wanted = {str(g.get(k)).lower() for g in grants for k in ("clientId", "resourceId") if g.get(k)}
        principals = [served(p, "service_principals") for p in self.snapshot.collection("service_principals")
                      if p["id"].lower() in wanted]
        if principals:
            self._graph_list("ServicePrincipals.json", "servicePrincipals", principals, "Graph servicePrincipals JSON")
        if self.user is None:
            return  # methods and rules are read one user at a time
        user = self.user
        methods = [served(m, "auth_methods") for m in self.snapshot.collection("auth_methods")
                   if self.state.find_user(str(m.get("user", ""))) is user]
        self._graph_list(f"AuthMethods_{self.tag}.json", f"users('{user['id']}')/authentication/methods", methods,
                         "Graph authentication methods JSON")
        rules = [served(r, "message_rules") for r in self.state.inbox_rules(user, include_hidden=False)]
        self._graph_list(f"MessageRules_{self.tag}.json", f"users('{user['id']}')/mailFolders('inbox')/messageRules",
                         rules, "Graph messageRules JSON")

    @staticmethod
    def _selected_user(user: dict[str, Any]) -> dict[str, Any]:
        """The user as the investigation's $select reads it (a missing collection reads [], userType Member)."""
        stored = served(user, "users")
        selected = {k: stored.get(k, [] if k == "proxyAddresses" else None) for k in USER_SELECT}
        selected["userType"] = str(stored.get("userType") or "Member")
        return selected

    def _graph_list(self, name: str, context: str, items: list[dict[str, Any]], form: str) -> None:
        write_json(self.out / name, {"@odata.context": f"{GRAPH}{context}", "value": items}, "utf-8")
        self.wrote(name, form, len(items), "utf-8")


def _find_user(snapshot: Snapshot, key: str) -> dict[str, Any]:
    wanted = strip_smtp(key)
    for user in snapshot.collection("users"):
        names = {user["id"].lower(), user["userPrincipalName"].lower(), str(user.get("mail") or "").lower()}
        names |= {strip_smtp(a) for a in user.get("proxyAddresses") or []}
        if wanted in names:
            return user
    raise ExportError(f"no user {key!r} in the snapshot (give a UPN, an address or an object id)")


def export_snapshot(tenant_dir: str | Path, out_dir: str | Path, *, user: str | None = None,
                    start: datetime | None = None, end: datetime | None = None,
                    archive_lag_hours: float = 4.0) -> ExportReport:
    """Write the snapshot (one user's part with ``user``) as admin-center files into ``out_dir`` (new or empty).

    The window defaults to the 30 days before the snapshot's now; each service's retention still applies.
    """
    snapshot = load_snapshot(tenant_dir)
    now = snapshot.tenant.now
    end = (end or now).astimezone(UTC)
    start = (start or end - DEFAULT_SPAN).astimezone(UTC)
    if start >= end:
        raise ExportError(f"the window starts ({start.isoformat()}) at or after it ends ({end.isoformat()})")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise ExportError(f"{out} is not empty; give a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    chosen = _find_user(snapshot, user) if user else None
    report = ExportReport(out)
    exporter = Exporter(snapshot, out, start, end, chosen, timedelta(hours=archive_lag_hours), report)
    exporter.export_trace()
    exporter.export_signins()
    exporter.export_audit()
    exporter.export_exchange()
    exporter.export_graph()
    log.info("exported %s to %s: %d file(s)", tenant_dir, out, len(report.files))
    return report
