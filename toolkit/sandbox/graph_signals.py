"""Graph v1.0 security signals: sign-in logs, Identity Protection and Defender alerts.

Endpoints (all under ``/v1.0``, audience Microsoft Graph):

- ``GET /auditLogs/signIns`` and ``/auditLogs/signIns/{id}``: the interactive sign-in log, newest first. Needs
  Entra ID P1 (403 ``Authentication_RequestFromNonPremiumTenantOrB2CTenant`` without it); without P2 the risk
  properties read ``hidden``. Only the last 30 days (Entra's retention) are served. Quota: identity and access
  reports, 5 requests per 10 s per app.
- ``GET /identityProtection/riskyUsers`` (+ ``/{id}``), ``POST .../confirmCompromised`` and ``.../dismiss``: needs P2.
- ``GET /identityProtection/riskDetections`` (+ ``/{id}``): needs P1; P1 without P2 sees limited data; 90 days kept.
  Quota for both: Identity Protection, 1 request per second per tenant, 429 without ``Retry-After``.
- ``GET /security/alerts_v2`` (+ ``/{id}``) and ``PATCH /security/alerts_v2/{id}``. Quota: security, 150 per minute
  per app.

Licence and permission behaviour follows m365-apis.md sections 4.3, 5.1, 5.2 and 7; each choice the reference marks
UNVERIFIED is named where it is made. State changes (risk confirmed or dismissed, alert triaged) replace the stored row
with an updated copy under the tenant lock, so a listing already being paged keeps the rows it started with.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from starlette.responses import Response

from toolkit.sandbox.access import GRAPH, Principal, requirement
from toolkit.sandbox.app import Ctx, Route, json_response, route
from toolkit.sandbox.errors import ServiceError
from toolkit.sandbox.graph_listing import Listing, list_response
from toolkit.sandbox.odata import FieldSpec, FilterRules, ODataError, parse_datetime, parse_filter
from toolkit.sandbox.snapshot import Licences, served
from toolkit.sandbox.state import iso

log = logging.getLogger(__name__)

Row = dict[str, Any]
METADATA = "https://graph.microsoft.com/v1.0/$metadata#"
GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

EQ = frozenset({"eq"})
EQ_STARTS = frozenset({"eq", "startswith"})
RANGE = frozenset({"ge", "le", "gt", "lt"})

# --- enumerations (Graph rejects a literal that is not a member) ------------------------------------------------------
RISK_LEVELS = frozenset({"low", "medium", "high", "hidden", "none", "unknownFutureValue"})
RISK_STATES = frozenset({"none", "confirmedSafe", "remediated", "dismissed", "atRisk", "confirmedCompromised",
                         "unknownFutureValue"})
RISK_DETAILS = frozenset({
    "none", "adminGeneratedTemporaryPassword", "userPerformedSecuredPasswordChange",
    "userPerformedSecuredPasswordReset", "adminConfirmedSigninSafe", "aiConfirmedSigninSafe",
    "userPassedMFADrivenByRiskBasedPolicy", "adminDismissedAllRiskForUser", "adminConfirmedSigninCompromised",
    "hidden", "adminConfirmedUserCompromised", "unknownFutureValue", "m365DAdminDismissedDetection",
    "userChangedPasswordOnPremises", "adminDismissedRiskForSignIn", "adminConfirmedAccountSafe",
})
CA_STATUSES = frozenset({"success", "failure", "notApplied", "unknownFutureValue"})
ALERT_STATUSES = frozenset({"new", "inProgress", "resolved", "unknownFutureValue"})
ALERT_SEVERITIES = frozenset({"unknown", "informational", "low", "medium", "high", "unknownFutureValue"})
ALERT_CLASSIFICATIONS = frozenset({"unknown", "falsePositive", "truePositive", "informationalExpectedActivity",
                                   "unknownFutureValue"})
# The v1.0 property table of "Update alert" lists these members; the prose table of the resource page uses older
# names (compromisedAccount, notMalicious, ...). UNVERIFIED which the service accepts today; we follow the property
# table, which matches the metadata the SDKs are generated from.
ALERT_DETERMINATIONS = frozenset({
    "unknown", "apt", "malware", "securityPersonnel", "securityTesting", "unwantedSoftware", "other",
    "multiStagedAttack", "compromisedUser", "phishing", "maliciousUserActivity", "clean", "insufficientData",
    "confirmedUserActivity", "lineOfBusinessApplication", "unknownFutureValue",
})
ALERT_SERVICE_SOURCES = frozenset({
    "unknown", "microsoftDefenderForEndpoint", "microsoftDefenderForIdentity", "microsoftDefenderForCloudApps",
    "microsoftDefenderForOffice365", "microsoft365Defender", "azureAdIdentityProtection", "microsoftAppGovernance",
    "dataLossPrevention", "unknownFutureValue", "microsoftDefenderForCloud",
})

# Risk detections Microsoft calls "nonpremium": tenants without P2 see these types; every other (premium) type reads
# "generic" ("Additional risk detected"). The riskDetection resource page: "If the risk detection is a premium
# detection, will show generic"; the list of nonpremium types is Entra's "What are risk detections?" table.
NONPREMIUM_DETECTIONS = frozenset({
    "generic", "anonymizedIPAddress", "adminConfirmedUserCompromised", "investigationsThreatIntelligence",
    "leakedCredentials",
})
SIGNIN_RISK_FIELDS = ("riskDetail", "riskLevelAggregated", "riskLevelDuringSignIn", "riskState")

# --- licence errors ---------------------------------------------------------------------------------------------------
NON_PREMIUM_SIGNINS = ServiceError(
    403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
    "Neither tenant is B2C or tenant doesn't have premium license",
)


def _ip_not_licensed() -> ServiceError:
    """Identity Protection without the licence it needs.

    The Graph docs only say the APIs need the licence; public captures of the refusal show 403 with code
    ``Forbidden`` and "Your tenant is not licensed for this feature." (code evidence, UNVERIFIED as a documented
    contract).
    """
    return ServiceError(403, "Forbidden", "Your tenant is not licensed for this feature.")


def _licences(ctx: Ctx) -> Licences:
    return ctx.sandbox.snapshot.tenant.licences


# --- small helpers ----------------------------------------------------------------------------------------------------
@lru_cache(maxsize=262_144)
def _instant(text: str) -> datetime:
    return parse_datetime(text)


def _newest_first(rows: Iterable[Row], field: str) -> list[Row]:
    """Rows by ``field`` descending (rows without it last), stable for equal times."""
    dated: list[tuple[datetime, int, Row]] = []
    undated: list[Row] = []
    for index, row in enumerate(rows):
        value = row.get(field)
        if isinstance(value, str) and value:
            dated.append((_instant(value), -index, row))
        else:
            undated.append(row)
    dated.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return [row for _, _, row in dated] + undated


def _no_query_options(ctx: Ctx) -> None:
    """Single-entity GETs here document no OData query options; refuse any rather than ignore it."""
    for key in ctx.query():
        if key.startswith("$"):
            raise ServiceError(400, "BadRequest", f"Query option '{key}' is not supported on this resource.")


def _check_enum_literals(ctx: Ctx, rules: FilterRules, enums: dict[str, frozenset[str]]) -> None:
    """400 for ``field eq 'x'`` when x is not a member of the field's enumeration (Graph's OData layer does that)."""
    text = ctx.query().get("$filter")
    if text is None:
        return
    try:
        parsed = parse_filter(text, rules)
    except ODataError:
        return  # list_response reports the parse error in the endpoint's words
    for comparison in parsed.comparisons():
        members = enums.get(comparison.field)
        if members is None or not isinstance(comparison.value, str):
            continue
        if comparison.value.lower() not in {m.lower() for m in members}:
            raise ServiceError(
                400, "BadRequest",
                f"Invalid filter clause: The string '{comparison.value}' is not a valid enumeration type constant "
                f"for property '{comparison.field}'.",
            )


def _replace(rows: list[Row], index: int, changes: Row) -> Row:
    """Copy-on-write update of one stored row (cursors already open keep the old object)."""
    updated = {**rows[index], **changes}
    rows[index] = updated
    return updated


def _entity(context: str, body: Row) -> Response:
    return json_response({"@odata.context": f"{METADATA}{context}/$entity", **body})


def _find(rows: list[Row], key: str, value: str) -> int | None:
    wanted = value.lower()
    for index, row in enumerate(rows):
        if str(row.get(key, "")).lower() == wanted:
            return index
    return None


def _not_found_directory(entity_id: str) -> ServiceError:
    # The AAD-backed reporting and Identity Protection services answer a missing id in the directory's words
    # (UNVERIFIED for these two services; the code is the one directory reads use).
    return ServiceError(404, "Request_ResourceNotFound",
                        f"Resource '{entity_id}' does not exist or one of its queried reference-property objects "
                        "are not present.")


# =====================================================================================================================
# Sign-ins
# =====================================================================================================================
SIGNIN_RULES = FilterRules(
    fields={
        # The reference lists eq, le, ge for createdDateTime (not lt/gt); enforced exactly.
        "createdDateTime": FieldSpec("datetime", frozenset({"eq", "le", "ge"})),
        "userPrincipalName": FieldSpec("string", EQ_STARTS),
        "userId": FieldSpec("string", EQ),
        "appId": FieldSpec("string", EQ),
        "clientAppUsed": FieldSpec("string", EQ),
        "conditionalAccessStatus": FieldSpec("enum", EQ),
        "correlationId": FieldSpec("string", EQ),
        "riskLevelDuringSignIn": FieldSpec("enum", EQ),
        "riskLevelAggregated": FieldSpec("enum", EQ),
        "riskState": FieldSpec("enum", EQ),
        "riskDetail": FieldSpec("enum", EQ),
        "resourceId": FieldSpec("string", EQ),
        "ipAddress": FieldSpec("string", EQ_STARTS),
        "appDisplayName": FieldSpec("string", EQ_STARTS),
        "userDisplayName": FieldSpec("string", EQ_STARTS),
        "location/city": FieldSpec("string", EQ_STARTS),
        "location/state": FieldSpec("string", EQ_STARTS),
        "location/countryOrRegion": FieldSpec("string", EQ_STARTS),
        "deviceDetail/browser": FieldSpec("string", EQ_STARTS),
        "deviceDetail/operatingSystem": FieldSpec("string", EQ_STARTS),
        "status/errorCode": FieldSpec("int", EQ),
    },
    allow_and=True,
    # UNVERIFIED: the docs show only `and`. We accept `or` too (e.g. several status/errorCode values at once); a
    # client that must also run against the real service should prefer one query per value.
    allow_or=True,
)
SIGNIN_ENUMS = {
    "conditionalAccessStatus": CA_STATUSES,
    "riskLevelDuringSignIn": RISK_LEVELS,
    "riskLevelAggregated": RISK_LEVELS,
    # Without P2 riskState reads "hidden" like the other risk properties, so a filter may name it.
    "riskState": RISK_STATES | {"hidden"},
    "riskDetail": RISK_DETAILS,
}
SIGNINS = Listing(
    context="auditLogs/signIns",
    rules=SIGNIN_RULES,
    max_top=1000,
    default_top=1000,
    # UNVERIFIED whether an oversized $top is clamped or refused; refusing is the stricter reading.
    top_over_max="reject",
    orderby=frozenset({"createdDateTime", "createdDateTime asc", "createdDateTime desc"}),
    # The list page documents $top, $skiptoken and $filter (and $orderby on createdDateTime) only.
    allow_select=False,
)
# Entra keeps sign-in logs 30 days for P1/P2 tenants (the free tier, 7 days, never reaches Graph: it lacks P1).
SIGNIN_RETENTION = timedelta(days=30)
SIGNIN_ROLES = frozenset({"Global Administrator", "Global Reader", "Reports Reader", "Security Administrator",
                          "Security Operator", "Security Reader"})
SIGNIN_NEED = requirement(
    GRAPH,
    application="AuditLog.Read.All,Directory.Read.All",
    delegated="AuditLog.Read.All,Directory.Read.All",
    denied_code="Authentication_MSGraphPermissionMissing",
    denied_message="The principal does not have required Microsoft Graph permission(s): AuditLog.Read.All",
)


def _reports_quota(ctx: Ctx) -> tuple[str, str]:
    """Identity and access reports: 5 requests per 10 s per app per tenant."""
    principal = ctx.principal
    app = principal.claims.app_id if principal is not None else ""
    return "reports", f"{ctx.state.tenant_id}:{app}"


def _check_report_reader(principal: Principal | None) -> None:
    """Delegated callers also need a reporting role; the reporting API refuses with its own code."""
    if principal is not None and not principal.app_only and not (principal.directory_roles & SIGNIN_ROLES):
        raise ServiceError(403, "Authentication_RequestFromUnsupportedUserRole", "User is not in the allowed roles")


def _signin_gate(ctx: Ctx) -> bool:
    """Role and licence checks; returns whether the tenant has P2 (full risk data)."""
    _check_report_reader(ctx.principal)
    licences = _licences(ctx)
    if not licences.entra_id_p1:
        raise NON_PREMIUM_SIGNINS
    return licences.entra_id_p2


def signin_view(row: Row, p2: bool) -> Row:
    """A stored sign-in as served: risk properties read ``hidden`` without P2."""
    out = served(row, "sign_ins")
    if not p2:
        for name in SIGNIN_RISK_FIELDS:
            out[name] = "hidden"
        out["riskEventTypes"] = []
        out["riskEventTypes_v2"] = []
    return out


def list_signins(ctx: Ctx) -> Response:
    p2 = _signin_gate(ctx)
    text = ctx.query().get("$filter")
    if text is not None:
        try:
            parse_filter(text, SIGNIN_RULES)
        except ODataError as exc:
            if "signineventtypes" in exc.message.lower():
                # signInEventTypes exists only on beta; v1.0 serves interactive sign-ins and has no such property.
                raise ServiceError(400, "BadRequest",
                                   "Invalid filter clause: Could not find a property named 'signInEventTypes' on "
                                   "type 'microsoft.graph.signIn'. Non-interactive sign-ins are available on the "
                                   "beta endpoint only.") from None
    _check_enum_literals(ctx, SIGNIN_RULES, SIGNIN_ENUMS)
    oldest = ctx.state.now() - SIGNIN_RETENTION

    def rows() -> list[Row]:
        kept = (r for r in ctx.state.collection("sign_ins") if _instant(r["createdDateTime"]) >= oldest)
        ordered = _newest_first(kept, "createdDateTime")
        # Without P2 the caller filters what it sees: risk filters match the served "hidden" values.
        return ordered if p2 else [signin_view(r, False) for r in ordered]

    project: Callable[[Row], Row] = (lambda r: signin_view(r, True)) if p2 else (lambda r: r)
    return list_response(ctx, rows, SIGNINS, project)


def get_signin(ctx: Ctx) -> Response:
    p2 = _signin_gate(ctx)
    _no_query_options(ctx)
    rows = ctx.state.collection("sign_ins")
    index = _find(rows, "id", ctx.params["id"])
    if index is None or _instant(rows[index]["createdDateTime"]) < ctx.state.now() - SIGNIN_RETENTION:
        raise _not_found_directory(ctx.params["id"])
    return _entity("auditLogs/signIns", signin_view(rows[index], p2))


# =====================================================================================================================
# Identity Protection
# =====================================================================================================================
IP_READ_ROLES = "Global Administrator,Global Reader,Security Operator,Security Reader,Security Administrator"
RISKY_USERS_READ = requirement(
    GRAPH,
    application="IdentityRiskyUser.Read.All,IdentityRiskyUser.ReadWrite.All",
    delegated="IdentityRiskyUser.Read.All,IdentityRiskyUser.ReadWrite.All",
    user_roles=IP_READ_ROLES,
)
# The docs name Security Administrator as the least privileged role for confirmCompromised / dismiss.
RISKY_USERS_WRITE = requirement(
    GRAPH,
    application="IdentityRiskyUser.ReadWrite.All",
    delegated="IdentityRiskyUser.ReadWrite.All",
    user_roles="Global Administrator,Security Administrator",
)
RISK_DETECTIONS_READ = requirement(
    GRAPH,
    application="IdentityRiskEvent.Read.All,IdentityRiskEvent.ReadWrite.All",
    delegated="IdentityRiskEvent.Read.All,IdentityRiskEvent.ReadWrite.All",
    user_roles=IP_READ_ROLES,
)

RISKY_USER_RULES = FilterRules(
    fields={
        "id": FieldSpec("string", EQ),
        "userPrincipalName": FieldSpec("string", EQ_STARTS),
        "riskLevel": FieldSpec("enum", EQ),
        "riskState": FieldSpec("enum", EQ),
        "riskDetail": FieldSpec("enum", EQ),
        "riskLastUpdatedDateTime": FieldSpec("datetime", RANGE),
        "isDeleted": FieldSpec("bool", EQ),
        "isProcessing": FieldSpec("bool", EQ),
    },
    allow_and=True,
    allow_or=False,  # UNVERIFIED; `and` is what the docs and common scripts use
)
RISKY_USER_ENUMS = {"riskLevel": RISK_LEVELS, "riskState": RISK_STATES, "riskDetail": RISK_DETAILS}
RISK_DETECTION_RULES = FilterRules(
    fields={
        "userId": FieldSpec("string", EQ),
        "userPrincipalName": FieldSpec("string", EQ),
        "riskEventType": FieldSpec("string", EQ),
        "riskLevel": FieldSpec("enum", EQ),
        "riskState": FieldSpec("enum", EQ),
        "ipAddress": FieldSpec("string", EQ),
        "detectedDateTime": FieldSpec("datetime", frozenset({"ge", "le"})),
        "activityDateTime": FieldSpec("datetime", frozenset({"ge", "le"})),
    },
    allow_and=True,
    allow_or=False,  # UNVERIFIED, as for riskyUsers
)
RISK_DETECTION_ENUMS = {"riskLevel": RISK_LEVELS, "riskState": RISK_STATES}
# riskDetections: "the default page size is 20 objects while the maximum with $top is 500" (riskdetection-list).
# riskyUsers documents neither; we use the same numbers (UNVERIFIED). Public client code reports $top=999 -> 400 on
# these endpoints, so an oversized $top is refused.
# Entra keeps risk detections 90 days (the data-retention page; P2 and P1 alike).
DETECTION_RETENTION = timedelta(days=90)
RISKY_USERS = Listing(context="identityProtection/riskyUsers", rules=RISKY_USER_RULES, max_top=500, default_top=20)
RISK_DETECTIONS = Listing(context="identityProtection/riskDetections", rules=RISK_DETECTION_RULES, max_top=500,
                          default_top=20)


def _ip_quota(ctx: Ctx) -> tuple[str, str]:
    """Identity Protection: 1 request per second per tenant (all its endpoints share it)."""
    return "identity_protection", ctx.state.tenant_id


def _require_p2(ctx: Ctx) -> None:
    # riskyUsers: "The riskyUsers API is only available with an Azure AD Premium P2 license" (Graph Identity
    # Protection overview). A P1 tenant therefore gets the licence refusal rather than masked rows.
    if not _licences(ctx).entra_id_p2:
        raise _ip_not_licensed()


def risky_user_view(row: Row) -> Row:
    return served(row, "risky_users")


def list_risky_users(ctx: Ctx) -> Response:
    _require_p2(ctx)
    _check_enum_literals(ctx, RISKY_USER_RULES, RISKY_USER_ENUMS)
    # Order: UNVERIFIED; most recently changed risk first.
    return list_response(
        ctx, lambda: _newest_first(ctx.state.collection("risky_users"), "riskLastUpdatedDateTime"),
        RISKY_USERS, risky_user_view,
    )


def get_risky_user(ctx: Ctx) -> Response:
    _require_p2(ctx)
    _no_query_options(ctx)
    rows = ctx.state.collection("risky_users")
    index = _find(rows, "id", ctx.params["id"])
    if index is None:
        raise _not_found_directory(ctx.params["id"])
    return _entity("identityProtection/riskyUsers", risky_user_view(rows[index]))


def _user_ids(ctx: Ctx) -> list[str]:
    body = ctx.json()
    if not isinstance(body, dict):
        raise ServiceError(400, "BadRequest", "The request body must be a JSON object with 'userIds'.")
    extra = [k for k in body if k != "userIds"]
    if extra:
        raise ServiceError(400, "BadRequest",
                           f"The parameter '{extra[0]}' in the request payload is not a valid parameter for this "
                           "action.")
    ids = body.get("userIds")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise ServiceError(400, "BadRequest", "'userIds' must be a non-empty list of user object ids.")
    bad = next((i for i in ids if not GUID_RE.match(i)), None)
    if bad is not None:
        raise ServiceError(400, "BadRequest", f"Invalid user id '{bad}': an object id (GUID) is expected.")
    return [i.lower() for i in ids]


def _directory_users(ctx: Ctx, ids: list[str]) -> list[Row]:
    users = []
    for user_id in ids:
        user = ctx.state.find_user(user_id)
        if user is None or str(user["id"]).lower() != user_id:
            # UNVERIFIED: whether the real action ignores unknown ids; refusing makes a wrong id visible.
            raise ServiceError(400, "BadRequest", f"Invalid user id '{user_id}': no such user in this tenant.")
        users.append(user)
    return users


def confirm_compromised(ctx: Ctx) -> Response:
    """Mark users compromised: risk level high, state confirmedCompromised, and an admin-confirmed detection."""
    _require_p2(ctx)
    ids = _user_ids(ctx)
    state = ctx.state
    with state.lock:
        users = _directory_users(ctx, ids)
        now = iso(state.now())
        risky = state.collection("risky_users")
        detections = state.collection("risk_detections")
        for user in users:
            changes = {"riskLevel": "high", "riskState": "confirmedCompromised",
                       "riskDetail": "adminConfirmedUserCompromised", "riskLastUpdatedDateTime": now,
                       "isProcessing": False}
            index = _find(risky, "id", user["id"])
            if index is None:
                risky.append({"id": user["id"], "isDeleted": False, "userDisplayName": user.get("displayName"),
                              "userPrincipalName": user["userPrincipalName"], **changes})
            else:
                _replace(risky, index, changes)
            # The "Admin confirmed user compromised" detection Entra records for this action (a nonpremium,
            # user-level, offline detection). Its riskState/source values are UNVERIFIED.
            detections.append({
                "id": secrets.token_hex(32), "requestId": None, "correlationId": None,
                "riskEventType": "adminConfirmedUserCompromised", "riskState": "confirmedCompromised",
                "riskLevel": "high", "riskDetail": "adminConfirmedUserCompromised", "source": "IdentityProtection",
                "detectionTimingType": "offline", "activity": "user", "tokenIssuerType": "AzureAD",
                "ipAddress": None, "location": None, "activityDateTime": now, "detectedDateTime": now,
                "lastUpdatedDateTime": now, "userId": user["id"], "userDisplayName": user.get("displayName"),
                "userPrincipalName": user["userPrincipalName"], "additionalInfo": "[]",
            })
            log.info("risk confirmed compromised for %s by %s", user["userPrincipalName"], _who(ctx))
    return Response(status_code=204)


def dismiss(ctx: Ctx) -> Response:
    """Dismiss users' risk: level none, state dismissed; their open detections and risky sign-ins are dismissed."""
    _require_p2(ctx)
    ids = _user_ids(ctx)
    state = ctx.state
    with state.lock:
        users = _directory_users(ctx, ids)
        now = iso(state.now())
        risky = state.collection("risky_users")
        for user in users:
            index = _find(risky, "id", user["id"])
            if index is None:
                continue  # nothing to dismiss for a user who is not risky
            _replace(risky, index, {"riskLevel": "none", "riskState": "dismissed",
                                    "riskDetail": "adminDismissedAllRiskForUser", "riskLastUpdatedDateTime": now,
                                    "isProcessing": False})
            user_id = str(user["id"]).lower()
            detections = state.collection("risk_detections")
            for i, row in enumerate(detections):
                if str(row.get("userId", "")).lower() == user_id and row.get("riskState") == "atRisk":
                    _replace(detections, i, {"riskState": "dismissed", "riskDetail": "adminDismissedAllRiskForUser",
                                             "lastUpdatedDateTime": now})
            sign_ins = state.collection("sign_ins")
            for i, row in enumerate(sign_ins):
                if str(row.get("userId", "")).lower() == user_id and row.get("riskState") == "atRisk":
                    _replace(sign_ins, i, {"riskState": "dismissed", "riskDetail": "adminDismissedAllRiskForUser"})
            log.info("risk dismissed for %s by %s", user["userPrincipalName"], _who(ctx))
    return Response(status_code=204)


