"""Actions on the Entra user and its consents: reset the password, revoke sessions, block sign-in, remove a grant.

State is read back through ``graph.resolve_user`` (the ``users`` frame: ``last_password_change``,
``sessions_valid_from``, ``account_enabled``) and ``GET /oauth2PermissionGrants/{id}`` (m365-apis.md 5.6, 6).
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import quote

import pandas as pd

from toolkit import permissions
from toolkit.action_core import (
    Action,
    ActionContext,
    ActionFailed,
    Assessment,
    Change,
    Executed,
    Plan,
    ReadFailed,
    State,
    header,
)
from toolkit.errors import ApiError, NotFound, PermissionDenied
from toolkit.journal import Entry
from toolkit.passwords import HANDOVER_WARNING, NewPassword, generate, name_parts
from toolkit.sources import graph
from toolkit.sources.graph import UserIdentity, UserNotFound
from toolkit.transport import parse_retry_after

log = logging.getLogger(__name__)

#: The well-known id of the password authentication method (m365-apis.md 5.5).
PASSWORD_METHOD_ID = "28c10230-6103-485e-b985-444c60001490"
PASSWORD_METHODS = ("auto", "password_profile", "reset_password")


def _iso(value: Any) -> str | None:
    if value is None or value is pd.NaT or (not isinstance(value, str) and pd.isna(value)):
        return None
    return pd.Timestamp(value).tz_convert("UTC").isoformat()


def _stamp(text: str | None) -> pd.Timestamp | None:
    return None if not text else pd.Timestamp(text)


def moved(before: str | None, after: str | None) -> bool:
    """Whether a timestamp moved forward (from nothing to something counts)."""
    new = _stamp(after)
    if new is None:
        return False
    old = _stamp(before)
    return old is None or new > old


def user_key(user: UserIdentity | str) -> tuple[str, str]:
    """(the key to look the user up by, the target as journaled)."""
    if isinstance(user, UserIdentity):
        return user.user_id, user.upn.lower()
    text = user.strip()
    if not text:
        raise ValueError("a user is needed: a UPN, an address or an object id")
    return text, text.lower()


def read_user(transport: Any, key: str) -> State:
    """The user's state as the ``users`` frame shows it, JSON-ready."""
    try:
        identity, pull = graph.resolve_user(transport, key)
    except UserNotFound as exc:
        raise ReadFailed(str(exc)) from None
    except PermissionDenied as exc:
        raise ReadFailed(f"the user cannot be read with this credential: {exc}", "permission") from None
    row = pull.frame.iloc[0]
    enabled = row["account_enabled"]
    return {
        "user_id": identity.user_id, "upn": identity.upn, "display_name": identity.display_name,
        "account_enabled": None if pd.isna(enabled) else bool(enabled),
        "user_type": None if pd.isna(row["user_type"]) else str(row["user_type"]),
        "last_password_change": _iso(row["last_password_change"]),
        "sessions_valid_from": _iso(row["sessions_valid_from"]),
    }


def _latest_done(ctx: ActionContext, kind: str, user_id: str) -> Entry | None:
    """The latest outcome of ``kind`` for this user that this journal records as done and verified."""
    done = [e for e in ctx.journal.entries(tenant_id=ctx.tenant_id, action=kind, kinds=("outcome",))
            if not e.dry_run and e.status == "done" and e.verified == "yes" and e.subject_id == user_id]
    return done[-1] if done else None


class UserAction(Action):
    """An action on one Entra user."""

    def __init__(self, ctx: ActionContext, user: UserIdentity | str):
        super().__init__(ctx)
        self.user = user
        self._key, self._target = user_key(user)

    @property
    def target(self) -> str:
        return self._target

    def parameters(self) -> dict[str, Any]:
        return {"user": self._target}

    def read(self) -> State:
        return read_user(self.ctx.transport, self._key)

    def path(self, state: State) -> str:
        return f"users/{quote(str(state['user_id']), safe='')}"

    def after_evidence(self, state: State, moment: str | None) -> bool:
        """Whether ``moment`` is after the end of the case's evidence window (for the case's own user)."""
        case = self.ctx.case
        when = _stamp(moment)
        if case is None or when is None or case.user.user_id.lower() != str(state["user_id"]).lower():
            return False
        return when >= pd.Timestamp(case.end)


