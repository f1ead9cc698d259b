"""Graph v1.0 directory: users, remediation on users, authentication methods, OAuth grants, service principals.

Reads: ``/users`` (list and get by object id or UPN), ``/me``, ``/users/{id}/authentication/methods``,
``/users/{id}/oauth2PermissionGrants``, ``/oauth2PermissionGrants``, ``/servicePrincipals``.
Remediation: ``PATCH /users/{id}`` (passwordProfile, accountEnabled), ``revokeSignInSessions``, the delegated-only
``resetPassword`` action with its long-running operation, ``DELETE /oauth2PermissionGrants/{id}`` and
``DELETE /users/{id}/authentication/{type}Methods/{id}``.

Permissions follow the Graph permission tables (least privileged first, every higher alternative accepted); where a
call also needs a directory role, the role check mirrors Entra's "who can reset whose password" rules in a reduced
form (see :func:`_may_manage`). A new password is checked against Entra's complexity rules and then forgotten: it is
never stored, logged or served (resetPassword returns a system-generated one once, as the real API does).
"""

from __future__ import annotations

import logging
import re
import secrets
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from starlette.responses import Response

from toolkit.sandbox.access import GRAPH, Principal, requirement
from toolkit.sandbox.app import Ctx, Route, json_response, route
from toolkit.sandbox.errors import ServiceError
from toolkit.sandbox.graph_listing import Listing, list_response
from toolkit.sandbox.odata import FieldSpec, FilterRules
from toolkit.sandbox.snapshot import SANDBOX_KEY, served
from toolkit.sandbox.state import TenantState

log = logging.getLogger(__name__)

V1 = "/v1.0"
METADATA = "https://graph.microsoft.com/v1.0/$metadata#"
PASSWORD_METHOD_ID = "28c10230-6103-485e-b985-444c60001490"
OPERATIONS_KEY = "graph_operations"

Row = dict[str, Any]

# --- permissions ------------------------------------------------------------------------------------------------

_USER_READ = requirement(
    GRAPH,
    application="User.Read.All, User.ReadWrite.All, Directory.Read.All, Directory.ReadWrite.All",
    delegated="User.ReadBasic.All, User.Read.All, User.ReadWrite.All, Directory.Read.All, Directory.ReadWrite.All, "
              "Directory.AccessAsUser.All",
)
# App-only callers pass this check so that /me answers them with Graph's 400 (not a 403).
_ME_READ = requirement(
    GRAPH,
    application="User.Read.All, User.ReadWrite.All, Directory.Read.All, Directory.ReadWrite.All",
    delegated="User.Read, User.ReadWrite, User.ReadBasic.All, User.Read.All, User.ReadWrite.All, Directory.Read.All, "
              "Directory.ReadWrite.All, Directory.AccessAsUser.All",
)
#: The union of what any PATCH body may need; the handler then checks what this body needs (see _authorize_*).
_USER_UPDATE = requirement(
    GRAPH,
    application="User-PasswordProfile.ReadWrite.All, User.EnableDisableAccount.All, User.ReadWrite.All, "
                "Directory.ReadWrite.All",
    delegated="User-PasswordProfile.ReadWrite.All, User.EnableDisableAccount.All, User.ReadWrite.All, "
              "Directory.ReadWrite.All, Directory.AccessAsUser.All",
)
_REVOKE = requirement(
    GRAPH,
    application="User.RevokeSessions.All, User.ReadWrite.All, Directory.ReadWrite.All",
    delegated="User.RevokeSessions.All, User.ReadWrite.All, Directory.ReadWrite.All, Directory.AccessAsUser.All",
)
_METHODS_READ = requirement(
    GRAPH,
    application="UserAuthenticationMethod.Read.All, UserAuthenticationMethod.ReadWrite.All",
    delegated="UserAuthenticationMethod.Read, UserAuthenticationMethod.ReadWrite, UserAuthenticationMethod.Read.All, "
              "UserAuthenticationMethod.ReadWrite.All",
)
_METHODS_WRITE = requirement(
    GRAPH,
    application="UserAuthenticationMethod.ReadWrite.All",
    delegated="UserAuthenticationMethod.ReadWrite, UserAuthenticationMethod.ReadWrite.All",
)
# resetPassword is delegated only. App-only callers holding the write permission reach the handler, which refuses
# them with a clear message; others get the generic 403 here.
_RESET_PASSWORD = requirement(
    GRAPH,
    application="UserAuthenticationMethod.ReadWrite.All",
    delegated="UserAuthenticationMethod.ReadWrite.All",
)
_GRANTS_READ = requirement(
    GRAPH,
    application="Directory.Read.All, DelegatedPermissionGrant.Read.All, DelegatedPermissionGrant.ReadWrite.All, "
                "Directory.ReadWrite.All",
    delegated="Directory.Read.All, DelegatedPermissionGrant.Read.All, DelegatedPermissionGrant.ReadWrite.All, "
              "Directory.ReadWrite.All, Directory.AccessAsUser.All",
)
_GRANTS_DELETE = requirement(
    GRAPH,
    application="DelegatedPermissionGrant.ReadWrite.All, Directory.ReadWrite.All",
    delegated="DelegatedPermissionGrant.ReadWrite.All, Directory.ReadWrite.All, Directory.AccessAsUser.All",
    user_roles="Global Administrator, Privileged Role Administrator, Cloud Application Administrator, "
               "Application Administrator",
)
_SP_READ = requirement(
    GRAPH,
    application="Application.Read.All, Application.ReadWrite.All, Directory.Read.All, Directory.ReadWrite.All",
    delegated="Application.Read.All, Application.ReadWrite.All, Directory.Read.All, Directory.ReadWrite.All, "
              "Directory.AccessAsUser.All",
)

