"""Microsoft Entra ID endpoints: OIDC discovery, keys, the token endpoint and the device-code endpoint.

Grants: client credentials (a secret, or a certificate assertion whose signature is verified against the
registered certificate), the device code (approved on the sandbox's device-login page or by the control hook), and
refresh tokens (refused once the user's sessions were revoked after the token was issued). Error bodies and AADSTS
codes follow the real service, so msal takes its real code paths.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import string
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.responses import Response

from toolkit.sandbox.access import EXCHANGE, GRAPH, RESOURCE_ALIASES
from toolkit.sandbox.app import Ctx, Route, json_response, route
from toolkit.sandbox.errors import EntraError
from toolkit.sandbox.snapshot import AppRegistration, parse_instant

OIDC_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})
KNOWN_RESOURCES = (GRAPH, EXCHANGE)
DEVICE_CODE_LIFETIME = 900
DEVICE_CODE_INTERVAL = 5
USER_CODE_ALPHABET = "".join(c for c in string.ascii_uppercase + string.digits if c not in "0O1I")


@dataclass
class DeviceFlow:
    device_code: str
    user_code: str
    client_id: str
    scopes: tuple[str, ...]
    expires_at: float
    interval: int
    status: str = "pending"  # pending | approved | declined | redeemed
    user_id: str | None = None


@dataclass
class RefreshGrant:
    client_id: str
    user_id: str
    issued_sim: datetime
    consumed: bool = False


@dataclass
class EntraFlows:
    """Device codes and refresh tokens in flight (kept in ``Sandbox.flows['entra']``)."""

    devices: dict[str, DeviceFlow] = field(default_factory=dict)
    refresh: dict[str, RefreshGrant] = field(default_factory=dict)

    def by_user_code(self, user_code: str) -> DeviceFlow | None:
        wanted = user_code.strip().upper().replace("-", "")
        return next((f for f in self.devices.values() if f.user_code.replace("-", "") == wanted), None)


def flows_of(ctx_or_sandbox: Any) -> EntraFlows:
    sandbox = getattr(ctx_or_sandbox, "sandbox", ctx_or_sandbox)
    return sandbox.flows.setdefault("entra", EntraFlows())


def _tenant_matches(ctx: Ctx) -> None:
    tenant = ctx.params["tenant"].lower()
    info = ctx.sandbox.snapshot.tenant
    if tenant not in {info.tenant_id, info.default_domain, *info.domains, "organizations"}:
        raise EntraError(400, "invalid_request", 90002,
                         f"Tenant '{ctx.params['tenant']}' not found. Check to make sure you have the correct "
                         "tenant ID and are signing into the correct cloud.")


def openid_configuration(ctx: Ctx) -> Response:
    _tenant_matches(ctx)
    base = ctx.sandbox.base_url
    tenant = ctx.params["tenant"]
    tid = ctx.sandbox.tenant_id
    return json_response({
        "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{base}/{tid}/v2.0",
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": f"{base}/oidc/userinfo",
        "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{base}/{tenant}/oauth2/v2.0/logout",
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "name", "tid", "oid", "preferred_username"],
        "tenant_region_scope": "EU",
        "cloud_instance_name": "sandbox.invalid",
    })


def keys(ctx: Ctx) -> Response:
    _tenant_matches(ctx)
    return json_response(ctx.sandbox.tokens.jwks())


def _form(ctx: Ctx) -> dict[str, str]:
    ctype = ctx.request.headers.get("content-type", "")
    if "application/x-www-form-urlencoded" not in ctype:
        raise EntraError(400, "invalid_request", 900144,
                         "The request body must contain the following parameter: 'grant_type'.")
    return dict(parse_qsl(ctx.body.decode("utf-8"), keep_blank_values=True))


def _resource_of(scope_name: str) -> tuple[str, str]:
    """Split 'https://graph.microsoft.com/Mail.Read' into (resource, permission); bare names mean Graph."""
    text = scope_name.strip()
    if "://" in text or text.count("-") >= 4:
        resource, _, perm = text.rpartition("/")
        resource = RESOURCE_ALIASES.get(resource.lower(), resource.rstrip("/").lower())
        return resource, perm
    return GRAPH, text


def _split_scopes(raw: str) -> tuple[str, list[str]]:
    """The one resource a request is for and the permissions asked of it (OIDC scopes dropped)."""
    wanted = [s for s in raw.split() if s and s.lower() not in OIDC_SCOPES]
    if not wanted:
        return GRAPH, ["User.Read"]
    pairs = [_resource_of(s) for s in wanted]
    resources = {r for r, _ in pairs}
    if len(resources) > 1:
        raise EntraError(400, "invalid_scope", 28000,
                         f"Provided value for the input parameter scope is not valid because it contains more than "
                         f"one resource. Scope {raw} is not valid.")
    resource = resources.pop()
    if resource not in KNOWN_RESOURCES:
        raise EntraError(400, "invalid_resource", 500011,
                         f"The resource principal named {resource} was not found in the tenant named "
                         f"{'sandbox'}. This can happen if the application has not been installed by the "
                         "administrator of the tenant.")
    return resource, [p for _, p in pairs]


def _app(ctx: Ctx, form: dict[str, str]) -> AppRegistration:
    client_id = form.get("client_id", "").strip()
    if not client_id:
        raise EntraError(400, "invalid_request", 900144,
                         "The request body must contain the following parameter: 'client_id'.")
    app = ctx.state.find_app(client_id)
    if app is None:
        raise EntraError(400, "unauthorized_client", 700016,
                         f"Application with identifier '{client_id}' was not found in the directory "
                         f"'{ctx.sandbox.snapshot.tenant.display_name}'. This can happen if the application has not "
                         "been installed by the administrator of the tenant or consented to by any user in the tenant.")
    return app


def _token_endpoint(ctx: Ctx) -> str:
    return f"{ctx.sandbox.base_url}/{ctx.params['tenant']}/oauth2/v2.0/token"


def _authenticate_client(ctx: Ctx, app: AppRegistration, form: dict[str, str]) -> None:
    """Confidential clients prove themselves with a secret or a certificate-signed assertion."""
    secret = form.get("client_secret")
    assertion = form.get("client_assertion")
    if secret is None and assertion is None:
        raise EntraError(401, "invalid_client", 7000218,
                         "The request body must contain the following parameter: 'client_assertion' or "
                         "'client_secret'.")
    if secret is not None:
        digest = hashlib.sha256(secret.encode("utf-8")).hexdigest()
        ok = any(
            (s.value is not None and hmac.compare_digest(s.value, secret))
            or (s.sha256 is not None and hmac.compare_digest(s.sha256, digest))
            for s in app.secrets
        )
        if not ok:
            raise EntraError(401, "invalid_client", 7000215,
                             f"Invalid client secret provided. Ensure the secret being sent in the request is the "
                             f"client secret value, not the client secret ID, for a secret added to app "
                             f"'{app.client_id}'.")
        return
    if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
        raise EntraError(400, "invalid_request", 50027, "Invalid client_assertion_type.")
    from toolkit.sandbox.tokens import TokenInvalid, verify_client_assertion

    try:
        verify_client_assertion(str(assertion), app.certificates_pem, app.client_id, _token_endpoint(ctx))
    except TokenInvalid as exc:
        text = str(exc)
        number = int(text[6:text.index(":")]) if text.startswith("AADSTS") and ":" in text else 50027
        raise EntraError(401, "invalid_client", number, text.split(": ", 1)[-1]) from None


def _lifetime(ctx: Ctx) -> int:
    return ctx.sandbox.snapshot.tenant.behaviour.token_lifetime_seconds


def _client_credentials(ctx: Ctx, app: AppRegistration, form: dict[str, str]) -> Response:
    if app.public_client:
        raise EntraError(401, "invalid_client", 7000218,
                         "The request body must contain the following parameter: 'client_assertion' or "
                         "'client_secret'.")
    _authenticate_client(ctx, app, form)
    scope = form.get("scope", "").strip()
    if len(scope.split()) != 1 or not scope.endswith("/.default"):
        raise EntraError(400, "invalid_scope", 1002012,
                         f"The provided value for scope {scope} is not valid. Client credential flows must have a "
                         "scope value with /.default suffixed to the resource identifier (application ID URI).")
    resource, _ = _split_scopes(scope)
    roles = app.application_permissions.get(resource, frozenset())
    lifetime = _lifetime(ctx)
    token = ctx.sandbox.tokens.access_token(audience=resource, app_id=app.client_id, lifetime=lifetime, roles=roles)
    return json_response({"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                          "access_token": token})


def _granted_scopes(ctx: Ctx, app: AppRegistration, scope_text: str) -> tuple[str, frozenset[str]]:
    resource, asked = _split_scopes(scope_text)
    consented = app.delegated_permissions.get(resource, frozenset())
    if asked == [".default"]:
        return resource, consented
    missing = [p for p in asked if p not in consented and p != "User.Read"]
    if missing:
        raise EntraError(400, "invalid_grant", 65001,
                         f"The user or administrator has not consented to use the application with ID "
                         f"'{app.client_id}' named '{app.display_name}'. Send an interactive authorization request "
                         f"for this user and resource. Missing: {', '.join(missing)}.")
    return resource, frozenset(asked)


def _b64url_json(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _user_tokens(ctx: Ctx, app: AppRegistration, user: dict[str, Any], scope_text: str) -> Response:
    if user.get("accountEnabled") is False:
        raise EntraError(400, "invalid_grant", 50057, "The user account is disabled.")
    resource, granted = _granted_scopes(ctx, app, scope_text)
    lifetime = _lifetime(ctx)
    sandbox = ctx.sandbox
    access = sandbox.tokens.access_token(audience=resource, app_id=app.client_id, lifetime=lifetime,
                                         scopes=granted, user=user)
    refresh = secrets.token_urlsafe(48)
    flows_of(ctx).refresh[refresh] = RefreshGrant(app.client_id, user["id"], ctx.state.now())
    scope_out = " ".join([*sorted(f"{resource}/{p}" for p in granted), "openid", "profile", "offline_access"])
    return json_response({
        "token_type": "Bearer",
        "scope": scope_out,
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access,
        "refresh_token": refresh,
        "id_token": sandbox.tokens.id_token(app_id=app.client_id, user=user, lifetime=lifetime),
        "client_info": _b64url_json({"uid": user["id"], "utid": sandbox.tenant_id}),
    })


def _device_code_grant(ctx: Ctx, app: AppRegistration, form: dict[str, str]) -> Response:
    code = form.get("device_code") or form.get("code") or ""
    flow = flows_of(ctx).devices.get(code)
    if flow is None or flow.client_id != app.client_id:
        raise EntraError(400, "invalid_grant", 70000, "The provided value for the 'device_code' is not valid.")
    if time.time() > flow.expires_at:
        raise EntraError(400, "expired_token", 70020, "The provided value for the 'device_code' has expired.")
    if flow.status == "pending":
        raise EntraError(400, "authorization_pending", 70016,
                         "OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
    if flow.status == "declined":
        raise EntraError(400, "authorization_declined", 70019, "The user declined the sign-in request.")
    if flow.status == "redeemed":
        raise EntraError(400, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed.")
    flow.status = "redeemed"
    user = ctx.state.find_user(flow.user_id or "")
    if user is None:
        raise EntraError(400, "invalid_grant", 50034, "The user account does not exist in the directory.")
    return _user_tokens(ctx, app, user, " ".join(flow.scopes))


def _refresh_grant(ctx: Ctx, app: AppRegistration, form: dict[str, str]) -> Response:
    grant = flows_of(ctx).refresh.get(form.get("refresh_token", ""))
    if grant is None or grant.client_id != app.client_id or grant.consumed:
        raise EntraError(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
    user = ctx.state.find_user(grant.user_id)
    if user is None:
        raise EntraError(400, "invalid_grant", 50034, "The user account does not exist in the directory.")
    valid_from = user.get("signInSessionsValidFromDateTime")
    if valid_from and parse_instant(valid_from) > grant.issued_sim:
        raise EntraError(400, "invalid_grant", 50173,
                         f"The provided grant has expired due to it being revoked, a fresh auth token is needed. The "
                         f"user might have changed or reset their password. The grant was issued on "
                         f"'{grant.issued_sim.isoformat()}' and the TokensValidFrom date (before which tokens are not "
                         f"valid) for this user is '{valid_from}'.")
    if not app.public_client:
        _authenticate_client(ctx, app, form)
    grant.consumed = True
    return _user_tokens(ctx, app, user, form.get("scope", ""))


def token(ctx: Ctx) -> Response:
    _tenant_matches(ctx)
    form = _form(ctx)
    grant_type = form.get("grant_type", "")
    app = _app(ctx, form)
    if grant_type == "client_credentials":
        return _client_credentials(ctx, app, form)
    if grant_type in {"urn:ietf:params:oauth:grant-type:device_code", "device_code"}:
        return _device_code_grant(ctx, app, form)
    if grant_type == "refresh_token":
        return _refresh_grant(ctx, app, form)
    raise EntraError(400, "unsupported_grant_type", 70003,
                     f"The app requested an unsupported grant type '{grant_type}'.")


def devicecode(ctx: Ctx) -> Response:
    _tenant_matches(ctx)
    form = dict(parse_qsl(ctx.body.decode("utf-8"), keep_blank_values=True))
    app = _app(ctx, form)
    if not app.public_client:
        raise EntraError(400, "invalid_client", 7000218,
                         "The request body must contain the following parameter: 'client_assertion' or "
                         "'client_secret'.")
    scope = form.get("scope", "")
    _split_scopes(scope)  # refuses mixed or unknown resources now, as the real endpoint does
    user_code = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(9))
    device_code = secrets.token_urlsafe(40)
    flow = DeviceFlow(device_code, user_code, app.client_id, tuple(scope.split()),
                      time.time() + DEVICE_CODE_LIFETIME, DEVICE_CODE_INTERVAL)
    flows_of(ctx).devices[device_code] = flow
    uri = f"{ctx.sandbox.base_url}/_sandbox/devicelogin"
    return json_response({
        "user_code": user_code,
        "device_code": device_code,
        "verification_uri": uri,
        "expires_in": DEVICE_CODE_LIFETIME,
        "interval": DEVICE_CODE_INTERVAL,
        "message": f"To sign in, use a web browser to open the page {uri} and enter the code {user_code} to "
                   "authenticate.",
    })


def approve_device_code(sandbox: Any, user_code: str, user_key: str, decline: bool = False) -> DeviceFlow:
    """Approve (or decline) a pending device code as a user; the programmatic hook and the page both use it."""
    flow = flows_of(sandbox).by_user_code(user_code)
    if flow is None or time.time() > flow.expires_at:
        raise LookupError(f"no pending sign-in with code {user_code!r}")
    if flow.status != "pending":
        raise ValueError(f"the sign-in with code {user_code!r} is already {flow.status}")
    user = sandbox.state.find_user(user_key)
    if user is None:
        raise LookupError(f"no user {user_key!r} in the tenant")
    flow.user_id = user["id"]
    flow.status = "declined" if decline else "approved"
    return flow


def routes() -> list[Route]:
    return [
        route("GET", "/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration, "entra"),
        route("GET", "/{tenant}/discovery/v2.0/keys", keys, "entra"),
        route("POST", "/{tenant}/oauth2/v2.0/token", token, "entra"),
        route("POST", "/{tenant}/oauth2/v2.0/devicecode", devicecode, "entra"),
    ]