class ResetPassword(UserAction):
    """A new strong password, generated here and returned once; the user must change it at the next sign-in.

    App-only: ``PATCH /users/{id}`` passwordProfile. Delegated: ``resetPassword`` (202, then the operation at
    ``Location`` is polled). ``method`` chooses one explicitly. Nothing to do when this journal shows a reset of the
    user, after the case's evidence, that nothing has changed since; ``force=True`` resets again (a lost password).
    """

    kind = "reset_password"

    def __init__(self, ctx: ActionContext, user: UserIdentity | str, *, method: str = "auto", force: bool = False):
        super().__init__(ctx, user)
        if method not in PASSWORD_METHODS:
            raise ValueError(f"method must be one of {PASSWORD_METHODS}, got {method!r}")
        self.method = method
        self.force = force
        self._resolved: str | None = None
        self._secret: NewPassword | None = None

    def resolved_method(self) -> str:
        if self._resolved is None:
            if self.method != "auto":
                self._resolved = self.method
            else:
                self._resolved = "reset_password" if self.ctx.identity().kind == "user" else "password_profile"
        return self._resolved

    def needs(self) -> tuple[permissions.Need, ...]:
        return (permissions.PASSWORD_NEEDS[self.resolved_method()], *permissions.ACTION_NEEDS[self.kind])

    def parameters(self) -> dict[str, Any]:
        return {"user": self.target, "method": self.resolved_method(), "requested_method": self.method,
                "force_change_next_sign_in": True, "force": self.force}

    def plan(self, state: State) -> Plan:
        upn = state["upn"]
        how = ("resetPassword, as the signed-in administrator" if self.resolved_method() == "reset_password"
               else "PATCH passwordProfile, app-only")
        summary = (f"Reset the password of {upn} ({how}): a new strong password, generated here and shown once; "
                   "the user must change it at the next sign-in.")
        notes = (HANDOVER_WARNING,
                 "A reset does not revoke app passwords; a user synchronised from on-premises must have the password "
                 "changed on-premises.")
        if self.resolved_method() == "reset_password" and self.ctx.identity().name.lower() == upn.lower():
            return Plan(summary, refusal="An administrator cannot reset their own password with resetPassword; use "
                                         "self-service password change.", refusal_code="own_password")
        last = _latest_done(self.ctx, self.kind, str(state["user_id"]))
        if last is not None and not self.force and last.state is not None \
                and last.state.get("last_password_change") == state["last_password_change"] \
                and (self.ctx.case is None or self.after_evidence(state, state["last_password_change"])):
            when = last.service_time.isoformat() if last.service_time else "an earlier run"
            after = ", after the case's evidence," if self.ctx.case is not None else ""
            return Plan(summary, nothing_to_do=True, notes=notes,
                        reason=f"this toolkit reset the password at {when} ({last.actor_kind} {last.actor}){after} "
                               "and it has not changed since. Pass force=True to reset it again (if the new password "
                               "was lost).")
        changes = (Change("password", "the current one", "a new generated password (shown once)"),
                   Change("forceChangePasswordNextSignIn", None, True),
                   Change("lastPasswordChangeDateTime", state["last_password_change"], "now"))
        return Plan(summary, changes, notes=notes)

    def execute(self, state: State) -> Executed:
        password = generate(name_parts(state["upn"], state.get("display_name")))
        self._secret = NewPassword(password, state["upn"])
        transport = self.ctx.transport
        note = ""
        if self.resolved_method() == "password_profile":
            transport.graph_send("PATCH", self.path(state), source="graph PATCH users passwordProfile",
                                 json_body={"passwordProfile": {"forceChangePasswordNextSignIn": True,
                                                                "password": password}})
        else:
            reply = transport.graph_send(
                "POST", f"{self.path(state)}/authentication/methods/{PASSWORD_METHOD_ID}/resetPassword",
                source="graph resetPassword", json_body={"newPassword": password})
            note = self._await_operation(reply.headers)
        del password
        return Executed(note)

    def _await_operation(self, headers: dict[str, str]) -> str:
        """Follow the resetPassword operation at ``Location`` until it succeeds or fails (or time runs out)."""
        location = header(headers, "Location")
        if not location:
            return "The service named no operation to follow; the read-back above decides."
        wait = parse_retry_after(header(headers, "Retry-After")) or 1.0
        deadline = time.monotonic() + self.ctx.operation_timeout
        status = "notStarted"
        while time.monotonic() < deadline:
            self.ctx.sleep(min(wait, 30.0))
            body = self.ctx.transport.graph_get(location, source="graph authentication operation")
            status = str((body or {}).get("status") or "")
            if status == "succeeded":
                return ""
            if status == "failed":
                raise ActionFailed(f"the password reset operation failed: {(body or {}).get('statusDetail')}")
            wait = min(wait * 2, 30.0)
        return f"The reset operation was still '{status}' after {self.ctx.operation_timeout:.0f} s."

    def take_secret(self) -> NewPassword | None:
        secret, self._secret = self._secret, None
        return secret

    def applied(self, before: State, after: State) -> bool:
        return moved(before.get("last_password_change"), after.get("last_password_change"))

    def verified_detail(self, before: State, after: State) -> str:
        return (f"lastPasswordChangeDateTime moved from {before.get('last_password_change')} to "
                f"{after.get('last_password_change')}.")

    def assess(self, before: State, after: State) -> tuple[Assessment, str]:
        if self.applied(before, after):
            return "applied", ("The password was changed before the run was interrupted (" +
                               self.verified_detail(before, after) + ") but the new password was lost with it: "
                               "nobody knows it. Reset the password again.")
        return "not_applied", "The password was not changed (the run was interrupted before the call took effect)."

    def explain_error(self, exc: ApiError) -> tuple[str, str] | None:
        if "complexity" in exc.detail.lower():
            return "password_policy", ("The service refused the generated password under the tenant's password "
                                       "policy; nothing was changed. Run the reset again for a new password.")
        return None