# --- directory roles ------------------------------------------------------------------------------------------

PRIVILEGED_RESETTERS = frozenset({"Global Administrator", "Privileged Authentication Administrator"})
#: Roles a Helpdesk/User/Authentication Administrator may still act on (Entra's "limited admin" roles).
LIMITED_ADMIN_ROLES = frozenset({"Directory Readers", "Guest Inviter", "Helpdesk Administrator",
                                 "Message Center Reader", "Password Administrator", "Reports Reader"})
PASSWORD_RESETTERS = PRIVILEGED_RESETTERS | {"User Administrator", "Helpdesk Administrator", "Password Administrator",
                                             "Authentication Administrator"}
RESET_PASSWORD_ACTION_ROLES = PRIVILEGED_RESETTERS | {"Authentication Administrator"}
ACCOUNT_ENABLERS = PRIVILEGED_RESETTERS | {"User Administrator"}
SESSION_REVOKERS = PASSWORD_RESETTERS
METHOD_READERS = PRIVILEGED_RESETTERS | {"Global Reader", "Authentication Administrator"}


def _may_manage(caller_roles: frozenset[str], target_roles: frozenset[str], allowed: frozenset[str]) -> bool:
    """Whether a caller with ``caller_roles`` may reset/disable/revoke a target holding ``target_roles``.

    Reduced from Entra's password-reset permission table: Global Administrator and Privileged Authentication
    Administrator may act on anyone; the other ``allowed`` roles only on non-admins and on "limited" admins
    (Helpdesk Administrator, Directory Readers, ...). Entra's finer rules (a User Administrator resetting another
    User Administrator, for instance) are not modelled: such targets need a privileged role here.
    """
    if caller_roles & PRIVILEGED_RESETTERS & allowed:
        return True
    if target_roles - LIMITED_ADMIN_ROLES:
        return False
    return bool(caller_roles & allowed)


def _denied() -> ServiceError:
    return ServiceError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")


# --- users: properties ---------------------------------------------------------------------------------------------

#: What GET /users returns without $select (Graph v1.0's default set), in its order.
DEFAULT_USER_PROPERTIES = ("businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
                           "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id")
_COLLECTION_PROPERTIES = frozenset({"businessPhones", "proxyAddresses", "otherMails", "imAddresses", "identities",
                                    "assignedLicenses", "assignedPlans", "provisionedPlans", "licenseAssignmentStates",
                                    "onPremisesProvisioningErrors", "interests", "pastProjects", "responsibilities",
                                    "schools", "skills"})
#: Properties of microsoft.graph.user that $select accepts (values missing from the snapshot read as null or []).
USER_PROPERTIES = frozenset(DEFAULT_USER_PROPERTIES) | _COLLECTION_PROPERTIES | {
    "accountEnabled", "ageGroup", "city", "companyName", "consentProvidedForMinor", "country", "createdDateTime",
    "creationType", "deletedDateTime", "department", "employeeHireDate", "employeeId", "employeeType",
    "externalUserState", "externalUserStateChangeDateTime", "faxNumber", "lastPasswordChangeDateTime",
    "legalAgeGroupClassification", "mailNickname", "onPremisesDistinguishedName", "onPremisesDomainName",
    "onPremisesExtensionAttributes", "onPremisesImmutableId", "onPremisesLastSyncDateTime",
    "onPremisesSamAccountName", "onPremisesSecurityIdentifier", "onPremisesSyncEnabled",
    "onPremisesUserPrincipalName", "passwordPolicies", "passwordProfile", "postalCode", "preferredDataLocation",
    "securityIdentifier", "showInAddressList", "signInSessionsValidFromDateTime", "state", "streetAddress",
    "usageLocation", "userType",
}
#: Properties Graph computes or owns; a PATCH that sets them is refused as read-only.
READ_ONLY_USER_PROPERTIES = frozenset({"id", "createdDateTime", "deletedDateTime", "lastPasswordChangeDateTime",
                                       "signInSessionsValidFromDateTime", "proxyAddresses", "creationType",
                                       "externalUserStateChangeDateTime", "onPremisesSyncEnabled",
                                       "onPremisesLastSyncDateTime", "onPremisesSecurityIdentifier",
                                       "securityIdentifier", "assignedPlans", "provisionedPlans",
                                       "licenseAssignmentStates", "onPremisesProvisioningErrors",
                                       "onPremisesDistinguishedName", "onPremisesDomainName",
                                       "onPremisesSamAccountName", "onPremisesUserPrincipalName"})
#: What the sandbox can change on a user.
SUPPORTED_USER_UPDATES = ("accountEnabled", "passwordProfile")
_PASSWORD_PROFILE_KEYS = frozenset({"password", "forceChangePasswordNextSignIn",
                                    "forceChangePasswordNextSignInWithMfa"})

_EQ = frozenset({"eq"})
_EQ_SW = frozenset({"eq", "startswith"})
USER_FILTERS = FilterRules(
    fields={
        "id": FieldSpec("string", _EQ),
        "userPrincipalName": FieldSpec("string", _EQ_SW),
        "mail": FieldSpec("string", _EQ_SW),
        "displayName": FieldSpec("string", _EQ_SW),
        "givenName": FieldSpec("string", _EQ_SW),
        "surname": FieldSpec("string", _EQ_SW),
        "jobTitle": FieldSpec("string", _EQ_SW),
        "accountEnabled": FieldSpec("bool", _EQ),
        "userType": FieldSpec("string", _EQ),
        "proxyAddresses": FieldSpec("string_collection", frozenset({"any"}), _EQ_SW),
    },
    allow_and=True,
    allow_or=True,  # Graph accepts 'or' on users without advanced query parameters
)
_USER_ORDER = frozenset(f"{name}{suffix}" for name in ("displayName", "userPrincipalName")
                        for suffix in ("", " asc", " desc"))
