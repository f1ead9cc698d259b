"""Graph payloads (``value[]`` items) into frames: users, sign-ins, risk, authentication methods, OAuth grants,
alerts. Sign-ins can be tenant-wide, so they go through one Arrow struct conversion; the rest are small.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from toolkit.frames import build
from toolkit.frames.contract import empty
from toolkit.frames.exchange import smtp_addresses
from toolkit.frames.spec import FrameError

log = logging.getLogger(__name__)


# --- users ----------------------------------------------------------------------------------------------------------
def users_from_graph(items: Iterable[Mapping[str, Any]], *, dedupe: bool = False) -> pd.DataFrame:
    """Graph ``users`` items as the ``users`` frame."""
    kind = "users"
    listed = build.as_items(kind, items)
    build.require(kind, listed, "id")
    columns: build.Columns = {
        "user_id": build.field(listed, "id"),
        "upn": build.field(listed, "userPrincipalName"),
        "display_name": build.field(listed, "displayName"),
        "mail": build.field(listed, "mail"),
        "proxy_addresses": [build.joined(smtp_addresses(item.get("proxyAddresses"))) or None for item in listed],
        "account_enabled": build.checked_bools(kind, listed, "accountEnabled"),
        "user_type": build.field(listed, "userType"),
        "department": build.field(listed, "department"),
        "job_title": build.field(listed, "jobTitle"),
        "usage_location": build.field(listed, "usageLocation"),
        "created": build.timestamps_of(kind, listed, "createdDateTime"),
        "last_password_change": build.timestamps_of(kind, listed, "lastPasswordChangeDateTime"),
        "sessions_valid_from": build.timestamps_of(kind, listed, "signInSessionsValidFromDateTime"),
    }
    return build.frame(kind, columns, rows=len(listed), dedupe=dedupe)


# --- sign-ins -------------------------------------------------------------------------------------------------------
#: clientAppUsed values that are legacy-authentication clients (Entra's "Other clients" category and the protocols
#: Conditional Access lists as legacy); compared lowercase. "Browser" and "Mobile Apps and Desktop clients" are
#: modern authentication.
LEGACY_CLIENT_APPS = frozenset(s.lower() for s in (
    "IMAP", "IMAP4", "POP", "POP3", "SMTP", "Authenticated SMTP", "Exchange ActiveSync", "Other clients",
    "MAPI over HTTP", "MAPI", "Exchange Web Services", "Exchange Online PowerShell", "Outlook Anywhere (RPC over HTTP)",
    "AutoDiscover", "Offline Address Book", "Reporting Web Services", "Universal Outlook", "Outlook Service",
))

_S = pa.string()
_SIGNIN = pa.struct([
    ("id", _S), ("createdDateTime", _S), ("userId", _S), ("userPrincipalName", _S), ("appId", _S),
    ("appDisplayName", _S), ("clientAppUsed", _S), ("ipAddress", _S),
    ("location", pa.struct([("city", _S), ("state", _S), ("countryOrRegion", _S),
                            ("geoCoordinates", pa.struct([("latitude", pa.float64()), ("longitude", pa.float64())]))])),
    ("status", pa.struct([("errorCode", pa.int64()), ("failureReason", _S)])),
    ("isInteractive", pa.bool_()),
    ("riskLevelDuringSignIn", _S), ("riskLevelAggregated", _S), ("riskState", _S), ("riskDetail", _S),
    ("riskEventTypes", pa.list_(_S)), ("riskEventTypes_v2", pa.list_(_S)),
    ("conditionalAccessStatus", _S),
    ("deviceDetail", pa.struct([("browser", _S), ("operatingSystem", _S), ("deviceId", _S)])),
    ("correlationId", _S), ("resourceDisplayName", _S), ("userAgent", _S), ("authenticationRequirement", _S),
])


def _legacy(client_app: pa.Array) -> pd.api.extensions.ExtensionArray:
    """legacy_protocol per row, decided once per distinct clientAppUsed value."""
    codes, dictionary = build.encode(client_app)
    names = dictionary.to_pylist()
    values = np.array([v is not None and v.lower() in LEGACY_CLIENT_APPS for v in names] + [False], dtype=bool)
    missing = np.array([v is None for v in names] + [True], dtype=bool)
    return pd.arrays.BooleanArray(values[codes], missing[codes])


def signins_from_graph(items: Iterable[Mapping[str, Any]], *, dedupe: bool = False) -> pd.DataFrame:
    """Graph ``auditLogs/signIns`` items as the ``signins`` frame (nested objects flattened)."""
    kind = "signins"
    listed = build.listed(kind, items)
    if not listed:
        return empty(kind)
    arr = build.struct_array(kind, listed, _SIGNIN)
    for name in ("id", "createdDateTime"):
        build.first_null(kind, listed, arr.field(name), name)
    v2, v1 = arr.field("riskEventTypes_v2"), arr.field("riskEventTypes")
    risk_types = pc.binary_join(pc.if_else(pc.is_null(v2), v1, v2), ",")
    error_code = build.sub(arr, "status", "errorCode")
    columns: build.Columns = {
        "time": build.timestamps(kind, arr.field("createdDateTime"), "createdDateTime"),
        "signin_id": arr.field("id"),
        "user_id": arr.field("userId"),
        "upn": arr.field("userPrincipalName"),
        "app_id": arr.field("appId"),
        "app": arr.field("appDisplayName"),
        "client_app": arr.field("clientAppUsed"),
        "ip": build.string(arr.field("ipAddress"), lower=True),
        "country": build.sub(arr, "location", "countryOrRegion"),
        "city": build.sub(arr, "location", "city"),
        "state": build.sub(arr, "location", "state"),
        "latitude": build.floats(build.sub(arr, "location", "geoCoordinates", "latitude")),
        "longitude": build.floats(build.sub(arr, "location", "geoCoordinates", "longitude")),
        "error_code": build.ints(error_code),
        "failure_reason": build.sub(arr, "status", "failureReason"),
        "success": build.bools(pc.equal(error_code, 0)),
        "interactive": build.bools(arr.field("isInteractive")),
        "risk_level_during": arr.field("riskLevelDuringSignIn"),
        "risk_level_aggregated": arr.field("riskLevelAggregated"),
        "risk_state": arr.field("riskState"),
        "risk_detail": arr.field("riskDetail"),
        "risk_event_types": build.string(risk_types, blank=False),
        "conditional_access": arr.field("conditionalAccessStatus"),
        "browser": build.sub(arr, "deviceDetail", "browser"),
        "os": build.sub(arr, "deviceDetail", "operatingSystem"),
        "device_id": build.sub(arr, "deviceDetail", "deviceId"),
        "correlation_id": arr.field("correlationId"),
        "resource": arr.field("resourceDisplayName"),
        "user_agent": arr.field("userAgent"),
        "authentication_requirement": arr.field("authenticationRequirement"),
        "legacy_protocol": _legacy(arr.field("clientAppUsed")),
    }
    return build.frame(kind, columns, rows=len(listed), dedupe=dedupe)


# --- Identity Protection ----------------------------------------------------------------------------------------------
def risky_users_from_graph(items: Iterable[Mapping[str, Any]], *, dedupe: bool = False) -> pd.DataFrame:
    """Graph ``identityProtection/riskyUsers`` items as the ``risky_users`` frame."""
    kind = "risky_users"
    listed = build.as_items(kind, items)
    build.require(kind, listed, "id")
    columns: build.Columns = {
        "user_id": build.field(listed, "id"),
        "upn": build.field(listed, "userPrincipalName"),
        "display_name": build.field(listed, "userDisplayName"),
        "risk_level": build.field(listed, "riskLevel"),
        "risk_state": build.field(listed, "riskState"),
        "risk_detail": build.field(listed, "riskDetail"),
        "risk_last_updated": build.timestamps_of(kind, listed, "riskLastUpdatedDateTime"),
        "is_deleted": build.checked_bools(kind, listed, "isDeleted"),
        "is_processing": build.checked_bools(kind, listed, "isProcessing"),
    }
    return build.frame(kind, columns, rows=len(listed), dedupe=dedupe)


def _float(value: Any) -> float | None:
    return build.float_or_none(value)


def risk_detections_from_graph(items: Iterable[Mapping[str, Any]], *, dedupe: bool = False) -> pd.DataFrame:
    """Graph ``identityProtection/riskDetections`` items as the ``risk_detections`` frame."""
    kind = "risk_detections"
    listed = build.as_items(kind, items)
    build.require(kind, listed, "id")
    columns: build.Columns = {
        "detection_id": build.field(listed, "id"),
        "user_id": build.field(listed, "userId"),
        "upn": build.field(listed, "userPrincipalName"),
        "risk_event_type": build.field(listed, "riskEventType"),
        "risk_state": build.field(listed, "riskState"),
        "risk_level": build.field(listed, "riskLevel"),
        "risk_detail": build.field(listed, "riskDetail"),
        "source": build.field(listed, "source"),
        "detection_timing": build.field(listed, "detectionTimingType"),
        "activity": build.field(listed, "activity"),
        "token_issuer_type": build.field(listed, "tokenIssuerType"),
        "ip": [build.text_or_none(i.get("ipAddress")) and str(i["ipAddress"]).lower() for i in listed],
        "country": [build.dig(i, "location", "countryOrRegion") for i in listed],
        "city": [build.dig(i, "location", "city") for i in listed],
        "state": [build.dig(i, "location", "state") for i in listed],
        "latitude": [_float(build.dig(i, "location", "geoCoordinates", "latitude")) for i in listed],
        "longitude": [_float(build.dig(i, "location", "geoCoordinates", "longitude")) for i in listed],
        "activity_time": build.timestamps_of(kind, listed, "activityDateTime"),
        "detected_time": build.timestamps_of(kind, listed, "detectedDateTime"),
        "last_updated": build.timestamps_of(kind, listed, "lastUpdatedDateTime"),
        "request_id": build.field(listed, "requestId"),
        "correlation_id": build.field(listed, "correlationId"),
        "additional_info": [_json_text(i.get("additionalInfo")) for i in listed],
    }
    return build.frame(kind, columns, rows=len(listed), dedupe=dedupe)


def _json_text(value: Any) -> str | None:
    """A JSON-string property as text; an already-decoded value re-encoded."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# --- authentication methods ----------------------------------------------------------------------------------------