def _who(ctx: Ctx) -> str:
    return ctx.principal.display if ctx.principal is not None else "unknown"


def _detection_gate(ctx: Ctx) -> bool:
    """riskDetections need P1 or P2 ("P1 licenses receive limited risk information"); returns whether P2."""
    licences = _licences(ctx)
    if not licences.entra_id_p1 and not licences.entra_id_p2:
        raise _ip_not_licensed()
    return licences.entra_id_p2


def risk_detection_view(row: Row, p2: bool) -> Row:
    """A stored detection as served. Without P2: premium types read ``generic``; riskLevel and riskDetail read
    ``hidden`` (the P1 experience: "limited information", risk level and detail hidden; the exact field set is
    UNVERIFIED)."""
    out = served(row, "risk_detections")
    if not p2:
        if out.get("riskEventType") not in NONPREMIUM_DETECTIONS:
            out["riskEventType"] = "generic"
        out["riskLevel"] = "hidden"
        out["riskDetail"] = "hidden"
    return out


def list_risk_detections(ctx: Ctx) -> Response:
    p2 = _detection_gate(ctx)
    _check_enum_literals(ctx, RISK_DETECTION_RULES, RISK_DETECTION_ENUMS)

    oldest = ctx.state.now() - DETECTION_RETENTION

    def rows() -> list[Row]:
        # Order: UNVERIFIED; newest detection first. Detections without a detectedDateTime are kept (and last).
        kept = (r for r in ctx.state.collection("risk_detections")
                if not r.get("detectedDateTime") or _instant(r["detectedDateTime"]) >= oldest)
        ordered = _newest_first(kept, "detectedDateTime")
        return ordered if p2 else [risk_detection_view(r, False) for r in ordered]

    project: Callable[[Row], Row] = (lambda r: risk_detection_view(r, True)) if p2 else (lambda r: r)
    return list_response(ctx, rows, RISK_DETECTIONS, project)


