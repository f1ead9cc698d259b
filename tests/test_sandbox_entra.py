"""Entra endpoints of the sandbox, driven by the real msal library over HTTPS."""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path

import jwt
import msal
import pytest

from tests.conftest import (
    APP_ID,
    APP_SECRET,
    CERTS,
    EXCHANGE_SCOPE,
    GRAPH_SCOPE,
    PFX_PASSPHRASE,
    PFX_PATH,
    PUBLIC_ID,
    READER_ID,
    READER_SECRET,
    SMALL_TENANT,
    StartTenant,
    Tenant,
)


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def public_app(tenant: Tenant) -> msal.PublicClientApplication:
    return msal.PublicClientApplication(PUBLIC_ID, authority=tenant.ep.authority, instance_discovery=False,
                                        http_client=tenant.session(), http_cache={})


def test_discovery_document_points_at_the_sandbox(shared_tenant: Tenant) -> None:
    url = f"{shared_tenant.ep.authority}/v2.0/.well-known/openid-configuration"
    doc = shared_tenant.session().get(url, timeout=10).json()
    assert doc["token_endpoint"] == f"{shared_tenant.ep.authority}/oauth2/v2.0/token"
    assert doc["device_authorization_endpoint"].endswith("/oauth2/v2.0/devicecode")
    assert doc["issuer"] == f"{shared_tenant.ep.base_url}/{shared_tenant.ep.tenant_id}/v2.0"
    keys = shared_tenant.session().get(doc["jwks_uri"], timeout=10).json()["keys"]
    assert keys and keys[0]["kty"] == "RSA"


def test_domain_names_the_tenant_too(shared_tenant: Tenant) -> None:
    authority = f"{shared_tenant.ep.base_url}/contoso.onmicrosoft.com"
    app = msal.ConfidentialClientApplication(APP_ID, client_credential=APP_SECRET, authority=authority,
                                             instance_discovery=False, http_client=shared_tenant.session())
    result = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert claims(result["access_token"])["tid"] == shared_tenant.ep.tenant_id


def test_unknown_tenant_is_refused(shared_tenant: Tenant) -> None:
    url = f"{shared_tenant.ep.base_url}/fabrikam.onmicrosoft.com/v2.0/.well-known/openid-configuration"
    response = shared_tenant.session().get(url, timeout=10)
    assert response.status_code == 400
    assert response.json()["error_codes"] == [90002]


def test_client_secret_gives_app_only_token_with_granted_roles(shared_tenant: Tenant) -> None:
    token = shared_tenant.token(GRAPH_SCOPE)
    data = claims(token)
    assert data["aud"] == "https://graph.microsoft.com"
    assert data["tid"] == shared_tenant.ep.tenant_id
    assert data["appid"] == APP_ID
    assert "AuditLog.Read.All" in data["roles"] and "Exchange.ManageAsApp" not in data["roles"]
    assert "scp" not in data
    assert data["exp"] - time.time() > 3000
    exo = claims(shared_tenant.token(EXCHANGE_SCOPE))
    assert exo["aud"] == "https://outlook.office365.com" and exo["roles"] == ["Exchange.ManageAsApp"]


def test_hashed_secret_in_the_snapshot_authenticates(shared_tenant: Tenant) -> None:
    data = claims(shared_tenant.token(GRAPH_SCOPE, READER_ID, READER_SECRET))
    assert sorted(data["roles"]) == ["MailboxSettings.Read", "User.Read.All"]


def test_wrong_secret_is_invalid_client(shared_tenant: Tenant) -> None:
    result = shared_tenant.app(APP_ID, "not-the-secret").acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert result["error"] == "invalid_client"
    assert 7000215 in result["error_codes"]
    assert "not-the-secret" not in json.dumps(result)


def test_unknown_client_is_refused(shared_tenant: Tenant) -> None:
    result = shared_tenant.app("0a1b2c3d-9999-4000-8000-000000000009", "x").acquire_token_for_client(
        scopes=[GRAPH_SCOPE])
    assert result["error"] == "unauthorized_client" and 700016 in result["error_codes"]


@pytest.mark.parametrize(
    ("scope", "code"),
    [
        ("https://graph.microsoft.com/User.Read.All", 1002012),  # client credentials need /.default
        ("https://management.azure.com/.default", 500011),  # a resource the tenant does not have
    ],
)
def test_client_credentials_scope_rules(shared_tenant: Tenant, scope: str, code: int) -> None:
    result = shared_tenant.app().acquire_token_for_client(scopes=[scope])
    assert code in result.get("error_codes", []), result


