"""Exchange Online cmdlets behind the sandbox's InvokeCommand: the cmdlet model and the directory and hygiene cmdlets.

A :class:`Cmdlet` declares its parameters (bound and converted by ``exchange.py`` the way PowerShell binds them), the
Entra roles whose Exchange role groups include it, and the quota bucket it counts against. Its ``run`` gets an
:class:`Invocation` and returns an :class:`Output`: the rows and how to project each one into the object the real
service returns. Here: Get/Remove-BlockedSenderAddress, Get-HostedOutboundSpamFilterPolicy/Rule, Get/Set-Mailbox,
Get-AcceptedDomain, Get-InboxRule and Disable-/Remove-InboxRule. Message trace and the unified audit log live in
``exchange_trace.py``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from toolkit.sandbox.access import Principal
from toolkit.sandbox.errors import ExchangeError
from toolkit.sandbox.snapshot import SANDBOX_KEY, parse_instant, served
from toolkit.sandbox.state import TenantState, strip_smtp

log = logging.getLogger(__name__)

Row = dict[str, Any]

# --- .NET exception types named in error messages (rendered as "|Type|message" by errors.render_exchange) ---------
COMMAND_NOT_FOUND = "System.Management.Automation.CommandNotFoundException"
PARAMETER_BINDING = "System.Management.Automation.ParameterBindingException"
PARAMETER_VALIDATION = "System.Management.Automation.ParameterBindingValidationException"
NOT_FOUND = "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"
ARGUMENT = "System.ArgumentException"
NOT_SIMULATED = "System.NotSupportedException"
# UNVERIFIED: the type behind the undocumented unblock limit; the name follows the hygiene cmdlets' namespace.
UNBLOCK_LIMIT = "Microsoft.Exchange.Management.Hygiene.BlockedSenderUnblockLimitExceededException"

# --- Entra roles (m365-apis.md 2.1: the roles supported for Exchange Online PowerShell) ----------------------------
GLOBAL_ADMIN = "Global Administrator"
EXCHANGE_ADMIN = "Exchange Administrator"
RECIPIENT_ADMIN = "Exchange Recipient Administrator"
SECURITY_ADMIN = "Security Administrator"
SECURITY_READER = "Security Reader"
GLOBAL_READER = "Global Reader"
HELPDESK_ADMIN = "Helpdesk Administrator"
COMPLIANCE_ADMIN = "Compliance Administrator"
EXO_ROLES = frozenset({GLOBAL_ADMIN, EXCHANGE_ADMIN, RECIPIENT_ADMIN, SECURITY_ADMIN, SECURITY_READER, GLOBAL_READER,
                       HELPDESK_ADMIN, COMPLIANCE_ADMIN})


def roles(*names: str) -> frozenset[str]:
    return frozenset(names)


def not_found(identity: str, server: str) -> ExchangeError:
    """Exchange's ManagementObjectNotFoundException, as Get-Mailbox and friends raise it (404 over InvokeCommand).

    UNVERIFIED: the status; captures show 400 and 404 for cmdlet errors, and 404 fits an object that is not there.
    """
    return ExchangeError(404, NOT_FOUND,
                         f"The operation couldn't be performed because object '{identity}' couldn't be found on "
                         f"'{server}'.")


def domain_controller(tenant_id: str) -> str:
    """A stable, realistic-looking directory server name for the tenant (named in not-found messages)."""
    digest = hashlib.sha256(tenant_id.encode()).digest()
    return (f"AM{digest[0] % 9 + 1}PR0{digest[1] % 9 + 1}A0{digest[2] % 90 + 10}DC00{digest[3] % 9 + 1}."
            f"EURPR0{digest[1] % 9 + 1}A0{digest[2] % 90 + 10}.PROD.OUTLOOK.COM")


# --- the cmdlet model --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Param:
    """One cmdlet parameter. ``kind`` decides the conversion (see ``exchange.bind``):

    string, identity (non-empty string), smtp, smtp_list, string_list, datetime, int (``low``..``high``),
    result_size (an int or "Unlimited"), bool, switch, guid, enum (``choices``), enum_list (``choices``).
    ``nullable``: JSON null is accepted (Set-Mailbox clears a property with $null).
    """

    name: str
    kind: str = "string"
    required: bool = False
    nullable: bool = False
    choices: tuple[str, ...] = ()
    low: int | None = None
    high: int | None = None
    type_name: str = ""  # the .NET type named in conversion errors; defaulted from ``kind``


@dataclass
class Invocation:
    """One cmdlet run: the tenant, the caller and the bound arguments (canonical parameter names)."""

    state: TenantState
    principal: Principal
    args: dict[str, Any]
    memory: dict[str, Any]  # per-sandbox state owned by cmdlets (audit sessions, indexes)
    caller: str  # stable key of the caller (app, and user when delegated)
    server: str  # the directory server named in not-found messages

    def has(self, name: str) -> bool:
        return name in self.args


def _identity(row: Any) -> Row:
    return dict(row)


@dataclass
class Output:
    """What a cmdlet returns: rows (projected lazily, page by page) and any warnings (``@adminapi.warnings``)."""

    rows: Sequence[Any] = ()
    project: Callable[[Any], Row] = _identity
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Cmdlet:
    name: str
    params: tuple[Param, ...]
    run: Callable[[Invocation], Output]
    #: Entra roles whose Exchange role groups include the cmdlet. Outside them the cmdlet is not in the caller's
    #: session at all, as with real Exchange RBAC (see exchange.py for how a refusal looks).
    roles: frozenset[str]
    quota: str = "exchange"
    #: Real parameters of the real cmdlet that the sandbox does not simulate: refused with a clear message instead
    #: of "parameter not found", so nobody mistakes a sandbox gap for a typo.
    unsimulated: frozenset[str] = frozenset()


# --- formatting ----------------------------------------------------------------------------------------------------
def exo_datetime(value: datetime | str | None) -> str | None:
    """Exchange's date-time text over InvokeCommand: ``2022-09-21T08:07:47.0000000+00:00`` (UTC, 7 digits)."""
    if value is None or value == "":
        return None
    instant = parse_instant(value) if isinstance(value, str) else value.astimezone(UTC)
    return instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond:06d}0+00:00"


