"""Sign-in exports into Graph ``signIn`` items.

- the Entra admin center's sign-in log download as CSV ("Date (UTC)", "Request ID", "Username", "Location" as
  ``City, State, CC``...) - it carries no risk fields, no coordinates, and not whether a sign-in was interactive
  (the download is per tab);
- the same download as JSON, and Graph ``auditLogs/signIns`` JSON (a response with ``value``, or a bare array):
  already the Graph shape;
- Microsoft Sentinel / Log Analytics ``SigninLogs`` exported to CSV: multi-line JSON cells (``LocationDetails``,
  ``DeviceDetail``, ``Status``, with or without the ``_dynamic`` suffix) and ``CreatedDateTime [UTC]`` like
  ``4/28/2021, 2:08:45.221 PM``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from toolkit.sources.exports.dates import DateColumn, DateError, parse_instant
from toolkit.sources.exports.model import FileResult, Format, Item, Source, start
from toolkit.sources.exports.reading import CsvRow

_CA_STATUS = {"success": "success", "failure": "failure", "notapplied": "notApplied"}
_AUTH_REQUIREMENT = {"singlefactorauthentication": "singleFactorAuthentication",
                     "multifactorauthentication": "multiFactorAuthentication"}
_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}


def _squash(text: str | None) -> str:
    return re.sub(r"[^a-z]", "", (text or "").lower())


def _error_code(source: Source, row: CsvRow, key: str) -> int | None:
    text = row.get(key)
    if text is None:
        return None
    if not re.fullmatch(r"-?\d+", text.strip()):
        raise source.fail(row.line, f"{source.column_name(key)!r} = {text!r} is not a numeric error code")
    return int(text)


def location_parts(text: str | None) -> dict[str, Any]:
    """The Entra download's ``City, State, CC`` (positions kept: ``Azor, , IL`` has no state) as Graph's location."""
    if not text:
        return {"city": None, "state": None, "countryOrRegion": None}
    parts = [p.strip() for p in text.split(",")]
    country = parts[-1] or None
    state = (parts[-2] or None) if len(parts) >= 2 else None
    city = ", ".join(parts[:-2]).strip() or None if len(parts) >= 3 else None
    return {"city": city, "state": state, "countryOrRegion": country}


def _flag(source: Source, row: CsvRow, key: str) -> bool | None:
    text = row.get(key)
    if text is None:
        return None
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise source.fail(row.line, f"{source.column_name(key)!r} = {text!r} is not TRUE or FALSE")


def _json_cell(source: Source, row: CsvRow, *keys: str) -> Any:
    """The first of ``keys`` that is present, as JSON (Sentinel writes dynamic columns as JSON text)."""
    for key in keys:
        text = row.get(key)
        if text is None:
            continue
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise source.fail(row.line, f"{source.column_name(key)!r} is not JSON ({exc.msg} at character "
                                        f"{exc.pos})") from None
    return None


def _finish(result: FileResult, items: list[Item], dates: DateColumn) -> None:
    for item, text in zip(items, dates.parse(), strict=True):
        item["createdDateTime"] = text
    note = dates.note()
    if note:
        result.notes.append(note)


# --- the Entra admin center download (CSV) --------------------------------------------------------------------------
def read_entra_csv(source: Source) -> FileResult:
    result = start(source)
    dates = source.date_column("date")
    items: list[Item] = []
    for row in source.rows():
        result.records += 1
        code = _error_code(source, row, "sign-in error code")
        if code is None and (row.get("status") or "").lower() == "success":
            code = 0
        item: Item = {
            "id": source.require(row, "request id"), "createdDateTime": None, "userId": row.get("user id"),
            "userPrincipalName": row.get("username"), "userDisplayName": row.get("user"),
            "appId": row.get("application id"), "appDisplayName": row.get("application"),
            "clientAppUsed": row.get("client app"), "ipAddress": row.get("ip address"),
            "location": location_parts(row.get("location")),
            "status": {"errorCode": code, "failureReason": row.get("failure reason")},
            "isInteractive": None,
            "conditionalAccessStatus": _CA_STATUS.get(_squash(row.get("conditional access")),
                                                      row.get("conditional access")),
            "deviceDetail": {"deviceId": row.get("device id"), "browser": row.get("browser"),
                             "operatingSystem": row.get("operating system")},
            "correlationId": row.get("correlation id"), "resourceDisplayName": row.get("resource"),
            "userAgent": row.get("user agent"),
            "authenticationRequirement": _AUTH_REQUIREMENT.get(_squash(row.get("authentication requirement")),
                                                               row.get("authentication requirement")),
        }
        source.check(item, row.line)
        kept = result.add("signins", item, row.line)
        dates.add(source.require(row, "date"), row.line, keep=kept)
        if kept:
            items.append(item)
    _finish(result, items, dates)
    return result


# --- Graph / Entra JSON -----------------------------------------------------------------------------------------------
def read_graph_signins(source: Source) -> FileResult:
    result = start(source)
    for record, line in source.objects(result):
        for name in ("id", "createdDateTime"):
            if not record.get(name):
                raise source.fail(line, f"record {result.records} has no {name!r}: not a sign-in")
        try:
            parse_instant(str(record["createdDateTime"]))
        except DateError as exc:
            raise source.fail(line, f"'createdDateTime' = {record['createdDateTime']!r}: {exc}") from None
        source.check(record, line)
        result.add("signins", dict(record), line)
    return result


# --- Sentinel / Log Analytics SigninLogs ------------------------------------------------------------------------------
def _types(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def _sentinel_time(source: Source, row: CsvRow) -> tuple[str, str] | None:
    """(text, which column) of the sign-in's time: CreatedDateTime, else TimeGenerated, else the first
    authentication step (an export without either time column still says when the steps happened)."""
    for key in ("createddatetime", "timegenerated"):
        text = row.get(key)
        if text:
            return text, key
    steps = _json_cell(source, row, "authenticationdetails")
    if isinstance(steps, list):
        for step in steps:
            if isinstance(step, dict) and step.get("authenticationStepDateTime"):
                return str(step["authenticationStepDateTime"]), "authenticationdetails"
    return None


def read_sentinel_signins(source: Source) -> FileResult:
    result = start(source)
    header = source.table.header if source.table else None
    assert header is not None
    zone_key = "createddatetime" if header.has("createddatetime") else "timegenerated"
    dates = source.date_column(zone_key, "CreatedDateTime")
    items: list[Item] = []
    fallback = 0
    for row in source.rows():
        result.records += 1
        when = _sentinel_time(source, row)
        if when is None:
            raise source.fail(row.line, "the sign-in has no time (no CreatedDateTime, TimeGenerated or "
                                        "authentication step time)")
        fallback += when[1] == "authenticationdetails"
        status = _json_cell(source, row, "status_dynamic", "status")
        status = status if isinstance(status, dict) else {}
        code_text = row.get("resulttype")
        if code_text is not None and not re.fullmatch(r"-?\d+", code_text):
            raise source.fail(row.line, f"'ResultType' = {code_text!r} is not a numeric error code")
        code = int(code_text) if code_text is not None else status.get("errorCode")
        location = _json_cell(source, row, "locationdetails_dynamic", "locationdetails")
        location = location if isinstance(location, dict) else {"countryOrRegion": row.get("location")}
        device = _json_cell(source, row, "devicedetail_dynamic", "devicedetail")
        item: Item = {
            "id": row.get("id") or source.require(row, "originalrequestid"), "createdDateTime": None,
            "userId": row.get("userid"), "userPrincipalName": row.get("userprincipalname"),
            "userDisplayName": row.get("userdisplayname"), "appId": row.get("appid"),
            "appDisplayName": row.get("appdisplayname"), "clientAppUsed": row.get("clientappused"),
            "ipAddress": row.get("ipaddress"), "location": location,
            "status": {"errorCode": code,
                       "failureReason": row.get("resultdescription") or status.get("failureReason")},
            "isInteractive": _flag(source, row, "isinteractive"),
            "riskDetail": row.get("riskdetail"), "riskLevelAggregated": row.get("risklevelaggregated"),
            "riskLevelDuringSignIn": row.get("risklevelduringsignin"),
            "riskState": row.get("riskstate"),
            "riskEventTypes": _types(_json_cell(source, row, "riskeventtypes")),
            "riskEventTypes_v2": _types(_json_cell(source, row, "riskeventtypes_v2")),
            "conditionalAccessStatus": row.get("conditionalaccessstatus"),
            "deviceDetail": device if isinstance(device, dict) else None,
            "correlationId": row.get("correlationid"), "resourceDisplayName": row.get("resourcedisplayname"),
            "userAgent": row.get("useragent"), "authenticationRequirement": row.get("authenticationrequirement"),
        }
        if isinstance(item["location"], dict) and not item["location"].get("countryOrRegion"):
            item["location"]["countryOrRegion"] = row.get("location")
        source.check(item, row.line)
        kept = result.add("signins", item, row.line)
        dates.add(when[0], row.line, keep=kept)
        if kept:
            items.append(item)
    _finish(result, items, dates)
    if fallback:
        result.notes.append(f"{fallback} sign-in(s) have no CreatedDateTime or TimeGenerated column: their time is "
                            "the first authentication step's")
    return result


_NOT_IN_ENTRA_CSV = ("latitude", "longitude", "interactive", "risk_level_during", "risk_level_aggregated",
                     "risk_state", "risk_detail", "risk_event_types")

FORMATS = (
    Format("entra_signins_csv", "Entra admin center sign-in log download (CSV)", "csv", ("signins",),
           (("date",), ("request id",), ("username",), ("ip address",)),
           read_entra_csv, missing={"signins": _NOT_IN_ENTRA_CSV}, rank=1,
           how="Entra admin center > Identity > Monitoring & health > Sign-in logs > Download > CSV (one file per "
               "tab: interactive, non-interactive...)"),
    Format("graph_signins_json", "Entra admin center sign-in download (JSON) or Graph signIns JSON", "json",
           ("signins",),
           (("createddatetime",), ("userprincipalname",), ("id",),
            ("ipaddress", "appdisplayname", "clientappused", "status")),
           read_graph_signins, rank=3,
           how="Entra admin center > Sign-in logs > Download > JSON, or GET /v1.0/auditLogs/signIns saved as JSON"),
    Format("sentinel_signinlogs_csv", "Microsoft Sentinel / Log Analytics SigninLogs export (CSV)", "csv",
           ("signins",),
           (("resulttype",), ("userprincipalname",), ("ipaddress",), ("appdisplayname", "appid")),
           read_sentinel_signins, rank=2,
           how="Sentinel > Logs: SigninLogs | where UserPrincipalName =~ '...' > Export > CSV (all columns)"),
)
