"""Graph v1.0 inbox message rules: list, get, PATCH and DELETE under ``/users/{id|upn}/mailFolders/inbox``.

Rules come from ``message_rules.jsonl`` (each line's ``mailbox`` key names its owner by UPN, address or user id).
Rules marked ``_sandbox.hidden`` exist for Exchange (``Get-InboxRule -IncludeHidden``) but Graph never returns them,
nor finds them by id. A PATCH or DELETE changes the one shared collection, so Exchange sees the change too.

Errors follow Outlook's shapes: ErrorAccessDenied (403), ErrorItemNotFound (404), ErrorInvalidUser (404) and
MailboxNotEnabledForRESTAPI (404) for a user without an Exchange Online mailbox.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import Any

from starlette.responses import Response

from toolkit.sandbox.access import GRAPH, requirement
from toolkit.sandbox.app import Ctx, Route, json_response, route
from toolkit.sandbox.errors import ServiceError
from toolkit.sandbox.graph_listing import Listing, list_response
from toolkit.sandbox.snapshot import served
from toolkit.sandbox.state import TenantState

log = logging.getLogger(__name__)

METADATA = "https://graph.microsoft.com/v1.0/$metadata#"
Row = dict[str, Any]

_ACCESS_DENIED = "Access is denied. Check credentials and try again."
_READ = requirement(GRAPH, application="MailboxSettings.Read, MailboxSettings.ReadWrite",
                    delegated="MailboxSettings.Read, MailboxSettings.ReadWrite",
                    denied_code="ErrorAccessDenied", denied_message=_ACCESS_DENIED)
_WRITE = requirement(GRAPH, application="MailboxSettings.ReadWrite", delegated="MailboxSettings.ReadWrite",
                     denied_code="ErrorAccessDenied", denied_message=_ACCESS_DENIED)

# The reference does not say which query options messageRules honours (the docs only say "supports the OData query
# parameters"). Our choice, UNVERIFIED: $select and $top are honoured, $filter is refused with a 400; a mailbox holds
# few rules, so without $top they all come in one page (up to 1000; a larger $top is clamped as Outlook does).
RULES_LISTING = Listing(context="", rules=None, max_top=1000, default_top=1000, top_over_max="clamp")

#: messageRule properties a PATCH may set, with the JSON type each takes.
WRITABLE = {"displayName": str, "sequence": int, "isEnabled": bool, "isReadOnly": bool, "conditions": dict,
            "exceptions": dict, "actions": dict}
READ_ONLY = frozenset({"id", "hasError"})

_STRING_LISTS = frozenset({"bodyContains", "bodyOrSubjectContains", "subjectContains", "senderContains",
                           "recipientContains", "headerContains", "categories"})
_RECIPIENT_LISTS = frozenset({"fromAddresses", "sentToAddresses"})
_BOOLEANS = frozenset({"hasAttachments", "isAutomaticForward", "isAutomaticReply", "isEncrypted", "isMeetingRequest",
                       "isMeetingResponse", "isNonDeliveryReport", "isPermissionControlled", "isReadReceipt",
                       "isSigned", "isVoicemail", "isApprovalRequest", "notSentToMe", "sentCcMe", "sentOnlyToMe",
                       "sentToMe", "sentToOrCcMe"})
_ENUMS = {
    "importance": frozenset({"low", "normal", "high"}),
    "sensitivity": frozenset({"normal", "personal", "private", "confidential"}),
    "messageActionFlag": frozenset({"any", "call", "doNotForward", "followUp", "fyi", "forward", "noResponseNecessary",
                                    "read", "reply", "replyToAll", "review"}),
}
PREDICATE_PROPERTIES = _STRING_LISTS | _RECIPIENT_LISTS | _BOOLEANS | set(_ENUMS) | {"withinSizeRange"}
ACTION_TYPES: dict[str, str] = {
    "forwardTo": "recipients", "forwardAsAttachmentTo": "recipients", "redirectTo": "recipients",
    "moveToFolder": "string", "copyToFolder": "string", "delete": "bool", "permanentDelete": "bool",
    "markAsRead": "bool", "stopProcessingRules": "bool", "markImportance": "importance", "assignCategories": "strings",
}

# Graph accepts the well-known folder as a path segment (mailFolders/inbox) or as a key (mailFolders('inbox')).
_INBOX = r"mailFolders(?:/inbox|\('inbox'\))/messageRules"
_USER = r"^/v1\.0/users/(?P<user>[^/]+)/"


def _access_denied() -> ServiceError:
    return ServiceError(403, "ErrorAccessDenied", _ACCESS_DENIED)


def _item_not_found() -> ServiceError:
    return ServiceError(404, "ErrorItemNotFound", "The specified object was not found in the store.")


def _request_body_error(name: str, type_name: str) -> ServiceError:
    return ServiceError(400, "RequestBodyRead",
                        f"The property '{name}' does not exist on type '{type_name}'. Make sure to only use property "
                        "names that are defined by the type or mark the type as open type.")


def _invalid_value(name: str, expected: str) -> ServiceError:
    return ServiceError(400, "ErrorInvalidRequest", f"Invalid value for property '{name}': expected {expected}.")


def _mailbox_user(ctx: Ctx) -> Row:
    """The user whose mailbox the path names (by id, UPN or SMTP address, as Outlook resolves them).

    UNVERIFIED: Outlook resolves /users/{key} by SMTP address as well as by id and UPN; the sandbox accepts any
    address the state knows for the user.
    """
    key = ctx.params["user"]
    user = ctx.state.find_user(key)
    if user is None:
        raise ServiceError(404, "ErrorInvalidUser", f"The requested user '{key}' is invalid.")
    principal = ctx.require_principal()
    if principal.user is not None and principal.user["id"] != user["id"]:
        # Delegated access to another mailbox needs mailbox permissions (FullAccess), which the sandbox does not
        # model: a signed-in admin is denied as Outlook denies an admin without such a grant.
        raise _access_denied()
    if ctx.state.find_mailbox(user["userPrincipalName"]) is None:
        raise ServiceError(404, "MailboxNotEnabledForRESTAPI",
                           "The mailbox is either inactive, soft-deleted, or is hosted on-premise.")
    return user


def _quota(ctx: Ctx) -> tuple[str, str]:
    """Outlook's quota is per app and per mailbox."""
    key = ctx.params["user"]
    user = ctx.state.find_user(key)
    app = ctx.principal.claims.app_id if ctx.principal is not None else ""
    return "outlook", f"{app}|{user['id'] if user else key.lower()}"