USERS_LISTING = Listing(
    top_error_code="Request_UnsupportedQuery",
    context="users",
    rules=USER_FILTERS,
    max_top=999,
    default_top=100,
    orderby=_USER_ORDER,
    allow_count=True,
    filter_error_code="Request_UnsupportedQuery",
)
DIRECTORY_MAX_TOP = 999


def _stamp(moment: datetime) -> str:
    """A Graph date-time with 7 fractional digits (as Entra writes them), so 'before' and 'after' never tie."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def not_found(key: str) -> ServiceError:
    return ServiceError(404, "Request_ResourceNotFound",
                        f"Resource '{key}' does not exist or one of its queried reference-property objects are not "
                        "present.")


def resolve_user(state: TenantState, key: str) -> Row:
    """The user named in a path by object id or UPN (a UPN may arrive still percent-encoded); 404 otherwise.

    The state's index also knows mail and proxy addresses; Graph's /users/{key} accepts only id and UPN.
    """
    for candidate in (key, unquote(key)):
        user = state.find_user(candidate)
        wanted = candidate.strip().lower()
        if user is not None and wanted in {user["id"].lower(), user["userPrincipalName"].lower()}:
            return user
    raise not_found(key)


def _user_type(user: Row) -> str:
    return str(user.get("userType") or "Member")


def _default_user(row: Row) -> Row:
    return {name: row.get(name, [] if name in _COLLECTION_PROPERTIES else None) for name in DEFAULT_USER_PROPERTIES}


def _full_user(row: Row) -> Row:
    """Every selectable property: stored values, nulls (or []) for the rest; never a password."""
    full: Row = {name: ([] if name in _COLLECTION_PROPERTIES else None) for name in sorted(USER_PROPERTIES)}
    full.update(served(row, "users"))
    full["userType"] = _user_type(row)
    full["passwordProfile"] = None  # Graph never returns the password profile
    return full


def _select_names(state: TenantState, text: str | None) -> list[str] | None:
    """The canonical property names of a user $select, or None; 400 for a property the user type lacks."""
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ServiceError(400, "Request_BadRequest", "Invalid $select: an empty list of properties.")
    known = {p.lower(): p for p in USER_PROPERTIES}
    with state.lock:
        for user in state.collection("users"):
            known.update({k.lower(): k for k in user if k != SANDBOX_KEY and k.lower() not in known})
    result = []
    for name in names:
        canonical = known.get(name.lower())
        if canonical is None:
            raise ServiceError(400, "Request_BadRequest",
                               f"Could not find a property named '{name}' on type 'microsoft.graph.user'.")
        result.append(canonical)
    return result


def _project_selected(row: Row, names: list[str]) -> Row:
    full = _full_user(row)
    return {name: full.get(name) for name in names}


def _check_count(ctx: Ctx, query: dict[str, str]) -> None:
    # $count is an advanced query: Graph needs the ConsistencyLevel: eventual header with it.
    # UNVERIFIED: the exact error text Graph returns without the header.
    if "$count" in query and ctx.request.headers.get("consistencylevel", "").lower() != "eventual":
        raise ServiceError(400, "Request_BadRequest",
                           "$count is only supported with the 'ConsistencyLevel: eventual' request header.")


def _single_options(query: dict[str, str]) -> None:
    """A single-object GET accepts $select only."""
    for key in query:
        if key.startswith("$") and key.lower() != "$select":
            raise ServiceError(400, "BadRequest", f"Query option '{key}' is not supported on a single object.")


def list_users(ctx: Ctx) -> Response:
    query = ctx.query()
    _check_count(ctx, query)
    names = _select_names(ctx.state, query.get("$select"))
    context = "users" if names is None else f"users({query['$select']})"
    listing = replace(USERS_LISTING, context=context)

    def rows() -> list[Row]:
        # Filter on what Graph would see: userType defaults to Member; the copy keeps a page stable under PATCH.
        with ctx.state.lock:
            return [{**u, "userType": _user_type(u)} for u in ctx.state.collection("users")]

    project: Callable[[Row], Row] = _default_user if names is None else _full_user
    return list_response(ctx, rows, listing, project)


def _user_body(ctx: Ctx, user: Row) -> Response:
    query = ctx.query()
    _single_options(query)
    names = _select_names(ctx.state, query.get("$select"))
    with ctx.state.lock:
        if names is None:
            body = {"@odata.context": f"{METADATA}users/$entity", **_default_user(user)}
        else:
            body = {"@odata.context": f"{METADATA}users({query['$select']})/$entity",
                    **_project_selected(user, names)}
    return json_response(body)


def get_user(ctx: Ctx) -> Response:
    return _user_body(ctx, resolve_user(ctx.state, ctx.params["user"]))


def get_me(ctx: Ctx) -> Response:
    principal = ctx.require_principal()
    if principal.user is None:
        raise ServiceError(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
    return _user_body(ctx, principal.user)


# --- PATCH /users/{id} ----------------------------------------------------------------------------------------

_BANNED_FRAGMENTS = ("password", "passw0rd", "p@ssword", "welcome", "letmein", "qwerty", "123456", "iloveyou",
                     "contoso")
_SYMBOLS = set("@#$%^&*-_!+=[]{}|\\:',.?/`~\"();<> ")


def password_problem(password: str, user: Row) -> str | None:
    """Why Entra would refuse ``password`` for ``user`` (None when it complies).

    Entra's cloud policy: 8 to 256 characters from A-Z, a-z, 0-9, the listed symbols and space; at least three of
    the four classes. The global banned-password list is represented by a few common fragments, and, as Entra's
    banned-password check does, the user's alias and name parts are refused inside a password.
    """
    if not 8 <= len(password) <= 256:
        return "length"
    if any(not (c.isascii() and (c.isalnum() or c in _SYMBOLS)) for c in password):
        return "characters"
    classes = sum((any(c.islower() for c in password), any(c.isupper() for c in password),
                   any(c.isdigit() for c in password), any(c in _SYMBOLS for c in password)))
    if classes < 3:
        return "classes"
    lowered = password.lower()
    personal = {user["userPrincipalName"].split("@")[0].lower()}
    personal.update(str(user.get("displayName") or "").lower().replace("'", " ").split())
    if any(len(part) >= 3 and part in lowered for part in personal) or any(f in lowered for f in _BANNED_FRAGMENTS):
        return "banned"
    return None


def _complexity_error() -> ServiceError:
    return ServiceError(400, "Request_BadRequest", "The specified password does not comply with password complexity "
                                                   "requirements. Please provide a different password.")


def generate_password() -> str:
    """A strong password, as the service generates for resetPassword without newPassword."""
    alphabet = string.ascii_letters + string.digits + "!#$%&*+-=?@"
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(16))
        if (any(c.islower() for c in candidate) and any(c.isupper() for c in candidate)
                and any(c.isdigit() for c in candidate) and any(not c.isalnum() for c in candidate)):
            return candidate


def _property_error(name: str) -> ServiceError:
    if name in READ_ONLY_USER_PROPERTIES:
        # UNVERIFIED: Graph's exact wording for setting a read-only user property.
        return ServiceError(400, "Request_BadRequest", f"Property '{name}' is read-only and cannot be set.")
    if name in USER_PROPERTIES:
        return ServiceError(400, "Request_BadRequest",
                            f"Updating '{name}' is not supported by the sandbox tenant; it supports only "
                            f"{' and '.join(SUPPORTED_USER_UPDATES)}.")
    return ServiceError(400, "Request_BadRequest",
                        f"Property '{name}' does not exist as a declared property or extension property.")


@dataclass(frozen=True)
class PasswordProfile:
    password: str | None
    force_change: bool | None
    force_change_with_mfa: bool | None

    def __repr__(self) -> str:  # never let a password reach a log line or a traceback
        return f"PasswordProfile(password={'***' if self.password else None}, force_change={self.force_change})"


def _password_profile(value: Any) -> PasswordProfile:
    if not isinstance(value, dict):
        raise ServiceError(400, "Request_BadRequest",
                           "Invalid value specified for property 'passwordProfile' of resource 'User'.")
    for key in value:
        if key not in _PASSWORD_PROFILE_KEYS:
            raise ServiceError(400, "Request_BadRequest",
                               f"Property '{key}' does not exist as a declared property or extension property.")
    password = value.get("password")
    if password is not None and not isinstance(password, str):
        raise ServiceError(400, "Request_BadRequest",
                           "Invalid value specified for property 'password' of resource 'PasswordProfile'.")
    flags = []
    for key in ("forceChangePasswordNextSignIn", "forceChangePasswordNextSignInWithMfa"):
        flag = value.get(key)
        if flag is not None and not isinstance(flag, bool):
            raise ServiceError(400, "Request_BadRequest",
                               f"Invalid value specified for property '{key}' of resource 'PasswordProfile'.")
        flags.append(flag)
    if password is None and flags == [None, None]:
        raise ServiceError(400, "Request_BadRequest", "The passwordProfile must set a password or a force-change flag.")
    return PasswordProfile(password, flags[0], flags[1])


def _authorize_password_update(principal: Principal, target_roles: frozenset[str]) -> None:
    """Who may set another user's passwordProfile.

    App-only: ``User-PasswordProfile.ReadWrite.All`` is required; the reference (code-cited from the user-update
    docs) has ``User.ReadWrite.All`` alone answering 403. We treat ``Directory.ReadWrite.All`` the same way: Microsoft
    removed password changes from the broad directory permissions in favour of the dedicated one (UNVERIFIED for
    Directory.ReadWrite.All). The app also needs a directory role able to reset the target (User Administrator and
    the like for non-admins; Privileged Authentication Administrator or Global Administrator for admins).
    Delegated: Directory.AccessAsUser.All (the documented one), User-PasswordProfile.ReadWrite.All or
    User.ReadWrite.All, and the signed-in user must hold such a role.
    """
    if principal.app_only:
        allowed = principal.has_any({"User-PasswordProfile.ReadWrite.All"})
    else:
        allowed = principal.has_any({"Directory.AccessAsUser.All", "User-PasswordProfile.ReadWrite.All",
                                     "User.ReadWrite.All"})
    if not allowed or not _may_manage(principal.directory_roles, target_roles, PASSWORD_RESETTERS):
        raise _denied()


def _authorize_enable_update(principal: Principal, target_roles: frozenset[str]) -> None:
    """accountEnabled: User.EnableDisableAccount.All (least), User.ReadWrite.All or Directory.ReadWrite.All.

    App-only calls need no role for ordinary users; blocking an administrator needs a privileged role (Entra
    protects admins' sensitive properties). Delegated callers need User Administrator or a privileged role.
    """
    if not principal.has_any({"User.EnableDisableAccount.All", "User.ReadWrite.All", "Directory.ReadWrite.All",
                              "Directory.AccessAsUser.All"}):
        raise _denied()
    if principal.app_only and not target_roles - LIMITED_ADMIN_ROLES:
        return
    if not _may_manage(principal.directory_roles, target_roles, ACCOUNT_ENABLERS):
        raise _denied()


def _set_password_changed(state: TenantState, user: Row, force_change: bool | None) -> str:
    """Record a password change at the simulated now (the password itself is not kept).

    An admin password reset also revokes the user's refresh tokens (Entra's token-revocation rules), so
    ``signInSessionsValidFromDateTime`` moves with ``lastPasswordChangeDateTime``. The password method's
    ``createdDateTime`` is the time the password was last set.
    """
    stamp = _stamp(state.now())
    user["lastPasswordChangeDateTime"] = stamp
    user["signInSessionsValidFromDateTime"] = stamp
    if force_change is not None:
        user.setdefault(SANDBOX_KEY, {})["forceChangePasswordNextSignIn"] = force_change
    for method in state.collection("auth_methods"):
        if method["id"].lower() == PASSWORD_METHOD_ID and _method_owner(state, method) is user:
            method["createdDateTime"] = stamp
    return stamp


def patch_user(ctx: Ctx) -> Response:
    principal = ctx.require_principal()
    user = resolve_user(ctx.state, ctx.params["user"])
    body = ctx.json()
    if not isinstance(body, dict):
        raise ServiceError(400, "Request_BadRequest", "The request body must be a JSON object with the properties to "
                                                      "update.")
    for key in body:
        if key.startswith("@odata."):
            continue
        if key not in SUPPORTED_USER_UPDATES:
            raise _property_error(key)
    profile = _password_profile(body["passwordProfile"]) if "passwordProfile" in body else None
    enabled = body.get("accountEnabled")
    if "accountEnabled" in body and not isinstance(enabled, bool):
        raise ServiceError(400, "Request_BadRequest",
                           "Invalid value specified for property 'accountEnabled' of resource 'User'.")
    target_roles = ctx.state.user_roles(user)
    if profile is not None:
        _authorize_password_update(principal, target_roles)
    if enabled is not None:
        _authorize_enable_update(principal, target_roles)
    if profile is not None and profile.password is not None and password_problem(profile.password, user):
        raise _complexity_error()
    with ctx.state.lock:
        if enabled is not None:
            user["accountEnabled"] = enabled
            log.info("user %s accountEnabled set to %s by %s", user["userPrincipalName"], enabled, principal.display)
        if profile is not None:
            if profile.password is not None:
                when = _set_password_changed(ctx.state, user, profile.force_change)
                log.info("password of %s changed by %s at %s (simulated)", user["userPrincipalName"],
                         principal.display, when)
            else:
                user.setdefault(SANDBOX_KEY, {})["forceChangePasswordNextSignIn"] = bool(profile.force_change)
                log.info("user %s must change password at next sign-in (set by %s)", user["userPrincipalName"],
                         principal.display)
    return Response(status_code=204)


# --- revokeSignInSessions -----------------------------------------------------------------------------------------

def revoke_sessions(ctx: Ctx) -> Response:
    """Move signInSessionsValidFromDateTime to now; refresh tokens issued before it stop working (entra.py).

    Answers 200 with an Edm.Boolean body although the docs say 204: Graph's known issue, reproduced.
    """
    principal = ctx.require_principal()
    user = resolve_user(ctx.state, ctx.params["user"])
    own = principal.user is not None and principal.user["id"] == user["id"]
    # App-only callers need only the permission; a signed-in admin needs a role able to act on the target.
    if not own and not principal.app_only and not _may_manage(principal.directory_roles,
                                                              ctx.state.user_roles(user), SESSION_REVOKERS):
        raise _denied()
    if _user_type(user).lower() == "guest":
        # UNVERIFIED: the docs say revocation does not apply to external (guest) users; the error text is ours.
        raise ServiceError(400, "Request_BadRequest",
                           "Sign-in sessions of external (guest) users can't be revoked in this tenant; revoke them "
                           "in the user's home tenant.")
    with ctx.state.lock:
        user["signInSessionsValidFromDateTime"] = _stamp(ctx.state.now())
    log.info("sign-in sessions of %s revoked by %s", user["userPrincipalName"], principal.display)
    return json_response({"@odata.context": f"{METADATA}Edm.Boolean", "value": True})


# --- authentication methods ----------------------------------------------------------------------------------------

#: /users/{id}/authentication/{segment} -> the @odata.type it lists.
METHOD_SEGMENTS = {
    "passwordmethods": "#microsoft.graph.passwordAuthenticationMethod",
    "phonemethods": "#microsoft.graph.phoneAuthenticationMethod",
    "emailmethods": "#microsoft.graph.emailAuthenticationMethod",
    "fido2methods": "#microsoft.graph.fido2AuthenticationMethod",
    "microsoftauthenticatormethods": "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod",
    "softwareoathmethods": "#microsoft.graph.softwareOathAuthenticationMethod",
    "temporaryaccesspassmethods": "#microsoft.graph.temporaryAccessPassAuthenticationMethod",
    "windowshelloforbusinessmethods": "#microsoft.graph.windowsHelloForBusinessAuthenticationMethod",
    "platformcredentialmethods": "#microsoft.graph.platformCredentialAuthenticationMethod",
}
METHODS_LISTING = Listing(context="", rules=None, max_top=999, default_top=999, top_over_max="clamp")


def _method_owner(state: TenantState, method: Row) -> Row | None:
    return state.find_user(str(method.get("user", "")))


def _methods_of(state: TenantState, user: Row, odata_type: str | None = None) -> list[Row]:
    with state.lock:
        return [m for m in state.collection("auth_methods")
                if _method_owner(state, m) is user and (odata_type is None or m["@odata.type"] == odata_type)]


def _method_not_found(method_id: str) -> ServiceError:
    # UNVERIFIED: the authentication-methods service's code and text for an unknown method.
    return ServiceError(404, "itemNotFound", f"The authentication method '{method_id}' was not found for this user.")


def _authorize_methods_read(principal: Principal, user: Row) -> None:
    """Another user's methods need the .All permission and, delegated, a role that may read them."""
    own = principal.user is not None and principal.user["id"] == user["id"]
    if own:
        return
    if not principal.has_any({"UserAuthenticationMethod.Read.All", "UserAuthenticationMethod.ReadWrite.All"}):
        raise _denied()
    if not principal.app_only and not principal.directory_roles & METHOD_READERS:
        raise _denied()


