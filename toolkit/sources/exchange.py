"""Exchange Online through the admin API's ``InvokeCommand`` (m365-apis.md 1, 2, 5.4): restricted senders, the
outbound spam policy and its rules, accepted domains, mailboxes and inbox rules.

Every pull returns a :class:`~toolkit.sources.base.Pull`: the frame and coverage entries that say how complete it
is. Expected conditions - a missing licence or role, an object that does not exist, throttling past the retry
budget, a service error - become coverage entries in plain words, never exceptions; programming errors still raise.

Message trace (Get-MessageTraceV2 and its details) lives in ``exchange_trace.py`` and the unified audit log in
``exchange_audit.py``; both are also reachable from here (``exchange.message_trace_v2``, ``exchange.trace_details_v2``,
``exchange.audit``), imported on first use.

Each function takes the :class:`~toolkit.transport.Transport` or a :class:`~toolkit.connection.Connection`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from toolkit import frames
from toolkit.coverage import Coverage
from toolkit.errors import ApiError, BadRequest, NotFound
from toolkit.sources.base import Item, KeyedRows, Pull, failed

if TYPE_CHECKING:
    from toolkit.transport import RequestStats

log = logging.getLogger(__name__)

#: The ``backend`` of coverage entries: the InvokeCommand cmdlets, and the V2 message-trace cmdlets.
BACKEND = "exchange"
BACKEND_V2 = "exchange_v2"

#: How Exchange answers a cmdlet that is outside the caller's roles (RBAC leaves it out of the session) and an
#: object that is not there, over InvokeCommand: the .NET exception type is named in the message.
COMMAND_NOT_FOUND = "CommandNotFoundException"
OBJECT_NOT_FOUND = "ManagementObjectNotFoundException"


class ExchangeTransport(Protocol):
    """What the Exchange sources need from :class:`~toolkit.transport.Transport`."""

    stats: RequestStats

    def invoke(self, cmdlet: str, parameters: dict[str, Any] | None = None, *, source: str | None = None,
               page_size: int | None = None) -> list[dict[str, Any]]: ...

    def invoke_pages(self, cmdlet: str, parameters: dict[str, Any] | None = None, *, source: str | None = None,
                     page_size: int | None = None) -> Iterator[list[dict[str, Any]]]: ...

    def now(self) -> datetime: ...


def transport_of(source: Any) -> ExchangeTransport:
    """The transport of a Connection, or the transport itself."""
    transport = getattr(source, "transport", source)
    if not callable(getattr(transport, "invoke", None)):
        raise TypeError(f"expected a Transport or a Connection, got {type(source).__name__}")
    return transport


def source_name(cmdlet: str) -> str:
    """The ``source`` of coverage entries and errors for a cmdlet."""
    return f"exchange {cmdlet}"


@dataclass
class RequestCount:
    """Requests the transport sent since this object was made (retries included)."""

    transport: ExchangeTransport
    start: int = field(init=False)

    def __post_init__(self) -> None:
        self.start = self._total()

    def _total(self) -> int:
        return sum(self.transport.stats.requests.values())

    def __call__(self) -> int:
        return self._total() - self.start


# --- errors into coverage ---------------------------------------------------------------------------------------------
def command_not_found(exc: Exception) -> bool:
    """Exchange refused the cmdlet as unknown: for a real cmdlet, the caller's roles do not include it."""
    return isinstance(exc, BadRequest) and (COMMAND_NOT_FOUND in exc.detail or "is not recognized as" in exc.detail)


def object_not_found(exc: Exception) -> bool:
    """The object (a mailbox, a policy) does not exist: 404, or a 400 naming ManagementObjectNotFoundException."""
    return isinstance(exc, NotFound) or (isinstance(exc, ApiError) and OBJECT_NOT_FOUND in exc.detail)


