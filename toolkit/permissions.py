"""What each remediation needs, checked against the access token before any call (m365-apis.md 1.2, 5.3, 5.6, 6).

A token carries its permissions (app roles for app-only, scopes for delegated) but not the directory or Exchange
roles the service also checks, so a check passes on the permissions and names the roles it could not see; when the
service then refuses for a missing role, the action says the same words. Reads that the preview and the read-back
need (the user, the rules, the block list) are checked with the same table as the preflight.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from toolkit.connection import Connection
from toolkit.errors import AuthenticationError
from toolkit.preflight import NEEDS, token_permissions

SERVICE_NAMES = {"graph": "Microsoft Graph", "exchange": "Exchange Online"}


@dataclass(frozen=True)
class Need:
    """One permission requirement: any one of ``application`` (app-only) or ``delegated`` (signed-in user).

    ``grant``: the least-privileged permission to grant, named in the refusal. An empty set for one of the two
    kinds means that kind of token cannot do this at all (``resetPassword`` is delegated only).
    ``roles``: the roles the service also requires, in words (not visible in the token).
    """

    service: str
    application: frozenset[str]
    delegated: frozenset[str]
    grant_app: str
    grant_delegated: str
    roles_app: str = ""
    roles_delegated: str = ""
    what: str = ""

    def accepted(self, kind: str) -> frozenset[str]:
        return self.application if kind == "app" else self.delegated

    def grant(self, kind: str) -> str:
        return self.grant_app if kind == "app" else self.grant_delegated

    def roles(self, kind: str) -> str:
        return self.roles_app if kind == "app" else self.roles_delegated


def need(service: str, application: str, delegated: str, *, roles_app: str = "", roles_delegated: str = "",
         what: str = "") -> Need:
    """A Need from comma-separated names; the first of each list is the least-privileged one to grant."""

    def names(text: str) -> tuple[str, ...]:
        return tuple(n.strip() for n in text.split(",") if n.strip())

    app, dele = names(application), names(delegated)
    return Need(service, frozenset(app), frozenset(dele), app[0] if app else "", dele[0] if dele else "",
                roles_app, roles_delegated, what)


def read_need(kind: str) -> Need:
    """The preflight's requirement for reading one evidence kind, as a Need."""
    service, accepted, grant = NEEDS[kind]
    return Need(service, accepted, accepted, grant, grant, what=f"reading {kind}")


_EXO_WRITE = "Exchange.ManageAsApp"
_EXO_WRITE_DELEGATED = "Exchange.Manage"

#: Per action kind: what it writes with (first) and what its preview and read-back read with.
ACTION_NEEDS: dict[str, tuple[Need, ...]] = {
    "reset_password": (read_need("users"),),  # the write depends on the token kind: see PASSWORD_NEEDS
    "revoke_sessions": (
        need("graph", "User.RevokeSessions.All, User.ReadWrite.All, Directory.ReadWrite.All",
             "User.RevokeSessions.All, User.ReadWrite.All, Directory.ReadWrite.All, Directory.AccessAsUser.All",
             roles_delegated="the Helpdesk, Password, User or Authentication Administrator role (or higher)",
             what="revoking sign-in sessions"),
        read_need("users"),
    ),
    "block_sign_in": (
        need("graph", "User.EnableDisableAccount.All, User.ReadWrite.All, Directory.ReadWrite.All",
             "User.EnableDisableAccount.All, User.ReadWrite.All, Directory.ReadWrite.All, Directory.AccessAsUser.All",
             roles_app="a Privileged Authentication Administrator role when the user is an administrator",
             roles_delegated="the User Administrator role (Privileged Authentication Administrator for an "
                             "administrator)",
             what="blocking sign-in"),
        read_need("users"),
    ),
    "disable_rule": (
        need("graph", "MailboxSettings.ReadWrite", "MailboxSettings.ReadWrite",
             roles_delegated="access to the user's mailbox (FullAccess)", what="changing inbox rules"),
        read_need("users"),
    ),
    "delete_rule": (
        need("graph", "MailboxSettings.ReadWrite", "MailboxSettings.ReadWrite",
             roles_delegated="access to the user's mailbox (FullAccess)", what="deleting inbox rules"),
        read_need("users"),
    ),
    "clear_forwarding": (
        need("exchange", _EXO_WRITE, _EXO_WRITE_DELEGATED,
             roles_app="the Exchange Administrator or Exchange Recipient Administrator role",
             roles_delegated="the Exchange Administrator or Exchange Recipient Administrator role",
             what="changing mailbox forwarding (Set-Mailbox)"),
    ),
    "remove_auth_method": (
        need("graph", "UserAuthenticationMethod.ReadWrite.All", "UserAuthenticationMethod.ReadWrite.All",
             roles_delegated="the Authentication Administrator role (Privileged Authentication Administrator for an "
                             "administrator)",
             what="removing an authentication (MFA) method"),
        read_need("auth_methods"),
    ),
    "remove_grant": (
        need("graph", "DelegatedPermissionGrant.ReadWrite.All, Directory.ReadWrite.All",
             "DelegatedPermissionGrant.ReadWrite.All, Directory.ReadWrite.All, Directory.AccessAsUser.All",
             roles_delegated="the Cloud Application Administrator or Application Administrator role (or higher)",
             what="removing OAuth grants"),
    ),
    "unblock": (
        need("exchange", _EXO_WRITE, _EXO_WRITE_DELEGATED,
             roles_app="the Security Administrator or Exchange Administrator role (Organization Management)",
             roles_delegated="the Security Administrator or Exchange Administrator role (Organization Management)",
             what="removing a restricted sender (Remove-BlockedSenderAddress)"),
    ),
}