def _method_context(user: Row, segment: str) -> str:
    return f"users('{user['id']}')/authentication/{segment}"


def list_methods(ctx: Ctx) -> Response:
    principal = ctx.require_principal()
    user = resolve_user(ctx.state, ctx.params["user"])
    _authorize_methods_read(principal, user)
    listing = replace(METHODS_LISTING, context=_method_context(user, "methods"))
    return list_response(ctx, _methods_of(ctx.state, user), listing, lambda m: served(m, "auth_methods"))


def get_method(ctx: Ctx) -> Response:
    principal = ctx.require_principal()
    user = resolve_user(ctx.state, ctx.params["user"])
    _authorize_methods_read(principal, user)
    _single_options(ctx.query())
    wanted = ctx.params["method"].lower()
    for method in _methods_of(ctx.state, user):
        if method["id"].lower() == wanted:
            context = f"{METADATA}{_method_context(user, 'methods')}/$entity"
            return json_response({"@odata.context": context, **served(method, "auth_methods")})
    raise _method_not_found(ctx.params["method"])


def _typed_methods_target(ctx: Ctx) -> tuple[str, str, Row]:
    """The path's method segment, its @odata.type and the user, once the caller may read their methods."""
    segment = ctx.params["segment"]
    odata_type = METHOD_SEGMENTS.get(segment.lower())
    if odata_type is None:
        raise ServiceError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")
    user = resolve_user(ctx.state, ctx.params["user"])
    _authorize_methods_read(ctx.require_principal(), user)
    return segment, odata_type, user