def annotate(obj: Row) -> Row:
    """Add the OData type annotations the service puts before collection-valued properties."""
    out: Row = {}
    for key, value in obj.items():
        if isinstance(value, list) and all(isinstance(v, str) for v in value) and "@" not in key:
            out[f"{key}@odata.type"] = "#Collection(String)"
        out[key] = value
    return out


def _format_dates(obj: Row) -> Row:
    """Stored Exchange date-times (``When*``, ``*Datetime``) reformatted the way the service writes them."""
    for key, value in list(obj.items()):
        if isinstance(value, str) and (key.startswith("When") or key.lower().endswith("datetime")):
            try:
                obj[key] = exo_datetime(value)
            except ValueError:
                continue
    return obj


def exchange_object(row: Row, collection: str) -> Row:
    """A stored Exchange row as the service returns it: served keys only, dates reformatted, annotated."""
    obj = _format_dates(served(row, collection))
    obj.setdefault("IsValid", True)  # UNVERIFIED: the standard Exchange object properties
    obj.setdefault("ObjectState", "Unchanged")
    return annotate(obj)


# --- blocked senders -----------------------------------------------------------------------------------------------
def _blocked_object(row: Row) -> Row:
    obj = served(row, "blocked_senders")
    created = obj.get("CreatedDatetime")
    obj["CreatedDatetime"] = exo_datetime(created)
    obj["ChangedDatetime"] = exo_datetime(obj.get("ChangedDatetime") or created)
    obj["TemporaryBlock"] = bool(obj.get("TemporaryBlock", False))
    # UNVERIFIED (m365-apis.md 1.1): Identity/IsValid/ObjectState are the usual Exchange object properties;
    # the Identity of a blocked-sender entry is taken to be its address.
    obj.setdefault("Identity", obj["SenderAddress"])
    obj.setdefault("IsValid", True)
    obj.setdefault("ObjectState", "Unchanged")
    return obj


def get_blocked_sender_address(inv: Invocation) -> Output:
    rows = inv.state.active_blocks()
    wanted = inv.args.get("SenderAddress")
    if wanted:
        rows = [r for r in rows if r["SenderAddress"].lower() == wanted.lower()]
    return Output(rows, _blocked_object)


def remove_blocked_sender_address(inv: Invocation) -> Output:
    sender = inv.args["SenderAddress"]
    try:
        pending = inv.state.request_unblock(sender)
    except LookupError:
        # UNVERIFIED wording: the real message for a sender that is not restricted is not documented.
        raise ExchangeError(404, NOT_FOUND, f"The sender '{sender}' isn't on the list of restricted senders. "
                                            "Run Get-BlockedSenderAddress to see the blocked senders.") from None
    except PermissionError:
        # The limit is real and undisclosed (m365-apis.md 1.2); the number is the tenant's behaviour setting.
        # UNVERIFIED wording and type.
        limit = inv.state.snapshot.tenant.behaviour.max_unblocks_per_sender
        raise ExchangeError(400, UNBLOCK_LIMIT,
                            f"The sender '{sender}' has been unblocked too many times ({limit}) and can't be removed "
                            "from the Restricted entities list any more. Only Microsoft Support can release this "
                            "sender; open a service request.") from None
    admin_audit(inv, "Remove-BlockedSenderAddress", sender,
                [("SenderAddress", sender), *([("Reason", inv.args["Reason"])] if inv.args.get("Reason") else [])])
    log.info("unblock of %s requested by %s; effective at %s", sender, inv.principal.display,
             pending.effective_at.isoformat())
    return Output([])


