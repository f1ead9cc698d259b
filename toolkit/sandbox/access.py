"""Who is calling and what they may do: bearer-token checks and permission requirements per endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from toolkit.sandbox.errors import ServiceError
from toolkit.sandbox.snapshot import AppRegistration
from toolkit.sandbox.state import TenantState
from toolkit.sandbox.tokens import Claims, TokenInvalid, TokenService

GRAPH = "https://graph.microsoft.com"
EXCHANGE = "https://outlook.office365.com"

#: Well-known resource app ids, as the real token endpoint also accepts them in scopes.
RESOURCE_ALIASES = {
    "00000003-0000-0000-c000-000000000000": GRAPH,
    "00000002-0000-0ff1-ce00-000000000000": EXCHANGE,
    "https://outlook.office.com": EXCHANGE,
    "https://graph.microsoft.us": GRAPH,
}


@dataclass(frozen=True)
class Requirement:
    """What an endpoint needs: the token audience and any one of the listed permissions.

    ``application``: app roles accepted for app-only tokens (empty: app-only calls are refused).
    ``delegated``: scopes accepted for delegated tokens (empty: delegated calls are refused).
    ``user_roles``: for delegated calls, directory roles of which the signed-in user must hold one (empty: any).
    ``app_directory_roles``: for app-only calls, directory roles of which the app must hold one (empty: none).
    """

    audience: str
    application: frozenset[str] = frozenset()
    delegated: frozenset[str] = frozenset()
    user_roles: frozenset[str] = frozenset()
    app_directory_roles: frozenset[str] = frozenset()
    denied_code: str = "Authorization_RequestDenied"
    denied_message: str = "Insufficient privileges to complete the operation."


def requirement(audience: str, application: str = "", delegated: str = "", user_roles: str = "",
                app_directory_roles: str = "", denied_code: str = "Authorization_RequestDenied",
                denied_message: str = "Insufficient privileges to complete the operation.") -> Requirement:
    """Build a Requirement from comma-separated names (readable in route tables)."""

    def names(text: str) -> frozenset[str]:
        return frozenset(n.strip() for n in text.split(",") if n.strip())

    return Requirement(audience, names(application), names(delegated), names(user_roles),
                       names(app_directory_roles), denied_code, denied_message)


@dataclass(frozen=True)
class Principal:
    """The caller: an app alone, or an app acting for a signed-in user."""

    claims: Claims
    app: AppRegistration | None
    user: dict[str, Any] | None
    directory_roles: frozenset[str]

    @property
    def app_only(self) -> bool:
        return self.user is None

    @property
    def permissions(self) -> frozenset[str]:
        return self.claims.roles if self.app_only else self.claims.scopes

    def has_any(self, names: frozenset[str] | set[str]) -> bool:
        return bool(self.permissions & set(names))

    @property
    def display(self) -> str:
        if self.user is not None:
            return str(self.user["userPrincipalName"])
        return self.app.display_name if self.app else self.claims.app_id


def unauthorized(message: str) -> ServiceError:
    return ServiceError(401, "InvalidAuthenticationToken", message,
                        headers={"WWW-Authenticate": 'Bearer realm="", error="invalid_token"'})


def authenticate(header: str | None, tokens: TokenService, state: TenantState, audience: str) -> Principal:
    """Verify the bearer token for ``audience``; 401 in Graph's words when it is missing or wrong."""
    if not header:
        raise unauthorized("Access token is empty.")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("Access token is empty.")
    try:
        claims = tokens.verify_access_token(token.strip())
    except TokenInvalid as exc:
        raise unauthorized(str(exc)) from None
    if claims.audience != audience:
        raise unauthorized("Access token validation failure. Invalid audience.")
    if claims.tenant_id != state.tenant_id:
        raise unauthorized("Access token validation failure. Invalid tenant.")
    app = state.find_app(claims.app_id)
    user = state.find_user(claims.user_id) if claims.user_id else None
    if claims.user_id and user is None:
        raise unauthorized("Access token validation failure. The user in the token does not exist.")
    if user is not None:
        if user.get("accountEnabled") is False:
            raise unauthorized("The user account is disabled.")
        roles = state.user_roles(user)
    else:
        roles = app.directory_roles if app else frozenset()
    return Principal(claims=claims, app=app, user=user, directory_roles=roles)


def authorize(principal: Principal, need: Requirement) -> None:
    """Raise 403 with the endpoint's error code unless the principal meets the requirement."""
    if principal.app_only:
        ok = principal.has_any(need.application) and (
            not need.app_directory_roles or bool(principal.directory_roles & need.app_directory_roles)
        )
    else:
        ok = principal.has_any(need.delegated) and (
            not need.user_roles or bool(principal.directory_roles & need.user_roles)
        )
    if not ok:
        raise ServiceError(403, need.denied_code, need.denied_message)
