"""The tenant snapshot: a folder of JSON Lines files in the real response shapes (see docs/sandbox-snapshot.md).

Loading validates every line and refuses a bad snapshot with the file, the line and the reason, so a typo in a
hand-written tenant never turns into a confusing HTTP error later.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from toolkit.sandbox.odata import parse_datetime

log = logging.getLogger(__name__)

#: Key that any line may carry with simulation-only attributes; never served.
SANDBOX_KEY = "_sandbox"


class SnapshotError(ValueError):
    """A snapshot file that cannot be served, with where and why."""

    def __init__(self, file: str, line: int | None, reason: str):
        self.file, self.line, self.reason = file, line, reason
        where = f"{file}, line {line}" if line is not None else file
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True)
class FileSchema:
    """What each line of one snapshot file must hold."""

    required: dict[str, type | tuple[type, ...]]
    optional: dict[str, type | tuple[type, ...]] = field(default_factory=dict)
    datetimes: tuple[str, ...] = ()
    key: tuple[str, ...] = ()  # fields that identify a line; duplicates are refused


_STR = str
_OPT_STR = (str, type(None))
_INT = int
_BOOL = bool
_LIST = list
_DICT = dict

#: The collections, by file name without ".jsonl". Fields not named here pass through untouched.
SCHEMAS: dict[str, FileSchema] = {
    "users": FileSchema(
        required={"id": _STR, "userPrincipalName": _STR},
        optional={"mail": _OPT_STR, "proxyAddresses": _LIST, "accountEnabled": _BOOL, "displayName": _OPT_STR},
        datetimes=("lastPasswordChangeDateTime", "signInSessionsValidFromDateTime", "createdDateTime"),
        key=("id",),
    ),
    "mailboxes": FileSchema(
        required={"UserPrincipalName": _STR, "PrimarySmtpAddress": _STR},
        optional={
            "EmailAddresses": _LIST,
            "ForwardingSmtpAddress": _OPT_STR,
            "ForwardingAddress": _OPT_STR,
            "DeliverToMailboxAndForward": _BOOL,
            "ExternalDirectoryObjectId": _OPT_STR,
        },
        key=("PrimarySmtpAddress",),
    ),
    "blocked_senders": FileSchema(
        required={"SenderAddress": _STR, "Reason": _STR, "CreatedDatetime": _STR},
        optional={"TemporaryBlock": _BOOL, "ChangedDatetime": _OPT_STR},
        datetimes=("CreatedDatetime", "ChangedDatetime"),
        key=("SenderAddress",),
    ),
    "outbound_policies": FileSchema(
        required={"Name": _STR},
        optional={
            "IsDefault": _BOOL,
            "RecipientLimitExternalPerHour": _INT,
            "RecipientLimitInternalPerHour": _INT,
            "RecipientLimitPerDay": _INT,
            "ActionWhenThresholdReached": _STR,
        },
        key=("Name",),
    ),
    "outbound_rules": FileSchema(
        required={"Name": _STR, "HostedOutboundSpamFilterPolicy": _STR},
        optional={"Priority": _INT, "State": _STR, "From": _LIST, "FromMemberOf": _LIST, "SenderDomainIs": _LIST},
        key=("Name",),
    ),
    "message_traces": FileSchema(
        required={"id": _STR, "senderAddress": _STR, "recipientAddress": _STR, "receivedDateTime": _STR,
                  "status": _STR},
        optional={"size": _INT, "subject": _OPT_STR, "messageId": _OPT_STR, "fromIP": _OPT_STR, "toIP": _OPT_STR},
        datetimes=("receivedDateTime",),
        key=("id", "recipientAddress"),
    ),
    "message_trace_details": FileSchema(
        required={"id": _STR, "recipientAddress": _STR, "dateTime": _STR, "event": _STR},
        optional={"action": _OPT_STR, "description": _OPT_STR, "data": _OPT_STR, "messageId": _OPT_STR},
        datetimes=("dateTime",),
    ),
    "sign_ins": FileSchema(
        required={"id": _STR, "createdDateTime": _STR, "userPrincipalName": _STR},
        optional={"userId": _OPT_STR, "ipAddress": _OPT_STR, "status": _DICT, "location": _DICT},
        datetimes=("createdDateTime",),
        key=("id",),
    ),
    "risky_users": FileSchema(
        required={"id": _STR, "userPrincipalName": _STR},
        optional={"riskLevel": _STR, "riskState": _STR},
        datetimes=("riskLastUpdatedDateTime",),
        key=("id",),
    ),
    "risk_detections": FileSchema(
        required={"id": _STR, "userId": _STR, "riskEventType": _STR},
        datetimes=("activityDateTime", "detectedDateTime", "lastUpdatedDateTime"),
        key=("id",),
    ),
    "message_rules": FileSchema(
        required={"id": _STR, "mailbox": _STR, "displayName": _STR},
        optional={"sequence": _INT, "isEnabled": _BOOL, "conditions": _DICT, "actions": _DICT,
                  "exceptions": _DICT},
        key=("mailbox", "id"),
    ),
    "auth_methods": FileSchema(
        required={"id": _STR, "user": _STR, "@odata.type": _STR},
        datetimes=("createdDateTime",),
        key=("user", "id"),
    ),
    "oauth_grants": FileSchema(
        required={"id": _STR, "clientId": _STR, "consentType": _STR, "resourceId": _STR, "scope": _STR},
        optional={"principalId": _OPT_STR},
        key=("id",),
    ),
    "service_principals": FileSchema(
        required={"id": _STR, "appId": _STR},
        optional={"displayName": _OPT_STR},
        key=("id",),
    ),
    "alerts": FileSchema(
        required={"id": _STR, "title": _STR, "createdDateTime": _STR},
        optional={"severity": _STR, "status": _STR, "serviceSource": _STR, "evidence": _LIST},
        datetimes=("createdDateTime", "lastUpdateDateTime"),
        key=("id",),
    ),
    "audit": FileSchema(
        required={"Id": _STR, "CreationTime": _STR, "Operation": _STR, "UserId": _STR, "RecordType": _INT},
        datetimes=("CreationTime",),
        key=("Id",),
    ),
}

#: Keys that relate a line to its owner in the snapshot but are not part of the served object.
LINK_KEYS: dict[str, tuple[str, ...]] = {
    "message_rules": ("mailbox",),
    "auth_methods": ("user",),
    "message_trace_details": ("recipientAddress",),
}


@dataclass(frozen=True)
class Licences:
    """Licences that gate evidence: sign-ins need Entra ID P1; full risk data needs P2."""

    entra_id_p1: bool = True
    entra_id_p2: bool = True


@dataclass(frozen=True)
class Behaviour:
    """How the simulated services react, where the real numbers are undocumented or too slow for tests."""

    unblock_delay_seconds: float = 60.0  # the real one is "usually within an hour"
    max_unblocks_per_sender: int = 3  # the real limit is undisclosed
    token_lifetime_seconds: int = 3599


@dataclass(frozen=True)
class TenantInfo:
    tenant_id: str
    display_name: str
    default_domain: str
    domains: tuple[str, ...]
    now: datetime
    licences: Licences
    behaviour: Behaviour


@dataclass(frozen=True)
class Secret:
    value: str | None
    sha256: str | None


@dataclass(frozen=True)
class AppRegistration:
    client_id: str
    display_name: str
    public_client: bool
    secrets: tuple[Secret, ...]
    certificates_pem: tuple[str, ...]
    #: resource (e.g. "https://graph.microsoft.com") -> application permissions (app roles) granted
    application_permissions: dict[str, frozenset[str]]
    #: resource -> delegated permissions (scopes) consented
    delegated_permissions: dict[str, frozenset[str]]
    directory_roles: frozenset[str]


@dataclass
class Snapshot:
    """Everything the sandbox serves, loaded and validated."""

    root: Path
    tenant: TenantInfo
    apps: list[AppRegistration]
    collections: dict[str, list[dict[str, Any]]]

    def collection(self, name: str) -> list[dict[str, Any]]:
        return self.collections[name]


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant as tz-aware UTC; up to 7 fractional digits as Microsoft writes them."""
    return parse_datetime(text)