def admin_audit(inv: Invocation, operation: str, object_id: str, parameters: list[tuple[str, str]]) -> None:
    """Record an admin cmdlet in the unified audit log (an ExchangeAdmin record, RecordType 1), as Exchange does.

    UNVERIFIED: what UserId an app-only caller gets (here the app's client id) and the audit latency (Microsoft
    says records can take 60-90 minutes or more to appear; the sandbox records them at once, at the simulated now).
    """
    principal = inv.principal
    actor = str(principal.user["userPrincipalName"]) if principal.user is not None else principal.claims.app_id
    key = str(principal.user["id"]) if principal.user is not None else principal.claims.app_id
    state = inv.state
    record = {"Id": str(uuid.uuid4()), "RecordType": 1,
              "CreationTime": state.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "Operation": operation,
              "OrganizationId": state.tenant_id, "UserType": 2, "UserKey": key, "Workload": "Exchange",
              "ResultStatus": "True", "ObjectId": object_id, "UserId": actor, "ClientIP": "",
              "Parameters": [{"Name": k, "Value": v} for k, v in parameters]}
    with state.lock:
        state.collection("audit").append(record)


# --- outbound spam policy ------------------------------------------------------------------------------------------
def _find_named(rows: Sequence[Row], identity: str) -> list[Row]:
    wanted = identity.lower()
    return [r for r in rows if wanted in {str(r.get(k, "")).lower() for k in ("Name", "Identity", "Guid")}]


def _policy_object(row: Row) -> Row:
    obj = exchange_object(row, "outbound_policies")
    obj.setdefault("Identity", obj["Name"])
    return obj


def _rule_object(row: Row) -> Row:
    obj = exchange_object(row, "outbound_rules")
    obj.setdefault("Identity", obj["Name"])
    return obj


def get_outbound_policy(inv: Invocation) -> Output:
    rows = inv.state.collection("outbound_policies")
    identity = inv.args.get("Identity")
    if identity:
        rows = _find_named(rows, identity)
        if not rows:
            raise not_found(identity, inv.server)
    # The default policy comes last in the real listing (custom policies first, by priority). UNVERIFIED.
    ordered = sorted(rows, key=lambda r: bool(r.get("IsDefault")))
    return Output(ordered, _policy_object)


def get_outbound_rule(inv: Invocation) -> Output:
    rows = inv.state.collection("outbound_rules")
    identity = inv.args.get("Identity")
    if identity:
        rows = _find_named(rows, identity)
        if not rows:
            raise not_found(identity, inv.server)
    state = inv.args.get("State")
    if state:
        rows = [r for r in rows if str(r.get("State", "Enabled")).lower() == state.lower()]
    return Output(sorted(rows, key=lambda r: int(r.get("Priority", 0))), _rule_object)


# --- mailboxes -----------------------------------------------------------------------------------------------------
MORE_RESULTS_WARNING = ("There are more results available than are currently displayed. To view them, increase the "
                        "value for the ResultSize parameter.")


def _mailbox_object(row: Row) -> Row:
    return exchange_object(row, "mailboxes")


def _require_mailbox(inv: Invocation, identity: str) -> Row:
    box = inv.state.find_mailbox(identity)
    if box is None:
        raise not_found(identity, inv.server)
    return box


def get_mailbox(inv: Invocation) -> Output:
    identity = inv.args.get("Identity")
    rows: Sequence[Row] = ([_require_mailbox(inv, identity)] if identity
                           else list(inv.state.collection("mailboxes")))
    size = inv.args.get("ResultSize", 1000)  # None: Unlimited
    warnings = []
    if size is not None and len(rows) > size:
        rows = rows[:size]
        warnings.append(MORE_RESULTS_WARNING)
    return Output(rows, _mailbox_object, warnings)


def _proxy_address(value: str) -> str:
    """ForwardingSmtpAddress is stored as a proxy address with the ``smtp:`` prefix (m365-apis.md 2.1)."""
    return f"smtp:{strip_smtp(value) if ':' in value else value.strip()}"


def set_mailbox(inv: Invocation) -> Output:
    state = inv.state
    identity = inv.args["Identity"]
    with state.lock:
        box = _require_mailbox(inv, identity)
        before = {k: box.get(k) for k in ("ForwardingSmtpAddress", "ForwardingAddress", "DeliverToMailboxAndForward")}
        if inv.has("ForwardingSmtpAddress"):
            value = inv.args["ForwardingSmtpAddress"]
            box["ForwardingSmtpAddress"] = None if value is None else _proxy_address(value)
        if inv.has("ForwardingAddress"):
            value = inv.args["ForwardingAddress"]
            if value is None:
                box["ForwardingAddress"] = None
            else:
                target = state.find_mailbox(value)
                if target is None:  # the message Exchange gives for an unresolvable recipient parameter
                    raise ExchangeError(404, NOT_FOUND, f'Couldn\'t find object "{value}". Please make sure that it '
                                                        "was spelled correctly or specify a different object.")
                box["ForwardingAddress"] = target.get("Identity") or target["PrimarySmtpAddress"]
        if inv.has("DeliverToMailboxAndForward"):
            box["DeliverToMailboxAndForward"] = bool(inv.args["DeliverToMailboxAndForward"])
        after = {k: box.get(k) for k in before}
        if after == before:
            name = box.get("Identity") or box["PrimarySmtpAddress"]
            return Output([], warnings=[f"The command completed successfully but no settings of '{name}' have been "
                                        "modified."])
        box["WhenChanged"] = exo_datetime(state.now())
    admin_audit(inv, "Set-Mailbox", str(box.get("Identity") or box["PrimarySmtpAddress"]),
                [(k, "" if after[k] is None else str(after[k])) for k in after if after[k] != before[k]])
    log.info("Set-Mailbox %s by %s: %s -> %s", identity, inv.principal.display, before, after)
    return Output([])