def test_pfx_certificate_assertion_is_verified(shared_tenant: Tenant) -> None:
    credential = {"private_key_pfx_path": str(PFX_PATH), "passphrase": PFX_PASSPHRASE}
    result = shared_tenant.app(APP_ID, credential).acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert "access_token" in result, result
    assert claims(result["access_token"])["appid"] == APP_ID


def test_pem_certificate_with_sha1_thumbprint_is_verified(shared_tenant: Tenant, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    key, cert, _ = pkcs12.load_key_and_certificates(PFX_PATH.read_bytes(), PFX_PASSPHRASE.encode())
    assert key is not None and cert is not None
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    credential = {"private_key": pem_key, "thumbprint": cert.fingerprint(hashes.SHA1()).hex()}
    result = shared_tenant.app(APP_ID, credential).acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert "access_token" in result, result


def test_certificate_not_registered_is_refused(shared_tenant: Tenant) -> None:
    credential = {"private_key_pfx_path": str(CERTS / "unregistered.pfx"), "passphrase": PFX_PASSPHRASE}
    result = shared_tenant.app(APP_ID, credential).acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert result["error"] == "invalid_client" and 700027 in result["error_codes"], result


def test_assertion_signed_by_another_key_fails_signature_check(shared_tenant: Tenant) -> None:
    """A header naming the registered certificate does not help if the signature is made with another key."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import pkcs12

    _, registered, _ = pkcs12.load_key_and_certificates(PFX_PATH.read_bytes(), PFX_PASSPHRASE.encode())
    other_key, _, _ = pkcs12.load_key_and_certificates((CERTS / "unregistered.pfx").read_bytes(),
                                                       PFX_PASSPHRASE.encode())
    assert registered is not None and other_key is not None
    endpoint = f"{shared_tenant.ep.authority}/oauth2/v2.0/token"
    thumb = base64.urlsafe_b64encode(registered.fingerprint(hashes.SHA256())).rstrip(b"=").decode()
    now = int(time.time())
    forged = jwt.encode({"aud": endpoint, "iss": APP_ID, "sub": APP_ID, "exp": now + 600, "iat": now, "jti": "x"},
                        other_key, algorithm="PS256", headers={"x5t#S256": thumb})  # type: ignore[arg-type]
    response = shared_tenant.session().post(endpoint, data={
        "client_id": APP_ID, "grant_type": "client_credentials", "scope": GRAPH_SCOPE,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": forged,
    }, timeout=10)
    assert response.status_code == 401
    assert response.json()["error_codes"] == [7000274]


def test_public_client_cannot_use_client_credentials(shared_tenant: Tenant) -> None:
    result = shared_tenant.app(PUBLIC_ID, "whatever").acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert result["error"] == "invalid_client"


def test_device_code_flow_approved_by_the_hook(shared_tenant: Tenant) -> None:
    app = public_app(shared_tenant)
    flow = app.initiate_device_flow(scopes=["https://graph.microsoft.com/AuditLog.Read.All"])
    assert flow["verification_uri"] == shared_tenant.ep.device_login and flow["user_code"] in flow["message"]
    approved = shared_tenant.control("POST", "/device/approve", {"user_code": flow["user_code"],
                                                                  "user": "analyst@contoso.com"})
    assert approved.json()["status"] == "approved"
    result = app.acquire_token_by_device_flow(flow)
    assert "access_token" in result, result
    data = claims(result["access_token"])
    assert data["scp"] == "AuditLog.Read.All"
    assert data["upn"] == "analyst@contoso.com" and data["aud"] == "https://graph.microsoft.com"
    assert app.get_accounts()[0]["username"] == "analyst@contoso.com"
    # The refresh token gets an Exchange token for the same user without another sign-in.
    exo = app.acquire_token_silent([EXCHANGE_SCOPE], account=app.get_accounts()[0])
    assert exo is not None and "access_token" in exo, exo
    exo_claims = claims(exo["access_token"])
    assert exo_claims["aud"] == "https://outlook.office365.com" and exo_claims["scp"] == "Exchange.Manage"


@pytest.mark.filterwarnings("ignore:Attempted too soon")
def test_device_code_pending_then_declined(shared_tenant: Tenant) -> None:
    app = public_app(shared_tenant)
    flow = app.initiate_device_flow(scopes=["https://graph.microsoft.com/.default"])
    pending = app.acquire_token_by_device_flow(flow, exit_condition=lambda f: True)
    assert pending["error"] == "authorization_pending"
    shared_tenant.control("POST", "/device/approve", {"user_code": flow["user_code"], "user": "admin@contoso.com",
                                                      "decline": True})
    result = app.acquire_token_by_device_flow(flow, exit_condition=lambda f: True)
    assert result["error"] == "authorization_declined"


def test_device_login_page_approves_a_code(shared_tenant: Tenant) -> None:
    app = public_app(shared_tenant)
    flow = app.initiate_device_flow(scopes=["https://graph.microsoft.com/.default"])
    session = shared_tenant.session()
    page = session.get(shared_tenant.ep.device_login, timeout=10)
    assert page.status_code == 200 and 'name="user_code"' in page.text
    wrong = session.post(shared_tenant.ep.device_login, data={"user_code": "NOPE", "username": "admin@contoso.com",
                                                              "action": "approve"}, timeout=10)
    assert wrong.status_code == 400 and "Not signed in" in wrong.text
    done = session.post(shared_tenant.ep.device_login, data={"user_code": flow["user_code"].lower(),
                                                             "username": "admin@contoso.com", "action": "approve"},
                        timeout=10)
    assert done.status_code == 200 and "approved" in done.text
    result = app.acquire_token_by_device_flow(flow)
    data = claims(result["access_token"])
    assert data["upn"] == "admin@contoso.com"
    # .default gives every delegated permission consented for the app on that resource
    assert {"AuditLog.Read.All", "User.Read.All", "UserAuthenticationMethod.ReadWrite.All"} <= set(
        data["scp"].split())


def test_delegated_scope_not_consented_is_refused(shared_tenant: Tenant) -> None:
    app = public_app(shared_tenant)
    flow = app.initiate_device_flow(scopes=["https://graph.microsoft.com/Mail.Send"])
    shared_tenant.control("POST", "/device/approve", {"user_code": flow["user_code"], "user": "admin@contoso.com"})
    result = app.acquire_token_by_device_flow(flow)
    assert result["error"] == "invalid_grant" and 65001 in result["error_codes"]


def test_control_hook_needs_the_key(shared_tenant: Tenant) -> None:
    response = shared_tenant.session().post(f"{shared_tenant.ep.control}/device/approve",
                                            json={"user_code": "X", "user": "admin@contoso.com"}, timeout=10)
    assert response.status_code == 401


def test_expired_token_is_rejected_by_graph(start_tenant: StartTenant, tmp_path: Path) -> None:
    folder = tmp_path / "short-tokens"
    import shutil

    shutil.copytree(SMALL_TENANT, folder)
    info = json.loads((folder / "tenant.json").read_text())
    info["behaviour"]["tokenLifetimeSeconds"] = 1
    (folder / "tenant.json").write_text(json.dumps(info))
    tenant = start_tenant(folder)
    token = tenant.token(GRAPH_SCOPE)
    time.sleep(2.1)
    response = tenant.graph("GET", "/admin/exchange/tracing/messageTraces", token=token)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert "expired" in response.json()["error"]["message"]


def test_token_for_another_audience_or_tampered_is_401(shared_tenant: Tenant) -> None:
    exo_token = shared_tenant.token(EXCHANGE_SCOPE)
    wrong = shared_tenant.graph("GET", "/admin/exchange/tracing/messageTraces", token=exo_token)
    assert wrong.status_code == 401 and "Invalid audience" in wrong.json()["error"]["message"]
    head, payload, signature = shared_tenant.token(GRAPH_SCOPE).split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=="))
    data["roles"] = [*data["roles"], "Directory.ReadWrite.All"]
    forged_payload = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    forged = shared_tenant.graph("GET", "/admin/exchange/tracing/messageTraces",
                                 token=f"{head}.{forged_payload}.{signature}")
    assert forged.status_code == 401
    missing = shared_tenant.session().get(f"{shared_tenant.ep.graph}/admin/exchange/tracing/messageTraces",
                                          timeout=10)
    assert missing.status_code == 401 and missing.json()["error"]["message"] == "Access token is empty."
    assert re.fullmatch(r"[0-9a-f-]{36}", missing.json()["error"]["innerError"]["request-id"])
