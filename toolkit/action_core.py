"""The life of one remediation: check -> read -> plan -> (confirm) -> journal intent -> call -> read back -> journal.

:class:`Action` runs that sequence for every kind of action (``toolkit.action_directory``, ``toolkit.action_mail``);
a kind supplies only what differs: what it needs, how it reads the state, what it would change, the call, and how
to tell from two reads whether the change happened. The sequence guarantees, for every kind:

- the token's permissions are checked before any call; a refusal names what is missing, in words, and is journaled;
- a dry run (the default) reads and journals but never writes;
- "already done" is decided from the state (and the journal) and journaled as ``nothing_to_do``;
- an intent is journaled before the call and an outcome after it, so a crash in between leaves a pending intent
  that :meth:`Action.reconcile` resolves later by reading the tenant;
- an error from the call is followed by a read-back, so a call that failed on the wire but took effect is reported
  as done, and one the service refused is reported as refused with the role it needs.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from toolkit import permissions
from toolkit.auth import Identity
from toolkit.connection import Connection
from toolkit.errors import (
    ApiError,
    AuthenticationError,
    ConnectionFailed,
    PermissionDenied,
    ServiceUnavailable,
    Throttled,
    ToolkitError,
)
from toolkit.journal import Entry, Journal, JournalError, case_evidence
from toolkit.passwords import NewPassword
from toolkit.sources import exchange
from toolkit.transport import FAIL_FAST, Transport

if TYPE_CHECKING:
    from toolkit.case import Case

log = logging.getLogger(__name__)

Status = Literal["dry_run", "done", "requested", "nothing_to_do", "refused", "failed"]
Verified = Literal["yes", "no", "pending"]
Assessment = Literal["applied", "not_applied", "unknown", "unresolved"]
State = dict[str, Any]


class ReadFailed(ToolkitError):
    """The current state could not be read (so nothing is planned or verified). ``reason``: "permission", "error"."""

    def __init__(self, message: str, reason: str = "error"):
        super().__init__(message)
        self.reason = reason


class ActionFailed(ToolkitError):
    """The service accepted the call but reports that the change did not happen (a failed operation)."""


@dataclass(frozen=True)
class Confirmation:
    """The analyst's go-ahead: why (``note``), and for an unblock without its preconditions, the justification."""

    note: str = ""
    override_justification: str = ""

    @classmethod
    def of(cls, confirm: bool | Confirmation | None) -> Confirmation | None:
        """None for a dry run; a Confirmation for ``True`` (no note) or the one given."""
        if isinstance(confirm, Confirmation):
            return confirm
        return cls() if confirm is True else None


@dataclass(frozen=True)
class Change:
    """One thing that will change: a field, what it reads now, what it will read."""

    field: str
    before: Any
    after: Any

    def sentence(self) -> str:
        return f"{self.field}: {_shown(self.before)} -> {_shown(self.after)}"


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "(empty)"
    return str(value)


@dataclass(frozen=True)
class Plan:
    """What an action would do against the state it read."""

    summary: str
    changes: tuple[Change, ...] = ()
    nothing_to_do: bool = False
    reason: str = ""  # why there is nothing to do
    notes: tuple[str, ...] = ()
    refusal: str = ""  # a reason this action cannot be done at all (a hidden rule, one's own password...)
    refusal_code: str = ""


@dataclass(frozen=True)
class Preview:
    """Exactly what would change, read from the current state, and whether the token may do it."""

    action: str
    target: str
    summary: str
    changes: tuple[Change, ...]
    nothing_to_do: bool
    reason: str
    notes: tuple[str, ...]
    state: Mapping[str, Any]
    permission: permissions.PermissionCheck
    refusal: str = ""

    @property
    def allowed(self) -> bool:
        return self.permission.ok and not self.refusal

    def describe(self) -> str:
        lines = [self.summary]
        if self.refusal:
            lines.append(f"Cannot be done: {self.refusal}")
        elif self.nothing_to_do:
            lines.append(f"Nothing to do: {self.reason}")
        else:
            lines += [f"  - {c.sentence()}" for c in self.changes]
        lines.append(self.permission.message)
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.describe()