# --- accepted domains ----------------------------------------------------------------------------------------------
def default_accepted_domain(domains: Sequence[str], fallback: str) -> str:
    """The default accepted domain: tenant.json has no such field, so the first domain that is not
    ``*.onmicrosoft.com`` (a tenant that added its own domain makes it the default), else ``fallback``
    (``defaultDomain``). UNVERIFIED: the real default is whatever the admin set; this is the common case."""
    for name in domains:
        if not name.lower().endswith(".onmicrosoft.com"):
            return name.lower()
    return fallback.lower()


def _initial_domain(domains: Sequence[str], fallback: str) -> str:
    """The tenant's initial (``*.onmicrosoft.com``) domain: ``defaultDomain`` when it is one, else the first."""
    if fallback.lower().endswith(".onmicrosoft.com"):
        return fallback.lower()
    return next((d.lower() for d in domains if d.lower().endswith(".onmicrosoft.com")), "")


def get_accepted_domain(inv: Invocation) -> Output:
    """Get-AcceptedDomain: one object per tenant.json domain, in its order.

    Properties DomainName, DomainType, Default, Name and Identity are the real cmdlet's; every domain is
    Authoritative (the snapshot has no relay domains). UNVERIFIED: InitialDomain on the onmicrosoft.com domain and
    the Name/Identity of a domain being the domain name itself (true for domains added in the admin center).
    """
    tenant = inv.state.snapshot.tenant
    default = default_accepted_domain(tenant.domains, tenant.default_domain)
    initial = _initial_domain(tenant.domains, tenant.default_domain)
    rows = [{"DomainName": name, "DomainType": "Authoritative", "Default": name == default,
             "InitialDomain": name == initial, "Name": name, "Identity": name, "IsValid": True,
             "ObjectState": "Unchanged"} for name in tenant.domains]
    identity = inv.args.get("Identity")
    if identity:
        rows = [r for r in rows if r["DomainName"] == identity.lower()]
        if not rows:
            raise not_found(identity, inv.server)
    return Output(rows)


# --- inbox rules ---------------------------------------------------------------------------------------------------
#: Graph messageRulePredicates -> Get-InboxRule properties (exceptions get the "ExceptIf" prefix).
_PREDICATES: dict[str, str] = {
    "subjectContains": "SubjectContainsWords",
    "bodyContains": "BodyContainsWords",
    "bodyOrSubjectContains": "SubjectOrBodyContainsWords",
    "senderContains": "FromAddressContainsWords",
    "recipientContains": "RecipientAddressContainsWords",
    "headerContains": "HeaderContainsWords",
    "categories": "HasClassification",
    "hasAttachments": "HasAttachment",
    "sentOnlyToMe": "SentOnlyToMe",
    "sentToMe": "MyNameInToBox",
    "sentCcMe": "MyNameInCcBox",
    "sentToOrCcMe": "MyNameInToOrCcBox",
    "notSentToMe": "MyNameNotInToBox",
    "importance": "WithImportance",
    "sensitivity": "WithSensitivity",
    "messageActionFlag": "FlaggedForAction",
}
_RECIPIENT_PREDICATES = {"fromAddresses": "From", "sentToAddresses": "SentTo"}
_LIST_PROPERTIES = ("SubjectContainsWords", "BodyContainsWords", "SubjectOrBodyContainsWords",
                    "FromAddressContainsWords", "RecipientAddressContainsWords", "HeaderContainsWords", "From",
                    "SentTo", "ForwardTo", "ForwardAsAttachmentTo", "RedirectTo", "ApplyCategory")
FOLDER_SEPARATOR = ":\\"  # MoveToFolder reads "mailbox:\\Folder"
_WELL_KNOWN_FOLDERS = {"deleteditems": "Deleted Items", "junkemail": "Junk Email", "archive": "Archive",
                       "inbox": "Inbox", "sentitems": "Sent Items", "drafts": "Drafts",
                       "conversationhistory": "Conversation History", "rssfeeds": "RSS Feeds"}


