"""Inbox-rule and forwarding history from audit records: the rules and mailbox forwarding a user's audit trail shows.

Replayed in time order for the user's mailbox (whoever acted on it): ``New-InboxRule`` makes a rule from its
parameters, ``Set-InboxRule`` changes it, ``Enable-``/``Disable-InboxRule`` switch it, ``Remove-InboxRule`` removes
it, ``UpdateInboxRules`` (Outlook clients) adds, changes or removes one; ``Set-Mailbox`` with ForwardingSmtpAddress,
ForwardingAddress or DeliverToMailboxAndForward sets the mailbox's forwarding.

What comes out is history, not a live read: a rule made before the log begins and never touched since is not in it;
a rule known only from Set-InboxRule has only the changed properties. The result says so, and the ledger repeats it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from toolkit.frames.audit import parameters
from toolkit.sources.exports.dates import DateError, parse_instant
from toolkit.sources.graph import UserIdentity

RULE_OPERATIONS = frozenset({"new-inboxrule", "set-inboxrule", "enable-inboxrule", "disable-inboxrule",
                             "remove-inboxrule", "updateinboxrules"})
FORWARDING_OPERATIONS = frozenset({"set-mailbox"})
FORWARDING = ("ForwardingSmtpAddress", "ForwardingAddress", "DeliverToMailboxAndForward")

#: Parameters that steer the cmdlet, not the rule.
_CONTROL = frozenset({"force", "alwaysdeleteoutlookrulesblob", "confirm", "whatif", "mailbox", "identity",
                      "domaincontroller", "erroraction", "name"})
#: Rule parameters (and the Graph predicate names some tools write instead) -> the Get-InboxRule property.
_PROPERTIES = {name.lower(): name for name in (
    "SubjectContainsWords", "BodyContainsWords", "SubjectOrBodyContainsWords", "FromAddressContainsWords",
    "RecipientAddressContainsWords", "HeaderContainsWords", "HasClassification", "MessageTypeMatches", "From",
    "SentTo", "HasAttachment", "SentOnlyToMe", "MyNameInToBox", "MyNameInCcBox", "MyNameInToOrCcBox",
    "MyNameNotInToBox", "WithImportance", "WithSensitivity", "FlaggedForAction", "ForwardTo",
    "ForwardAsAttachmentTo", "RedirectTo", "MoveToFolder", "CopyToFolder", "DeleteMessage", "SoftDeleteMessage",
    "MarkAsRead", "MarkImportance", "ApplyCategory", "StopProcessingRules", "Enabled", "Priority",
    "WithinSizeRangeMinimum", "WithinSizeRangeMaximum", "PinMessage",
)}
_PROPERTIES.update({f"exceptif{k}": f"ExceptIf{v}" for k, v in list(_PROPERTIES.items())
                    if v not in ("ForwardTo", "ForwardAsAttachmentTo", "RedirectTo", "MoveToFolder", "CopyToFolder",
                                 "DeleteMessage", "SoftDeleteMessage", "MarkAsRead", "MarkImportance",
                                 "ApplyCategory", "StopProcessingRules", "Enabled", "Priority", "PinMessage")})
_PROPERTIES.update({
    "subjectcontains": "SubjectContainsWords", "bodycontains": "BodyContainsWords",
    "bodyorsubjectcontains": "SubjectOrBodyContainsWords", "sendercontains": "FromAddressContainsWords",
    "recipientcontains": "RecipientAddressContainsWords", "headercontains": "HeaderContainsWords",
    "fromaddresses": "From", "senttoaddresses": "SentTo", "hasattachments": "HasAttachment",
    "sentonlytome": "SentOnlyToMe", "senttome": "MyNameInToBox", "sentccme": "MyNameInCcBox",
    "senttoorccme": "MyNameInToOrCcBox", "notsenttome": "MyNameNotInToBox", "importance": "WithImportance",
    "sensitivity": "WithSensitivity", "forwardasattachmentto": "ForwardAsAttachmentTo", "delete": "DeleteMessage",
    "permanentdelete": "SoftDeleteMessage", "stopprocessingrules": "StopProcessingRules", "markasread": "MarkAsRead",
    "assigncategories": "ApplyCategory", "isenabled": "Enabled", "sequence": "Priority",
})
_LISTS = frozenset({"SubjectContainsWords", "BodyContainsWords", "SubjectOrBodyContainsWords",
                    "FromAddressContainsWords", "RecipientAddressContainsWords", "HeaderContainsWords", "From",
                    "SentTo", "ForwardTo", "ForwardAsAttachmentTo", "RedirectTo", "ApplyCategory"})
_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def _split(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value).split(";") if part.strip()]


def _owner_text(text: str) -> str:
    """The mailbox part of an identity: ``mailbox\\rule`` -> ``mailbox``; a DN path -> its last segment."""
    owner = text.rsplit("\\", 1)[0] if "\\" in text else text
    return owner.rsplit("/", 1)[-1].strip().lower()


def _rule_part(text: str | None) -> str | None:
    if not text:
        return None
    return text.rsplit("\\", 1)[-1].strip() if "\\" in text else text.strip()


@dataclass
class Matcher:
    """Does a mailbox identity (an address, an alias, a display name, a DN path) name this user?

    A DN path (``.../Microsoft Exchange Hosted Organizations/contoso.onmicrosoft.com/AdeleV``) names the
    organisation too: an alias under another organisation's domain is someone else."""

    names: frozenset[str]
    domains: frozenset[str] = frozenset()

    @classmethod
    def of(cls, identity: UserIdentity, extra: Iterable[str] = ()) -> Matcher:
        names = {identity.upn.lower(), identity.user_id.lower(), *identity.addresses, *(e.lower() for e in extra if e)}
        names |= {a.split("@", 1)[0] for a in identity.addresses if "@" in a}
        if identity.display_name:
            names.add(identity.display_name.lower())
        domains = {a.rsplit("@", 1)[1] for a in (*identity.addresses, identity.upn.lower()) if "@" in a}
        return cls(frozenset(n for n in names if n), frozenset(domains))

    def __call__(self, text: str | None) -> bool:
        if not text:
            return False
        owner = str(text).rsplit("\\", 1)[0] if "\\" in str(text) else str(text)
        segments = [s.strip().lower() for s in owner.split("/") if s.strip()]
        if len(segments) >= 2 and "." in segments[-2] and self.domains and segments[-2] not in self.domains:
            return False
        return _owner_text(str(text)) in self.names


