"""Sandbox Graph security signals over real HTTPS: sign-ins, Identity Protection, Defender alerts.

Reads run against one module-scoped sandbox started with a tiny quota scale: Identity Protection allows one request
per second and the reports bucket five per ten seconds, so at real scale the read tests would throttle each other.
The quota tests start their own sandboxes at (near) real scale.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import msal
import pytest

from tests.conftest import APP_ID, GRAPH_SCOPE, PUBLIC_ID, READER_ID, READER_SECRET, SMALL_TENANT, Tenant
from toolkit.sandbox_process import SandboxProcess

StartTenant = Callable[..., Tenant]
Row = dict[str, Any]

ALICE_ID = "00000003-aaaa-4bbb-8ccc-000000000003"
BOB_ID = "00000004-aaaa-4bbb-8ccc-000000000004"
CAROL_ID = "00000005-aaaa-4bbb-8ccc-000000000005"


def snapshot(name: str) -> list[Row]:
    with (SMALL_TENANT / f"{name}.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


SIGN_INS = snapshot("sign_ins")
RISKY_USERS = snapshot("risky_users")
DETECTIONS = snapshot("risk_detections")
ALERTS = snapshot("alerts")


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def ids(rows: list[Row]) -> set[str]:
    return {r["id"] for r in rows}


@pytest.fixture(scope="module")
def signals(tmp_path_factory: pytest.TempPathFactory, state_dir: Path) -> Iterator[Tenant]:
    folder = tmp_path_factory.mktemp("signals") / "tenant"
    shutil.copytree(SMALL_TENANT, folder)
    process = SandboxProcess.start(folder, state_dir=state_dir, quota_scale=0.0001)
    yield Tenant(process, folder)
    process.stop()


@pytest.fixture(scope="module")
def token(signals: Tenant) -> str:
    return signals.token()


def get(tenant: Tenant, path: str, token: str, **params: str) -> Any:
    response = tenant.graph("GET", path, token=token, params=params or None)
    assert response.status_code == 200, response.text
    return response.json()


def get_all(tenant: Tenant, path: str, token: str, **params: str) -> tuple[list[Row], int]:
    """Every row of a listing following nextLinks, and how many pages it took."""
    body = get(tenant, path, token, **params)
    rows, pages = list(body["value"]), 1
    while "@odata.nextLink" in body:
        body = get(tenant, body["@odata.nextLink"], token)
        rows += body["value"]
        pages += 1
    return rows, pages


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json()["error"])


def tenant_variant(tmp_path: Path, licences: dict[str, bool] | None = None,
                   grant: list[str] | None = None, extra_detections: list[Row] | None = None) -> Path:
    """A copy of the small tenant with other licences, more Graph permissions for APP_ID, or more detections."""
    folder = tmp_path / "variant"
    shutil.copytree(SMALL_TENANT, folder)
    if licences is not None:
        path = folder / "tenant.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        data["licences"] = licences
        path.write_text(json.dumps(data), encoding="utf-8")
    if grant:
        path = folder / "apps.json"
        apps = json.loads(path.read_text(encoding="utf-8"))
        app = next(a for a in apps if a["clientId"] == APP_ID)
        app["applicationPermissions"]["https://graph.microsoft.com"] += grant
        path.write_text(json.dumps(apps), encoding="utf-8")
    if extra_detections:
        with (folder / "risk_detections.jsonl").open("a", encoding="utf-8") as handle:
            for row in extra_detections:
                handle.write(json.dumps(row) + "\n")
    return folder


def delegated_token(tenant: Tenant, user: str) -> str:
    app = msal.PublicClientApplication(PUBLIC_ID, authority=tenant.ep.authority, instance_discovery=False,
                                       http_client=tenant.session(), http_cache={})
    flow = app.initiate_device_flow(scopes=[GRAPH_SCOPE])
    approved = tenant.control("POST", "/device/approve", {"user_code": flow["user_code"], "user": user})
    assert approved.status_code == 200, approved.text
    result = app.acquire_token_by_device_flow(flow)
    assert "access_token" in result, result
    return str(result["access_token"])


# =====================================================================================================================
# Sign-ins
# =====================================================================================================================
def test_signins_are_the_snapshot_rows_newest_first(signals: Tenant, token: str) -> None:
    body = get(signals, "/auditLogs/signIns", token)
    assert body["@odata.context"] == "https://graph.microsoft.com/v1.0/$metadata#auditLogs/signIns"
    rows = body["value"]
    assert "@odata.nextLink" not in body
    assert ids(rows) == ids(SIGN_INS) and len(rows) == len(SIGN_INS)
    times = [instant(r["createdDateTime"]) for r in rows]
    assert times == sorted(times, reverse=True)
    stored = {r["id"]: r for r in SIGN_INS}
    for row in rows:
        want = stored[row["id"]]
        assert row["userPrincipalName"] == want["userPrincipalName"]
        assert row["ipAddress"] == want["ipAddress"]
        assert row["status"]["errorCode"] == want["status"]["errorCode"]
        assert row["location"]["countryOrRegion"] == want["location"]["countryOrRegion"]
        assert row["riskLevelDuringSignIn"] == want["riskLevelDuringSignIn"]  # P2 tenant: real values
        assert "_sandbox" not in row


SIGNIN_FILTERS: list[tuple[str, Callable[[Row], bool]]] = [
    ("userPrincipalName eq 'alice@contoso.com'", lambda r: r["userPrincipalName"] == "alice@contoso.com"),
    ("userPrincipalName eq 'o''brien@contoso.com'", lambda r: r["userPrincipalName"] == "o'brien@contoso.com"),
    ("startswith(userPrincipalName, 'o''b')", lambda r: r["userPrincipalName"].startswith("o'b")),
    (f"userId eq '{CAROL_ID}'", lambda r: r["userId"] == CAROL_ID),
    ("location/countryOrRegion eq 'NG'", lambda r: r["location"]["countryOrRegion"] == "NG"),
    ("startswith(location/city, 'Lon')", lambda r: r["location"]["city"].startswith("Lon")),
    ("status/errorCode eq 50126", lambda r: r["status"]["errorCode"] == 50126),
    ("status/errorCode eq 0 and location/countryOrRegion eq 'NG'",
     lambda r: r["status"]["errorCode"] == 0 and r["location"]["countryOrRegion"] == "NG"),
    ("status/errorCode eq 50126 or clientAppUsed eq 'Authenticated SMTP'",
     lambda r: r["status"]["errorCode"] == 50126 or r["clientAppUsed"] == "Authenticated SMTP"),
    ("clientAppUsed eq 'IMAP'", lambda r: r["clientAppUsed"] == "IMAP"),
    ("startswith(ipAddress, '81.2.69.16')", lambda r: r["ipAddress"].startswith("81.2.69.16")),
    ("riskLevelDuringSignIn eq 'high'", lambda r: r["riskLevelDuringSignIn"] == "high"),
    ("riskState eq 'atRisk' and riskLevelAggregated eq 'high'",
     lambda r: r["riskState"] == "atRisk" and r["riskLevelAggregated"] == "high"),
    ("correlationId eq 'd79f5bee-0000-4000-8000-000000000003'",
     lambda r: r["correlationId"] == "d79f5bee-0000-4000-8000-000000000003"),
    ("startswith(userDisplayName, 'Bob')", lambda r: r["userDisplayName"].startswith("Bob")),
    ("createdDateTime ge 2026-11-19T19:52:00Z and createdDateTime le 2026-11-19T20:01:00Z",
     lambda r: "2026-11-19T19:52:00Z" <= r["createdDateTime"] <= "2026-11-19T20:01:00Z"),
]


@pytest.mark.parametrize(("text", "expected"), SIGNIN_FILTERS, ids=[f for f, _ in SIGNIN_FILTERS])
def test_signin_filters(signals: Tenant, token: str, text: str, expected: Callable[[Row], bool]) -> None:
    want = ids([r for r in SIGN_INS if expected(r)])
    assert want and want != ids(SIGN_INS)  # the case discriminates
    rows = get(signals, "/auditLogs/signIns", token, **{"$filter": text})["value"]
    assert ids(rows) == want


def test_signin_datetime_bounds_with_fractional_seconds(signals: Tenant, token: str) -> None:
    def matching(text: str) -> set[str]:
        return ids(get(signals, "/auditLogs/signIns", token, **{"$filter": text})["value"])

    at_1952 = "66ea54eb-0000-4000-8000-000000000003"
    at_1950 = "66ea54eb-0000-4000-8000-000000000002"
    after = matching("createdDateTime ge 2026-11-19T19:52:00.000001Z")
    assert at_1952 not in after and "66ea54eb-0000-4000-8000-000000000004" in after
    assert at_1952 in matching("createdDateTime ge 2026-11-19T19:52:00.0000000Z")
    before = matching("createdDateTime le 2026-11-19T19:51:59.9999999Z")
    assert at_1950 in before and at_1952 not in before
    assert matching("createdDateTime eq 2026-11-19T19:52:00.000Z") == {at_1952}
    # An offset is the same instant: 20:52+01:00 is 19:52Z.
    assert matching("createdDateTime eq 2026-11-19T20:52:00+01:00") == {at_1952}


@pytest.mark.parametrize(("text", "named"), [
    ("createdDateTime lt 2026-11-19T00:00:00Z", "'lt'"),
    ("createdDateTime gt 2026-11-19T00:00:00Z", "'gt'"),
    ("userId ne '00000003-aaaa-4bbb-8ccc-000000000003'", "'ne'"),
    ("endswith(userPrincipalName, '@contoso.com')", "endswith"),
    ("startswith(clientAppUsed, 'IM')", "startswith"),
    ("isInteractive eq true", "isInteractive"),
    ("location/countryOrRegion in ('NG')", "'in'"),
    ("signInEventTypes/any(t: t eq 'nonInteractiveUser')", "signInEventTypes"),
    ("riskState eq 'compromised'", "compromised"),
    ("status/errorCode eq '0'", "status/errorCode"),
    ("not (clientAppUsed eq 'IMAP')", "'not'"),
])
def test_signin_unsupported_filter_is_400_naming_it(signals: Tenant, token: str, text: str, named: str) -> None:
    response = signals.graph("GET", "/auditLogs/signIns", token=token, params={"$filter": text})
    error = error_of(response, 400)
    assert error["code"] == "BadRequest"
    assert named in error["message"]


@pytest.mark.parametrize(("params", "named"), [
    ({"$select": "id"}, "$select"),
    ({"$skip": "2"}, "$skip"),
    ({"$count": "true"}, "$count"),
    ({"$orderby": "userPrincipalName"}, "userPrincipalName"),
    ({"$top": "1001"}, "1001"),
    ({"$top": "0"}, "'0'"),
    ({"$top": "ten"}, "ten"),
])
def test_signin_unsupported_options_are_400(signals: Tenant, token: str, params: dict[str, str], named: str) -> None:
    error = error_of(signals.graph("GET", "/auditLogs/signIns", token=token, params=params), 400)
    assert named in error["message"]


def test_signins_top_pages_every_row_exactly_once(signals: Tenant, token: str) -> None:
    first = get(signals, "/auditLogs/signIns", token, **{"$top": "3"})
    assert len(first["value"]) == 3 and "$skiptoken=" in first["@odata.nextLink"]
    rows, pages = get_all(signals, "/auditLogs/signIns", token, **{"$top": "3"})
    assert pages == 3 and [len(rows[:3]), len(rows[3:6]), len(rows[6:])] == [3, 3, 2]
    assert len(rows) == len(SIGN_INS) and ids(rows) == ids(SIGN_INS)
    times = [instant(r["createdDateTime"]) for r in rows]
    assert times == sorted(times, reverse=True)
    # The filter travels with the nextLink.
    alice, alice_pages = get_all(signals, "/auditLogs/signIns", token,
                                 **{"$top": "2", "$filter": "userPrincipalName eq 'alice@contoso.com'"})
    assert ids(alice) == ids([r for r in SIGN_INS if r["userPrincipalName"] == "alice@contoso.com"])
    assert alice_pages == 3
    assert len(get(signals, "/auditLogs/signIns", token, **{"$top": "1000"})["value"]) == len(SIGN_INS)


def test_signins_orderby_created_ascending(signals: Tenant, token: str) -> None:
    rows = get(signals, "/auditLogs/signIns", token, **{"$orderby": "createdDateTime asc"})["value"]
    times = [instant(r["createdDateTime"]) for r in rows]
    assert times == sorted(times) and len(rows) == len(SIGN_INS)


def test_signin_by_id_and_unknown_id(signals: Tenant, token: str) -> None:
    want = SIGN_INS[3]
    body = get(signals, f"/auditLogs/signIns/{want['id']}", token)
    assert body["id"] == want["id"] and body["ipAddress"] == want["ipAddress"]
    assert body["@odata.context"].endswith("#auditLogs/signIns/$entity")
    missing = signals.graph("GET", "/auditLogs/signIns/66ea54eb-0000-4000-8000-999999999999", token=token)
    assert error_of(missing, 404)["code"] == "Request_ResourceNotFound"


def test_delegated_signins_need_a_reporting_role(signals: Tenant) -> None:
    admin = signals.graph("GET", "/auditLogs/signIns", token=delegated_token(signals, "admin@contoso.com"))
    assert admin.status_code == 200 and ids(admin.json()["value"]) == ids(SIGN_INS)
    analyst = signals.graph("GET", "/auditLogs/signIns", token=delegated_token(signals, "analyst@contoso.com"))
    assert analyst.status_code == 200  # Security Reader is one of the reporting roles
    alice = signals.graph("GET", "/auditLogs/signIns", token=delegated_token(signals, "alice@contoso.com"))
    error = error_of(alice, 403)
    assert error["code"] == "Authentication_RequestFromUnsupportedUserRole"
    assert error["message"] == "User is not in the allowed roles"


def test_retention_windows_follow_the_simulated_clock(start_tenant: StartTenant) -> None:
    tenant = start_tenant(quota_scale=0.0001)
    token = tenant.token()
    oldest = min(SIGN_INS, key=lambda r: instant(r["createdDateTime"]))
    assert get(tenant, f"/auditLogs/signIns/{oldest['id']}", token)["id"] == oldest["id"]
    # Sign-ins are kept 30 days: move "now" past the oldest one's 30th day, but not the next one's.
    tenant.advance((instant(oldest["createdDateTime"]) + timedelta(days=30, hours=1)
                    - instant("2026-11-20T12:00:00Z")).total_seconds())
    assert ids(get(tenant, "/auditLogs/signIns", token)["value"]) == ids(SIGN_INS) - {oldest["id"]}
    gone = tenant.graph("GET", f"/auditLogs/signIns/{oldest['id']}", token=token)
    assert error_of(gone, 404)["code"] == "Request_ResourceNotFound"
    assert ids(get(tenant, "/identityProtection/riskDetections", token)["value"]) == ids(DETECTIONS)
    # Risk detections are kept 90 days.
    tenant.advance(timedelta(days=64).total_seconds())  # past the newest detection + 90 days
    assert get(tenant, "/identityProtection/riskDetections", token)["value"] == []
    assert tenant.graph("GET", "/identityProtection/riskDetections/rd-0001", token=token).status_code == 404
    assert get(tenant, "/auditLogs/signIns", token)["value"] == []


# =====================================================================================================================
# Permissions and licences
# =====================================================================================================================
@pytest.mark.parametrize(("path", "code", "words"), [
    ("/auditLogs/signIns", "Authentication_MSGraphPermissionMissing", "AuditLog.Read.All"),
    (f"/auditLogs/signIns/{SIGN_INS[0]['id']}", "Authentication_MSGraphPermissionMissing", "AuditLog.Read.All"),
    ("/identityProtection/riskyUsers", "Authorization_RequestDenied", "Insufficient privileges"),
    ("/identityProtection/riskDetections", "Authorization_RequestDenied", "Insufficient privileges"),
    ("/security/alerts_v2", "Forbidden", "SecurityAlert.Read.All"),
])
def test_reader_app_is_denied(signals: Tenant, path: str, code: str, words: str) -> None:
    reader = signals.token(client_id=READER_ID, credential=READER_SECRET)
    error = error_of(signals.graph("GET", path, token=reader), 403)
    assert error["code"] == code and words in error["message"]


def test_read_only_permissions_cannot_act(signals: Tenant, token: str) -> None:
    """APP_ID holds IdentityRiskyUser.Read.All and SecurityAlert.Read.All only: actions are refused, nothing changes."""
    dismissed = signals.graph("POST", "/identityProtection/riskyUsers/dismiss", token=token,
                              json={"userIds": [ALICE_ID]})
    assert error_of(dismissed, 403)["code"] == "Authorization_RequestDenied"
    patched = signals.graph("PATCH", f"/security/alerts_v2/{ALERTS[0]['id']}", token=token,
                            json={"status": "resolved"})
    assert error_of(patched, 403)["code"] == "Forbidden"
    assert get(signals, f"/identityProtection/riskyUsers/{ALICE_ID}", token)["riskState"] == "atRisk"
    assert get(signals, f"/security/alerts_v2/{ALERTS[0]['id']}", token)["status"] == "new"


def test_no_premium_licence_closes_signins_and_identity_protection(start_tenant: StartTenant,
                                                                    tmp_path: Path) -> None:
    tenant = start_tenant(tenant_dir=tenant_variant(tmp_path, licences={"entraIdP1": False, "entraIdP2": False}),
                          quota_scale=0.0001)
    token = tenant.token()
    error = error_of(tenant.graph("GET", "/auditLogs/signIns", token=token), 403)
    assert error["code"] == "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
    assert error["message"] == "Neither tenant is B2C or tenant doesn't have premium license"
    for path in ("/identityProtection/riskDetections", "/identityProtection/riskyUsers"):
        error = error_of(tenant.graph("GET", path, token=token), 403)
        assert error["code"] == "Forbidden" and "not licensed" in error["message"]
    # Alerts are Defender's, not Entra's: no Entra licence gate.
    assert tenant.graph("GET", "/security/alerts_v2", token=token).status_code == 200


def test_p1_without_p2_hides_risk(start_tenant: StartTenant, tmp_path: Path) -> None:
    leaked = {**DETECTIONS[0], "id": "rd-0003", "riskEventType": "leakedCredentials", "riskLevel": "high",
              "detectedDateTime": "2026-11-19T22:00:00Z"}
    folder = tenant_variant(tmp_path, licences={"entraIdP1": True, "entraIdP2": False}, extra_detections=[leaked])
    tenant = start_tenant(tenant_dir=folder, quota_scale=0.0001)
    token = tenant.token()

    rows = get(tenant, "/auditLogs/signIns", token)["value"]
    assert ids(rows) == ids(SIGN_INS)
    for row in rows:
        assert [row[f] for f in ("riskDetail", "riskLevelAggregated", "riskLevelDuringSignIn", "riskState")] == \
            ["hidden"] * 4
        assert row["riskEventTypes"] == [] and row["riskEventTypes_v2"] == []
    assert get(tenant, "/auditLogs/signIns", token, **{"$filter": "riskLevelDuringSignIn eq 'high'"})["value"] == []
    hidden = get(tenant, "/auditLogs/signIns", token, **{"$filter": "riskState eq 'hidden'"})["value"]
    assert ids(hidden) == ids(SIGN_INS)

    detections = {r["id"]: r for r in get(tenant, "/identityProtection/riskDetections", token)["value"]}
    assert set(detections) == {"rd-0001", "rd-0002", "rd-0003"}
    assert detections["rd-0001"]["riskEventType"] == "generic"  # passwordSpray is a premium detection
    assert detections["rd-0002"]["riskEventType"] == "generic"  # so is suspiciousInboxForwarding
    assert detections["rd-0003"]["riskEventType"] == "leakedCredentials"  # nonpremium: visible
    assert {r["riskLevel"] for r in detections.values()} == {"hidden"}
    assert {r["riskDetail"] for r in detections.values()} == {"hidden"}
    assert detections["rd-0001"]["userPrincipalName"] == "alice@contoso.com"
    spray = {"$filter": "riskEventType eq 'passwordSpray'"}
    assert get(tenant, "/identityProtection/riskDetections", token, **spray)["value"] == []

    error = error_of(tenant.graph("GET", "/identityProtection/riskyUsers", token=token), 403)
    assert error["code"] == "Forbidden" and "not licensed" in error["message"]


# =====================================================================================================================
# Quotas
# =====================================================================================================================
def test_identity_protection_429_has_no_retry_after(start_tenant: StartTenant) -> None:
    tenant = start_tenant()  # real scale: 1 request per second per tenant
    token = tenant.token()
    first = tenant.graph("GET", "/identityProtection/riskyUsers", token=token)
    second = tenant.graph("GET", "/identityProtection/riskDetections", token=token)  # the same bucket
    assert first.status_code == 200
    error = error_of(second, 429)
    assert error["code"] == "TooManyRequests"
    assert "Retry-After" not in second.headers
    time.sleep(1.1)
    assert tenant.graph("GET", "/identityProtection/riskDetections", token=token).status_code == 200


def test_reports_quota_429_carries_retry_after(start_tenant: StartTenant) -> None:
    tenant = start_tenant(quota_scale=0.15)  # 5 requests per 1.5 s
    token = tenant.token()
    statuses = [tenant.graph("GET", "/auditLogs/signIns", token=token, params={"$top": "1"}).status_code
                for _ in range(5)]
    assert statuses == [200] * 5
    throttled = tenant.graph("GET", "/auditLogs/signIns", token=token)
    assert error_of(throttled, 429)["code"] == "TooManyRequests"
    wait = float(throttled.headers["Retry-After"])
    assert 0 < wait <= 1.5
    # Alerts count against another bucket and still answer.
    assert tenant.graph("GET", "/security/alerts_v2", token=token).status_code == 200
    time.sleep(wait + 0.1)
    assert tenant.graph("GET", "/auditLogs/signIns", token=token).status_code == 200


# =====================================================================================================================
# Identity Protection
# =====================================================================================================================
def test_risky_users_are_the_snapshot_rows(signals: Tenant, token: str) -> None:
    body = get(signals, "/identityProtection/riskyUsers", token)
    assert body["@odata.context"].endswith("#identityProtection/riskyUsers")
    assert ids(body["value"]) == ids(RISKY_USERS)
    row = body["value"][0]
    want = RISKY_USERS[0]
    for key in ("userPrincipalName", "riskLevel", "riskState", "riskDetail", "riskLastUpdatedDateTime", "isDeleted"):
        assert row[key] == want[key]
    single = get(signals, f"/identityProtection/riskyUsers/{want['id']}", token)
    assert single["userPrincipalName"] == want["userPrincipalName"]
    unknown = signals.graph("GET", f"/identityProtection/riskyUsers/{BOB_ID}", token=token)
    assert error_of(unknown, 404)["code"] == "Request_ResourceNotFound"


@pytest.mark.parametrize(("text", "found"), [
    ("riskLevel eq 'high'", True),
    ("riskLevel eq 'low'", False),
    ("riskState eq 'atRisk'", True),
    ("riskState eq 'dismissed'", False),
    ("riskDetail eq 'none'", True),
    ("startswith(userPrincipalName, 'ali')", True),
    ("startswith(userPrincipalName, 'bob')", False),
    (f"id eq '{ALICE_ID}'", True),
    ("isDeleted eq false and isProcessing eq false", True),
    ("isDeleted eq true", False),
    ("riskLastUpdatedDateTime gt 2026-11-19T20:04:59.9999999Z", True),
    ("riskLastUpdatedDateTime gt 2026-11-19T20:05:00.000001Z", False),
    ("riskLastUpdatedDateTime lt 2026-11-19T20:05:00.000001Z and riskLastUpdatedDateTime ge 2026-11-19T20:05:00Z",
     True),
    ("riskLastUpdatedDateTime le 2026-11-19T20:04:59Z", False),
])
def test_risky_user_filters(signals: Tenant, token: str, text: str, found: bool) -> None:
    rows = get(signals, "/identityProtection/riskyUsers", token, **{"$filter": text})["value"]
    assert ids(rows) == (ids(RISKY_USERS) if found else set())


@pytest.mark.parametrize(("path", "params", "named"), [
    ("/identityProtection/riskyUsers", {"$filter": "riskLevel ne 'low'"}, "'ne'"),
    ("/identityProtection/riskyUsers", {"$filter": "userDisplayName eq 'Alice Ng'"}, "userDisplayName"),
    ("/identityProtection/riskyUsers", {"$filter": "riskLevel eq 'high' or riskLevel eq 'medium'"}, "'or'"),
    ("/identityProtection/riskyUsers", {"$filter": "riskLevel eq 'severe'"}, "severe"),
    ("/identityProtection/riskyUsers", {"$top": "501"}, "501"),
    ("/identityProtection/riskDetections", {"$filter": "detectedDateTime gt 2026-11-19T00:00:00Z"}, "'gt'"),
    ("/identityProtection/riskDetections", {"$filter": "startswith(userPrincipalName, 'a')"}, "startswith"),
    ("/identityProtection/riskDetections", {"$filter": "source eq 'IdentityProtection'"}, "source"),
    ("/identityProtection/riskDetections", {"$top": "999"}, "999"),
    ("/identityProtection/riskDetections", {"$orderby": "detectedDateTime desc"}, "detectedDateTime"),
    (f"/identityProtection/riskyUsers/{ALICE_ID}", {"$select": "id"}, "$select"),
])
def test_identity_protection_refuses_what_it_does_not_support(signals: Tenant, token: str, path: str,
                                                              params: dict[str, str], named: str) -> None:
    error = error_of(signals.graph("GET", path, token=token, params=params), 400)
    assert error["code"] == "BadRequest" and named in error["message"]


def test_risk_detections_are_the_snapshot_rows_and_page(signals: Tenant, token: str) -> None:
    body = get(signals, "/identityProtection/riskDetections", token, **{"$top": "500"})
    assert ids(body["value"]) == ids(DETECTIONS)
    assert [r["id"] for r in body["value"]] == ["rd-0002", "rd-0001"]  # newest detection first
    stored = {r["id"]: r for r in DETECTIONS}
    for row in body["value"]:
        for key in ("riskEventType", "riskLevel", "riskState", "userId", "ipAddress", "detectedDateTime"):
            assert row[key] == stored[row["id"]][key]
    rows, pages = get_all(signals, "/identityProtection/riskDetections", token, **{"$top": "1"})
    assert pages == 2 and [r["id"] for r in rows] == ["rd-0002", "rd-0001"]
    single = get(signals, "/identityProtection/riskDetections/rd-0001", token)
    assert single["riskEventType"] == "passwordSpray"
    missing = signals.graph("GET", "/identityProtection/riskDetections/rd-9999", token=token)
    assert error_of(missing, 404)["code"] == "Request_ResourceNotFound"


@pytest.mark.parametrize(("text", "expected"), [
    ("riskEventType eq 'passwordSpray'", {"rd-0001"}),
    ("riskLevel eq 'medium'", {"rd-0002"}),
    ("riskState eq 'atRisk'", {"rd-0001", "rd-0002"}),
    ("riskState eq 'dismissed'", set()),
    (f"userId eq '{ALICE_ID}'", {"rd-0001", "rd-0002"}),
    (f"userId eq '{BOB_ID}'", set()),
    ("userPrincipalName eq 'alice@contoso.com' and ipAddress eq '185.220.101.7'", {"rd-0001", "rd-0002"}),
    ("detectedDateTime ge 2026-11-19T20:03:00.000001Z", {"rd-0002"}),
    ("detectedDateTime le 2026-11-19T20:03:00Z", {"rd-0001"}),
    ("activityDateTime ge 2026-11-19T19:50:00Z and activityDateTime le 2026-11-19T20:09:59.999Z", {"rd-0001"}),
])
def test_risk_detection_filters(signals: Tenant, token: str, text: str, expected: set[str]) -> None:
    rows = get(signals, "/identityProtection/riskDetections", token, **{"$filter": text})["value"]
    assert ids(rows) == expected


def test_confirm_compromised_and_dismiss_read_back(start_tenant: StartTenant, tmp_path: Path) -> None:
    tenant = writer_tenant(start_tenant, tmp_path)
    token = tenant.token()
    now = instant(tenant.advance(3600))

    confirmed = tenant.graph("POST", "/identityProtection/riskyUsers/confirmCompromised", token=token,
                             json={"userIds": [BOB_ID]})
    assert confirmed.status_code == 204 and confirmed.content == b""
    bob = get(tenant, f"/identityProtection/riskyUsers/{BOB_ID}", token)
    assert (bob["riskState"], bob["riskLevel"], bob["riskDetail"]) == \
        ("confirmedCompromised", "high", "adminConfirmedUserCompromised")
    assert bob["userPrincipalName"] == "bob@contoso.com"
    assert timedelta(0) <= instant(bob["riskLastUpdatedDateTime"]) - now.replace(microsecond=0) < timedelta(minutes=1)
    bob_detections = get(tenant, "/identityProtection/riskDetections", token,
                         **{"$filter": f"userId eq '{BOB_ID}'"})["value"]
    assert [d["riskEventType"] for d in bob_detections] == ["adminConfirmedUserCompromised"]
    listed = get(tenant, "/identityProtection/riskyUsers", token, **{"$filter": "riskState eq 'confirmedCompromised'"})
    assert ids(listed["value"]) == {BOB_ID}

    dismissed = tenant.graph("POST", "/identityProtection/riskyUsers/dismiss", token=token,
                             json={"userIds": [ALICE_ID.upper()]})
    assert dismissed.status_code == 204
    alice = get(tenant, f"/identityProtection/riskyUsers/{ALICE_ID}", token)
    assert (alice["riskState"], alice["riskLevel"], alice["riskDetail"]) == \
        ("dismissed", "none", "adminDismissedAllRiskForUser")
    assert instant(alice["riskLastUpdatedDateTime"]) >= now.replace(microsecond=0)
    alice_detections = get(tenant, "/identityProtection/riskDetections", token,
                           **{"$filter": f"userId eq '{ALICE_ID}'"})["value"]
    assert {d["riskState"] for d in alice_detections} == {"dismissed"}
    risky_signins = get(tenant, "/auditLogs/signIns", token, **{"$filter": "riskState eq 'atRisk'"})["value"]
    assert risky_signins == []
    assert len(get(tenant, "/auditLogs/signIns", token, **{"$filter": "riskState eq 'dismissed'"})["value"]) == 2


BAD_ACTION_BODIES: list[Any] = [
    None,
    {"userIds": []},
    {"userIds": ALICE_ID},
    {"userIds": ["alice@contoso.com"]},
    {"userIds": ["00000009-aaaa-4bbb-8ccc-000000000009"]},  # no such user
    {"userIds": [ALICE_ID], "reason": "phish"},
]


def test_risky_user_actions_refuse_bad_bodies(start_tenant: StartTenant, tmp_path: Path) -> None:
    tenant = writer_tenant(start_tenant, tmp_path)
    token = tenant.token()
    for action in ("dismiss", "confirmCompromised"):
        for body in BAD_ACTION_BODIES:
            kwargs = {"json": body} if body is not None else {}
            response = tenant.graph("POST", f"/identityProtection/riskyUsers/{action}", token=token, **kwargs)
            assert error_of(response, 400)["code"] == "BadRequest", (action, body)
    assert get(tenant, f"/identityProtection/riskyUsers/{ALICE_ID}", token)["riskState"] == "atRisk"
    assert len(get(tenant, "/identityProtection/riskDetections", token)["value"]) == len(DETECTIONS)


def writer_tenant(start_tenant: StartTenant, tmp_path: Path) -> Tenant:
    """A private tenant whose APP_ID may also change risk and alerts."""
    folder = tenant_variant(tmp_path, grant=["IdentityRiskyUser.ReadWrite.All", "SecurityAlert.ReadWrite.All"])
    return start_tenant(tenant_dir=folder, quota_scale=0.0001)


# =====================================================================================================================
# Alerts
# =====================================================================================================================
def test_alerts_are_the_snapshot_rows_newest_first(signals: Tenant, token: str) -> None:
    body = get(signals, "/security/alerts_v2", token, **{"$count": "true"})
    assert body["@odata.context"].endswith("#security/alerts_v2") and body["@odata.count"] == len(ALERTS)
    rows = body["value"]
    assert ids(rows) == ids(ALERTS)
    times = [instant(r["createdDateTime"]) for r in rows]
    assert times == sorted(times, reverse=True)
    stored = {r["id"]: r for r in ALERTS}
    for row in rows:
        want = stored[row["id"]]
        assert row["@odata.type"] == "#microsoft.graph.security.alert"
        for key in ("title", "severity", "status", "serviceSource", "incidentId", "evidence"):
            assert row[key] == want[key]
        assert row["assignedTo"] is None and row["resolvedDateTime"] is None
        assert row["alertWebUrl"].startswith(f"https://security.microsoft.com/alerts/{row['id']}")
    single = get(signals, f"/security/alerts_v2/{ALERTS[0]['id']}", token)
    assert single["title"] == "User restricted from sending email"
    missing = signals.graph("GET", "/security/alerts_v2/da000_0", token=token)
    assert error_of(missing, 404)["code"] == "NotFound"


HIGH, MEDIUM = ALERTS[0]["id"], ALERTS[1]["id"]


@pytest.mark.parametrize(("text", "expected"), [
    ("severity eq 'high'", {HIGH}),
    ("severity eq 'high' or severity eq 'medium'", {HIGH, MEDIUM}),
    ("status eq 'new' and severity eq 'medium'", {MEDIUM}),
    ("status eq 'resolved'", set()),
    ("serviceSource eq 'microsoftDefenderForOffice365'", {HIGH, MEDIUM}),
    ("serviceSource eq 'microsoftDefenderForEndpoint'", set()),
    ("createdDateTime gt 2026-11-19T22:41:30.000001Z", {MEDIUM}),
    ("createdDateTime ge 2026-11-19T22:41:30Z and createdDateTime lt 2026-11-20T09:05:30Z", {HIGH}),
    ("lastUpdateDateTime le 2026-11-20T09:05:29.999Z", {HIGH}),
    ("assignedTo eq null", {HIGH, MEDIUM}),
    ("assignedTo eq 'analyst@contoso.com'", set()),
])
def test_alert_filters(signals: Tenant, token: str, text: str, expected: set[str]) -> None:
    assert ids(get(signals, "/security/alerts_v2", token, **{"$filter": text})["value"]) == expected


@pytest.mark.parametrize(("params", "named"), [
    ({"$filter": "title eq 'User restricted from sending email'"}, "title"),
    ({"$filter": "severity ne 'low'"}, "'ne'"),
    ({"$filter": "severity eq 'critical'"}, "critical"),
    ({"$filter": "startswith(assignedTo, 'a')"}, "startswith"),
    ({"$top": "2001"}, "2001"),
    ({"$select": "id,title"}, "$select"),
    ({"$orderby": "createdDateTime desc"}, "createdDateTime"),
    ({"$skip": "x"}, "'x'"),
])
def test_alerts_refuse_what_they_do_not_support(signals: Tenant, token: str, params: dict[str, str],
                                                named: str) -> None:
    error = error_of(signals.graph("GET", "/security/alerts_v2", token=token, params=params), 400)
    assert error["code"] == "BadRequest" and named in error["message"]


def test_alerts_top_skip_and_count(signals: Tenant, token: str) -> None:
    rows, pages = get_all(signals, "/security/alerts_v2", token, **{"$top": "1"})
    assert pages == 2 and [r["id"] for r in rows] == [MEDIUM, HIGH]
    skipped = get(signals, "/security/alerts_v2", token, **{"$skip": "1", "$count": "true"})
    assert [r["id"] for r in skipped["value"]] == [HIGH] and skipped["@odata.count"] == 1
    assert len(get(signals, "/security/alerts_v2", token, **{"$top": "2000"})["value"]) == len(ALERTS)


def test_alert_patch_resolves_and_reads_back(start_tenant: StartTenant, tmp_path: Path) -> None:
    tenant = writer_tenant(start_tenant, tmp_path)
    token = tenant.token()
    now = instant(tenant.advance(7200)).replace(microsecond=0)
    body = {"status": "resolved", "classification": "truePositive", "determination": "compromisedUser",
            "assignedTo": "analyst@contoso.com"}
    response = tenant.graph("PATCH", f"/security/alerts_v2/{HIGH}", token=token, json=body)
    assert response.status_code == 200, response.text
    updated = response.json()
    assert {k: updated[k] for k in body} == body
    assert instant(updated["resolvedDateTime"]) >= now and updated["lastUpdateDateTime"] == updated["resolvedDateTime"]

    read = get(tenant, f"/security/alerts_v2/{HIGH}", token)
    assert {k: read[k] for k in body} == body and read["title"] == "User restricted from sending email"
    assert ids(get(tenant, "/security/alerts_v2", token, **{"$filter": "status eq 'resolved'"})["value"]) == {HIGH}
    mine = get(tenant, "/security/alerts_v2", token, **{"$filter": "assignedTo eq 'analyst@contoso.com'"})
    assert ids(mine["value"]) == {HIGH}
    other = get(tenant, f"/security/alerts_v2/{MEDIUM}", token)
    assert other["status"] == "new" and other["lastUpdateDateTime"] == ALERTS[1]["lastUpdateDateTime"]

    reopened = tenant.graph("PATCH", f"/security/alerts_v2/{HIGH}", token=token, json={"status": "inProgress"})
    assert reopened.status_code == 200 and reopened.json()["resolvedDateTime"] is None
    assert get(tenant, f"/security/alerts_v2/{HIGH}", token)["classification"] == "truePositive"


BAD_PATCHES: list[tuple[Any, str]] = [
    ({"severity": "low"}, "severity"),
    ({"title": "nothing to see"}, "title"),
    ({"status": "closed"}, "closed"),
    ({"classification": "maybe"}, "maybe"),
    ({"determination": "compromisedAccountish"}, "compromisedAccountish"),
    ({"status": "unknownFutureValue"}, "unknownFutureValue"),
    ({"assignedTo": 7}, "assignedTo"),
    ([{"status": "resolved"}], "JSON"),
]


def test_alert_patch_refuses_bad_bodies(start_tenant: StartTenant, tmp_path: Path) -> None:
    tenant = writer_tenant(start_tenant, tmp_path)
    token = tenant.token()
    for body, named in BAD_PATCHES:
        error = error_of(tenant.graph("PATCH", f"/security/alerts_v2/{HIGH}", token=token, json=body), 400)
        assert error["code"] == "BadRequest" and named in error["message"], (body, error)
    read = get(tenant, f"/security/alerts_v2/{HIGH}", token)
    assert read["status"] == "new" and read["lastUpdateDateTime"] == ALERTS[0]["lastUpdateDateTime"]
    missing = tenant.graph("PATCH", "/security/alerts_v2/da000_0", token=token, json={"status": "resolved"})
    assert error_of(missing, 404)["code"] == "NotFound"