def rule_identity(graph_id: str) -> int:
    """Get-InboxRule's RuleIdentity (UInt64) for a Graph messageRule id.

    A Graph rule id is the base64 of the rule's 64-bit identity, little-endian (e.g. "AQAAAJ5dZqA="). UNVERIFIED
    for every id shape: ids that are not the exact encoding of 8 bytes (hand-written ids often differ only in the
    padding bits, which would make them collide) get a stable 63-bit hash instead.
    """
    try:
        raw = base64.b64decode(graph_id, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) == 8 and base64.b64encode(raw).decode() == graph_id:
        return int.from_bytes(raw, "little")
    return int.from_bytes(hashlib.sha256(graph_id.encode()).digest()[:8], "little") >> 1


def _recipient_text(recipient: Any) -> str | None:
    """A Graph recipient as Get-InboxRule shows one: ``"Name" [SMTP:address]``."""
    if not isinstance(recipient, dict):
        return None
    email = recipient.get("emailAddress") or {}
    address = email.get("address")
    if not address:
        return None
    name = email.get("name") or address
    return f'"{name}" [SMTP:{address}]'


def _recipients(value: Any) -> list[str] | None:
    items = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
    texts = [t for t in (_recipient_text(r) for r in items) if t]
    return texts or None


def _folder_name(folder_id: str, row: Row) -> str:
    """A folder's display name for a Graph folder id (``_sandbox.folderNames`` maps ids in hand-written snapshots)."""
    names = (row.get(SANDBOX_KEY) or {}).get("folderNames") or {}
    if folder_id in names:
        return str(names[folder_id])
    if folder_id.lower() in _WELL_KNOWN_FOLDERS:
        return _WELL_KNOWN_FOLDERS[folder_id.lower()]
    short = folder_id[4:] if folder_id.startswith("AAMk") and len(folder_id) < 40 else ""
    if short.isalnum() and short[:1].isupper():  # hand-written ids such as "AAMkRSSFeeds" -> "RSS Feeds"
        return re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", short)
    return folder_id


def _quoted(words: list[str]) -> str:
    return " or ".join(f"'{w}'" for w in words)


def _description(obj: Row) -> str:
    """The rule in words, as the real Description property spells it (abridged; UNVERIFIED wording)."""
    conditions: list[str] = []
    for prop, text in (("SubjectContainsWords", "includes {} in the subject"),
                       ("BodyContainsWords", "includes {} in the body"),
                       ("SubjectOrBodyContainsWords", "includes {} in the subject or body"),
                       ("FromAddressContainsWords", "includes {} in the sender's address"),
                       ("RecipientAddressContainsWords", "includes {} in the recipient's address"),
                       ("HeaderContainsWords", "includes {} in the message header"),
                       ("From", "is received from {}"), ("SentTo", "is sent to {}")):
        if obj.get(prop):
            conditions.append(text.format(_quoted(obj[prop])))
    actions: list[str] = []
    for prop, text in (("ForwardTo", "forward the message to {}"),
                       ("ForwardAsAttachmentTo", "forward the message as an attachment to {}"),
                       ("RedirectTo", "redirect the message to {}")):
        if obj.get(prop):
            actions.append(text.format(_quoted(obj[prop])))
    for prop, verb in (("MoveToFolder", "move"), ("CopyToFolder", "copy")):
        if obj.get(prop):
            folder = str(obj[prop]).split(FOLDER_SEPARATOR, 1)[-1]
            actions.append(f"{verb} the message to folder '{folder}'")
    for prop, text in (("DeleteMessage", "delete the message"), ("SoftDeleteMessage", "permanently delete the message"),
                       ("MarkAsRead", "mark the message as read"),
                       ("StopProcessingRules", "stop processing more rules on this message")):
        if obj.get(prop):
            actions.append(text)
    lines = ["If the message:"]
    lines += [f"\t{c}" for c in conditions] or ["\tApply this rule to all messages"]
    lines.append("Take the following actions:")
    lines += [f"\t{a}" for a in actions]
    return "\r\n".join(lines) + "\r\n"


def _predicates(obj: Row, predicates: Any, prefix: str) -> None:
    if not isinstance(predicates, dict):
        return
    for graph_name, exo_name in _PREDICATES.items():
        value = predicates.get(graph_name)
        if value not in (None, [], False):
            obj[prefix + exo_name] = value
    for graph_name, exo_name in _RECIPIENT_PREDICATES.items():
        texts = _recipients(predicates.get(graph_name))
        if texts:
            obj[prefix + exo_name] = texts
    size = predicates.get("withinSizeRange")
    if isinstance(size, dict):
        obj[prefix + "WithinSizeRangeMinimum"] = size.get("minimumSize")
        obj[prefix + "WithinSizeRangeMaximum"] = size.get("maximumSize")