class RevokeSessions(UserAction):
    """``POST /users/{id}/revokeSignInSessions``: refresh tokens and session cookies issued before now stop working.

    Nothing to do when ``signInSessionsValidFromDateTime`` is already after the case's evidence, or (without a case)
    when this journal's last revoke is still the latest.
    """

    kind = "revoke_sessions"

    def plan(self, state: State) -> Plan:
        summary = f"Revoke every sign-in session of {state['upn']}: tokens issued before now stop working."
        notes = ("Tokens stop working within a few minutes. Whoever knows the password can sign in again: reset it "
                 "first.",)
        if str(state.get("user_type") or "").lower() == "guest":
            return Plan(summary, refusal="Sessions of a guest (external) user cannot be revoked here; revoke them in "
                                         "the user's home tenant.", refusal_code="guest")
        valid_from = state["sessions_valid_from"]
        if self.after_evidence(state, valid_from):
            return Plan(summary, nothing_to_do=True, notes=notes,
                        reason=f"sessions were already revoked at {valid_from}, after the evidence was collected "
                               f"(up to {pd.Timestamp(self.ctx.case.end).isoformat() if self.ctx.case else ''}).")
        last = _latest_done(self.ctx, self.kind, str(state["user_id"]))
        if self.ctx.case is None and last is not None and last.state is not None \
                and last.state.get("sessions_valid_from") == valid_from:
            return Plan(summary, nothing_to_do=True, notes=notes,
                        reason=f"this toolkit revoked the sessions at {valid_from} and nothing has changed since.")
        return Plan(summary, (Change("signInSessionsValidFromDateTime", valid_from, "now"),), notes=notes)

    def execute(self, state: State) -> Executed:
        reply = self.ctx.transport.graph_send("POST", f"{self.path(state)}/revokeSignInSessions",
                                              source="graph revokeSignInSessions")
        # The service answers 200 {"value": true} although the docs say 204 (m365-apis.md 6.1); both are success.
        if isinstance(reply.body, dict) and reply.body.get("value") is False:
            raise ActionFailed("the service answered that the sessions were not revoked")
        return Executed()

    def applied(self, before: State, after: State) -> bool:
        return moved(before.get("sessions_valid_from"), after.get("sessions_valid_from"))

    def verified_detail(self, before: State, after: State) -> str:
        return (f"signInSessionsValidFromDateTime moved from {before.get('sessions_valid_from')} to "
                f"{after.get('sessions_valid_from')}.")