def list_typed_methods(ctx: Ctx) -> Response:
    segment, odata_type, user = _typed_methods_target(ctx)
    listing = replace(METHODS_LISTING, context=_method_context(user, segment))
    return list_response(ctx, _methods_of(ctx.state, user, odata_type), listing, lambda m: served(m, "auth_methods"))


def get_typed_method(ctx: Ctx) -> Response:
    segment, odata_type, user = _typed_methods_target(ctx)
    _single_options(ctx.query())
    wanted = ctx.params["method"].lower()
    for method in _methods_of(ctx.state, user, odata_type):
        if method["id"].lower() == wanted:
            context = f"{METADATA}{_method_context(user, segment)}/$entity"
            return json_response({"@odata.context": context, **served(method, "auth_methods")})
    raise _method_not_found(ctx.params["method"])


def delete_typed_method(ctx: Ctx) -> Response:
    """``DELETE /users/{id}/authentication/{segment}/{id}``: the method is gone from the user.

    Acting on another user needs UserAuthenticationMethod.ReadWrite.All and, delegated, the Authentication
    Administrator or Privileged Authentication Administrator role (a privileged role for an administrator target);
    the password method cannot be deleted (phoneauthenticationmethod-delete and friends). UNVERIFIED: the code and
    text of the password-method refusal, and that an app-only caller is held to no directory role. Not simulated:
    Entra refuses to delete the phone that is the user's default MFA method; snapshots do not say which is default.
    """
    principal = ctx.require_principal()
    segment, odata_type, user = _typed_methods_target(ctx)
    own = principal.user is not None and principal.user["id"] == user["id"]
    if not own and not principal.has_any({"UserAuthenticationMethod.ReadWrite.All"}):
        raise _denied()
    if not own and not principal.app_only and not _may_manage(principal.directory_roles, ctx.state.user_roles(user),
                                                              RESET_PASSWORD_ACTION_ROLES):
        raise _denied()
    if odata_type == METHOD_SEGMENTS["passwordmethods"]:
        raise ServiceError(400, "badRequest", "The password authentication method can't be deleted.")
    wanted = ctx.params["method"].lower()
    with ctx.state.lock:
        method = next((m for m in _methods_of(ctx.state, user, odata_type) if m["id"].lower() == wanted), None)
        if method is None:
            raise _method_not_found(ctx.params["method"])
        rows = ctx.state.collection("auth_methods")
        rows[:] = [m for m in rows if m is not method]
    log.info("authentication method %s (%s) of %s deleted by %s", method["id"], segment, user["userPrincipalName"],
             principal.display)
    return Response(status_code=204)


