"""Actions on the mailbox and the send block: disable or delete an inbox rule, clear forwarding, unblock.

Rules are changed through Graph (``PATCH``/``DELETE .../mailFolders/inbox/messageRules/{id}``); a rule id from
``Get-InboxRule`` (the case's ``rules`` frame when Exchange answered) is matched to its Graph id by name and
priority. Graph cannot reach hidden rules: those are changed with ``Disable-``/``Remove-InboxRule`` (refused in words
when the credential cannot run them). Forwarding is cleared with ``Set-Mailbox``
and the block removed with ``Remove-BlockedSenderAddress`` (m365-apis.md 1.2, 5.3, 6.3, 6.4).

An unblock takes effect later (usually within an hour, at most 24 hours): its outcome is ``requested`` with
verification ``pending``, and :func:`check_unblock` reads the list again and journals when it took effect.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote

import pandas as pd

from toolkit import permissions
from toolkit.action_core import (
    Action,
    ActionContext,
    Assessment,
    Change,
    Confirmation,
    Executed,
    Plan,
    ReadFailed,
    State,
    Status,
    Verified,
    no_retries,
)
from toolkit.errors import ApiError, PermissionDenied
from toolkit.journal import Entry
from toolkit.sources import exchange, graph
from toolkit.sources.base import Pull
from toolkit.sources.graph import UserIdentity, UserNotFound

log = logging.getLogger(__name__)

TAKES_EFFECT = "It takes effect within about an hour (Microsoft: at most 24 hours)."
UNBLOCK_PATIENCE = timedelta(hours=24)
RULE_FIELDS = ("name", "enabled", "priority", "hidden", "forward_to", "forward_as_attachment_to", "redirect_to",
               "move_to_folder", "delete", "permanent_delete", "conditions")


def _cell(value: Any) -> Any:
    """A frame cell as a JSON value."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.tz_convert("UTC").isoformat() if value.tzinfo else value.isoformat()
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and pd.isna(value):
        return None
    return value


def _incomplete(pull: Pull, what: str) -> ReadFailed:
    gaps = [c for c in pull.coverage if not c.complete]
    reason = "permission" if any(c.reason == "permission" for c in gaps) else "error"
    detail = "; ".join(c.detail or c.sentence() for c in gaps) or "the answer was incomplete"
    return ReadFailed(f"{what} could not be read: {detail}", reason)


def _resolve(transport: Any, mailbox: str) -> UserIdentity:
    try:
        identity, _ = graph.resolve_user(transport, mailbox)
    except UserNotFound as exc:
        raise ReadFailed(str(exc)) from None
    except PermissionDenied as exc:
        raise ReadFailed(f"the mailbox's user cannot be read with this credential: {exc}", "permission") from None
    return identity