def method_type(odata_type: Any) -> str | None:
    """``#microsoft.graph.phoneAuthenticationMethod`` -> ``phone``."""
    if not isinstance(odata_type, str) or not odata_type.strip():
        return None
    short = odata_type.strip().rsplit(".", 1)[-1]
    return short.removesuffix("AuthenticationMethod") or short


def _method_detail(item: Mapping[str, Any]) -> str | None:
    parts: list[str] = []
    if item.get("phoneNumber"):
        phone = str(item["phoneNumber"])
        parts.append(f"{phone} ({item['phoneType']})" if item.get("phoneType") else phone)
    for key in ("emailAddress", "model", "deviceTag", "keyStrength"):
        if item.get(key):
            parts.append(str(item[key]))
    if item.get("phoneAppVersion"):
        parts.append(f"app {item['phoneAppVersion']}")
    if item.get("lifetimeInMinutes") is not None:
        parts.append(f"lifetime {item['lifetimeInMinutes']} min")
    return ", ".join(parts) or None


def auth_methods_from_graph(items: Iterable[Mapping[str, Any]], *, user_id: str | Sequence[str],
                            upn: str | Sequence[str | None] | None = None, dedupe: bool = False) -> pd.DataFrame:
    """Graph ``users/{id}/authentication/methods`` items as the ``auth_methods`` frame.

    The items do not say whose they are: pass ``user_id`` (and ``upn`` when known), one for all or one per item.
    """
    kind = "auth_methods"
    listed = build.as_items(kind, items)
    owners = build.aligned(kind, "user_id", user_id, len(listed))
    for n, owner in enumerate(owners):
        if not owner or not owner.strip():
            raise FrameError(f"{kind}: pass user_id= (the user whose methods these are); item {n} has none and "
                             "the items do not carry it")
    build.require(kind, listed, "id")
    columns: build.Columns = {
        "user_id": [o.strip() for o in owners if o],
        "upn": build.aligned(kind, "upn", upn, len(listed)),
        "method_id": build.field(listed, "id"),
        "method_type": [method_type(i.get("@odata.type")) for i in listed],
        "display_name": build.field(listed, "displayName"),
        "detail": [_method_detail(i) for i in listed],
        "created": build.timestamps_of(kind, listed, "createdDateTime"),
    }
    return build.frame(kind, columns, rows=len(listed), dedupe=dedupe)