@dataclass(frozen=True)
class Operation:
    """A resetPassword long-running operation (completed at once in the sandbox)."""

    id: str
    user_id: str
    created: str
    resource_location: str

    def body(self) -> Row:
        return {"id": self.id, "createdDateTime": self.created, "lastActionDateTime": self.created,
                "status": "succeeded", "statusDetail": None, "resourceLocation": self.resource_location}


def _operations(ctx: Ctx) -> dict[str, Operation]:
    ops: dict[str, Operation] = ctx.sandbox.flows.setdefault(OPERATIONS_KEY, {})
    return ops


def reset_password(ctx: Ctx) -> Response:
    """POST .../methods/28c10230-.../resetPassword: delegated only, 202 + Location, generated password once.

    UNVERIFIED: the status and code an app-only caller gets (403 here), and that the self-reset refusal is a 403.
    The operation completes at once; its Retry-After (1 s) is the sandbox's choice.
    """
    principal = ctx.require_principal()
    if principal.app_only:
        raise ServiceError(403, "Authorization_RequestDenied",
                           "resetPassword is supported only in delegated (signed-in user) context; application "
                           "permissions can't reset a password with this API.")
    user = resolve_user(ctx.state, ctx.params["user"])
    if ctx.params["method"].lower() != PASSWORD_METHOD_ID:
        raise _method_not_found(ctx.params["method"])
    assert principal.user is not None
    if principal.user["id"] == user["id"]:
        raise ServiceError(403, "Authorization_RequestDenied",
                           "An administrator can't reset their own password with this API; use self-service "
                           "password change.")
    if not _may_manage(principal.directory_roles, ctx.state.user_roles(user), RESET_PASSWORD_ACTION_ROLES):
        raise _denied()
    body = ctx.json()
    body = {} if body is None else body
    if not isinstance(body, dict) or any(k != "newPassword" for k in body):
        raise ServiceError(400, "badRequest", "The request body may contain only 'newPassword'.")
    supplied = body.get("newPassword")
    if supplied is not None and not isinstance(supplied, str):
        raise ServiceError(400, "badRequest", "'newPassword' must be a string.")
    if supplied is None and user.get("onPremisesSyncEnabled"):
        raise ServiceError(400, "badRequest", "A new password must be supplied for a user synchronised from "
                                              "on-premises.")
    if supplied is not None and password_problem(supplied, user):
        raise _complexity_error()
    new_password = supplied if supplied is not None else generate_password()
    with ctx.state.lock:
        when = _set_password_changed(ctx.state, user, force_change=True)
    op_id = str(uuid.uuid4())
    location = ctx.url(f"{V1}/users/{user['id']}/authentication/operations/{op_id}")
    resource = ctx.url(f"{V1}/users/{user['id']}/authentication/passwordMethods/{PASSWORD_METHOD_ID}")
    _operations(ctx)[op_id] = Operation(op_id, user["id"], when, resource)
    log.info("password of %s reset by %s at %s (simulated), operation %s", user["userPrincipalName"],
             principal.display, when, op_id)
    headers = {"Location": location, "Retry-After": "1"}
    if supplied is not None:
        return Response(status_code=202, headers=headers)
    return json_response({"newPassword": new_password}, status=202, headers=headers)