def inbox_rule_object(row: Row, box: Row) -> Row:
    """A Graph messageRule (snapshot shape) as Get-InboxRule returns it for ``box``."""
    owner = str(box.get("Identity") or box["PrimarySmtpAddress"])
    address = box["PrimarySmtpAddress"]
    actions = row.get("actions") or {}
    ident = rule_identity(row["id"])
    obj: Row = {
        "Name": row["displayName"],
        "Identity": f"{owner}\\{ident}",
        "RuleIdentity": ident,
        "MailboxOwnerId": owner,
        "Enabled": bool(row.get("isEnabled", True)),
        "Priority": row.get("sequence"),
        "InError": bool(row.get("hasError", False)),
        "ErrorType": "None" if not row.get("hasError") else "Unknown",
        "SupportedByTask": True,
    }
    for prop in _LIST_PROPERTIES:
        obj[prop] = None
    _predicates(obj, row.get("conditions"), "")
    _predicates(obj, row.get("exceptions"), "ExceptIf")
    obj["ForwardTo"] = _recipients(actions.get("forwardTo"))
    obj["ForwardAsAttachmentTo"] = _recipients(actions.get("forwardAsAttachmentTo"))
    obj["RedirectTo"] = _recipients(actions.get("redirectTo"))
    for prop, key in (("MoveToFolder", "moveToFolder"), ("CopyToFolder", "copyToFolder")):
        folder = actions.get(key)
        obj[prop] = f"{address}{FOLDER_SEPARATOR}{_folder_name(folder, row)}" if folder else None
    obj["DeleteMessage"] = bool(actions.get("delete", False))
    # UNVERIFIED mapping: Graph permanentDelete (skips Deleted Items) is Exchange's SoftDeleteMessage.
    obj["SoftDeleteMessage"] = bool(actions.get("permanentDelete", False))
    obj["MarkAsRead"] = bool(actions.get("markAsRead", False))
    obj["MarkImportance"] = actions.get("markImportance")
    obj["ApplyCategory"] = actions.get("assignCategories") or None
    obj["StopProcessingRules"] = bool(actions.get("stopProcessingRules", False))
    obj["Description"] = _description(obj)
    obj["IsValid"] = True
    obj["ObjectState"] = "Unchanged"
    return annotate(obj)


def get_inbox_rule(inv: Invocation) -> Output:
    mailbox = inv.args.get("Mailbox")
    if mailbox is None:
        user = inv.principal.user
        if user is None:
            # UNVERIFIED: without -Mailbox the cmdlet reads the caller's own mailbox; an app has none.
            raise ExchangeError(400, ARGUMENT, "The Mailbox parameter is required when the cmdlet runs without a "
                                               "signed-in user (app-only).")
        mailbox = str(user["userPrincipalName"])
    box = _require_mailbox(inv, mailbox)
    owner_user = inv.state.find_user(box["UserPrincipalName"])
    include_hidden = bool(inv.args.get("IncludeHidden", False))
    rules = inv.state.inbox_rules(owner_user, include_hidden) if owner_user is not None else []
    identity = inv.args.get("Identity")
    if identity:
        rules = _rules_named(inv, box, rules, identity)
    return Output(rules, lambda r: inbox_rule_object(r, box))


def _rules_named(inv: Invocation, box: Row, rules: list[Row], identity: str) -> list[Row]:
    """The rules ``identity`` names: the rule's name, its RuleIdentity, or ``mailbox\\RuleIdentity``."""
    wanted = identity.lower()
    owner = str(box.get("Identity") or box["PrimarySmtpAddress"]).lower()
    tail = wanted.rsplit("\\", 1)[-1]
    named = [r for r in rules
             if wanted in {r["displayName"].lower(), r["id"].lower(), f"{owner}\\{rule_identity(r['id'])}"}
             or tail == str(rule_identity(r["id"]))]
    if not named:
        raise not_found(identity, inv.server)
    return named


def _rule_to_change(inv: Invocation) -> tuple[Row, Row, Row]:
    """(mailbox, owner, rule) for Disable-/Remove-InboxRule: ``-Identity`` names one rule of ``-Mailbox`` (or the
    mailbox named in ``mailbox\\RuleIdentity``). Hidden rules are reachable by identity, as Get-InboxRule
    -IncludeHidden lists them (UNVERIFIED: the reference documents the listing, not the change)."""
    identity = inv.args["Identity"]
    mailbox = inv.args.get("Mailbox")
    if mailbox is None and "\\" in identity:
        mailbox = identity.split("\\", 1)[0]
    if mailbox is None:
        raise ExchangeError(400, ARGUMENT, "The Mailbox parameter is required when the Identity does not name the "
                                           "mailbox (mailbox\\RuleIdentity).")
    box = _require_mailbox(inv, mailbox)
    owner = inv.state.find_user(box["UserPrincipalName"])
    rules = inv.state.inbox_rules(owner, include_hidden=True) if owner is not None else []
    named = _rules_named(inv, box, rules, identity)
    if len(named) > 1:
        # UNVERIFIED wording: Exchange refuses an identity that matches several objects.
        raise ExchangeError(400, ARGUMENT, f"The operation couldn't be performed because '{identity}' matches "
                                           "multiple entries.")
    assert owner is not None
    return box, owner, named[0]