def _check_type(file: str, line: int, key: str, value: Any, expected: type | tuple[type, ...]) -> None:
    if expected is _INT and isinstance(value, bool):
        raise SnapshotError(file, line, f"'{key}' must be an integer, got {value!r}")
    if not isinstance(value, expected):
        names = (
            " or ".join("null" if t is type(None) else t.__name__ for t in expected)
            if isinstance(expected, tuple)
            else expected.__name__
        )
        raise SnapshotError(file, line, f"'{key}' must be {names}, got {type(value).__name__} {value!r}")


def _load_collection(path: Path, schema: FileSchema) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                raise SnapshotError(path.name, number, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
            if not isinstance(row, dict):
                raise SnapshotError(path.name, number, f"expected a JSON object, got {type(row).__name__}")
            for key, expected in schema.required.items():
                if key not in row or row[key] is None:
                    raise SnapshotError(path.name, number, f"missing required field '{key}'")
                _check_type(path.name, number, key, row[key], expected)
            for key, expected in schema.optional.items():
                if key in row:
                    _check_type(path.name, number, key, row[key], expected)
            for key in schema.datetimes:
                value = row.get(key)
                if value is None:
                    continue
                if not isinstance(value, str):
                    raise SnapshotError(path.name, number, f"'{key}' must be an ISO 8601 string, got {value!r}")
                try:
                    parse_instant(value)
                except ValueError:
                    raise SnapshotError(path.name, number, f"'{key}' is not an ISO 8601 date-time: {value!r}") from None
            extra = row.get(SANDBOX_KEY)
            if extra is not None and not isinstance(extra, dict):
                raise SnapshotError(path.name, number, f"'{SANDBOX_KEY}' must be an object")
            if schema.key:
                ident = tuple(str(row[k]).lower() for k in schema.key)
                if ident in seen:
                    joined = ", ".join(f"{k}={row[k]!r}" for k in schema.key)
                    raise SnapshotError(path.name, number, f"duplicate line for {joined}")
                seen.add(ident)
            rows.append(row)
    return rows


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SnapshotError(path.name, exc.lineno, f"not valid JSON ({exc.msg})") from None


def _load_tenant(path: Path) -> TenantInfo:
    if not path.exists():
        raise SnapshotError("tenant.json", None, f"missing; a snapshot folder needs one ({path})")
    data = _read_json(path)
    if not isinstance(data, dict):
        raise SnapshotError("tenant.json", None, "expected a JSON object")
    for key in ("tenantId", "defaultDomain", "now"):
        if not isinstance(data.get(key), str):
            raise SnapshotError("tenant.json", None, f"missing required string '{key}'")
    try:
        now = parse_instant(data["now"])
    except ValueError:
        raise SnapshotError("tenant.json", None, f"'now' is not an ISO 8601 date-time: {data['now']!r}") from None
    lic = data.get("licences", {})
    beh = data.get("behaviour", {})
    if not isinstance(lic, dict) or not isinstance(beh, dict):
        raise SnapshotError("tenant.json", None, "'licences' and 'behaviour' must be objects")
    domains = data.get("domains", [data["defaultDomain"]])
    if not isinstance(domains, list) or not all(isinstance(d, str) for d in domains):
        raise SnapshotError("tenant.json", None, "'domains' must be a list of strings")
    try:
        behaviour = Behaviour(
            unblock_delay_seconds=float(beh.get("unblockDelaySeconds", Behaviour.unblock_delay_seconds)),
            max_unblocks_per_sender=int(beh.get("maxUnblocksPerSender", Behaviour.max_unblocks_per_sender)),
            token_lifetime_seconds=int(beh.get("tokenLifetimeSeconds", Behaviour.token_lifetime_seconds)),
        )
    except (TypeError, ValueError) as exc:
        raise SnapshotError("tenant.json", None, f"'behaviour' holds a non-number: {exc}") from None
    return TenantInfo(
        tenant_id=data["tenantId"].lower(),
        display_name=str(data.get("displayName", data["defaultDomain"])),
        default_domain=data["defaultDomain"].lower(),
        domains=tuple(d.lower() for d in domains),
        now=now,
        licences=Licences(
            entra_id_p1=bool(lic.get("entraIdP1", True)),
            entra_id_p2=bool(lic.get("entraIdP2", True)),
        ),
        behaviour=behaviour,
    )


def _perm_map(raw: Any, where: str) -> dict[str, frozenset[str]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(p, str) for p in v) for k, v in raw.items()
    ):
        raise SnapshotError("apps.json", None, f"{where} must map a resource URL to a list of permission names")
    return {k.rstrip("/").lower(): frozenset(v) for k, v in raw.items()}