def error_coverage(kind: str, cmdlet: str, backend: str, exc: ApiError, *, rows: int = 0,
                   start: datetime | None = None, end: datetime | None = None, requests: int = 0,
                   missing: str | None = None, role_hint: str = "") -> Coverage:
    """The coverage entry for a failed cmdlet call.

    A cmdlet outside the caller's roles is a missing permission (Exchange answers "not recognized"); an object that
    does not exist is ``not_found`` with ``missing`` as the sentence; the rest as :func:`~toolkit.sources.base.failed`.
    """
    source = source_name(cmdlet)
    if command_not_found(exc):
        detail = (f"the credential's Exchange role does not include {cmdlet} (Exchange answers that the cmdlet is not "
                  f"recognized: role-based access leaves cmdlets outside the caller's roles out of its session)"
                  f"{role_hint}")
        log.warning("%s: %s", source, detail)
        return Coverage(kind=kind, source=source, backend=backend, status="partial" if rows else "unavailable",
                        rows=rows, start=start, end=end, reason="permission", detail=detail, requests=requests)
    if missing is not None and object_not_found(exc):
        log.info("%s: %s", source, missing)
        return Coverage(kind=kind, source=source, backend=backend, status="unavailable", rows=rows, start=start,
                        end=end, reason="not_found", detail=missing, requests=requests)
    return failed(kind, source, backend, exc, rows=rows, start=start, end=end, requests=requests)


def complete(kind: str, cmdlet: str, backend: str, rows: int, *, requests: int, start: datetime | None = None,
             end: datetime | None = None, detail: str = "") -> Coverage:
    return Coverage(kind=kind, source=source_name(cmdlet), backend=backend, status="complete", rows=rows, start=start,
                    end=end, detail=detail, requests=requests)


@dataclass
class Fetched:
    """The rows of one cmdlet call (None when it failed) and its coverage entry."""

    items: list[Item] | None
    coverage: Coverage


def fetch(transport: ExchangeTransport, kind: str, cmdlet: str, parameters: dict[str, Any],
          key: Callable[[Item], Hashable], *, backend: str = BACKEND, missing: str | None = None,
          role_hint: str = "") -> Fetched:
    """Every row of one cmdlet call, keyed (a row served twice is kept once), with its coverage entry."""
    count = RequestCount(transport)
    keyed = KeyedRows(key=key)
    try:
        keyed.add(transport.invoke(cmdlet, parameters, source=source_name(cmdlet)))
    except ApiError as exc:
        return Fetched(None, error_coverage(kind, cmdlet, backend, exc, requests=count(), missing=missing,
                                            role_hint=role_hint))
    items = keyed.items()
    if keyed.repeats or keyed.conflicts:
        log.info("%s: %d repeated row(s) dropped", source_name(cmdlet), keyed.repeats + keyed.conflicts)
    return Fetched(items, complete(kind, cmdlet, backend, len(items), requests=count()))


def lower_text(item: Item, name: str) -> str:
    value = item.get(name)
    if value is None:
        raise KeyError(f"an Exchange object without {name!r}: {sorted(item)[:8]}")
    return str(value).strip().lower()


def known_domains(accepted_domains: Iterable[str] | None) -> list[str] | None:
    """Accepted domains for the frame converters: an empty list means unknown (None), so the direction of a
    message is left empty rather than wrongly called outbound."""
    if accepted_domains is None:
        return None
    listed = [d for d in accepted_domains if d and str(d).strip()]
    return listed or None


# --- accepted domains -------------------------------------------------------------------------------------------------
def accepted_domains(source: Any) -> list[str]:
    """The tenant's accepted domains (Get-AcceptedDomain), lowercased, the default one first.

    An expected failure (the role lacks the cmdlet, throttling, a service error) is logged and gives an empty list,
    which the other functions here treat as "unknown" (directions left empty), never as "no domain is ours".
    """
    transport = transport_of(source)
    cmdlet = "Get-AcceptedDomain"
    try:
        rows = transport.invoke(cmdlet, {}, source=source_name(cmdlet))
    except ApiError as exc:
        log.warning("%s: the accepted domains could not be read, so internal and external mail cannot be told "
                    "apart: %s", source_name(cmdlet), exc)
        return []
    ordered = sorted(rows, key=lambda r: not bool(r.get("Default")))
    names = [lower_text(r, "DomainName") for r in ordered]
    return list(dict.fromkeys(names))