# --- inbox rules --------------------------------------------------------------------------------------------------
class RuleAction(Action):
    """An action on one inbox rule of one mailbox, named by its Graph id or its Get-InboxRule RuleIdentity."""

    def __init__(self, ctx: ActionContext, mailbox: str, rule_id: str):
        super().__init__(ctx)
        if not mailbox or not mailbox.strip() or not str(rule_id).strip():
            raise ValueError("a mailbox and a rule id are needed (the rules frame's mailbox and rule_id)")
        self.mailbox = mailbox.strip().lower()
        self.rule_id = str(rule_id).strip()

    @property
    def target(self) -> str:
        return f"{self.mailbox} rule {self.rule_id}"

    def parameters(self) -> dict[str, Any]:
        return {"mailbox": self.mailbox, "rule_id": self.rule_id}

    def read(self) -> State:
        transport = self.ctx.transport
        identity = _resolve(transport, self.mailbox)
        domains = self.ctx.accepted_domains()
        base: State = {"mailbox": identity.primary_smtp, "upn": identity.upn, "user_id": identity.user_id,
                       "rule_id": self.rule_id, "graph_id": None, "found": False, "hidden": False}
        rules = graph.inbox_rules(transport, identity, domains)
        if not rules.complete:
            raise _incomplete(rules, f"the inbox rules of {self.mailbox}")
        listed = rules.frame[rules.frame["rule_id"] == self.rule_id]
        if len(listed):
            return {**base, **self._fields(listed.iloc[0]), "graph_id": self.rule_id, "found": True}
        if not self.rule_id.isdigit():
            return base  # a Graph id that Graph no longer lists: the rule is gone
        # A RuleIdentity from Get-InboxRule: Exchange's view says whether it is hidden, and its name and priority
        # find its Graph id.
        every = exchange.inbox_rules(transport, identity.primary_smtp, domains)
        if not every.complete:
            raise _incomplete(every, f"rule {self.rule_id} is not a Graph rule id, and Get-InboxRule for "
                                     f"{self.mailbox}")
        found = every.frame[every.frame["rule_id"] == self.rule_id]
        if not len(found):
            return base
        row = found.iloc[0]
        state = {**base, **self._fields(row), "found": True}
        if _cell(row["hidden"]) is True:
            return {**state, "hidden": True}
        same = rules.frame[rules.frame["name"] == row["name"]]
        if len(same) > 1:  # the same name twice: the priority tells them apart
            same = same[same["priority"] == row["priority"]]
        if len(same) != 1:
            raise ReadFailed(f"rule {self.rule_id} ('{row['name']}') of {self.mailbox} matches {len(same)} Graph "
                             "rules by name and priority; give its Graph id instead")
        return {**state, **self._fields(same.iloc[0]), "graph_id": str(same.iloc[0]["rule_id"]), "hidden": False}

    @staticmethod
    def _fields(row: pd.Series) -> State:
        return {name: _cell(row[name]) for name in RULE_FIELDS}

    def described(self, state: State) -> str:
        does = []
        for name, words in (("forward_to", "forwards to"), ("forward_as_attachment_to", "forwards as attachment to"),
                            ("redirect_to", "redirects to"), ("move_to_folder", "moves to")):
            if state.get(name):
                does.append(f"{words} {state[name]}")
        if state.get("delete") or state.get("permanent_delete"):
            does.append("deletes the message")
        conditions = state.get("conditions") or "all messages"
        return f"'{state.get('name')}' ({conditions}: {', '.join(does) or 'no forwarding or hiding action'})"

    def refusal(self, state: State) -> Plan | None:
        """A hidden rule is changed through Exchange (Graph cannot see it): refused in words when this credential
        cannot run the Exchange cmdlets."""
        if not state.get("hidden"):
            return None
        check = permissions.check(self.ctx.connection, permissions.HIDDEN_RULE_NEEDS)
        if check.ok:
            return None
        return Plan(f"Rule {self.described(state)} of {self.mailbox}.",
                    refusal=(f"The rule is hidden: Outlook and Graph do not show it, so only Exchange can change it, "
                             f"and this credential cannot: {check.message} Or run in Exchange Online PowerShell: "
                             f"{self.cmdlet} -Mailbox '{self.mailbox}' -Identity '{self.rule_id}'."),
                    refusal_code="hidden_rule")

    #: The Exchange cmdlet that makes this change to a hidden rule.
    cmdlet: ClassVar[str]

    def invoke_hidden(self, state: State) -> Executed:
        """The change to a hidden rule, through ``Disable-``/``Remove-InboxRule`` with its RuleIdentity."""
        self.ctx.transport.invoke(self.cmdlet, {"Mailbox": state["mailbox"], "Identity": self.rule_id,
                                                "Confirm": False}, source=f"exchange {self.cmdlet}")
        return Executed(f"Changed through Exchange ({self.cmdlet}): the rule is hidden from Graph.")

    def rule_path(self, state: State) -> str:
        return (f"users/{quote(str(state['user_id']), safe='')}/mailFolders/inbox/messageRules/"
                f"{quote(str(state['graph_id']), safe='=')}")

    def explain_error(self, exc: ApiError) -> tuple[str, str] | None:
        if "read-only" in exc.detail.lower():
            return "read_only_rule", ("The rule is read-only: Graph cannot change or delete it; change it in Outlook "
                                      "or Exchange Online PowerShell. Nothing was changed.")
        return None


class DisableRule(RuleAction):
    """``PATCH .../messageRules/{id}`` isEnabled false: the rule stops running and stays for the record."""

    kind = "disable_rule"
    cmdlet = "Disable-InboxRule"

    def plan(self, state: State) -> Plan:
        refused = self.refusal(state)
        if refused is not None:
            return refused
        if not state["found"]:
            return Plan(f"Disable rule {self.rule_id} of {self.mailbox}.", nothing_to_do=True,
                        reason="the rule is gone; there is nothing to disable.")
        summary = f"Disable inbox rule {self.described(state)} of {self.mailbox}."
        if state.get("enabled") is False:
            return Plan(summary, nothing_to_do=True, reason="the rule is already disabled.")
        return Plan(summary, (Change("isEnabled", state.get("enabled"), False),),
                    notes=("A disabled rule stays in the mailbox, for the record, and no longer runs.",))

    def execute(self, state: State) -> Executed:
        if state.get("hidden"):
            return self.invoke_hidden(state)
        self.ctx.transport.graph_send("PATCH", self.rule_path(state), source="graph PATCH messageRules",
                                      json_body={"isEnabled": False})
        return Executed()

    def applied(self, before: State, after: State) -> bool:
        return bool(after.get("found")) and after.get("enabled") is False

    def verified_detail(self, before: State, after: State) -> str:
        return f"the rule '{after.get('name')}' reads isEnabled false."