def get_risk_detection(ctx: Ctx) -> Response:
    p2 = _detection_gate(ctx)
    _no_query_options(ctx)
    rows = ctx.state.collection("risk_detections")
    index = _find(rows, "id", ctx.params["id"])
    detected = rows[index].get("detectedDateTime") if index is not None else None
    if index is None or (detected and _instant(detected) < ctx.state.now() - DETECTION_RETENTION):
        raise _not_found_directory(ctx.params["id"])
    return _entity("identityProtection/riskDetections", risk_detection_view(rows[index], p2))


# =====================================================================================================================
# Security alerts (alerts_v2)
# =====================================================================================================================
# 403 text captured from the real service for a missing role (code evidence): "Missing application roles. API
# required roles: SecurityAlert.Read.All,SecurityAlert.ReadWrite.All, application roles: ..." (the app's own roles
# are left out here).
ALERT_ROLES_READ = ("Global Administrator,Global Reader,Security Administrator,Security Operator,Security Reader")
ALERTS_READ = requirement(
    GRAPH,
    application="SecurityAlert.Read.All,SecurityAlert.ReadWrite.All",
    delegated="SecurityAlert.Read.All,SecurityAlert.ReadWrite.All",
    user_roles=ALERT_ROLES_READ,  # UNVERIFIED: Defender's roles that can read alerts
    denied_code="Forbidden",
    denied_message="Missing application roles. API required roles: SecurityAlert.Read.All,"
                   "SecurityAlert.ReadWrite.All.",
)
ALERTS_WRITE = requirement(
    GRAPH,
    application="SecurityAlert.ReadWrite.All",
    delegated="SecurityAlert.ReadWrite.All",
    user_roles="Global Administrator,Security Administrator,Security Operator",  # UNVERIFIED, as above
    denied_code="Forbidden",
    denied_message="Missing application roles. API required roles: SecurityAlert.ReadWrite.All.",
)
ALERT_RULES = FilterRules(
    fields={
        "createdDateTime": FieldSpec("datetime", RANGE),
        "lastUpdateDateTime": FieldSpec("datetime", RANGE),
        "severity": FieldSpec("enum", EQ),
        "status": FieldSpec("enum", EQ),
        "classification": FieldSpec("enum", EQ),
        "determination": FieldSpec("enum", EQ),
        "serviceSource": FieldSpec("enum", EQ),
        "assignedTo": FieldSpec("string", EQ),
    },
    allow_and=True,
    allow_or=True,  # UNVERIFIED
)
ALERT_ENUMS = {"severity": ALERT_SEVERITIES, "status": ALERT_STATUSES, "classification": ALERT_CLASSIFICATIONS,
               "determination": ALERT_DETERMINATIONS, "serviceSource": ALERT_SERVICE_SOURCES}