def _load_apps(path: Path) -> list[AppRegistration]:
    if not path.exists():
        return []
    data = _read_json(path)
    if not isinstance(data, list):
        raise SnapshotError("apps.json", None, "expected a JSON list of app registrations")
    apps: list[AppRegistration] = []
    for index, raw in enumerate(data):
        where = f"app #{index + 1}"
        if not isinstance(raw, dict) or not isinstance(raw.get("clientId"), str):
            raise SnapshotError("apps.json", None, f"{where}: needs a string 'clientId'")
        secrets = []
        for secret in raw.get("secrets", []):
            if not isinstance(secret, dict) or not (
                isinstance(secret.get("value"), str) or isinstance(secret.get("sha256"), str)
            ):
                raise SnapshotError("apps.json", None, f"{where}: each secret needs a 'value' or a 'sha256'")
            secrets.append(Secret(value=secret.get("value"), sha256=(secret.get("sha256") or "").lower() or None))
        certs = []
        for cert in raw.get("certificates", []):
            if not isinstance(cert, dict) or not isinstance(cert.get("pem"), str):
                raise SnapshotError("apps.json", None, f"{where}: each certificate needs a 'pem'")
            certs.append(cert["pem"])
        roles = raw.get("directoryRoles", [])
        if not isinstance(roles, list):
            raise SnapshotError("apps.json", None, f"{where}: 'directoryRoles' must be a list")
        apps.append(
            AppRegistration(
                client_id=raw["clientId"].lower(),
                display_name=str(raw.get("displayName", raw["clientId"])),
                public_client=bool(raw.get("publicClient", False)),
                secrets=tuple(secrets),
                certificates_pem=tuple(certs),
                application_permissions=_perm_map(raw.get("applicationPermissions"), f"{where} applicationPermissions"),
                delegated_permissions=_perm_map(raw.get("delegatedPermissions"), f"{where} delegatedPermissions"),
                directory_roles=frozenset(roles),
            )
        )
    return apps


