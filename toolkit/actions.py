"""Remediation and unblock: plan -> confirm -> execute -> verify -> journal.

    from toolkit import actions
    ctx = actions.ActionContext.open(tenant, case=case)       # the journal lives in the tenant's store
    step = actions.reset_password(ctx, case.user)
    print(step.preview())                                     # exactly what will change, read from the tenant now
    result = step.run()                                       # a dry run: nothing changes, the journal records it
    result = step.run(confirm=actions.Confirmation(note="compromised: sign-ins from abroad, hiding rule"))
    result.new_password.reveal()                              # once; give it by phone, never by email
    actions.unblock(ctx, "alice@contoso.com").run(confirm=True)
    actions.check_unblock(ctx, "alice@contoso.com")           # pending until Microsoft applies it (about an hour)
    actions.reconcile(ctx.journal, tenant)                    # on start: resolve intents a crash left pending
    actions.history(case, ctx.journal)                        # the case's journal as a DataFrame

Every action checks the token's permissions first and says plainly what is missing; reads the current state;
answers "nothing to do" when it is already done; changes nothing unless confirmed; journals an intent before the
call and an outcome after it; and verifies by reading the state back. A plan step from the evidence engine maps
to actions through :func:`from_step` (one action per target).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from toolkit.action_core import (
    Action,
    ActionContext,
    ActionFailed,
    Change,
    Confirmation,
    Preview,
    ReadFailed,
    Reconciliation,
    Result,
)
from toolkit.action_directory import BlockSignIn, RemoveGrant, ResetPassword, RevokeSessions
from toolkit.action_mail import ClearForwarding, DeleteRule, DisableRule, Unblock, UnblockCheck, check_unblock
from toolkit.action_methods import RemoveAuthMethod
from toolkit.connection import Connection
from toolkit.journal import Entry, Journal, history
from toolkit.passwords import HANDOVER_WARNING, NewPassword, PasswordAlreadyShown
from toolkit.permissions import PermissionCheck
from toolkit.sources.graph import UserIdentity

log = logging.getLogger(__name__)


def reset_password(ctx: ActionContext, user: UserIdentity | str, *, method: str = "auto",
                   force: bool = False) -> ResetPassword:
    """Reset the password (app-only: PATCH passwordProfile; delegated: resetPassword); the new one is shown once."""
    return ResetPassword(ctx, user, method=method, force=force)


def revoke_sessions(ctx: ActionContext, user: UserIdentity | str) -> RevokeSessions:
    """Revoke every sign-in session (refresh tokens) of the user."""
    return RevokeSessions(ctx, user)


def block_sign_in(ctx: ActionContext, user: UserIdentity | str) -> BlockSignIn:
    """Block the user from signing in (accountEnabled false)."""
    return BlockSignIn(ctx, user)


def disable_rule(ctx: ActionContext, mailbox: str, rule_id: str) -> DisableRule:
    """Disable one inbox rule (Graph id, or Get-InboxRule RuleIdentity as in the rules frame)."""
    return DisableRule(ctx, mailbox, rule_id)


def delete_rule(ctx: ActionContext, mailbox: str, rule_id: str) -> DeleteRule:
    """Delete one inbox rule (disabling keeps it for the record)."""
    return DeleteRule(ctx, mailbox, rule_id)


def clear_forwarding(ctx: ActionContext, mailbox: str) -> ClearForwarding:
    """Clear the mailbox forwarding (Set-Mailbox)."""
    return ClearForwarding(ctx, mailbox)


def remove_grant(ctx: ActionContext, grant_id: str) -> RemoveGrant:
    """Remove one OAuth permission grant (the grants frame's grant_id)."""
    return RemoveGrant(ctx, grant_id)


def remove_auth_method(ctx: ActionContext, user: UserIdentity | str, method_id: str) -> RemoveAuthMethod:
    """Remove one authentication (MFA) method of the user (the auth_methods frame's method_id)."""
    return RemoveAuthMethod(ctx, user, method_id)


def unblock(ctx: ActionContext, sender: str, *, override_justification: str = "") -> Unblock:
    """Remove the sender from the Restricted entities list; takes effect within about an hour."""
    return Unblock(ctx, sender, override_justification=override_justification)


#: Action kind -> how to rebuild it from a journal entry's target and parameters.
RESTORE: dict[str, Callable[[ActionContext, str, dict[str, Any]], Action]] = {
    "reset_password": lambda ctx, target, p: ResetPassword(ctx, p.get("user", target),
                                                           method=p.get("method", "auto")),
    "revoke_sessions": lambda ctx, target, p: RevokeSessions(ctx, p.get("user", target)),
    "block_sign_in": lambda ctx, target, p: BlockSignIn(ctx, p.get("user", target)),
    "disable_rule": lambda ctx, target, p: DisableRule(ctx, p["mailbox"], p["rule_id"]),
    "delete_rule": lambda ctx, target, p: DeleteRule(ctx, p["mailbox"], p["rule_id"]),
    "clear_forwarding": lambda ctx, target, p: ClearForwarding(ctx, p.get("mailbox", target)),
    "remove_grant": lambda ctx, target, p: RemoveGrant(ctx, p.get("grant_id", target)),
    "remove_auth_method": lambda ctx, target, p: RemoveAuthMethod(ctx, p["user"], p["method_id"]),
    "unblock": lambda ctx, target, p: Unblock(ctx, p.get("SenderAddress", target)),
}


def restore(ctx: ActionContext, entry: Entry) -> Action:
    """The action a journal entry was about, bound to ``ctx``."""
    build = RESTORE.get(entry.action)
    if build is None:
        raise ValueError(f"the journal names an action this toolkit does not know: {entry.action!r}")
    return build(ctx, entry.target, dict(entry.parameters))


def reconcile(journal: Journal, connection: Any) -> list[Reconciliation]:
    """Resolve every intent of this tenant that a crash left without an outcome, by reading the tenant's state.

    Each resolved intent gets a ``reconciliation`` entry (applied, not applied, or unknown); one whose state cannot
    be read now stays pending and is reported as ``unresolved``.
    """
    conn = getattr(connection, "connection", connection)
    if not isinstance(conn, Connection):
        raise TypeError(f"expected a Tenant or a Connection, got {type(connection).__name__}")
    ctx = ActionContext(conn, journal)
    resolved = []
    for intent in journal.pending(ctx.tenant_id):
        result = restore(ctx, intent).reconcile(intent)
        log.warning("pending %s %s from %s: %s", intent.action, intent.target, intent.recorded_at.isoformat(),
                    result.status)
        resolved.append(result)
    return resolved


#: Plan step actions (toolkit.evidence.plan) that are done by hand, or are not actions on the tenant.
NOT_ACTIONS = frozenset({"wait_for_release", "gather_evidence", "keep_blocked"})


def from_step(ctx: ActionContext, step: Any, user: UserIdentity | None = None) -> list[Action]:
    """The actions for one plan step (``step.action`` and ``step.targets``, each with ``object_id`` and ``owner``).

    ``user``: whose case it is (the context's case user when not given). Steps without a tenant action (review the
    MFA methods with the user, wait, gather evidence) give an empty list.
    """
    who = user or (ctx.case.user if ctx.case is not None else None)
    name = str(step.action)
    targets = tuple(getattr(step, "targets", ()) or ())
    if name in NOT_ACTIONS:
        return []
    if name in ("reset_password", "revoke_sessions", "unblock") and who is None:
        raise ValueError(f"the step {name!r} needs the user: pass user= or give the context a case")
    if name == "reset_password":
        return [reset_password(ctx, who)]  # type: ignore[arg-type]
    if name == "revoke_sessions":
        return [revoke_sessions(ctx, who)]  # type: ignore[arg-type]
    if name == "unblock":
        return [unblock(ctx, who.primary_smtp)]  # type: ignore[union-attr]
    if name == "remove_forwarding":
        return [clear_forwarding(ctx, ref.owner or ref.object_id) for ref in targets]
    if name == "disable_rules":
        return [disable_rule(ctx, ref.owner, ref.object_id) for ref in targets]
    if name == "revoke_grants":
        return [remove_grant(ctx, ref.object_id) for ref in targets]
    if name == "review_mfa":
        # Methods registered during the incident (a required step) are removed; an advisory review of every
        # method is a conversation with the user, not a removal.
        if not getattr(step, "required", True):
            return []
        return [remove_auth_method(ctx, ref.owner or who, ref.object_id) for ref in targets]  # type: ignore[arg-type]
    raise ValueError(f"no action for the plan step {name!r}")


__all__ = [
    "HANDOVER_WARNING", "Action", "ActionContext", "ActionFailed", "BlockSignIn", "Change", "ClearForwarding",
    "Confirmation", "DeleteRule", "DisableRule", "Journal", "NewPassword", "PasswordAlreadyShown", "PermissionCheck",
    "Preview", "ReadFailed", "Reconciliation", "RemoveAuthMethod", "RemoveGrant", "ResetPassword", "Result",
    "RevokeSessions", "Unblock", "UnblockCheck", "block_sign_in", "check_unblock", "clear_forwarding", "delete_rule",
    "disable_rule", "from_step", "history", "reconcile", "remove_auth_method", "remove_grant", "reset_password",
    "restore", "revoke_sessions", "unblock",
]