# --- restricted senders -----------------------------------------------------------------------------------------------
def restricted(source: Any, sender: str | None = None) -> Pull:
    """The restricted senders (Get-BlockedSenderAddress): every one, or only ``sender``."""
    kind, cmdlet = "restricted", "Get-BlockedSenderAddress"
    parameters = {"SenderAddress": sender.strip()} if sender else {}
    got = fetch(transport_of(source), kind, cmdlet, parameters, lambda r: lower_text(r, "SenderAddress"))
    frame = frames.empty(kind) if got.items is None else frames.from_exchange(kind, got.items)
    return Pull(kind, frame, [got.coverage])


# --- outbound spam policy ---------------------------------------------------------------------------------------------
def outbound_policies(source: Any) -> tuple[Pull, Pull]:
    """The outbound spam policies (with effective limits) and the rules that say whom each custom policy covers.

    When the rules cannot be read, the policies still come back, but which senders a custom policy covers is
    unknown: ``enabled``, ``priority`` and ``applies_to`` are left empty on those rows and the policy coverage is
    partial.
    """
    transport = transport_of(source)
    rules = fetch(transport, "policy_rules", "Get-HostedOutboundSpamFilterRule", {}, lambda r: lower_text(r, "Name"))
    policies = fetch(transport, "policy", "Get-HostedOutboundSpamFilterPolicy", {}, lambda r: lower_text(r, "Name"))
    rules_frame = frames.empty("policy_rules") if rules.items is None else frames.from_exchange("policy_rules",
                                                                                                 rules.items)
    rules_pull = Pull("policy_rules", rules_frame, [rules.coverage])
    if policies.items is None:
        return Pull("policy", frames.empty("policy"), [policies.coverage]), rules_pull
    frame = frames.from_exchange("policy", policies.items, rules=rules.items or ())
    coverage = policies.coverage
    if rules.items is None:
        custom = ~frame["is_default"].fillna(False).astype(bool)
        frame.loc[custom, ["enabled", "priority", "applies_to"]] = pd.NA
        frame = frames.validate("policy", frame)
        coverage = Coverage(kind="policy", source=coverage.source, backend=coverage.backend, status="partial",
                            rows=coverage.rows, reason=rules.coverage.reason, requests=coverage.requests,
                            detail="the policies were read but not their rules, so whom each custom policy covers "
                                   f"is unknown ({rules.coverage.detail})")
    return Pull("policy", frame, [coverage]), rules_pull


def outbound_policy_for(policy_pull: Pull, rules_pull: Pull, sender: str,
                        groups: Collection[str] = ()) -> pd.Series | None:
    """The policy row that holds ``sender`` to its limits (``frames.effective_policy``), or None when that cannot
    be told: the policies were not read, or the rules were not read completely (a rule missing from the frame
    could be the one that matches). ``groups``: the sender's group names or addresses, for FromMemberOf rules."""
    if policy_pull.frame.empty or not policy_pull.complete:
        log.warning("policy: cannot tell which outbound spam policy applies to %s: the policies were not read "
                    "completely", sender)
        return None
    if not rules_pull.complete:
        log.warning("policy: cannot tell which outbound spam policy applies to %s: the policy rules were not read "
                    "completely", sender)
        return None
    return frames.effective_policy(policy_pull.frame, rules_pull.frame, sender, sender_groups=groups)