# --- OAuth grants ---------------------------------------------------------------------------------------------------
#: Delegated scopes that let an app send mail as the user, change mailbox rules and settings, or keep access
#: (compared case-insensitively).
RISKY_SCOPES = frozenset(s.lower() for s in (
    "Mail.Send", "Mail.Send.Shared", "Mail.ReadWrite", "Mail.ReadWrite.Shared", "MailboxSettings.ReadWrite",
    "offline_access", "SMTP.Send", "EWS.AccessAsUser.All", "full_access_as_user", "IMAP.AccessAsUser.All",
    "POP.AccessAsUser.All", "EAS.AccessAsUser.All", "Exchange.Manage",
))


def grants_from_graph(items: Iterable[Mapping[str, Any]], *,
                      service_principals: Iterable[Mapping[str, Any]] | None = None,
                      dedupe: bool = False) -> pd.DataFrame:
    """Graph ``oauth2PermissionGrants`` items as the ``grants`` frame.

    ``service_principals`` (Graph ``servicePrincipals`` items) name the client and resource apps; without them
    those columns are empty.
    """
    kind = "grants"
    listed = build.as_items(kind, items)
    build.require(kind, listed, "id", "clientId")
    principals: dict[str, Mapping[str, Any]] = {}
    for n, sp in enumerate(build.as_items(kind, service_principals or [], "service principal")):
        if sp.get("id"):
            principals[str(sp["id"]).lower()] = sp
        else:
            log.warning("grants: service principal %d has no id; ignored", n)

    def sp_of(sp_id: Any) -> Mapping[str, Any]:
        return principals.get(str(sp_id).lower(), {}) if sp_id else {}

    def row(n: int, item: Mapping[str, Any]) -> dict[str, Any]:
        scope = build.text_or_none(item.get("scope"))
        scopes = scope.split() if scope else []
        client, resource = sp_of(item.get("clientId")), sp_of(item.get("resourceId"))
        return {
            "grant_id": item["id"], "principal_id": build.text_or_none(item.get("principalId")),
            "client_id": item["clientId"], "client_app_id": client.get("appId"),
            "client_name": client.get("displayName"), "client_publisher": client.get("publisherName"),
            "consent_type": item.get("consentType"), "resource_id": item.get("resourceId"),
            "resource_name": resource.get("displayName"), "scopes": " ".join(scopes) if scope is not None else None,
            "risky_scopes": " ".join(s for s in scopes if s.lower() in RISKY_SCOPES),
        }

    names = ("grant_id", "principal_id", "client_id", "client_app_id", "client_name", "client_publisher",
             "consent_type", "resource_id", "resource_name", "scopes", "risky_scopes")
    columns = build.per_item(kind, listed, row, names)
    columns["risky_scopes"] = build.string(pa.array(columns["risky_scopes"], pa.string()), blank=False)
    columns["client_created"] = build.timestamps(
        kind, [sp_of(i.get("clientId")).get("createdDateTime") for i in listed], "createdDateTime",
        "service principal of item")
    return build.frame(kind, columns, rows=len(listed), dedupe=dedupe)


