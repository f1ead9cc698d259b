"""Before any pull: what this credential can see, and which evidence will be missing and why.

Two steps. The permissions in the access tokens are read (they are JWTs the client holds anyway) and matched against
what each evidence source needs; then one cheap probe per gated source finds what the token cannot show: a missing
licence (sign-ins need Entra ID P1, risk data P2), the message-trace service principal, an Exchange role.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from toolkit.connection import Connection
from toolkit.errors import ApiError, AuthenticationError, LicenceRequired, PermissionDenied, Unauthorized
from toolkit.transport import FAIL_FAST

log = logging.getLogger(__name__)

Status = Literal["available", "unavailable", "limited"]

#: Evidence kind -> (service, permissions of which any one suffices, what to grant)
NEEDS: dict[str, tuple[str, frozenset[str], str]] = {
    "users": ("graph", frozenset({"User.Read.All", "User.ReadWrite.All", "Directory.Read.All",
                                  "Directory.ReadWrite.All", "User.ReadBasic.All"}), "User.Read.All"),
    "signins": ("graph", frozenset({"AuditLog.Read.All", "Directory.Read.All"}), "AuditLog.Read.All"),
    "risky_users": ("graph", frozenset({"IdentityRiskyUser.Read.All", "IdentityRiskyUser.ReadWrite.All"}),
                    "IdentityRiskyUser.Read.All"),
    "risk_detections": ("graph", frozenset({"IdentityRiskEvent.Read.All", "IdentityRiskEvent.ReadWrite.All"}),
                        "IdentityRiskEvent.Read.All"),
    "rules": ("graph", frozenset({"MailboxSettings.Read", "MailboxSettings.ReadWrite"}), "MailboxSettings.Read"),
    "auth_methods": ("graph", frozenset({"UserAuthenticationMethod.Read.All",
                                         "UserAuthenticationMethod.ReadWrite.All"}),
                     "UserAuthenticationMethod.Read.All"),
    "grants": ("graph", frozenset({"Directory.Read.All", "Directory.ReadWrite.All",
                                   "DelegatedPermissionGrant.ReadWrite.All", "DelegatedPermissionGrant.Read.All"}),
               "DelegatedPermissionGrant.Read.All"),
    "alerts": ("graph", frozenset({"SecurityAlert.Read.All", "SecurityAlert.ReadWrite.All"}),
               "SecurityAlert.Read.All"),
    "trace": ("graph", frozenset({"ExchangeMessageTrace.Read.All"}), "ExchangeMessageTrace.Read.All"),
    "restricted": ("exchange", frozenset({"Exchange.ManageAsApp", "Exchange.Manage"}), "Exchange.ManageAsApp"),
    "policy": ("exchange", frozenset({"Exchange.ManageAsApp", "Exchange.Manage"}), "Exchange.ManageAsApp"),
    "mailbox": ("exchange", frozenset({"Exchange.ManageAsApp", "Exchange.Manage"}), "Exchange.ManageAsApp"),
    "audit": ("exchange", frozenset({"Exchange.ManageAsApp", "Exchange.Manage"}), "Exchange.ManageAsApp"),
}


@dataclass(frozen=True)
class Check:
    kind: str
    status: Status
    reason: str  # "" when available; else "licence", "permission", "prerequisite", "role", "auth", "error"
    detail: str
    fix: str = ""

    @property
    def available(self) -> bool:
        return self.status != "unavailable"


@dataclass(frozen=True)
class Preflight:
    checks: tuple[Check, ...]
    identity: str
    simulated: bool

    def check(self, kind: str) -> Check:
        return next(c for c in self.checks if c.kind == kind)

    def unavailable(self) -> list[Check]:
        return [c for c in self.checks if c.status == "unavailable"]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([c.__dict__ for c in self.checks], columns=["kind", "status", "reason", "detail", "fix"])

    def _repr_html_(self) -> str:
        from html import escape

        colours = {"available": "#2e7d32", "limited": "#b26a00", "unavailable": "#c62828"}
        rows = "".join(
            f"<tr><td>{escape(c.kind)}</td><td style='color:{colours[c.status]};font-weight:600'>{c.status}</td>"
            f"<td>{escape(c.detail)}</td><td>{escape(c.fix)}</td></tr>" for c in self.checks)
        banner = "<p><b>SIMULATED tenant</b>: the built-in sandbox, not real data.</p>" if self.simulated else ""
        return (f"{banner}<p>Preflight for {escape(self.identity)}</p><table><thead><tr><th>evidence</th>"
                f"<th>status</th><th>why</th><th>fix</th></tr></thead><tbody>{rows}</tbody></table>")

    def summary(self) -> str:
        lines = [f"Preflight for {self.identity}{' (SIMULATED tenant)' if self.simulated else ''}:"]
        for check in self.checks:
            mark = {"available": "ok", "limited": "limited", "unavailable": "MISSING"}[check.status]
            extra = f" - {check.detail}" if check.detail else ""
            fix = f" Fix: {check.fix}" if check.fix else ""
            lines.append(f"  {check.kind:<16} {mark}{extra}{fix}")
        return "\n".join(lines)


def token_permissions(token: str) -> frozenset[str]:
    """The app roles (app-only) or scopes (delegated) a JWT access token carries."""
    try:
        payload = token.split(".")[1]
        data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return frozenset()
    roles = set(data.get("roles") or [])
    roles.update(str(data.get("scp") or "").split())
    return frozenset(roles)


def _probe(conn: Connection, kind: str, call: Any) -> Check | None:
    """Run one cheap call without retries; a Check when it shows the source is unavailable or limited."""
    transport = conn.transport
    try:
        with transport.retrying(FAIL_FAST):
            call()
    except LicenceRequired as exc:
        return Check(kind, "unavailable", "licence", exc.detail, _licence_fix(kind))
    except PermissionDenied as exc:
        return Check(kind, "unavailable", "role", exc.detail,
                     "give the app a directory role that covers this (e.g. Security Reader or Global Reader)")
    except Unauthorized as exc:
        if "service principal" in exc.detail.lower():
            return Check(kind, "unavailable", "prerequisite", exc.detail,
                         "create the service principal: New-MgServicePrincipal -AppId "
                         "8bd644d1-64a1-4d4b-ae52-2e0cbf64e373 (provisioning can take hours); until then the "
                         "Exchange Get-MessageTraceV2 fallback is used")
        return Check(kind, "unavailable", "auth", exc.detail)
    except ApiError as exc:
        return Check(kind, "unavailable", "error", str(exc))
    return None


def _licence_fix(kind: str) -> str:
    if kind == "signins":
        return "sign-in logs through Graph need Microsoft Entra ID P1 or P2"
    return "risk data needs Microsoft Entra ID P2"


def run_preflight(conn: Connection) -> Preflight:
    """Every evidence kind, available or not, with the reason and the fix."""
    permissions: dict[str, frozenset[str]] = {}
    auth_errors: dict[str, str] = {}
    for service in ("graph", "exchange"):
        try:
            permissions[service] = token_permissions(conn.tokens.token(service))
        except AuthenticationError as exc:
            auth_errors[service] = str(exc)
            permissions[service] = frozenset()
    checks: dict[str, Check] = {}
    for kind, (service, accepted, grant) in NEEDS.items():
        if service in auth_errors:
            checks[kind] = Check(kind, "unavailable", "auth", auth_errors[service])
        elif not permissions[service] & accepted:
            checks[kind] = Check(kind, "unavailable", "permission", f"the token has none of {sorted(accepted)}",
                                 f"grant {grant} ({service}) and consent")
        else:
            checks[kind] = Check(kind, "available", "", "")
    graph = conn.transport
    probes: list[tuple[str, Any]] = [
        ("signins", lambda: graph.graph_get("auditLogs/signIns", source="preflight signIns", params={"$top": "1"})),
        ("risky_users", lambda: graph.graph_get("identityProtection/riskyUsers", source="preflight riskyUsers",
                                                params={"$top": "1"})),
        ("trace", lambda: graph.graph_get("admin/exchange/tracing/messageTraces", source="preflight messageTraces",
                                          params={"$top": "1"})),
        ("restricted", lambda: graph.invoke("Get-BlockedSenderAddress", source="preflight Get-BlockedSenderAddress")),
    ]
    for kind, call in probes:
        if checks[kind].status != "available":
            continue
        found = _probe(conn, kind, call)
        if found is not None:
            checks[kind] = found
    # Risk detections are served with limited detail without P2, as sign-ins without P2 read risk as 'hidden'.
    if checks["risky_users"].reason == "licence" and checks["risk_detections"].status == "available":
        checks["risk_detections"] = Check("risk_detections", "limited", "licence",
                                          "without Entra ID P2 detections come with limited detail", _licence_fix(""))
    if checks["trace"].reason == "prerequisite" and checks["restricted"].status == "available":
        checks["trace"] = Check("trace", "limited", "prerequisite", checks["trace"].detail +
                                " - the Exchange Get-MessageTraceV2 fallback will answer", checks["trace"].fix)
    if not conn.settings.cloud.graph_message_trace and not conn.settings.simulated:
        checks["trace"] = Check("trace", "limited", "", "Graph message trace is global-only; Get-MessageTraceV2 "
                                "answers in this cloud")
    identity = conn.tokens.identity()
    return Preflight(tuple(checks[k] for k in NEEDS), f"{identity.kind} {identity.name}", conn.simulated)