def visible_rules(state: TenantState, user: Row) -> list[Row]:
    """The rules Graph shows for the user's inbox (never the hidden ones), in execution order."""
    return state.inbox_rules(user)


def _find_rule(state: TenantState, user: Row, rule_id: str) -> Row:
    for rule in visible_rules(state, user):
        if rule["id"] == rule_id:  # Outlook ids are case-sensitive base64
            return rule
    raise _item_not_found()


def project_rule(rule: Row) -> Row:
    body: Row = {"id": rule["id"], "displayName": rule.get("displayName"), "sequence": rule.get("sequence"),
                 "isEnabled": rule.get("isEnabled", True), "hasError": rule.get("hasError", False),
                 "isReadOnly": rule.get("isReadOnly", False)}
    body.update(served(rule, "message_rules"))
    return body


def _context(user: Row, entity: bool = False) -> str:
    text = f"{METADATA}users('{user['id']}')/mailFolders('inbox')/messageRules"
    return text + "/$entity" if entity else text


def list_rules(ctx: Ctx) -> Response:
    user = _mailbox_user(ctx)
    listing = replace(RULES_LISTING, context=_context(user)[len(METADATA):])
    return list_response(ctx, visible_rules(ctx.state, user), listing, project_rule)


def _only_select(ctx: Ctx) -> None:
    for key in ctx.query():
        if key.startswith("$") and key.lower() != "$select":
            raise ServiceError(400, "ErrorInvalidUrlQuery", f"The query parameter '{key}' is invalid.")


def get_rule(ctx: Ctx) -> Response:
    user = _mailbox_user(ctx)
    _only_select(ctx)
    rule = _find_rule(ctx.state, user, ctx.params["rule"])
    body = project_rule(rule)
    select = ctx.query().get("$select")
    if select:
        wanted = {n.strip().lower() for n in select.split(",")} | {"id"}
        body = {k: v for k, v in body.items() if k.lower() in wanted}
    return json_response({"@odata.context": _context(user, entity=True), **body})


def _check_recipients(name: str, value: Any) -> None:
    if not isinstance(value, list) or not all(
        isinstance(r, dict) and isinstance(r.get("emailAddress"), dict)
        and isinstance(r["emailAddress"].get("address"), str) for r in value
    ):
        raise _invalid_value(name, 'a list of recipients such as [{"emailAddress": {"address": "..."}}]')