# The list page documents $count, $filter, $skip and $top (no $select, no $orderby). The $top maximum is UNVERIFIED
# (commonly cited as 2000); the default page size is undocumented and taken as the same (UNVERIFIED).
ALERTS = Listing(context="security/alerts_v2", rules=ALERT_RULES, max_top=2000, default_top=2000,
                 allow_skip=True, allow_count=True, allow_select=False)
#: Properties PATCH may set, with the values it accepts (None: a string or null).
ALERT_WRITABLE: dict[str, frozenset[str] | None] = {
    "status": ALERT_STATUSES - {"unknownFutureValue"},
    "classification": ALERT_CLASSIFICATIONS - {"unknownFutureValue"},
    "determination": ALERT_DETERMINATIONS - {"unknownFutureValue"},
    "assignedTo": None,
}
ALERT_DEFAULTS: dict[str, Any] = {
    "providerAlertId": None, "incidentId": None, "status": "new", "severity": "unknown", "classification": None,
    "determination": None, "serviceSource": None, "detectionSource": None, "detectorId": None, "title": None,
    "description": None, "recommendedActions": None, "category": None, "assignedTo": None, "actorDisplayName": None,
    "threatDisplayName": None, "threatFamilyName": None, "createdDateTime": None, "lastUpdateDateTime": None,
    "resolvedDateTime": None, "firstActivityDateTime": None, "lastActivityDateTime": None,
}