@dataclass(frozen=True)
class Result:
    """What happened. ``new_password`` (password resets only) masks itself and can be revealed once."""

    action: str
    target: str
    status: Status
    verified: Verified | None
    detail: str
    dry_run: bool
    reason: str = ""  # a short code for a refusal or failure: permission, unblock_limit, hidden_rule, ...
    preview: Preview | None = None
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None
    error: str | None = None
    intent_id: str | None = None
    outcome_id: str | None = None
    new_password: NewPassword | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status in ("dry_run", "done", "requested", "nothing_to_do")

    def __str__(self) -> str:
        return self.detail


@dataclass(frozen=True)
class Reconciliation:
    """A pending intent resolved by reading the tenant (journaled unless ``unresolved``)."""

    intent_id: str
    action: str
    target: str
    status: Assessment
    detail: str
    entry_id: str | None = None


@dataclass(frozen=True)
class Executed:
    """What the call returned that the outcome needs: a note about the call, in words."""

    note: str = ""


@dataclass
class ActionContext:
    """Where actions run: the tenant connection, the journal, and the case whose evidence they rest on."""

    connection: Connection
    journal: Journal
    case: Case | None = None
    sleep: Callable[[float], None] = time.sleep
    verify_attempts: int = 3
    verify_wait: float = 2.0
    operation_timeout: float = 120.0
    _domains: tuple[str, ...] | None = field(default=None, init=False, repr=False)
    _evidence: tuple[int, str, dict[str, str]] | None = field(default=None, init=False, repr=False)

    @classmethod
    def open(cls, tenant_or_connection: Any, *, case: Case | None = None, journal: Journal | None = None,
             journal_path: Path | None = None) -> ActionContext:
        """A context for a Tenant (its store holds the journal) or a Connection (the default store)."""
        connection = getattr(tenant_or_connection, "connection", tenant_or_connection)
        if not isinstance(connection, Connection):
            raise TypeError(f"expected a Tenant or a Connection, got {type(tenant_or_connection).__name__}")
        if journal is None:
            journal = Journal(journal_path, store_dir=getattr(tenant_or_connection, "store_dir", None))
        return cls(connection, journal, case)

    def __repr__(self) -> str:
        case = f", case={self.case.user.upn}" if self.case is not None else ""
        return f"ActionContext({self.connection!r}, {self.journal!r}{case})"

    @property
    def transport(self) -> Transport:
        return self.connection.transport

    @property
    def tenant_id(self) -> str:
        return self.connection.settings.tenant

    def now(self) -> datetime:
        """The service's clock (the sandbox's simulated now)."""
        return self.transport.now()

    def identity(self) -> Identity:
        """Who acts: the signed-in user (delegated) or the app; a token is fetched first so a device-code user is
        known."""
        try:
            self.connection.tokens.token("graph")
        except AuthenticationError as exc:
            log.info("no Graph token to tell the identity by: %s", exc)
        return self.connection.tokens.identity()

    def accepted_domains(self) -> tuple[str, ...]:
        if self._domains is None:
            if self.case is not None and self.case.accepted_domains:
                self._domains = tuple(self.case.accepted_domains)
            else:
                self._domains = tuple(exchange.accepted_domains(self.transport))
        return self._domains

    def evidence(self) -> tuple[str | None, dict[str, str]]:
        """The case's evidence hash and per-frame digests (None and {} without a case)."""
        if self.case is None:
            return None, {}
        if self._evidence is None or self._evidence[0] != id(self.case):
            digest, digests = case_evidence(self.case)
            self._evidence = (id(self.case), digest, digests)
        return self._evidence[1], dict(self._evidence[2])

    def case_user_names(self) -> set[str]:
        if self.case is None:
            return set()
        user = self.case.user
        return {user.user_id.lower(), user.upn.lower(), *(a.lower() for a in user.addresses)}