def _check_strings(name: str, value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _invalid_value(name, "a list of strings")


def _check_predicates(name: str, value: dict[str, Any]) -> None:
    for key, item in value.items():
        if key.startswith("@odata."):
            continue
        if key not in PREDICATE_PROPERTIES:
            raise _request_body_error(key, "microsoft.graph.messageRulePredicates")
        if key in _STRING_LISTS:
            _check_strings(f"{name}.{key}", item)
        elif key in _RECIPIENT_LISTS:
            _check_recipients(f"{name}.{key}", item)
        elif key in _BOOLEANS and not isinstance(item, bool):
            raise _invalid_value(f"{name}.{key}", "true or false")
        elif key in _ENUMS and item not in _ENUMS[key]:
            raise _invalid_value(f"{name}.{key}", " or ".join(sorted(_ENUMS[key])))
        elif key == "withinSizeRange" and not (
            isinstance(item, dict) and all(isinstance(item.get(k), int) for k in ("minimumSize", "maximumSize"))
        ):
            raise _invalid_value(f"{name}.{key}", "an object with integer minimumSize and maximumSize (KB)")


def _check_actions(value: dict[str, Any]) -> None:
    for key, item in value.items():
        if key.startswith("@odata."):
            continue
        kind = ACTION_TYPES.get(key)
        if kind is None:
            raise _request_body_error(key, "microsoft.graph.messageRuleActions")
        name = f"actions.{key}"
        if kind == "recipients":
            _check_recipients(name, item)
        elif kind == "strings":
            _check_strings(name, item)
        elif kind == "string" and not isinstance(item, str):
            raise _invalid_value(name, "a folder id")
        elif kind == "bool" and not isinstance(item, bool):
            raise _invalid_value(name, "true or false")
        elif kind == "importance" and item not in _ENUMS["importance"]:
            raise _invalid_value(name, "low, normal or high")


def _validated_changes(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ServiceError(400, "ErrorInvalidRequest", "The request body must be a JSON object.")
    changes: dict[str, Any] = {}
    for key, value in body.items():
        if key.startswith("@odata."):
            continue
        if key in READ_ONLY:
            # UNVERIFIED: Outlook's code for setting a read-only rule property.
            raise ServiceError(400, "ErrorInvalidPropertyRequest", f"The property '{key}' is read-only.")
        expected = WRITABLE.get(key)
        if expected is None:
            raise _request_body_error(key, "microsoft.graph.messageRule")
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise _invalid_value(key, {str: "a string", int: "an integer", bool: "true or false",
                                       dict: "an object"}[expected])
        if key == "displayName" and not value.strip():
            raise _invalid_value(key, "a non-empty name")
        if key == "sequence" and value < 1:
            raise _invalid_value(key, "an integer of at least 1")
        if key in ("conditions", "exceptions"):
            _check_predicates(key, value)
        if key == "actions":
            _check_actions(value)
        changes[key] = value
    return changes


def _refuse_read_only(rule: Row) -> None:
    # UNVERIFIED: the docs say a read-only rule can't be modified or deleted through the REST API; code and text ours.
    if rule.get("isReadOnly"):
        raise ServiceError(403, "ErrorAccessDenied",
                           "The rule is read-only and can't be modified or deleted through the REST API.")


def patch_rule(ctx: Ctx) -> Response:
    """Set the given properties; complex ones (conditions, actions, exceptions) are replaced as a whole, as the
    update-rule docs' example shows (actions {markImportance} replaces forwardTo + stopProcessingRules)."""
    principal = ctx.require_principal()
    user = _mailbox_user(ctx)
    changes = _validated_changes(ctx.json())
    with ctx.state.lock:
        rule = _find_rule(ctx.state, user, ctx.params["rule"])
        _refuse_read_only(rule)
        rule.update(changes)
        body = project_rule(rule)
    log.info("inbox rule %s (%s) of %s updated by %s: %s", rule["id"], rule.get("displayName"),
             user["userPrincipalName"], principal.display, ", ".join(sorted(changes)) or "no change")
    return json_response({"@odata.context": _context(user, entity=True), **body})


def delete_rule(ctx: Ctx) -> Response:
    principal = ctx.require_principal()
    user = _mailbox_user(ctx)
    with ctx.state.lock:
        rule = _find_rule(ctx.state, user, ctx.params["rule"])
        _refuse_read_only(rule)
        rows = ctx.state.collection("message_rules")
        rows[:] = [r for r in rows if r is not rule]
    log.info("inbox rule %s (%s) of %s deleted by %s", rule["id"], rule.get("displayName"), user["userPrincipalName"],
             principal.display)
    return Response(status_code=204)


def _route(method: str, regex: str, handler: Any, need: Any) -> Route:
    base = route(method, "/v1.0/users/{user}/mailFolders/inbox/messageRules", handler, "graph", need, _quota)
    return replace(base, pattern=re.compile(regex, re.IGNORECASE))


def routes() -> list[Route]:
    collection = _USER + _INBOX + "/?$"
    item = _USER + _INBOX + r"/(?P<rule>[^/]+)/?$"
    return [
        _route("GET", collection, list_rules, _READ),
        _route("GET", item, get_rule, _READ),
        _route("PATCH", item, patch_rule, _WRITE),
        _route("DELETE", item, delete_rule, _WRITE),
    ]