@dataclass
class RuleState:
    name: str
    properties: dict[str, Any] = field(default_factory=dict)
    created: bool = False
    client_conditions: str | None = None
    first_seen: str = ""
    last_changed: str = ""


@dataclass
class History:
    rules: list[dict[str, Any]] = field(default_factory=list)  # Get-InboxRule-shaped objects
    client_conditions: dict[str, str] = field(default_factory=dict)  # rule id -> conditions text (Outlook rules)
    removed: list[str] = field(default_factory=list)
    partial: list[str] = field(default_factory=list)
    rule_records: int = 0
    mailbox: dict[str, Any] | None = None
    forwarding_records: int = 0
    first: str | None = None
    last: str | None = None


def _owner(record: Mapping[str, Any], params: Mapping[str, Any]) -> str | None:
    for value in (params.get("Mailbox"), params.get("Identity") if "\\" in str(params.get("Identity") or "") else None,
                  record.get("ObjectId") if "\\" in str(record.get("ObjectId") or "") else None,
                  record.get("MailboxOwnerUPN")):
        if value:
            return str(value)
    return str(record.get("UserId") or "") or None


def _rule_name(operation: str, record: Mapping[str, Any], params: Mapping[str, Any],
               props: Mapping[str, Any]) -> str | None:
    """The rule's name: New-InboxRule's Name; the tail of ObjectId (``mailbox\\rule``) or of Identity for the
    others; an Outlook client's RuleName."""
    named = str(params["Name"]).strip() if params.get("Name") else None
    object_id = str(record.get("ObjectId") or "")
    if operation == "updateinboxrules":
        return str(props.get("RuleName") or "").strip() or None
    if operation == "new-inboxrule":
        return named or (_rule_part(object_id) if "\\" in object_id else None)
    return ((_rule_part(object_id) if "\\" in object_id else None)
            or _rule_part(str(params.get("Identity") or "") or None) or named)


def _apply(state: RuleState, params: Mapping[str, Any]) -> None:
    for raw, value in params.items():
        key = str(raw).lower()
        if key in _CONTROL:
            continue
        name = _PROPERTIES.get(key, str(raw))
        if name in _LISTS or name.removeprefix("ExceptIf") in _LISTS:
            state.properties[name] = _split(value) or None
        else:
            state.properties[name] = value