def get_operation(ctx: Ctx) -> Response:
    principal = ctx.require_principal()
    user = resolve_user(ctx.state, ctx.params["user"])
    _authorize_methods_read(principal, user)
    op = _operations(ctx).get(ctx.params["operation"].lower())
    if op is None or op.user_id != user["id"]:
        raise ServiceError(404, "itemNotFound", f"The operation '{ctx.params['operation']}' was not found.")
    context = f"{METADATA}users('{user['id']}')/authentication/operations/$entity"
    return json_response({"@odata.context": context, **op.body()})


# --- OAuth2 permission grants -------------------------------------------------------------------------------------

GRANT_FILTERS = FilterRules(
    fields={
        "id": FieldSpec("string", _EQ),
        "clientId": FieldSpec("string", _EQ),
        "consentType": FieldSpec("string", _EQ),
        "principalId": FieldSpec("string", _EQ),
        "resourceId": FieldSpec("string", _EQ),
    },
)
GRANTS_LISTING = Listing(
    top_error_code="Request_UnsupportedQuery",
    context="oauth2PermissionGrants",
    rules=GRANT_FILTERS,
    max_top=DIRECTORY_MAX_TOP,
    default_top=100,
    filter_error_code="Request_UnsupportedQuery",
)


def _grants(state: TenantState, principal_id: str | None = None) -> list[Row]:
    with state.lock:
        rows = state.collection("oauth_grants")
        if principal_id is None:
            return list(rows)
        return [g for g in rows if str(g.get("principalId") or "").lower() == principal_id.lower()]


def list_grants(ctx: Ctx) -> Response:
    return list_response(ctx, lambda: _grants(ctx.state), GRANTS_LISTING, lambda g: served(g, "oauth_grants"))


def list_user_grants(ctx: Ctx) -> Response:
    """The grants in which the user is the principal (consentType Principal).

    Tenant-wide (AllPrincipals) grants also apply to the user, but Graph's user navigation lists only the grants
    made for that user; clients find tenant-wide ones with /oauth2PermissionGrants?$filter=consentType eq
    'AllPrincipals'. UNVERIFIED in the reference; this is our reading of the user-list-oauth2permissiongrants docs.
    """
    user = resolve_user(ctx.state, ctx.params["user"])
    listing = replace(GRANTS_LISTING, context=f"users('{user['id']}')/oauth2PermissionGrants")
    return list_response(ctx, lambda: _grants(ctx.state, user["id"]), listing, lambda g: served(g, "oauth_grants"))


def _find_grant(state: TenantState, grant_id: str) -> Row:
    wanted = grant_id.lower()
    with state.lock:
        for grant in state.collection("oauth_grants"):
            if grant["id"].lower() == wanted:
                return grant
    raise not_found(grant_id)