@contextmanager
def no_retries(transport: Transport) -> Iterator[None]:
    """Send without retries: for a call that must not be repeated blindly (an unblock spends a limited count)."""
    with transport.retrying(FAIL_FAST):
        yield


def header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


class Action(ABC):
    """One remediation on one target, bound to a context. Subclasses define the kind-specific parts."""

    kind: ClassVar[str]

    def __init__(self, ctx: ActionContext):
        self.ctx = ctx

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.target!r})"

    # -- what a kind defines ---------------------------------------------------------------------------------------
    @property
    @abstractmethod
    def target(self) -> str:
        """What the action acts on, as journaled (a UPN, a sender, a grant id, a mailbox and rule id)."""

    @abstractmethod
    def parameters(self) -> dict[str, Any]:
        """The call's parameters as journaled (never a secret)."""

    def needs(self) -> tuple[permissions.Need, ...]:
        return permissions.ACTION_NEEDS[self.kind]

    @abstractmethod
    def read(self) -> State:
        """The current state of the target, JSON-ready (raises ReadFailed or ApiError)."""

    @abstractmethod
    def plan(self, state: State) -> Plan:
        """What would change from ``state``, or why nothing needs to."""

    @abstractmethod
    def execute(self, state: State) -> Executed:
        """The call that makes the change."""

    @abstractmethod
    def applied(self, before: State, after: State) -> bool:
        """Whether ``after`` shows the change made since ``before``."""

    @abstractmethod
    def verified_detail(self, before: State, after: State) -> str:
        """The read-back in words, for a change that is verified."""

    def explain_error(self, exc: ApiError) -> tuple[str, str] | None:
        """A kind's plain words for a service error: (reason code, sentence), or None for the generic ones."""
        return None

    def take_secret(self) -> NewPassword | None:
        """A secret the call created for the caller (a new password), handed over once; None for most kinds."""
        return None

    def justification(self, confirmation: Confirmation | None) -> str:
        return confirmation.override_justification if confirmation else ""

    def subject(self, state: State | None) -> tuple[str | None, str | None]:
        """Whom the action is about (a UPN or address, and the user's object id when known)."""
        state = state or {}
        return state.get("upn") or self.target, state.get("user_id")

    # -- verification: kinds whose change takes effect later override these ----------------------------------------
    def verify(self, before: State, after: State) -> tuple[Verified, str]:
        if self.applied(before, after):
            return "yes", self.verified_detail(before, after)
        return "no", "The read-back does not show the change."

    def assess(self, before: State, after: State) -> tuple[Assessment, str]:
        if self.applied(before, after):
            return "applied", "The change was made before the run was interrupted: " + self.verified_detail(
                before, after)
        return "not_applied", "The change was not made (the run was interrupted before the call took effect)."

    def done_status(self, verified: Verified) -> Status:
        return "done"

    # -- the sequence ----------------------------------------------------------------------------------------------
    def check_permissions(self) -> permissions.PermissionCheck:
        return permissions.check(self.ctx.connection, self.needs())

    def preview(self) -> Preview:
        """Exactly what would change, read from the current state (calls only reads; journals nothing)."""
        permission = self.check_permissions()
        if not permission.ok:
            return Preview(self.kind, self.target, f"{self.title()}: not allowed with this credential.", (), False,
                           "", (), {}, permission, refusal=permission.message)
        try:
            state = self.read()
        except ToolkitError as exc:
            return Preview(self.kind, self.target, f"{self.title()}: the current state could not be read.", (),
                           False, "", (), {}, permission, refusal=f"Could not read the current state: {exc}")
        plan = self.plan(state)
        return Preview(self.kind, self.target, plan.summary, plan.changes, plan.nothing_to_do, plan.reason,
                       plan.notes, state, permission, plan.refusal)

    def title(self) -> str:
        return f"{self.kind.replace('_', ' ').capitalize()} {self.target}"

    def run(self, confirm: bool | Confirmation = False) -> Result:
        """Dry run unless ``confirm`` is True or a :class:`Confirmation`; journaled before and after either way."""
        confirmation = Confirmation.of(confirm)
        dry = confirmation is None
        note = confirmation.note if confirmation else ""
        justification = self.justification(confirmation)
        permission = self.check_permissions()
        if not permission.ok:
            intent = self._intent(dry, note, justification, None, permission.message)
            return self._close(intent, "refused", None, permission.message, reason="permission")
        try:
            before = self.read()
        except ToolkitError as exc:
            reason = exc.reason if isinstance(exc, ReadFailed) else (
                "permission" if isinstance(exc, PermissionDenied) else "error")
            detail = f"Could not read the current state, so nothing was planned or changed: {exc}"
            intent = self._intent(dry, note, justification, None, detail)
            return self._close(intent, "refused" if reason == "permission" else "failed", None, detail,
                               reason=reason, error=str(exc))
        plan = self.plan(before)
        preview = Preview(self.kind, self.target, plan.summary, plan.changes, plan.nothing_to_do, plan.reason,
                          plan.notes, before, permission, plan.refusal)
        intent = self._intent(dry, note, justification, before, plan.summary)
        if plan.refusal:
            return self._close(intent, "refused", None, plan.refusal, preview=preview, before=before,
                               reason=plan.refusal_code or "refused")
        if plan.nothing_to_do:
            return self._close(intent, "nothing_to_do", None, f"Nothing to do: {plan.reason}", preview=preview,
                               before=before, after=before)
        if dry:
            would = "; ".join(c.sentence() for c in plan.changes) or plan.summary
            return self._close(intent, "dry_run", None, f"Dry run, nothing was changed. Would change: {would}",
                               preview=preview, before=before)
        try:
            executed = self.execute(before)
        except (ApiError, ActionFailed) as exc:
            return self._failed(intent, preview, before, exc, self.take_secret())
        verified, after, detail = self._read_back(before)
        status = self.done_status(verified)
        if verified == "no":
            detail = (f"The call succeeded but the read-back does not show the change yet ({detail}); read it again "
                      "later.")
        if executed.note:
            detail = f"{detail} {executed.note}"
        return self._close(intent, status, verified, detail, preview=preview, before=before, after=after,
                           new_password=self.take_secret())

    def reconcile(self, intent: Entry) -> Reconciliation:
        """Resolve an intent left without an outcome by reading the tenant now; journaled as a new entry."""
        permission = self.check_permissions()
        if not permission.ok:
            return Reconciliation(intent.entry_id, self.kind, self.target, "unresolved",
                                  f"Cannot read the state with this credential: {permission.message}")
        try:
            after = self.read()
        except ToolkitError as exc:
            return Reconciliation(intent.entry_id, self.kind, self.target, "unresolved",
                                  f"Could not read the state; the intent stays pending: {exc}")
        status, detail = self.assess(dict(intent.state or {}), after)
        actor = self.ctx.identity()
        subject, subject_id = self.subject(after)
        entry = self.ctx.journal.append(Entry(
            kind="reconciliation", intent_id=intent.entry_id, tenant_id=self.ctx.tenant_id,
            actor_kind=actor.kind, actor=actor.name, action=self.kind, target=self.target, status=status,
            detail=detail, subject=intent.subject or subject, subject_id=intent.subject_id or subject_id,
            parameters=self.parameters(), verified="yes" if status == "applied" else None, state=after,
            service_time=self.ctx.now()))
        log.warning("reconciled %s %s (intent %s): %s", self.kind, self.target, intent.entry_id, status)
        return Reconciliation(intent.entry_id, self.kind, self.target, status, detail, entry.entry_id)

    # -- helpers ---------------------------------------------------------------------------------------------------
    def _read_back(self, before: State) -> tuple[Verified, State | None, str]:
        """Read the state again until it shows the change (directory reads can lag a little)."""
        after: State | None = None
        verified: Verified = "no"
        detail = "the state could not be read back"
        for attempt in range(max(1, self.ctx.verify_attempts)):
            if attempt:
                self.ctx.sleep(self.ctx.verify_wait)
            try:
                after = self.read()
            except ToolkitError as exc:
                detail = f"the state could not be read back: {exc}"
                continue
            verified, detail = self.verify(before, after)
            if verified != "no":
                break
        return verified, after, detail

    def _failed(self, intent: Entry, preview: Preview, before: State, exc: Exception,
                secret: NewPassword | None) -> Result:
        """The call raised: say why in words, after reading the state back (a lost answer may hide a change).

        ``secret``: what the call would have handed over; given to the caller only if the change was made.
        """
        try:
            after: State | None = self.read()
        except ToolkitError:
            after = None
        if after is not None and self.applied(before, after):
            detail = (f"The call reported an error ({exc}), but the read-back shows the change was made: "
                      + self.verified_detail(before, after))
            return self._close(intent, "done", "yes", detail, preview=preview, before=before, after=after,
                               error=str(exc), new_password=secret)
        del secret  # the change was not made: the value it would have set is dropped here
        explained = self.explain_error(exc) if isinstance(exc, ApiError) else None
        if explained is not None:
            reason, detail = explained
            status: Status = "refused" if reason == "permission" else "failed"
        elif isinstance(exc, PermissionDenied) or exchange.command_not_found(exc):
            role = self.needs()[0].roles(preview.permission.identity_kind) or "a permission or role this " \
                "credential lacks"
            reason, status = "permission", "refused"
            detail = f"The service refused the call: it needs {role}. Nothing was changed."
        elif isinstance(exc, Throttled | ServiceUnavailable | ConnectionFailed):
            reason, status = "unavailable", "failed"
            detail = "The service did not answer in time and the read-back shows no change; try again later."
        else:
            reason, status = "error", "failed"
            detail = "The call failed and nothing was changed."
        return self._close(intent, status, None, f"{detail} ({exc})", preview=preview, before=before, after=after,
                           reason=reason, error=str(exc))

    def _intent(self, dry: bool, note: str, justification: str, state: State | None, detail: str) -> Entry:
        actor = self.ctx.identity()
        digest, digests = self.ctx.evidence()
        subject, subject_id = self.subject(state)
        case = self.ctx.case
        return self.ctx.journal.append(Entry(
            kind="intent", tenant_id=self.ctx.tenant_id, actor_kind=actor.kind, actor=actor.name, action=self.kind,
            target=self.target, status="planned", detail=detail, subject=subject, subject_id=subject_id,
            parameters=self.parameters(), note=note, justification=justification, evidence_hash=digest,
            evidence=digests, case_path=str(case.path) if case is not None and case.path else None, dry_run=dry,
            state=state, service_time=self.ctx.now()))

    def _close(self, intent: Entry, status: Status, verified: Verified | None, detail: str, *,
               preview: Preview | None = None, before: State | None = None, after: State | None = None,
               reason: str = "", error: str | None = None, new_password: NewPassword | None = None) -> Result:
        outcome_id: str | None = None
        try:
            outcome_id = self.ctx.journal.append(Entry(
                kind="outcome", intent_id=intent.entry_id, tenant_id=intent.tenant_id, actor_kind=intent.actor_kind,
                actor=intent.actor, action=self.kind, target=self.target, status=status, detail=detail,
                subject=intent.subject, subject_id=intent.subject_id, parameters=self.parameters(), note=intent.note,
                justification=intent.justification, evidence_hash=intent.evidence_hash, case_path=intent.case_path,
                dry_run=intent.dry_run, verified=verified, state=after, error=error,
                service_time=self.ctx.now())).entry_id
        except JournalError as exc:
            # The call was made: the caller still gets the result (and a new password). The intent stays pending
            # and the next reconcile() records what the tenant shows.
            log.error("%s %s: the outcome could not be journaled (%s); the intent stays pending until reconcile()",
                      self.kind, self.target, exc)
            detail = f"{detail} (The outcome could not be written to the journal: {exc}.)"
        log.info("%s %s: %s%s", self.kind, self.target, status, f" ({reason})" if reason else "")
        return Result(self.kind, self.target, status, verified, detail, intent.dry_run, reason, preview, before,
                      after, error, intent.entry_id, outcome_id, new_password)