def disable_inbox_rule(inv: Invocation) -> Output:
    with inv.state.lock:
        box, owner, rule = _rule_to_change(inv)
        if rule.get("isEnabled") is False:
            return Output([], warnings=[f"The command completed successfully but no settings of "
                                        f"'{box['PrimarySmtpAddress']}\\{rule_identity(rule['id'])}' have been "
                                        "modified."])
        rule["isEnabled"] = False
    admin_audit(inv, "Disable-InboxRule", f"{box['PrimarySmtpAddress']}\\{rule.get('displayName')}",
                [("Identity", inv.args["Identity"])])
    log.info("inbox rule %s (%s) of %s disabled by %s (Disable-InboxRule)", rule["id"], rule.get("displayName"),
             owner["userPrincipalName"], inv.principal.display)
    return Output([])


def remove_inbox_rule(inv: Invocation) -> Output:
    with inv.state.lock:
        box, owner, rule = _rule_to_change(inv)
        rows = inv.state.collection("message_rules")
        rows[:] = [r for r in rows if r is not rule]
    admin_audit(inv, "Remove-InboxRule", f"{box['PrimarySmtpAddress']}\\{rule.get('displayName')}",
                [("Identity", inv.args["Identity"])])
    log.info("inbox rule %s (%s) of %s removed by %s (Remove-InboxRule)", rule["id"], rule.get("displayName"),
             owner["userPrincipalName"], inv.principal.display)
    return Output([])


# --- the table -----------------------------------------------------------------------------------------------------
_SET_MAILBOX_REAL = frozenset({
    "AcceptMessagesOnlyFrom", "AcceptMessagesOnlyFromDLMembers", "AcceptMessagesOnlyFromSendersOrMembers",
    "AccountDisabled", "AddressBookPolicy", "Alias", "ArchiveName", "AuditAdmin", "AuditDelegate", "AuditEnabled",
    "AuditLogAgeLimit", "AuditOwner", "CalendarRepairDisabled", "CalendarVersionStoreDisabled",
    "CustomAttribute1", "CustomAttribute2", "CustomAttribute3", "CustomAttribute4", "CustomAttribute5",
    "CustomAttribute6", "CustomAttribute7", "CustomAttribute8", "CustomAttribute9", "CustomAttribute10",
    "CustomAttribute11", "CustomAttribute12", "CustomAttribute13", "CustomAttribute14", "CustomAttribute15",
    "DataEncryptionPolicy", "DefaultAuditSet", "DefaultPublicFolderMailbox", "DisplayName", "ElcProcessingDisabled",
    "EmailAddresses", "EnableRoomMailboxAccount", "EndDateForRetentionHold", "ExtensionCustomAttribute1",
    "ExtensionCustomAttribute2", "ExtensionCustomAttribute3", "ExtensionCustomAttribute4",
    "ExtensionCustomAttribute5", "ExternalOofOptions", "Force", "GrantSendOnBehalfTo", "HiddenFromAddressListsEnabled",
    "ImmutableId", "InactiveMailbox", "IssueWarningQuota", "JournalArchiveAddress", "Languages",
    "LitigationHoldDate", "LitigationHoldDuration", "LitigationHoldEnabled", "LitigationHoldOwner", "MailTip",
    "MailTipTranslations", "MaxReceiveSize", "MaxSendSize", "MessageCopyForSendOnBehalfEnabled",
    "MessageCopyForSentAsEnabled", "MessageCopyForSMTPClientSubmissionEnabled", "MicrosoftOnlineServicesID",
    "ModeratedBy", "ModerationEnabled", "Name", "Office", "OfflineAddressBook", "PrimarySmtpAddress",
    "ProhibitSendQuota", "ProhibitSendReceiveQuota", "RecipientLimits", "RejectMessagesFrom",
    "RejectMessagesFromDLMembers", "RejectMessagesFromSendersOrMembers", "RemoveDelayHoldApplied",
    "RemoveDelayReleaseHoldApplied", "RemoveDisabledArchive", "RemoveOrphanedHolds",
    "RequireSenderAuthenticationEnabled", "ResourceCapacity", "RetainDeletedItemsFor", "RetentionComment",
    "RetentionHoldEnabled", "RetentionPolicy", "RetentionUrl", "RoleAssignmentPolicy", "RulesQuota",
    "SchedulerAssistant", "SecondaryAddress", "SendModerationNotifications", "SharingPolicy", "SimpleDisplayName",
    "SingleItemRecoveryEnabled", "StartDateForRetentionHold", "StsRefreshTokensValidFrom", "Type",
    "UseDatabaseQuotaDefaults", "UseDatabaseRetentionDefaults", "UserCertificate", "UserSMimeCertificate",
    "WhatIf", "WindowsEmailAddress",
})
_GET_MAILBOX_REAL = frozenset({
    "Anr", "Archive", "Async", "Filter", "GroupMailbox", "InactiveMailboxOnly",
    "IncludeAcceptMessagesOnlyFromWithDisplayNames",
    "IncludeEmailAddressDisplayNames", "IncludeInactiveMailbox", "MailboxPlan", "Migration", "OrganizationalUnit",
    "PublicFolder", "RecipientTypeDetails", "SoftDeletedMailbox", "SortBy", "Arbitration", "AuditLog", "AuxAuditLog",
    "Database", "Monitoring", "RemoteArchive", "Server",
})
_RULE_CHANGE_PARAMS = (Param("Identity", "identity", required=True), Param("Mailbox", "identity"),
                       Param("AlwaysDeleteOutlookRulesBlob", "switch"), Param("Force", "switch"),
                       Param("Confirm", "switch"))