# --- mailboxes --------------------------------------------------------------------------------------------------------
def mailbox(source: Any, identity: str, accepted_domains: Iterable[str] | None) -> Pull:
    """One mailbox (Get-Mailbox -Identity): forwarding, aliases, recipient limits.

    ``accepted_domains`` decide whether forwarding leaves the tenant. No such mailbox: an empty frame and an
    ``unavailable`` / ``not_found`` coverage entry.
    """
    kind, cmdlet = "mailbox", "Get-Mailbox"
    got = fetch(transport_of(source), kind, cmdlet, {"Identity": identity},
                lambda r: lower_text(r, "UserPrincipalName"),
                missing=f"no Exchange Online mailbox for {identity}")
    if got.items is None:
        return Pull(kind, frames.empty(kind), [got.coverage])
    frame = frames.from_exchange(kind, got.items, accepted_domains=known_domains(accepted_domains))
    return Pull(kind, frame, [got.coverage])


# --- inbox rules ------------------------------------------------------------------------------------------------------
INBOX_RULE_ROLE_HINT = ("; Global Reader and View-Only Organization Management cannot run it. Read the rules "
                        "through Graph messageRules instead (it does not show hidden rules), or use a role that "
                        "can, such as Exchange Recipient Administrator or Helpdesk Administrator")


def rule_id(item: Item) -> str:
    """Get-InboxRule's RuleIdentity, or the tail of its Identity (``owner\\id``)."""
    value = item.get("RuleIdentity")
    if value not in (None, ""):
        return str(value)
    identity = item.get("Identity")
    if not identity:
        raise KeyError("a Get-InboxRule object without RuleIdentity or Identity")
    return str(identity).rsplit("\\", 1)[-1]


def inbox_rules(source: Any, mailbox: str, accepted_domains: Iterable[str] | None) -> Pull:
    """The inbox rules of ``mailbox`` (Get-InboxRule -IncludeHidden), hidden ones marked.

    Get-InboxRule does not mark hidden rules; a second call without ``-IncludeHidden`` tells them apart. When that
    second call fails the rules are all there but ``hidden`` is unknown (partial coverage). A role without the
    cmdlet (Global Reader) gives an ``unavailable`` / ``permission`` entry.
    """
    transport = transport_of(source)
    kind, cmdlet = "rules", "Get-InboxRule"
    address = mailbox.strip().lower()
    missing = f"no Exchange Online mailbox for {mailbox}"
    every = fetch(transport, kind, cmdlet, {"Mailbox": mailbox, "IncludeHidden": True}, rule_id, missing=missing,
                  role_hint=INBOX_RULE_ROLE_HINT)
    if every.items is None:
        return Pull(kind, frames.empty(kind), [every.coverage])
    visible = fetch(transport, kind, cmdlet, {"Mailbox": mailbox}, rule_id, missing=missing,
                    role_hint=INBOX_RULE_ROLE_HINT)
    coverage = every.coverage
    hidden: set[str] | None = None
    if visible.items is None:
        coverage = Coverage(kind=kind, source=coverage.source, backend=coverage.backend, status="partial",
                            rows=coverage.rows, reason=visible.coverage.reason,
                            requests=coverage.requests + visible.coverage.requests,
                            detail="every rule was read, but which of them are hidden is unknown "
                                   f"({visible.coverage.detail})")
    else:
        hidden = {rule_id(r) for r in every.items} - {rule_id(r) for r in visible.items}
        coverage = complete(kind, cmdlet, BACKEND, coverage.rows,
                            requests=coverage.requests + visible.coverage.requests)
    frame = frames.from_exchange(kind, every.items, mailbox=address, accepted_domains=known_domains(accepted_domains),
                                 hidden_rule_ids=hidden)
    return Pull(kind, frame, [coverage])


# --- message trace and audit, from their own modules ------------------------------------------------------------------
_ELSEWHERE = {
    "message_trace_v2": "toolkit.sources.exchange_trace",
    "trace_details_v2": "toolkit.sources.exchange_trace",
    "audit": "toolkit.sources.exchange_audit",
}


def __getattr__(name: str) -> Any:
    """``exchange.message_trace_v2``, ``exchange.trace_details_v2`` and ``exchange.audit``, imported on first use
    (those modules import this one, so importing them here eagerly would be circular)."""
    module = _ELSEWHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