def _security_quota(ctx: Ctx) -> tuple[str, str]:
    """Security: 150 requests per minute per app per tenant."""
    principal = ctx.principal
    app = principal.claims.app_id if principal is not None else ""
    return "security", f"{ctx.state.tenant_id}:{app}"


def alert_view(row: Row, tenant_id: str) -> Row:
    """A stored alert as served: the typed object with every documented property present."""
    stored = served(row, "alerts")
    out: Row = {"@odata.type": "#microsoft.graph.security.alert", **stored}
    for key, value in ALERT_DEFAULTS.items():
        out.setdefault(key, value)
    for key in ("mitreTechniques", "comments", "evidence", "systemTags"):
        out.setdefault(key, [])
    out.setdefault("tenantId", tenant_id)
    out.setdefault("alertWebUrl", f"https://security.microsoft.com/alerts/{out['id']}?tid={tenant_id}")
    incident = out.get("incidentId")
    out.setdefault("incidentWebUrl",
                   f"https://security.microsoft.com/incidents/{incident}?tid={tenant_id}" if incident else None)
    return out


def _alert_not_found(alert_id: str) -> ServiceError:
    # UNVERIFIED: the security API's exact code and text for an unknown alert id.
    return ServiceError(404, "NotFound", f"Alert with id '{alert_id}' was not found.")