_RULE_CHANGE_REAL = frozenset({"DomainController", "WhatIf"})
_GET_INBOX_RULE_REAL = frozenset({"BypassScopeCheck", "DescriptionTimeFormat", "DescriptionTimeZone", "SweepRules",
                                  "SkipCount"})

# Who may run what (Exchange RBAC, seen through the Entra roles that map to role groups). The documented parts:
# Remove-BlockedSenderAddress needs Organization Management (Global/Exchange Administrator) or Security
# Administrator; Global Reader and Security Reader read only; Get-InboxRule does not work for Global Reader /
# View-Only Organization Management (m365-apis.md 1.2, 2.1, 5.3). The rest is UNVERIFIED, our best reading of the
# role groups: Recipient Management (Exchange Recipient Administrator) manages mailboxes and inbox rules and runs
# message trace; Help Desk reads recipients, inbox rules and message trace; Compliance Management traces and
# searches the audit log.
_ADMINS = (GLOBAL_ADMIN, EXCHANGE_ADMIN)
_READ_HYGIENE = roles(*_ADMINS, SECURITY_ADMIN, SECURITY_READER, GLOBAL_READER)
_READ_RECIPIENTS = roles(*_ADMINS, RECIPIENT_ADMIN, HELPDESK_ADMIN, GLOBAL_READER, SECURITY_ADMIN, SECURITY_READER,
                         COMPLIANCE_ADMIN)

CMDLETS: tuple[Cmdlet, ...] = (
    Cmdlet("Get-BlockedSenderAddress", (Param("SenderAddress", "smtp"),), get_blocked_sender_address,
           _READ_HYGIENE),
    Cmdlet("Remove-BlockedSenderAddress", (Param("SenderAddress", "smtp", required=True), Param("Reason")),
           remove_blocked_sender_address, roles(*_ADMINS, SECURITY_ADMIN)),
    Cmdlet("Get-HostedOutboundSpamFilterPolicy", (Param("Identity", "identity"),), get_outbound_policy,
           _READ_HYGIENE),
    Cmdlet("Get-HostedOutboundSpamFilterRule", (Param("Identity", "identity"), Param("State", "enum",
                                                                                      choices=("Enabled", "Disabled"))),
           get_outbound_rule, _READ_HYGIENE),
    Cmdlet("Get-Mailbox", (Param("Identity", "identity"), Param("ResultSize", "result_size")), get_mailbox,
           _READ_RECIPIENTS, unsimulated=_GET_MAILBOX_REAL),
    Cmdlet("Get-AcceptedDomain", (Param("Identity", "identity"),), get_accepted_domain, _READ_RECIPIENTS,
           unsimulated=frozenset({"ResultSize"})),
    Cmdlet("Set-Mailbox", (Param("Identity", "identity", required=True),
                           Param("ForwardingSmtpAddress", "smtp", nullable=True),
                           Param("ForwardingAddress", "identity", nullable=True),
                           Param("DeliverToMailboxAndForward", "bool"),
                           Param("Confirm", "switch")),
           set_mailbox, roles(*_ADMINS, RECIPIENT_ADMIN), unsimulated=_SET_MAILBOX_REAL),
    Cmdlet("Get-InboxRule", (Param("Mailbox", "identity"), Param("Identity", "identity"),
                             Param("IncludeHidden", "switch")),
           get_inbox_rule, roles(*_ADMINS, RECIPIENT_ADMIN, HELPDESK_ADMIN), unsimulated=_GET_INBOX_RULE_REAL),
    Cmdlet("Disable-InboxRule", _RULE_CHANGE_PARAMS, disable_inbox_rule, roles(*_ADMINS, RECIPIENT_ADMIN),
           unsimulated=_RULE_CHANGE_REAL),
    Cmdlet("Remove-InboxRule", _RULE_CHANGE_PARAMS, remove_inbox_rule, roles(*_ADMINS, RECIPIENT_ADMIN),
           unsimulated=_RULE_CHANGE_REAL),
)