# --- alerts ---------------------------------------------------------------------------------------------------------
def _evidence_users(evidence: Any) -> list[str]:
    found: list[str] = []
    for ev in evidence if isinstance(evidence, list) else []:
        if not isinstance(ev, Mapping):
            continue
        for path in (("userAccount", "userPrincipalName"), ("primaryAddress",), ("userAccount", "accountName")):
            value = build.dig(ev, *path)
            if isinstance(value, str) and "@" in value:
                found.append(value.strip().lower())
    return found


def alerts_from_graph(items: Iterable[Mapping[str, Any]], *, dedupe: bool = False) -> pd.DataFrame:
    """Graph ``security/alerts_v2`` items as the ``alerts`` frame (users taken from the evidence)."""
    kind = "alerts"
    listed = build.as_items(kind, items)
    build.require(kind, listed, "id")
    columns: build.Columns = {
        "alert_id": build.field(listed, "id"),
        "incident_id": [build.text_or_none(i.get("incidentId")) for i in listed],
        "created": build.timestamps_of(kind, listed, "createdDateTime"),
        "last_updated": build.timestamps_of(kind, listed, "lastUpdateDateTime"),
        "first_activity": build.timestamps_of(kind, listed, "firstActivityDateTime"),
        "last_activity": build.timestamps_of(kind, listed, "lastActivityDateTime"),
        "title": build.field(listed, "title"),
        "severity": build.field(listed, "severity"),
        "status": build.field(listed, "status"),
        "classification": build.field(listed, "classification"),
        "determination": build.field(listed, "determination"),
        "service_source": build.field(listed, "serviceSource"),
        "detector_id": [build.text_or_none(i.get("detectorId")) for i in listed],
        "category": build.field(listed, "category"),
        "users": [build.joined(_evidence_users(i.get("evidence"))) or None for i in listed],
        "description": build.field(listed, "description"),
        "url": build.field(listed, "alertWebUrl"),
    }
    return build.frame(kind, columns, rows=len(listed), dedupe=dedupe)