def list_alerts(ctx: Ctx) -> Response:
    _check_enum_literals(ctx, ALERT_RULES, ALERT_ENUMS)
    tenant_id = ctx.state.tenant_id

    def rows() -> list[Row]:
        # "The most recent alerts are displayed at the top of the list" (list alerts_v2): newest created first.
        # Filters see the served object, so a property the snapshot leaves out matches its served default.
        ordered = _newest_first(ctx.state.collection("alerts"), "createdDateTime")
        return [alert_view(r, tenant_id) for r in ordered]

    return list_response(ctx, rows, ALERTS, lambda r: r)


def get_alert(ctx: Ctx) -> Response:
    _no_query_options(ctx)
    rows = ctx.state.collection("alerts")
    index = _find(rows, "id", ctx.params["id"])
    if index is None:
        raise _alert_not_found(ctx.params["id"])
    return json_response({"@odata.context": f"{METADATA}security/alerts_v2/$entity",
                          **alert_view(rows[index], ctx.state.tenant_id)})


def _alert_changes(body: Any) -> Row:
    if not isinstance(body, dict):
        raise ServiceError(400, "BadRequest", "Empty Payload. JSON content expected.")
    changes: Row = {}
    for key, value in body.items():
        if key == "@odata.type":
            if value not in ("#microsoft.graph.security.alert", "microsoft.graph.security.alert"):
                raise ServiceError(400, "BadRequest", f"A type named '{value}' cannot be used here.")
            continue
        if key not in ALERT_WRITABLE:
            writable = ", ".join(ALERT_WRITABLE)
            raise ServiceError(400, "BadRequest",
                               f"Property '{key}' cannot be updated on type 'microsoft.graph.security.alert'; "
                               f"updatable properties: {writable}.")
        members = ALERT_WRITABLE[key]
        if members is None:
            if value is not None and not isinstance(value, str):
                raise ServiceError(400, "BadRequest", f"Property '{key}' must be a string or null.")
        elif not isinstance(value, str) or value not in members:
            raise ServiceError(400, "BadRequest",
                               f"Requested value '{value}' is not a member of the enum type for property '{key}'. "
                               f"Valid values: {', '.join(sorted(members))}.")
        changes[key] = value
    return changes