def load_snapshot(root: str | Path) -> Snapshot:
    """Load and validate a snapshot folder. Missing collection files are empty collections."""
    folder = Path(root)
    if not folder.is_dir():
        raise SnapshotError(str(folder), None, "not a folder")
    tenant = _load_tenant(folder / "tenant.json")
    apps = _load_apps(folder / "apps.json")
    collections: dict[str, list[dict[str, Any]]] = {}
    for name, schema in SCHEMAS.items():
        path = folder / f"{name}.jsonl"
        collections[name] = _load_collection(path, schema) if path.exists() else []
    known = {f"{n}.jsonl" for n in SCHEMAS} | {"tenant.json", "apps.json", "truth.json"}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name not in known and path.suffix in {".jsonl", ".json"}:
            log.warning("snapshot file %s is not one the sandbox knows; ignored", path.name)
    # Message traces are kept in time order so a window is found by bisection, not a scan.
    collections["message_traces"].sort(key=lambda r: parse_instant(r["receivedDateTime"]))
    log.info(
        "loaded snapshot %s: %s",
        folder,
        ", ".join(f"{k}={len(v)}" for k, v in collections.items() if v),
    )
    return Snapshot(root=folder, tenant=tenant, apps=apps, collections=collections)


def served(row: dict[str, Any], collection: str) -> dict[str, Any]:
    """The object as the real API returns it: without link keys and simulation-only attributes."""
    drop = {SANDBOX_KEY, *LINK_KEYS.get(collection, ())}
    return {k: v for k, v in row.items() if k not in drop}