class DeleteRule(RuleAction):
    """``DELETE .../messageRules/{id}``: the rule is gone (disabling keeps it for the record)."""

    kind = "delete_rule"
    cmdlet = "Remove-InboxRule"

    def plan(self, state: State) -> Plan:
        refused = self.refusal(state)
        if refused is not None:
            return refused
        if not state["found"]:
            return Plan(f"Delete rule {self.rule_id} of {self.mailbox}.", nothing_to_do=True,
                        reason="the rule is already gone.")
        return Plan(f"Delete inbox rule {self.described(state)} of {self.mailbox}.",
                    (Change("rule", state.get("name"), "(deleted)"),),
                    notes=("Microsoft's advice is to disable suspicious rules; a deleted rule is gone, and only this "
                           "journal and the case keep what it did.",))

    def execute(self, state: State) -> Executed:
        if state.get("hidden"):
            return self.invoke_hidden(state)
        self.ctx.transport.graph_send("DELETE", self.rule_path(state), source="graph DELETE messageRules")
        return Executed()

    def applied(self, before: State, after: State) -> bool:
        return not after.get("found")

    def verified_detail(self, before: State, after: State) -> str:
        return f"the rule '{before.get('name')}' is no longer listed."


# --- forwarding ---------------------------------------------------------------------------------------------------
class ClearForwarding(Action):
    """``Set-Mailbox -ForwardingSmtpAddress $null -ForwardingAddress $null -DeliverToMailboxAndForward $false``."""

    kind = "clear_forwarding"

    def __init__(self, ctx: ActionContext, mailbox: str):
        super().__init__(ctx)
        if not mailbox or not mailbox.strip():
            raise ValueError("a mailbox is needed (its UPN or address)")
        self.mailbox = mailbox.strip().lower()

    @property
    def target(self) -> str:
        return self.mailbox

    def parameters(self) -> dict[str, Any]:
        return {"mailbox": self.mailbox, "ForwardingSmtpAddress": None, "ForwardingAddress": None,
                "DeliverToMailboxAndForward": False}

    def read(self) -> State:
        pull = exchange.mailbox(self.ctx.transport, self.mailbox, self.ctx.accepted_domains())
        if not pull.complete or not len(pull.frame):
            raise _incomplete(pull, f"the mailbox {self.mailbox}")
        row = pull.frame.iloc[0]
        return {name: _cell(row[name]) for name in ("upn", "user_id", "primary_smtp", "forwarding_smtp",
                                                    "forwarding_address", "deliver_and_forward",
                                                    "forwards_external")}

    def plan(self, state: State) -> Plan:
        summary = f"Clear the mailbox forwarding of {state['upn']} (Set-Mailbox)."
        notes = ("Inbox rules can forward mail too: review the rules.",)
        if not state.get("forwarding_smtp") and not state.get("forwarding_address"):
            return Plan(summary, nothing_to_do=True, notes=notes, reason="the mailbox does not forward.")
        changes = [Change("ForwardingSmtpAddress", state.get("forwarding_smtp"), None),
                   Change("ForwardingAddress", state.get("forwarding_address"), None)]
        if state.get("deliver_and_forward"):
            changes.append(Change("DeliverToMailboxAndForward", True, False))
        if state.get("forwards_external"):
            notes = ("The mailbox forwards outside the organisation.", *notes)
        return Plan(summary, tuple(c for c in changes if c.before not in (None, "")), notes=notes)

    def execute(self, state: State) -> Executed:
        self.ctx.transport.invoke("Set-Mailbox", {"Identity": state["upn"], "ForwardingSmtpAddress": None,
                                                  "ForwardingAddress": None, "DeliverToMailboxAndForward": False},
                                  source="exchange Set-Mailbox")
        return Executed()

    def applied(self, before: State, after: State) -> bool:
        return not after.get("forwarding_smtp") and not after.get("forwarding_address")

    def verified_detail(self, before: State, after: State) -> str:
        return "Get-Mailbox shows no ForwardingSmtpAddress and no ForwardingAddress."


