"""Graph directory endpoints of the sandbox: users, remediation, authentication methods, OAuth grants, service
principals - over real HTTPS, with msal tokens, compared row for row with the snapshot files."""

from __future__ import annotations

import json
import re
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import msal
import pytest

from tests.conftest import (
    EXCHANGE_SCOPE,
    GRAPH_SCOPE,
    PUBLIC_ID,
    READER_ID,
    READER_SECRET,
    SMALL_TENANT,
    StartTenant,
    Tenant,
)
from toolkit.sandbox.odata import parse_datetime

DEFAULT_PROPERTIES = ["businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
                      "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id"]
ALICE = "00000003-aaaa-4bbb-8ccc-000000000003"
BOB = "00000004-aaaa-4bbb-8ccc-000000000004"
PASSWORD_METHOD = "28c10230-6103-485e-b985-444c60001490"
COMPLEXITY = ("The specified password does not comply with password complexity requirements. Please provide a "
              "different password.")
DENIED = "Insufficient privileges to complete the operation."
GUEST_ID = "00000008-aaaa-4bbb-8ccc-000000000008"
RW_APP_ID = "0a1b2c3d-4444-4000-8000-000000000004"
RW_APP_SECRET = "sandbox-user-readwrite-4"


def rows(name: str) -> list[dict[str, Any]]:
    text = (SMALL_TENANT / f"{name}.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def served(row: dict[str, Any], *link_keys: str) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "_sandbox" and k not in link_keys}


def default_view(row: dict[str, Any]) -> dict[str, Any]:
    return {p: row.get(p, [] if p == "businessPhones" else None) for p in DEFAULT_PROPERTIES}


def error_of(response: Any) -> tuple[int, str, str]:
    body = response.json()["error"]
    return response.status_code, body["code"], body["message"]


def sim_now(tenant: Tenant) -> Any:
    return parse_datetime(tenant.control("GET", "/clock").json()["now"])


def public_app(tenant: Tenant) -> msal.PublicClientApplication:
    return msal.PublicClientApplication(PUBLIC_ID, authority=tenant.ep.authority, instance_discovery=False,
                                        http_client=tenant.session(), http_cache={})


def sign_in(tenant: Tenant, user: str, app: msal.PublicClientApplication | None = None) -> dict[str, Any]:
    """A device-code sign-in of ``user`` for every consented Graph permission; the msal result (tokens or error)."""
    app = app or public_app(tenant)
    flow = app.initiate_device_flow(scopes=[GRAPH_SCOPE])
    approved = tenant.control("POST", "/device/approve", {"user_code": flow["user_code"], "user": user})
    assert approved.status_code == 200, approved.text
    return dict(app.acquire_token_by_device_flow(flow, exit_condition=lambda f: True))


def delegated_token(tenant: Tenant, user: str) -> str:
    result = sign_in(tenant, user)
    assert "access_token" in result, result
    return str(result["access_token"])


@pytest.fixture(scope="module")
def app_token(shared_tenant: Tenant) -> str:
    return shared_tenant.token()


@pytest.fixture(scope="module")
def reader_token(shared_tenant: Tenant) -> str:
    return shared_tenant.token(GRAPH_SCOPE, READER_ID, READER_SECRET)


def custom_tenant(tmp_path: Path) -> Path:
    """The small tenant plus a guest user (no mailbox) and an app holding User.ReadWrite.All as User Administrator."""
    folder = tmp_path / "custom"
    shutil.copytree(SMALL_TENANT, folder)
    guest = {"id": GUEST_ID, "userPrincipalName": "partner_fabrikam.example#EXT#@contoso.onmicrosoft.com",
             "displayName": "Partner Guest", "mail": "partner@fabrikam.example", "accountEnabled": True,
             "userType": "Guest", "proxyAddresses": [], "createdDateTime": "2025-01-01T09:00:00Z"}
    with (folder / "users.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(guest) + "\n")
    apps = json.loads((folder / "apps.json").read_text())
    apps.append({"clientId": RW_APP_ID, "displayName": "User writer", "secrets": [{"value": RW_APP_SECRET}],
                 "applicationPermissions": {"https://graph.microsoft.com": [
                     "User.ReadWrite.All", "UserAuthenticationMethod.ReadWrite.All"]},
                 "directoryRoles": ["User Administrator"]})
    (folder / "apps.json").write_text(json.dumps(apps))
    return folder


# --- reading users ------------------------------------------------------------------------------------------------

def test_list_users_returns_the_default_properties_of_every_snapshot_row(shared_tenant: Tenant, app_token: str) -> None:
    response = shared_tenant.graph("GET", "/users", token=app_token)
    assert response.status_code == 200
    body = response.json()
    assert body["@odata.context"] == "https://graph.microsoft.com/v1.0/$metadata#users"
    assert "@odata.nextLink" not in body
    assert body["value"] == [default_view(r) for r in rows("users")]
    assert list(body["value"][0]) == DEFAULT_PROPERTIES  # no accountEnabled, proxyAddresses... without $select


def test_users_top_2_pages_every_row_exactly_once(shared_tenant: Tenant, app_token: str) -> None:
    url: str | None = "/users?$top=2"
    sizes, seen = [], []
    while url:
        body = shared_tenant.graph("GET", url, token=app_token).json()
        sizes.append(len(body["value"]))
        seen += [u["id"] for u in body["value"]]
        url = body.get("@odata.nextLink")
        if url:
            assert "$skiptoken=" in url and "$top=2" in url
    assert sizes == [2, 2, 2, 1]
    assert seen == [r["id"] for r in rows("users")]


def test_select_returns_only_the_selected_properties(shared_tenant: Tenant, app_token: str) -> None:
    fields = ["id", "accountEnabled", "proxyAddresses", "lastPasswordChangeDateTime",
              "signInSessionsValidFromDateTime", "createdDateTime", "department", "usageLocation", "userType"]
    response = shared_tenant.graph("GET", "/users", token=app_token, params={"$select": ",".join(fields)})
    body = response.json()
    assert body["@odata.context"] == f"https://graph.microsoft.com/v1.0/$metadata#users({','.join(fields)})"
    expected = [{**{f: r.get(f) for f in fields}, "userType": "Member"} for r in rows("users")]
    assert body["value"] == expected
    assert all(set(u) == set(fields) for u in body["value"])
    # Property names are case-insensitive; the answer uses the canonical names.
    one = shared_tenant.graph("GET", f"/users/{ALICE}", token=app_token, params={"$select": "ACCOUNTENABLED,mail"})
    assert one.json()["accountEnabled"] is True and one.json()["mail"] == "alice@contoso.com"


FILTERS = [
    ("userPrincipalName eq 'alice@contoso.com'", ["alice"]),
    ("userPrincipalName eq 'ALICE@contoso.com'", ["alice"]),
    ("startswith(userPrincipalName,'a')", ["admin", "analyst", "alice"]),
    ("mail eq 'bob@contoso.com'", ["bob"]),
    ("startswith(mail,'c')", ["carol"]),
    ("displayName eq 'Carol Jones'", ["carol"]),
    ("startswith(displayName,'Pat')", ["o'brien"]),
    (f"id eq '{BOB}'", ["bob"]),
    ("accountEnabled eq false", ["info"]),
    ("userType eq 'Member'", ["admin", "analyst", "alice", "bob", "carol", "o'brien", "info"]),
    ("userType eq 'Guest'", []),
    ("proxyAddresses/any(p:p eq 'smtp:alice.ng@contoso.com')", ["alice"]),
    ("proxyAddresses/any(p:startswith(p,'smtp:admin@'))", ["admin"]),
    ("userPrincipalName eq 'o''brien@contoso.com'", ["o'brien"]),
    ("userPrincipalName eq 'bob@contoso.com' or userPrincipalName eq 'carol@contoso.com'", ["bob", "carol"]),
    ("startswith(userPrincipalName,'a') and accountEnabled eq true", ["admin", "analyst", "alice"]),
    ("startswith(jobTitle,'Sales')", ["carol"]),
]


@pytest.mark.parametrize(("expression", "expected"), FILTERS)
def test_user_filters(shared_tenant: Tenant, app_token: str, expression: str, expected: list[str]) -> None:
    response = shared_tenant.graph("GET", "/users", token=app_token, params={"$filter": expression})
    assert response.status_code == 200, response.text
    assert [u["userPrincipalName"].split("@")[0] for u in response.json()["value"]] == expected


BAD_QUERIES = [
    ({"$top": "1000"}, "Request_UnsupportedQuery",
     "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive."),
    ({"$top": "0"}, "Request_UnsupportedQuery",
     "Invalid page size specified: '0'. Must be between 1 and 999 inclusive."),
    ({"$filter": "department eq 'IT'"}, "Request_UnsupportedQuery", "department"),
    ({"$filter": "endswith(mail,'contoso.com')"}, "Request_UnsupportedQuery", "endswith"),
    ({"$filter": "mail ne 'x@contoso.com'"}, "Request_UnsupportedQuery", "ne"),
    ({"$filter": "not(accountEnabled eq true)"}, "Request_UnsupportedQuery", "not"),
    ({"$filter": "accountEnabled eq 'yes'"}, "Request_UnsupportedQuery", "accountEnabled"),
    ({"$filter": "userPrincipalName eq 'o'brien@contoso.com'"}, "Request_UnsupportedQuery", "position"),
    ({"$filter": "proxyAddresses eq 'smtp:alice@contoso.com'"}, "Request_UnsupportedQuery", "any"),
    ({"$select": "id,favouriteColour"}, "Request_BadRequest",
     "Could not find a property named 'favouriteColour' on type 'microsoft.graph.user'."),
    ({"$count": "true"}, "Request_BadRequest", "ConsistencyLevel"),
    ({"$search": '"displayName:ali"'}, "BadRequest", "$search"),
    ({"$expand": "manager"}, "BadRequest", "$expand"),
    ({"$orderby": "createdDateTime"}, "BadRequest", "createdDateTime"),
    ({"$skiptoken": "forged.2"}, "BadRequest", "skip token"),
]


@pytest.mark.parametrize(("params", "code", "text"), BAD_QUERIES)
def test_unsupported_user_queries_are_400(shared_tenant: Tenant, app_token: str, params: dict[str, str], code: str,
                                          text: str) -> None:
    status, got_code, message = error_of(shared_tenant.graph("GET", "/users", token=app_token, params=params))
    assert (status, got_code) == (400, code)
    assert text in message


def test_count_with_consistency_level_and_orderby(shared_tenant: Tenant, app_token: str) -> None:
    counted = shared_tenant.graph("GET", "/users", token=app_token, params={"$count": "true", "$top": "3"},
                                  headers={"ConsistencyLevel": "eventual"}).json()
    assert counted["@odata.count"] == 7 and len(counted["value"]) == 3
    ordered = shared_tenant.graph("GET", "/users", token=app_token, params={"$orderby": "displayName desc"}).json()
    names = [u["displayName"] for u in ordered["value"]]
    assert names == sorted((r["displayName"] for r in rows("users")), reverse=True)


@pytest.mark.parametrize("key", [ALICE, ALICE.upper(), "alice@contoso.com", "Alice@Contoso.com"])
def test_get_user_by_id_or_upn(shared_tenant: Tenant, app_token: str, key: str) -> None:
    response = shared_tenant.graph("GET", f"/users/{key}", token=app_token)
    assert response.status_code == 200
    body = response.json()
    assert body.pop("@odata.context") == "https://graph.microsoft.com/v1.0/$metadata#users/$entity"
    assert body == default_view(rows("users")[2])


@pytest.mark.parametrize("path", ["/users/o'brien@contoso.com", "/users/o%27brien%40contoso.com"])
def test_upn_with_a_quote_plain_or_encoded(shared_tenant: Tenant, app_token: str, path: str) -> None:
    response = shared_tenant.graph("GET", path, token=app_token, params={"$select": "id,userPrincipalName,mail"})
    assert response.status_code == 200, response.text
    assert response.json()["id"] == "00000006-aaaa-4bbb-8ccc-000000000006"
    assert response.json()["userPrincipalName"] == "o'brien@contoso.com"


@pytest.mark.parametrize("key", ["nobody@contoso.com", "alice.ng@contoso.com", "00000000-0000-0000-0000-000000000000"])
def test_unknown_user_is_request_resource_not_found(shared_tenant: Tenant, app_token: str, key: str) -> None:
    # A proxy address is not a key of /users/{key}: Graph takes only the object id or the UPN.
    assert error_of(shared_tenant.graph("GET", f"/users/{key}", token=app_token)) == (
        404, "Request_ResourceNotFound",
        f"Resource '{key}' does not exist or one of its queried reference-property objects are not present.")


def test_me_needs_a_signed_in_user(shared_tenant: Tenant, app_token: str) -> None:
    assert error_of(shared_tenant.graph("GET", "/me", token=app_token))[:2] == (400, "BadRequest")
    token = delegated_token(shared_tenant, "analyst@contoso.com")
    me = shared_tenant.graph("GET", "/me", token=token, params={"$select": "userPrincipalName,department"})
    assert me.json()["userPrincipalName"] == "analyst@contoso.com" and me.json()["department"] == "Security"


# --- who may call -------------------------------------------------------------------------------------------------

def test_missing_or_wrong_audience_token_is_401(shared_tenant: Tenant) -> None:
    session = shared_tenant.session()
    missing = session.get(f"{shared_tenant.ep.graph}/users", timeout=10)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "InvalidAuthenticationToken"
    exo = shared_tenant.token(EXCHANGE_SCOPE)
    calls = [("GET", "/users"), ("PATCH", f"/users/{ALICE}"), ("POST", f"/users/{ALICE}/revokeSignInSessions"),
             ("GET", "/oauth2PermissionGrants"), ("GET", "/servicePrincipals")]
    for method, path in calls:
        status, code, message = error_of(shared_tenant.graph(method, path, token=exo, json={}))
        assert (status, code, message) == (401, "InvalidAuthenticationToken",
                                           "Access token validation failure. Invalid audience.")


READER_DENIED = [
    ("PATCH", f"/users/{ALICE}", {"accountEnabled": False}),
    ("PATCH", f"/users/{ALICE}", {"passwordProfile": {"password": "Tr1cky!Horse#42"}}),
    ("POST", f"/users/{ALICE}/revokeSignInSessions", None),
    ("GET", f"/users/{ALICE}/authentication/methods", None),
    ("GET", f"/users/{ALICE}/oauth2PermissionGrants", None),
    ("GET", "/oauth2PermissionGrants", None),
    ("DELETE", "/oauth2PermissionGrants/grant-alice-mailer", None),
    ("GET", "/servicePrincipals", None),
    ("POST", f"/users/{ALICE}/authentication/methods/{PASSWORD_METHOD}/resetPassword", {}),
]


@pytest.mark.parametrize(("method", "path", "body"), READER_DENIED)
def test_reader_app_with_user_read_all_only_is_403(shared_tenant: Tenant, reader_token: str, method: str, path: str,
                                                   body: Any) -> None:
    response = shared_tenant.graph(method, path, token=reader_token, json=body)
    assert error_of(response) == (403, "Authorization_RequestDenied", DENIED)


def test_reader_app_may_read_users(shared_tenant: Tenant, reader_token: str) -> None:
    response = shared_tenant.graph("GET", "/users/bob@contoso.com", token=reader_token)
    assert response.status_code == 200 and response.json()["id"] == BOB


# --- authentication methods, grants, service principals -----------------------------------------------------------

def test_authentication_methods_match_the_snapshot(shared_tenant: Tenant, app_token: str) -> None:
    expected = [served(r, "user") for r in rows("auth_methods") if r["user"] == ALICE]
    for key in (ALICE, "alice@contoso.com"):
        body = shared_tenant.graph("GET", f"/users/{key}/authentication/methods", token=app_token).json()
        assert body["@odata.context"].endswith(f"users('{ALICE}')/authentication/methods")
        assert body["value"] == expected
    assert all(m["@odata.type"].startswith("#microsoft.graph.") for m in expected)
    one = shared_tenant.graph("GET", f"/users/{ALICE}/authentication/methods/{expected[1]['id']}", token=app_token)
    assert {k: v for k, v in one.json().items() if k != "@odata.context"} == expected[1]
    typed = shared_tenant.graph("GET", f"/users/{ALICE}/authentication/passwordMethods", token=app_token).json()
    assert typed["value"] == [expected[0]]
    empty = shared_tenant.graph("GET", "/users/carol@contoso.com/authentication/methods", token=app_token).json()
    assert empty["value"] == []
    missing = shared_tenant.graph("GET", f"/users/{ALICE}/authentication/methods/nope", token=app_token)
    assert error_of(missing)[:2] == (404, "itemNotFound")
    wrong = shared_tenant.graph("GET", f"/users/{ALICE}/authentication/bogusMethods", token=app_token)
    assert error_of(wrong)[:2] == (400, "BadRequest")


def test_oauth_grants_listings_and_filters(shared_tenant: Tenant, app_token: str) -> None:
    grants = [served(r) for r in rows("oauth_grants")]
    body = shared_tenant.graph("GET", "/oauth2PermissionGrants", token=app_token).json()
    assert body["@odata.context"] == "https://graph.microsoft.com/v1.0/$metadata#oauth2PermissionGrants"
    assert body["value"] == grants

    def ids(params: dict[str, str], path: str = "/oauth2PermissionGrants") -> list[str]:
        response = shared_tenant.graph("GET", path, token=app_token, params=params)
        assert response.status_code == 200, response.text
        return [g["id"] for g in response.json()["value"]]

    assert ids({"$filter": "consentType eq 'AllPrincipals'"}) == ["grant-all-graph"]
    assert ids({"$filter": f"principalId eq '{ALICE}'"}) == ["grant-alice-mailer"]
    assert ids({"$filter": "clientId eq '9e0d1c2b-0000-4000-8000-00000000e001'"}) == ["grant-alice-mailer"]
    assert ids({"$filter": "resourceId eq '9e0d1c2b-0000-4000-8000-00000000e000'"}) == [g["id"] for g in grants]
    assert ids({"$filter": "consentType eq 'Principal' and clientId eq 'nope'"}) == []
    # The user's own grants only: the tenant-wide (AllPrincipals) grant is not the user's.
    assert ids({}, f"/users/{ALICE}/oauth2PermissionGrants") == ["grant-alice-mailer"]
    assert ids({}, "/users/bob@contoso.com/oauth2PermissionGrants") == []
    one = shared_tenant.graph("GET", "/oauth2PermissionGrants/grant-alice-mailer", token=app_token).json()
    assert one["@odata.context"].endswith("#oauth2PermissionGrants/$entity")
    assert {k: v for k, v in one.items() if k != "@odata.context"} == grants[0]
    bad = shared_tenant.graph("GET", "/oauth2PermissionGrants", token=app_token,
                              params={"$filter": "startswith(scope,'Mail')"})
    assert error_of(bad)[:2] == (400, "Request_UnsupportedQuery")
    missing = shared_tenant.graph("GET", "/oauth2PermissionGrants/nope", token=app_token)
    assert error_of(missing)[:2] == (404, "Request_ResourceNotFound")


def test_service_principals_name_a_grants_client(shared_tenant: Tenant, app_token: str) -> None:
    principals = [served(r) for r in rows("service_principals")]
    body = shared_tenant.graph("GET", "/servicePrincipals", token=app_token).json()
    assert body["value"] == principals

    def names(expression: str) -> list[str]:
        found = shared_tenant.graph("GET", "/servicePrincipals", token=app_token, params={"$filter": expression})
        assert found.status_code == 200, found.text
        return [s["displayName"] for s in found.json()["value"]]

    assert names("appId eq '00000003-0000-0000-c000-000000000000'") == ["Microsoft Graph"]
    assert names("startswith(displayName,'pdf')") == ["PDF Mail Helper"]
    assert names("displayName eq 'Message Trace API'") == ["Message Trace API"]
    assert names("id eq '9e0d1c2b-0000-4000-8000-00000000e001' or id eq '9e0d1c2b-0000-4000-8000-00000000e000'") == [
        "Microsoft Graph", "PDF Mail Helper"]
    grant = shared_tenant.graph("GET", "/oauth2PermissionGrants/grant-alice-mailer", token=app_token).json()
    client = shared_tenant.graph("GET", f"/servicePrincipals/{grant['clientId']}", token=app_token).json()
    assert client["displayName"] == "PDF Mail Helper" and client["publisherName"] == "Unverified"
    by_app = shared_tenant.graph("GET", "/servicePrincipals(appId='8bd644d1-64a1-4d4b-ae52-2e0cbf64e373')",
                                 token=app_token)
    assert by_app.json()["id"] == "9e0d1c2b-0000-4000-8000-00000000e0ff"
    missing = shared_tenant.graph("GET", "/servicePrincipals/8bd644d1-64a1-4d4b-ae52-2e0cbf64e373", token=app_token)
    assert error_of(missing)[:2] == (404, "Request_ResourceNotFound")  # an appId is not an object id


# --- state changes ------------------------------------------------------------------------------------------------

def test_deleted_grant_is_gone_from_every_listing(start_tenant: StartTenant) -> None:
    tenant = start_tenant()
    token = tenant.token()
    assert tenant.graph("DELETE", "/oauth2PermissionGrants/grant-alice-mailer", token=token).status_code == 204
    assert error_of(tenant.graph("GET", "/oauth2PermissionGrants/grant-alice-mailer", token=token))[:2] == (
        404, "Request_ResourceNotFound")
    everyone = tenant.graph("GET", "/oauth2PermissionGrants", token=token).json()["value"]
    assert [g["id"] for g in everyone] == ["grant-all-graph"]
    assert tenant.graph("GET", f"/users/{ALICE}/oauth2PermissionGrants", token=token).json()["value"] == []
    again = tenant.graph("DELETE", "/oauth2PermissionGrants/grant-alice-mailer", token=token)
    assert error_of(again)[:2] == (404, "Request_ResourceNotFound")


def test_password_change_moves_last_change_and_never_shows_the_password(start_tenant: StartTenant) -> None:
    tenant = start_tenant(log_level="INFO")
    token = tenant.token()
    weak = ["password1", "Ab1!", "alllowercaseletters", "Alice2026!xyz", "Passw0rd!Now"]
    for password in weak:
        response = tenant.graph("PATCH", f"/users/{ALICE}", token=token,
                                json={"passwordProfile": {"password": password}})
        assert error_of(response) == (400, "Request_BadRequest", COMPLEXITY), password
    # The app is User Administrator: enough for alice, not for a Global Administrator.
    admin = tenant.graph("PATCH", "/users/admin@contoso.com", token=token,
                         json={"passwordProfile": {"password": "Tr1cky!Horse#42"}})
    assert error_of(admin) == (403, "Authorization_RequestDenied", DENIED)
    before = sim_now(tenant)
    secret = "Tr1cky!Horse#42-" + "q7Z"
    done = tenant.graph("PATCH", f"/users/{ALICE}", token=token,
                        json={"passwordProfile": {"password": secret, "forceChangePasswordNextSignIn": True}})
    assert done.status_code == 204 and done.content == b""
    after = sim_now(tenant)
    read = tenant.graph("GET", f"/users/{ALICE}", token=token,
                        params={"$select": "lastPasswordChangeDateTime,signInSessionsValidFromDateTime,"
                                           "passwordProfile"})
    changed = parse_datetime(read.json()["lastPasswordChangeDateTime"])
    assert before <= changed <= after + timedelta(seconds=1)
    assert read.json()["signInSessionsValidFromDateTime"] == read.json()["lastPasswordChangeDateTime"]
    assert read.json()["passwordProfile"] is None
    methods = tenant.graph("GET", f"/users/{ALICE}/authentication/methods", token=token).json()["value"]
    password_method = next(m for m in methods if m["id"] == PASSWORD_METHOD)
    assert password_method["password"] is None
    assert password_method["createdDateTime"] == read.json()["lastPasswordChangeDateTime"]
    every = ",".join(sorted({"passwordProfile", "passwordPolicies", *rows("users")[2]} - {"_sandbox"}))
    responses = [read.text, json.dumps(methods),
                 tenant.graph("GET", "/users", token=token, params={"$select": every}).text,
                 tenant.control("GET", "/state").text]
    assert all(secret not in text for text in responses)
    log_text = tenant.process.log_text()
    assert "password of alice@contoso.com changed" in log_text  # the change is logged...
    assert secret not in log_text  # ...the password is not
    assert all(w not in log_text for w in weak[3:])


PATCH_ERRORS = [
    ({"favouriteColour": "blue"}, "Property 'favouriteColour' does not exist as a declared property or extension "
                                  "property."),
    ({"id": ALICE}, "Property 'id' is read-only and cannot be set."),
    ({"lastPasswordChangeDateTime": "2026-01-01T00:00:00Z"}, "read-only"),
    ({"jobTitle": "CFO"}, "supports only accountEnabled and passwordProfile"),
    ({"accountEnabled": "no"}, "accountEnabled"),
    ({"passwordProfile": "Tr1cky!Horse#42"}, "passwordProfile"),
    ({"passwordProfile": {"password": "Tr1cky!Horse#42", "pin": "1234"}}, "'pin'"),
]


@pytest.mark.parametrize(("body", "text"), PATCH_ERRORS)
def test_patch_refuses_what_it_cannot_set(shared_tenant: Tenant, app_token: str, body: dict[str, Any],
                                          text: str) -> None:
    status, code, message = error_of(shared_tenant.graph("PATCH", f"/users/{ALICE}", token=app_token, json=body))
    assert (status, code) == (400, "Request_BadRequest")
    assert text in message


def test_user_readwrite_all_alone_cannot_set_a_password(start_tenant: StartTenant, tmp_path: Path) -> None:
    tenant = start_tenant(custom_tenant(tmp_path))
    token = tenant.token(GRAPH_SCOPE, RW_APP_ID, RW_APP_SECRET)
    denied = tenant.graph("PATCH", f"/users/{BOB}", token=token,
                          json={"passwordProfile": {"password": "Tr1cky!Horse#42"}})
    assert error_of(denied) == (403, "Authorization_RequestDenied", DENIED)
    # ...but it may block sign-in, and app-only resetPassword is refused even with the write permission.
    assert tenant.graph("PATCH", f"/users/{BOB}", token=token, json={"accountEnabled": False}).status_code == 204
    reset = tenant.graph("POST", f"/users/{BOB}/authentication/methods/{PASSWORD_METHOD}/resetPassword", token=token,
                         json={})
    status, code, message = error_of(reset)
    assert (status, code) == (403, "Authorization_RequestDenied") and "delegated" in message
    # Guests' sessions are not revoked in the inviting tenant.
    guest = tenant.graph("POST", f"/users/{GUEST_ID}/revokeSignInSessions", token=tenant.token())
    assert error_of(guest)[:2] == (400, "Request_BadRequest")
    encoded = tenant.graph("GET", "/users/partner_fabrikam.example%23EXT%23@contoso.onmicrosoft.com", token=token)
    assert encoded.status_code == 200 and encoded.json()["id"] == GUEST_ID


def test_blocked_account_reads_back_and_cannot_sign_in(start_tenant: StartTenant) -> None:
    tenant = start_tenant()
    token = tenant.token()
    assert "access_token" in sign_in(tenant, "carol@contoso.com")
    block = tenant.graph("PATCH", "/users/carol@contoso.com", token=token, json={"accountEnabled": False})
    assert block.status_code == 204
    read = tenant.graph("GET", "/users/carol@contoso.com", token=token, params={"$select": "accountEnabled"})
    assert read.json()["accountEnabled"] is False
    disabled = tenant.graph("GET", "/users", token=token, params={"$filter": "accountEnabled eq false"}).json()
    assert [u["userPrincipalName"] for u in disabled["value"]] == ["carol@contoso.com", "info@contoso.com"]
    refused = sign_in(tenant, "carol@contoso.com")
    assert refused.get("error") == "invalid_grant" and "AADSTS50057" in refused["error_description"]
    # Blocking an administrator needs a privileged role the app does not hold.
    admin = tenant.graph("PATCH", "/users/admin@contoso.com", token=token, json={"accountEnabled": False})
    assert error_of(admin) == (403, "Authorization_RequestDenied", DENIED)
    unblock = tenant.graph("PATCH", "/users/carol@contoso.com", token=token, json={"accountEnabled": True})
    assert unblock.status_code == 204
    assert "access_token" in sign_in(tenant, "carol@contoso.com")


def test_revoke_moves_valid_from_and_kills_earlier_refresh_tokens(start_tenant: StartTenant) -> None:
    tenant = start_tenant()
    token = tenant.token()
    app = public_app(tenant)
    first = sign_in(tenant, "bob@contoso.com", app)
    refreshed = app.acquire_token_by_refresh_token(first["refresh_token"], scopes=[GRAPH_SCOPE])
    assert "access_token" in refreshed, refreshed  # the refresh path works before the revocation
    before = sim_now(tenant)
    response = tenant.graph("POST", "/users/bob@contoso.com/revokeSignInSessions", token=token)
    assert response.status_code == 200
    assert response.json() == {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Edm.Boolean",
                               "value": True}
    after = sim_now(tenant)
    read = tenant.graph("GET", f"/users/{BOB}", token=token, params={"$select": "signInSessionsValidFromDateTime"})
    valid_from = parse_datetime(read.json()["signInSessionsValidFromDateTime"])
    assert before <= valid_from <= after + timedelta(seconds=1)
    refused = public_app(tenant).acquire_token_by_refresh_token(refreshed["refresh_token"], scopes=[GRAPH_SCOPE])
    assert refused.get("error") == "invalid_grant" and "AADSTS50173" in refused["error_description"]
    fresh = sign_in(tenant, "bob@contoso.com")
    assert "access_token" in fresh  # a new sign-in after the revocation works
    # A signed-in Security Reader may not revoke someone else's sessions; a Global Administrator may.
    analyst = delegated_token(tenant, "analyst@contoso.com")
    denied = tenant.graph("POST", f"/users/{ALICE}/revokeSignInSessions", token=analyst)
    assert error_of(denied) == (403, "Authorization_RequestDenied", DENIED)
    admin = delegated_token(tenant, "admin@contoso.com")
    assert tenant.graph("POST", f"/users/{ALICE}/revokeSignInSessions", token=admin).json()["value"] is True


def test_reset_password_is_delegated_returns_202_and_an_operation(start_tenant: StartTenant) -> None:
    tenant = start_tenant(log_level="INFO")
    action = f"/users/{ALICE}/authentication/methods/{PASSWORD_METHOD}/resetPassword"
    # The app holds UserAuthenticationMethod.ReadWrite.All, yet resetPassword is for signed-in users only.
    app_only = tenant.graph("POST", action, token=tenant.token(), json={})
    assert error_of(app_only)[:2] == (403, "Authorization_RequestDenied")
    assert "delegated" in error_of(app_only)[2]
    reader = tenant.graph("POST", action, token=tenant.token(GRAPH_SCOPE, READER_ID, READER_SECRET), json={})
    assert error_of(reader) == (403, "Authorization_RequestDenied", DENIED)  # no write permission at all
    analyst = delegated_token(tenant, "analyst@contoso.com")
    assert error_of(tenant.graph("POST", action, token=analyst, json={}))[:2] == (403, "Authorization_RequestDenied")
    admin = delegated_token(tenant, "admin@contoso.com")
    own = f"/users/admin@contoso.com/authentication/methods/{PASSWORD_METHOD}/resetPassword"
    assert error_of(tenant.graph("POST", own, token=admin, json={}))[:2] == (403, "Authorization_RequestDenied")
    wrong_method = tenant.graph("POST", f"/users/{ALICE}/authentication/methods/nope/resetPassword", token=admin,
                                json={})
    assert error_of(wrong_method)[:2] == (404, "itemNotFound")
    weak = tenant.graph("POST", action, token=admin, json={"newPassword": "password"})
    assert error_of(weak) == (400, "Request_BadRequest", COMPLEXITY)

    before = sim_now(tenant)
    response = tenant.graph("POST", action, token=admin)
    assert response.status_code == 202
    generated = response.json()["newPassword"]
    assert len(generated) >= 12 and re.search(r"[a-z]", generated) and re.search(r"[A-Z]", generated)
    assert re.search(r"\d", generated)
    location = response.headers["Location"]
    assert re.fullmatch(rf"{re.escape(tenant.ep.graph)}/users/{ALICE}/authentication/operations/[0-9a-f-]{{36}}",
                        location)
    assert float(response.headers["Retry-After"]) >= 0
    operation = tenant.graph("GET", location, token=admin).json()
    assert operation["status"] == "succeeded"
    assert operation["resourceLocation"].endswith(f"/users/{ALICE}/authentication/passwordMethods/{PASSWORD_METHOD}")
    assert tenant.graph("GET", operation["resourceLocation"], token=admin).json()["id"] == PASSWORD_METHOD
    read = tenant.graph("GET", f"/users/{ALICE}", token=admin, params={"$select": "lastPasswordChangeDateTime"})
    changed = parse_datetime(read.json()["lastPasswordChangeDateTime"])
    assert before <= changed <= sim_now(tenant) + timedelta(seconds=1)
    assert read.json()["lastPasswordChangeDateTime"] == operation["createdDateTime"]
    other_user = tenant.graph("GET", location.replace(ALICE, BOB), token=admin)
    assert error_of(other_user)[:2] == (404, "itemNotFound")

    supplied = tenant.graph("POST", action, token=admin, json={"newPassword": "Str0ng&Unguessable!"})
    assert supplied.status_code == 202 and supplied.content == b"" and "Location" in supplied.headers
    reads = [tenant.graph("GET", f"/users/{ALICE}", token=admin,
                          params={"$select": "id,passwordProfile,lastPasswordChangeDateTime"}).text,
             tenant.graph("GET", f"/users/{ALICE}/authentication/methods", token=admin).text]
    log_text = tenant.process.log_text()
    assert "password of alice@contoso.com reset by admin@contoso.com" in log_text
    for secret in (generated, "Str0ng&Unguessable!"):
        assert secret not in log_text and all(secret not in text for text in reads)


def test_an_authentication_method_is_deleted_through_its_typed_path(start_tenant: StartTenant) -> None:
    tenant = start_tenant()
    token = tenant.token()
    phone = "3179e48a-750b-4051-897c-87b9720928f7"
    reader = tenant.token(GRAPH_SCOPE, READER_ID, READER_SECRET)
    refused = tenant.graph("DELETE", f"/users/{ALICE}/authentication/phoneMethods/{phone}", token=reader)
    assert refused.status_code == 403
    analyst = delegated_token(tenant, "analyst@contoso.com")  # Security Reader: no role that may remove methods
    assert tenant.graph("DELETE", f"/users/{ALICE}/authentication/phoneMethods/{phone}",
                        token=analyst).status_code == 403
    wrong_type = tenant.graph("DELETE", f"/users/{ALICE}/authentication/fido2Methods/{phone}", token=token)
    assert error_of(wrong_type)[:2] == (404, "itemNotFound")
    password = tenant.graph("DELETE", f"/users/{ALICE}/authentication/passwordMethods/{PASSWORD_METHOD}",
                            token=token)
    assert error_of(password)[:2] == (400, "badRequest")
    assert tenant.graph("DELETE", f"/users/alice@contoso.com/authentication/phoneMethods/{phone}",
                        token=token).status_code == 204
    left = tenant.graph("GET", f"/users/{ALICE}/authentication/methods", token=token).json()["value"]
    assert phone not in {m["id"] for m in left} and len(left) == 2
    again = tenant.graph("DELETE", f"/users/{ALICE}/authentication/phoneMethods/{phone}", token=token)
    assert error_of(again)[:2] == (404, "itemNotFound")


def test_the_control_api_simulates_sending(start_tenant: StartTenant) -> None:
    tenant = start_tenant()
    now = tenant.advance(0)
    sent = tenant.control("POST", "/send", {"sender": "alice@contoso.com", "recipients": 120, "minutes": 30})
    assert sent.status_code == 200, sent.text
    assert sent.json() == {"added": 120, "now": now}
    start = (parse_datetime(now) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = tenant.graph("GET", "/admin/exchange/tracing/messageTraces", params={
        "$filter": f"receivedDateTime ge {start} and receivedDateTime le {now} and senderAddress eq "
                   "'alice@contoso.com'"}).json()
    assert len(body["value"]) >= 100  # one page at most; every row is the burst's
    assert all(r["senderAddress"] == "alice@contoso.com" and r["subject"] == "Invoice overdue" for r in body["value"])
    for wrong in ({"sender": "ghost@contoso.com", "recipients": 5}, {"sender": "alice@contoso.com", "recipients": 0},
                  {"sender": "alice@contoso.com", "recipients": 5, "minutes": True}):
        assert tenant.control("POST", "/send", wrong).status_code in (400, 404)
    no_key = tenant.session().post(f"{tenant.ep.control}/send", json={"sender": "alice@contoso.com",
                                                                       "recipients": 1}, timeout=30)
    assert no_key.status_code == 401