def get_grant(ctx: Ctx) -> Response:
    _single_options(ctx.query())
    grant = _find_grant(ctx.state, ctx.params["grant"])
    return json_response({"@odata.context": f"{METADATA}oauth2PermissionGrants/$entity",
                          **served(grant, "oauth_grants")})


def delete_grant(ctx: Ctx) -> Response:
    principal = ctx.require_principal()
    with ctx.state.lock:
        grant = _find_grant(ctx.state, ctx.params["grant"])
        rows = ctx.state.collection("oauth_grants")
        rows[:] = [g for g in rows if g is not grant]
    log.info("OAuth2 permission grant %s (client %s, scope '%s') deleted by %s", grant["id"], grant["clientId"],
             grant["scope"], principal.display)
    return Response(status_code=204)


# --- service principals -----------------------------------------------------------------------------------------

SP_FILTERS = FilterRules(
    fields={
        "id": FieldSpec("string", _EQ),
        "appId": FieldSpec("string", _EQ),
        "displayName": FieldSpec("string", _EQ_SW),
        "servicePrincipalType": FieldSpec("string", _EQ),
        "accountEnabled": FieldSpec("bool", _EQ),
    },
    allow_or=True,
)
SP_LISTING = Listing(
    top_error_code="Request_UnsupportedQuery",
    context="servicePrincipals",
    rules=SP_FILTERS,
    max_top=DIRECTORY_MAX_TOP,
    default_top=100,
    filter_error_code="Request_UnsupportedQuery",
)


def list_service_principals(ctx: Ctx) -> Response:

    def rows() -> list[Row]:
        with ctx.state.lock:
            return list(ctx.state.collection("service_principals"))

    return list_response(ctx, rows, SP_LISTING, lambda r: served(r, "service_principals"))


def _service_principal_body(row: Row) -> Response:
    return json_response({"@odata.context": f"{METADATA}servicePrincipals/$entity",
                          **served(row, "service_principals")})


def get_service_principal(ctx: Ctx) -> Response:
    _single_options(ctx.query())
    wanted = ctx.params["sp"].lower()
    with ctx.state.lock:
        row = next((r for r in ctx.state.collection("service_principals") if r["id"].lower() == wanted), None)
    if row is None:
        raise not_found(ctx.params["sp"])
    return _service_principal_body(row)


def get_service_principal_by_app_id(ctx: Ctx) -> Response:
    """``/servicePrincipals(appId='{appId}')``: the alternate key Graph offers."""
    _single_options(ctx.query())
    wanted = ctx.params["app"].lower()
    with ctx.state.lock:
        row = next((r for r in ctx.state.collection("service_principals") if r["appId"].lower() == wanted), None)
    if row is None:
        raise not_found(f"appId='{ctx.params['app']}'")
    return _service_principal_body(row)


# --- routes -----------------------------------------------------------------------------------------------------

def routes() -> list[Route]:
    directory = "directory"
    sp_by_app = route("GET", f"{V1}/servicePrincipals", get_service_principal_by_app_id, "graph", _SP_READ, directory)
    sp_by_app = replace(sp_by_app, pattern=re.compile(r"^/v1\.0/servicePrincipals\(appId='(?P<app>[^'/]+)'\)/?$",
                                                      re.IGNORECASE))
    return [
        route("GET", f"{V1}/users", list_users, "graph", _USER_READ, directory),
        route("GET", f"{V1}/me", get_me, "graph", _ME_READ, directory),
        route("GET", f"{V1}/users/{{user}}", get_user, "graph", _USER_READ, directory),
        route("PATCH", f"{V1}/users/{{user}}", patch_user, "graph", _USER_UPDATE, directory),
        route("POST", f"{V1}/users/{{user}}/revokeSignInSessions", revoke_sessions, "graph", _REVOKE, directory),
        route("GET", f"{V1}/users/{{user}}/authentication/methods", list_methods, "graph", _METHODS_READ,
              directory),
        route("GET", f"{V1}/users/{{user}}/authentication/methods/{{method}}", get_method, "graph", _METHODS_READ,
              directory),
        route("POST", f"{V1}/users/{{user}}/authentication/methods/{{method}}/resetPassword", reset_password, "graph",
              _RESET_PASSWORD, directory),
        route("GET", f"{V1}/users/{{user}}/authentication/operations/{{operation}}", get_operation, "graph",
              _METHODS_READ, directory),
        route("GET", f"{V1}/users/{{user}}/authentication/{{segment}}", list_typed_methods, "graph", _METHODS_READ,
              directory),
        route("GET", f"{V1}/users/{{user}}/authentication/{{segment}}/{{method}}", get_typed_method, "graph",
              _METHODS_READ, directory),
        route("DELETE", f"{V1}/users/{{user}}/authentication/{{segment}}/{{method}}", delete_typed_method, "graph",
              _METHODS_WRITE, directory),
        route("GET", f"{V1}/users/{{user}}/oauth2PermissionGrants", list_user_grants, "graph", _GRANTS_READ,
              directory),
        route("GET", f"{V1}/oauth2PermissionGrants", list_grants, "graph", _GRANTS_READ, directory),
        route("GET", f"{V1}/oauth2PermissionGrants/{{grant}}", get_grant, "graph", _GRANTS_READ, directory),
        route("DELETE", f"{V1}/oauth2PermissionGrants/{{grant}}", delete_grant, "graph", _GRANTS_DELETE, directory),
        route("GET", f"{V1}/servicePrincipals", list_service_principals, "graph", _SP_READ, directory),
        sp_by_app,
        route("GET", f"{V1}/servicePrincipals/{{sp}}", get_service_principal, "graph", _SP_READ, directory),
    ]