# --- unblock ------------------------------------------------------------------------------------------------------
def _last_request(ctx: ActionContext, sender: str) -> Entry | None:
    """The latest unblock request for ``sender`` that Microsoft accepted (or may have) and that this journal has not
    yet seen take effect."""
    requested = [e for e in ctx.journal.entries(tenant_id=ctx.tenant_id, action="unblock", target=sender,
                                                kinds=("outcome", "reconciliation"))
                 if not e.dry_run and e.status in ("requested", "unknown")]
    if not requested:
        return None
    last = requested[-1]
    if last.intent_id is not None and any(e.kind == "verification" and e.verified == "yes"
                                          for e in ctx.journal.linked(last.intent_id)):
        return None
    return last


class Unblock(Action):
    """``Remove-BlockedSenderAddress``: the sender leaves the Restricted entities list, usually within an hour.

    Preconditions (remediation first) are the caller's business; ``override_justification`` records why they were
    set aside. Never retried blindly: Microsoft limits how many times an account can be unblocked.
    """

    kind = "unblock"

    def __init__(self, ctx: ActionContext, sender: str, *, override_justification: str = ""):
        super().__init__(ctx)
        if not sender or "@" not in sender:
            raise ValueError(f"an unblock needs the sender's address, got {sender!r}")
        self.sender = sender.strip().lower()
        self.override_justification = override_justification.strip()

    @property
    def target(self) -> str:
        return self.sender

    def parameters(self) -> dict[str, Any]:
        return {"SenderAddress": self.sender}

    def justification(self, confirmation: Confirmation | None) -> str:
        given = [self.override_justification, confirmation.override_justification if confirmation else ""]
        return " / ".join(dict.fromkeys(j for j in given if j))

    def subject(self, state: State | None) -> tuple[str | None, str | None]:
        case = self.ctx.case
        if case is not None and self.sender in self.ctx.case_user_names():
            return case.user.upn, case.user.user_id
        return self.sender, None

    def read(self) -> State:
        pull = exchange.restricted(self.ctx.transport, self.sender)
        if not pull.complete:
            raise _incomplete(pull, "the Restricted entities list")
        rows = pull.frame[pull.frame["sender"] == self.sender]
        last = _last_request(self.ctx, self.sender)
        state: State = {"sender": self.sender, "listed": bool(len(rows)),
                        "journal_unblocks": self.ctx.journal.unblocks_used(self.ctx.tenant_id, self.sender),
                        "last_request": last.service_time.isoformat() if last and last.service_time else None}
        if len(rows):
            row = rows.iloc[0]
            state.update({name: _cell(row[name]) for name in ("block_type", "reason_kind", "created", "release_at")})
        return state

    def plan(self, state: State) -> Plan:
        summary = f"Remove {self.sender} from the Restricted entities list (Remove-BlockedSenderAddress)."
        used = state.get("journal_unblocks", 0)
        notes = [f"Unblocks of {self.sender} recorded in this journal: {used}. Microsoft limits unblocks per "
                 "account and does not publish the number; past it only Microsoft Support can unblock (unblocks "
                 "made in the portal or elsewhere are not in this count).", TAKES_EFFECT]
        if not state["listed"]:
            return Plan(summary, nothing_to_do=True, notes=tuple(notes),
                        reason=f"{self.sender} is not on the Restricted entities list.")
        if state.get("block_type") == "BlockUserForToday" and state.get("release_at"):
            notes.append(f"This block is for the day: it lifts by itself at {state['release_at']}; unblocking now "
                         "spends one of the limited unblocks.")
        if self.override_justification:
            notes.append(f"Preconditions overridden: {self.override_justification}")
        requested = state.get("last_request")
        blocked_again = bool(requested and state.get("created")
                             and pd.Timestamp(state["created"]) > pd.Timestamp(requested))
        if requested and not blocked_again and self.ctx.now() - datetime.fromisoformat(requested) < UNBLOCK_PATIENCE:
            return Plan(summary, nothing_to_do=True, notes=tuple(notes),
                        reason=f"an unblock was requested at {requested} and Microsoft has not applied it yet. "
                               f"{TAKES_EFFECT} Another request may spend one more of the limited unblocks: read the "
                               "list again instead (Check now in the wizard, check_unblock() in code).")
        since = f" ({state.get('block_type')} since {state.get('created')})" if state.get("created") else ""
        return Plan(summary, (Change("Restricted entities", f"listed{since}", "removed within about an hour"),),
                    notes=tuple(notes))

    def execute(self, state: State) -> Executed:
        with no_retries(self.ctx.transport):
            self.ctx.transport.invoke("Remove-BlockedSenderAddress", {"SenderAddress": self.sender},
                                      source="exchange Remove-BlockedSenderAddress")
        return Executed()

    def applied(self, before: State, after: State) -> bool:
        return not after.get("listed")

    def verified_detail(self, before: State, after: State) -> str:
        return f"{self.sender} is no longer on the Restricted entities list."

    def verify(self, before: State, after: State) -> tuple[Verified, str]:
        if self.applied(before, after):
            return "yes", f"Done: {self.verified_detail(before, after)}"
        return "pending", (f"Requested: Microsoft accepted the unblock of {self.sender}. {TAKES_EFFECT} "
                           "Read the Restricted entities list again later to see it take effect (Check now in the "
                           "wizard, check_unblock() in code).")

    def done_status(self, verified: Verified) -> Status:
        return "done" if verified == "yes" else "requested"

    def assess(self, before: State, after: State) -> tuple[Assessment, str]:
        if self.applied(before, after):
            return "applied", f"{self.sender} is no longer on the Restricted entities list."
        return "unknown", (f"{self.sender} is still listed. The list does not show whether the interrupted request "
                           f"reached Microsoft; if it did, {TAKES_EFFECT[3:]} Read the list again "
                           "(Check now in the wizard, check_unblock() in code) before requesting another unblock: "
                           "each request may spend one of the limited unblocks.")

    def explain_error(self, exc: ApiError) -> tuple[str, str] | None:
        text = str(exc).lower()
        if "limitexceeded" in text or "too many times" in text or "microsoft support" in text:
            return "unblock_limit", (f"Microsoft refused the unblock: {self.sender} has been unblocked as many times "
                                     "as Microsoft allows (the number is not published). Only Microsoft Support can "
                                     "release it now: open a service request. Nothing was changed.")
        return None