#: Hidden inbox rules: Graph cannot see them, so they are changed with Disable-/Remove-InboxRule (m365-apis.md 5.4).
HIDDEN_RULE_NEEDS: tuple[Need, ...] = (
    need("exchange", _EXO_WRITE, _EXO_WRITE_DELEGATED,
         roles_app="the Exchange Administrator or Exchange Recipient Administrator role",
         roles_delegated="the Exchange Administrator or Exchange Recipient Administrator role",
         what="changing a hidden inbox rule (Disable-InboxRule / Remove-InboxRule)"),
)

#: Password resets: app-only through PATCH passwordProfile, delegated through resetPassword (m365-apis.md 6.2).
PASSWORD_NEEDS: dict[str, Need] = {
    "password_profile": need(
        "graph", "User-PasswordProfile.ReadWrite.All",
        "Directory.AccessAsUser.All, User-PasswordProfile.ReadWrite.All, User.ReadWrite.All",
        roles_app="the User Administrator role (Privileged Authentication Administrator for an administrator)",
        roles_delegated="the User Administrator role (Privileged Authentication Administrator for an administrator)",
        what="setting a new password (PATCH passwordProfile)"),
    "reset_password": need(
        "graph", "", "UserAuthenticationMethod.ReadWrite.All",
        roles_delegated="the Authentication Administrator role (Privileged Authentication Administrator for an "
                        "administrator)",
        what="resetting a password (resetPassword, delegated only)"),
}


@dataclass(frozen=True)
class PermissionCheck:
    """The token's answer for one action: whether it may try, and in plain words what is missing or unchecked."""

    ok: bool
    identity_kind: str  # "app" or "user"
    identity: str
    missing: tuple[str, ...]  # one sentence per missing permission
    roles: tuple[str, ...]  # roles the service will check that the token cannot show

    @property
    def message(self) -> str:
        if not self.ok:
            return "Refused before any call: " + " ".join(self.missing)
        if self.roles:
            return ("The token has the permissions. The service also checks roles the token does not show: "
                    + "; ".join(self.roles) + ".")
        return "The token has the permissions."


def check(connection: Connection, needs: Iterable[Need]) -> PermissionCheck:
    """Check every need against the tokens' permissions (fetching tokens, but calling no API)."""
    needs = tuple(needs)
    missing: list[str] = []
    roles: list[str] = []
    held: dict[str, frozenset[str]] = {}
    kind = "app"
    for service in dict.fromkeys(n.service for n in needs):
        try:
            held[service] = token_permissions(connection.tokens.token(service))
        except AuthenticationError as exc:
            missing.append(f"No {SERVICE_NAMES.get(service, service)} token: {exc}.")
            held[service] = frozenset()
    identity = connection.tokens.identity()  # after a token was fetched: a device-code user is known by now
    kind = identity.kind
    for item in needs:
        accepted = item.accepted(kind)
        service = SERVICE_NAMES.get(item.service, item.service)
        token_kind = "application permission" if kind == "app" else "delegated permission"
        if not accepted:
            other = "a signed-in administrator (delegated)" if kind == "app" else "an app-only credential"
            missing.append(f"{_first_upper(item.what)} needs {other}; this "
                           f"{'app-only' if kind == 'app' else 'delegated'} connection cannot do it.")
            continue
        if not held.get(item.service, frozenset()) & accepted:
            role = item.roles(kind)
            also = f" and {role}" if role else ""
            alternatives = sorted(accepted - {item.grant(kind)})
            others = (f" (or {alternatives[0]})" if len(alternatives) == 1 else
                      f" (or one of {', '.join(alternatives)})" if alternatives else "")
            lacks = "carries none of them" if alternatives else "does not carry it"
            missing.append(f"{_first_upper(item.what)} needs {item.grant(kind)}{others} ({token_kind}, {service})"
                           f"{also}; the token {lacks}.")
        elif item.roles(kind):
            roles.append(f"{item.what}: {item.roles(kind)}")
    return PermissionCheck(not missing, kind, identity.name, tuple(dict.fromkeys(missing)), tuple(dict.fromkeys(roles)))


def _first_upper(text: str) -> str:
    return text[:1].upper() + text[1:]