def patch_alert(ctx: Ctx) -> Response:
    """Triage an alert: status, classification, determination, assignedTo. 200 with the updated alert."""
    changes = _alert_changes(ctx.json())
    state = ctx.state
    with state.lock:
        rows = state.collection("alerts")
        index = _find(rows, "id", ctx.params["id"])
        if index is None:
            raise _alert_not_found(ctx.params["id"])
        if changes:
            now = iso(state.now())
            changes["lastUpdateDateTime"] = now
            current = rows[index]
            if changes.get("status") == "resolved" and current.get("status") != "resolved":
                changes["resolvedDateTime"] = now
            elif "status" in changes and changes["status"] != "resolved":
                changes["resolvedDateTime"] = None
            row = _replace(rows, index, changes)
            log.info("alert %s updated by %s: %s", row["id"], _who(ctx),
                     ", ".join(f"{k}={v}" for k, v in changes.items()))
        else:
            row = rows[index]
    return json_response(alert_view(row, state.tenant_id))


# =====================================================================================================================
def routes() -> list[Route]:
    v1 = "/v1.0"
    return [
        route("GET", f"{v1}/auditLogs/signIns", list_signins, "graph", need=SIGNIN_NEED, quota=_reports_quota),
        route("GET", f"{v1}/auditLogs/signIns/{{id}}", get_signin, "graph", need=SIGNIN_NEED,
              quota=_reports_quota),
        route("GET", f"{v1}/identityProtection/riskyUsers", list_risky_users, "graph", need=RISKY_USERS_READ,
              quota=_ip_quota),
        route("POST", f"{v1}/identityProtection/riskyUsers/confirmCompromised", confirm_compromised, "graph",
              need=RISKY_USERS_WRITE, quota=_ip_quota),
        route("POST", f"{v1}/identityProtection/riskyUsers/dismiss", dismiss, "graph", need=RISKY_USERS_WRITE,
              quota=_ip_quota),
        route("GET", f"{v1}/identityProtection/riskyUsers/{{id}}", get_risky_user, "graph", need=RISKY_USERS_READ,
              quota=_ip_quota),
        route("GET", f"{v1}/identityProtection/riskDetections", list_risk_detections, "graph",
              need=RISK_DETECTIONS_READ, quota=_ip_quota),
        route("GET", f"{v1}/identityProtection/riskDetections/{{id}}", get_risk_detection, "graph",
              need=RISK_DETECTIONS_READ, quota=_ip_quota),
        route("GET", f"{v1}/security/alerts_v2", list_alerts, "graph", need=ALERTS_READ, quota=_security_quota),
        route("GET", f"{v1}/security/alerts_v2/{{id}}", get_alert, "graph", need=ALERTS_READ,
              quota=_security_quota),
        route("PATCH", f"{v1}/security/alerts_v2/{{id}}", patch_alert, "graph", need=ALERTS_WRITE,
              quota=_security_quota),
    ]