@dataclass(frozen=True)
class UnblockCheck:
    """The Restricted entities list read again for one sender, after an unblock was requested."""

    sender: str
    in_effect: bool
    requested_at: datetime | None
    detail: str
    overdue: bool = False
    entry_id: str | None = None  # the verification journaled when the unblock was seen to take effect

    def __str__(self) -> str:
        return self.detail


def check_unblock(ctx: ActionContext, sender: str) -> UnblockCheck:
    """Read the list again; when the unblock took effect, journal a verification linked to its request."""
    action = Unblock(ctx, sender)
    permission = action.check_permissions()
    if not permission.ok:
        raise ReadFailed(permission.message, "permission")
    state = action.read()
    last = _last_request(ctx, action.sender)
    requested_at = last.service_time if last is not None else None
    if state["listed"]:
        if requested_at is None:
            return UnblockCheck(action.sender, False, None, f"{action.sender} is still restricted, and this journal "
                                                            "has no unblock request for it.")
        waited = max(ctx.now() - requested_at, timedelta(0))  # the service clock is known to the second
        if waited > UNBLOCK_PATIENCE:
            return UnblockCheck(action.sender, False, requested_at,
                                f"{action.sender} is still restricted {waited} after the unblock was requested "
                                "(Microsoft: at most 24 hours). Escalate to Microsoft Support.", overdue=True)
        return UnblockCheck(action.sender, False, requested_at,
                            f"{action.sender} is still restricted; the unblock was requested at "
                            f"{requested_at.isoformat()} ({int(waited.total_seconds() // 60)} min ago). {TAKES_EFFECT}")
    detail = f"{action.sender} is no longer restricted."
    if last is None or last.intent_id is None:
        return UnblockCheck(action.sender, True, None, detail)
    detail = f"{action.sender} is no longer restricted: the unblock requested at {requested_at} took effect."
    actor = ctx.identity()
    subject, subject_id = action.subject(state)
    entry = ctx.journal.append(Entry(
        kind="verification", intent_id=last.intent_id, tenant_id=ctx.tenant_id, actor_kind=actor.kind,
        actor=actor.name, action=action.kind, target=action.sender, status="in_effect", detail=detail,
        subject=last.subject or subject, subject_id=last.subject_id or subject_id, parameters=action.parameters(),
        verified="yes", state=state, service_time=ctx.now()))
    return UnblockCheck(action.sender, True, requested_at, detail, entry_id=entry.entry_id)