class BlockSignIn(UserAction):
    """``PATCH /users/{id}`` accountEnabled false (Microsoft's optional step 5)."""

    kind = "block_sign_in"

    def plan(self, state: State) -> Plan:
        summary = f"Block {state['upn']} from signing in (accountEnabled false)."
        notes = ("The user cannot sign in until sign-in is allowed again (accountEnabled true), in the admin center "
                 "or with PATCH /users/{id}.",)
        if state["account_enabled"] is False:
            return Plan(summary, nothing_to_do=True, notes=notes, reason="sign-in is already blocked.")
        return Plan(summary, (Change("accountEnabled", state["account_enabled"], False),), notes=notes)

    def execute(self, state: State) -> Executed:
        self.ctx.transport.graph_send("PATCH", self.path(state), source="graph PATCH users accountEnabled",
                                      json_body={"accountEnabled": False})
        return Executed()

    def applied(self, before: State, after: State) -> bool:
        return after.get("account_enabled") is False

    def verified_detail(self, before: State, after: State) -> str:
        return "accountEnabled reads false."


class RemoveGrant(Action):
    """``DELETE /oauth2PermissionGrants/{id}``: the app loses the delegated access the user (or an admin) gave it."""

    kind = "remove_grant"

    def __init__(self, ctx: ActionContext, grant_id: str):
        super().__init__(ctx)
        if not grant_id or not grant_id.strip():
            raise ValueError("a grant id is needed (the grants frame's grant_id)")
        self.grant_id = grant_id.strip()

    @property
    def target(self) -> str:
        return self.grant_id

    def parameters(self) -> dict[str, Any]:
        return {"grant_id": self.grant_id}

    def _path(self) -> str:
        return f"oauth2PermissionGrants/{quote(self.grant_id, safe='')}"

    def read(self) -> State:
        transport = self.ctx.transport
        try:
            item = transport.graph_get(self._path(), source="graph oauth2PermissionGrants")
        except NotFound:
            return {"grant_id": self.grant_id, "found": False}
        except PermissionDenied as exc:
            raise ReadFailed(f"the grant cannot be read with this credential: {exc}", "permission") from None
        client_id = str(item.get("clientId") or "")
        name = None
        if client_id:
            try:
                name = transport.graph_get(f"servicePrincipals/{quote(client_id, safe='')}",
                                           source="graph servicePrincipals").get("displayName")
            except ApiError as exc:  # the name is a courtesy; the grant is what matters
                log.info("client %s of grant %s not readable: %s", client_id, self.grant_id, exc)
        return {"grant_id": self.grant_id, "found": True, "client_id": client_id, "client_name": name,
                "consent_type": item.get("consentType"), "principal_id": item.get("principalId"),
                "resource_id": item.get("resourceId"), "scope": item.get("scope")}

    def subject(self, state: State | None) -> tuple[str | None, str | None]:
        principal = str((state or {}).get("principal_id") or "").lower() or None
        case = self.ctx.case
        if case is not None and (principal is None or principal == case.user.user_id.lower()):
            return case.user.upn, case.user.user_id
        return principal or self.target, principal

    def plan(self, state: State) -> Plan:
        if not state["found"]:
            return Plan(f"Remove OAuth grant {self.grant_id}.", nothing_to_do=True,
                        reason="the grant is gone (already removed).")
        app = state.get("client_name") or state.get("client_id")
        summary = f"Remove the OAuth grant that lets {app} use '{state.get('scope')}' on the user's behalf."
        notes = ["Tokens the app already holds work until they expire (about an hour): revoke the user's sessions "
                 "too."]
        if state.get("consent_type") == "AllPrincipals":
            notes.insert(0, "This is a tenant-wide admin consent: removing it removes the app's access for every user "
                            "in the tenant.")
        return Plan(summary, (Change("grant", f"{app}: {state.get('scope')}", "(removed)"),), notes=tuple(notes))

    def execute(self, state: State) -> Executed:
        self.ctx.transport.graph_send("DELETE", self._path(), source="graph DELETE oauth2PermissionGrants")
        return Executed()

    def applied(self, before: State, after: State) -> bool:
        return not after.get("found")

    def verified_detail(self, before: State, after: State) -> str:
        return f"GET oauth2PermissionGrants/{self.grant_id} answers 404: the grant is gone."