def _client_rule(state: RuleState, props: Mapping[str, Any]) -> None:
    """An Outlook client rule (UpdateInboxRules): its condition and actions as the record words them."""
    condition = str(props.get("RuleCondition") or "").strip()
    actions = str(props.get("RuleActions") or "")
    state.client_conditions = f"Outlook rule: {condition}" if condition else "Outlook rule (condition not logged)"
    forwards = _EMAIL.findall(actions)
    if forwards:
        state.properties["ForwardTo"] = forwards
    if re.search(r"\bdelete\b", actions, re.IGNORECASE):
        state.properties["DeleteMessage"] = True
    state.properties.setdefault("Enabled", True)


def _ordered(records: Iterable[Mapping[str, Any]]) -> list[tuple[str, Mapping[str, Any]]]:
    timed: list[tuple[Any, str, Mapping[str, Any]]] = []
    for record in records:
        text = str(record.get("CreationTime") or "")
        try:
            instant = parse_instant(text)
        except DateError:
            continue  # the importers checked every time; nothing unreadable reaches here
        timed.append((instant, text, record))
    timed.sort(key=lambda t: t[0])
    return [(text, record) for _, text, record in timed]


def replay(records: Iterable[Mapping[str, Any]], identity: UserIdentity, matcher: Matcher) -> History:
    """The user's rules and forwarding as the audit records leave them."""
    history = History()
    rules: dict[str, RuleState] = {}
    forwarding: dict[str, Any] = {}
    for when, record in _ordered(records):
        operation = str(record.get("Operation") or "").lower()
        is_mailbox = operation == "set-mailbox"
        if operation not in RULE_OPERATIONS and not is_mailbox:
            continue
        params = parameters(record.get("Parameters")) or {}
        if is_mailbox:
            target = params.get("Identity") or record.get("ObjectId")
            changes = {k: params[k] for k in FORWARDING if k in params}
            if changes and matcher(str(target or "")):
                forwarding.update(changes)
                history.forwarding_records += 1
                history.first = history.first or when
                history.last = when
            continue
        if not matcher(_owner(record, params)):
            continue
        props = parameters(record.get("OperationProperties")) or {}
        name = _rule_name(operation, record, params, props)
        if not name:
            continue
        history.rule_records += 1
        history.first = history.first or when
        history.last = when
        key = name.lower()
        if operation == "updateinboxrules":
            action = str(props.get("RuleOperation") or "").lower()
            if "remove" in action or "delete" in action:
                operation = "remove-inboxrule"
            else:
                state = rules.setdefault(key, RuleState(name, first_seen=when))
                state.created = state.created or "add" in action
                _client_rule(state, props)
                state.last_changed = when
                continue
        if operation == "remove-inboxrule":
            rules.pop(key, None)
            history.removed.append(name)
            continue
        if operation == "new-inboxrule":
            state = RuleState(name, created=True, first_seen=when)
            state.properties["Enabled"] = True
            rules[key] = state
        else:
            state = rules.setdefault(key, RuleState(name, first_seen=when))
            renamed = str(params.get("Name") or "").strip()
            if operation == "set-inboxrule" and renamed and renamed.lower() != key:
                rules.pop(key, None)
                state.name = renamed
                rules[renamed.lower()] = state
        if operation == "enable-inboxrule":
            state.properties["Enabled"] = True
        elif operation == "disable-inboxrule":
            state.properties["Enabled"] = False
        else:
            _apply(state, params)
        state.last_changed = when
    owner = identity.primary_smtp
    for state in rules.values():
        obj: dict[str, Any] = {"Name": state.name, "RuleIdentity": state.name, "Identity": f"{owner}\\{state.name}",
                               "MailboxOwnerId": owner, "Enabled": None, "Priority": None, "InError": None}
        obj.update(state.properties)
        history.rules.append(obj)
        if not state.created:
            history.partial.append(state.name)
        if state.client_conditions:
            history.client_conditions[state.name] = state.client_conditions
    if forwarding:
        smtp = forwarding.get("ForwardingSmtpAddress")
        history.mailbox = {
            "UserPrincipalName": identity.upn, "PrimarySmtpAddress": identity.primary_smtp,
            "ExternalDirectoryObjectId": identity.user_id or None, "DisplayName": identity.display_name,
            "ForwardingSmtpAddress": smtp or None, "ForwardingAddress": forwarding.get("ForwardingAddress") or None,
            "DeliverToMailboxAndForward": forwarding.get("DeliverToMailboxAndForward"),
        }
    return history
