"""Inbox rules into the ``rules`` frame: Graph ``messageRules`` and Exchange ``Get-InboxRule`` objects.

Both sources are first read into one shape (Graph's predicate names, addresses, folder names), so the same rule
gives the same row, and the same ``conditions`` text, whichever API returned it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from toolkit.frames import build
from toolkit.frames.spec import FrameError
from toolkit.frames.trace import domain_of, normalise_domains

#: Folders an attacker moves replies, bounces and warnings into, by display name (lowercase).
HIDING_FOLDERS = frozenset({"rss feeds", "rss subscriptions", "conversation history", "archive", "deleted items",
                            "junk email", "junk e-mail"})
#: Graph well-known folder names (usable in place of an id) -> display name.
WELL_KNOWN_FOLDERS = {"deleteditems": "Deleted Items", "junkemail": "Junk Email", "archive": "Archive",
                      "inbox": "Inbox", "sentitems": "Sent Items", "drafts": "Drafts", "outbox": "Outbox",
                      "conversationhistory": "Conversation History", "rssfeeds": "RSS Feeds",
                      "clutter": "Clutter", "scheduled": "Scheduled", "syncissues": "Sync Issues"}

#: Graph predicate -> phrase. The order here is the order of the summary.
_WORD_LISTS = {"subjectContains": "subject contains", "bodyContains": "body contains",
               "bodyOrSubjectContains": "subject or body contains", "senderContains": "sender contains",
               "recipientContains": "recipient contains", "headerContains": "header contains",
               "categories": "category is", "classification": "classification is",
               "messageType": "message type is"}
_RECIPIENT_LISTS = {"fromAddresses": "from", "sentToAddresses": "sent to"}
_VALUES = {"importance": "importance is", "sensitivity": "sensitivity is", "messageActionFlag": "flagged for"}
_FLAGS = {"hasAttachments": "has attachments", "isAutomaticForward": "is an automatic forward",
          "isAutomaticReply": "is an automatic reply", "isEncrypted": "is encrypted",
          "isMeetingRequest": "is a meeting request", "isMeetingResponse": "is a meeting response",
          "isNonDeliveryReport": "is a non-delivery report", "isPermissionControlled": "is permission controlled",
          "isReadReceipt": "is a read receipt", "isSigned": "is signed", "isVoicemail": "is a voicemail",
          "isApprovalRequest": "is an approval request", "sentOnlyToMe": "is sent only to me",
          "sentToMe": "has me in To", "sentCcMe": "has me in Cc", "sentToOrCcMe": "has me in To or Cc",
          "notSentToMe": "does not have me in To"}

#: Get-InboxRule property -> Graph predicate (exceptions carry the ExceptIf prefix).
_EXCHANGE_PREDICATES = {
    "SubjectContainsWords": "subjectContains", "BodyContainsWords": "bodyContains",
    "SubjectOrBodyContainsWords": "bodyOrSubjectContains", "FromAddressContainsWords": "senderContains",
    "RecipientAddressContainsWords": "recipientContains", "HeaderContainsWords": "headerContains",
    "HasClassification": "classification", "MessageTypeMatches": "messageType",
    "From": "fromAddresses", "SentTo": "sentToAddresses",
    "HasAttachment": "hasAttachments", "SentOnlyToMe": "sentOnlyToMe", "MyNameInToBox": "sentToMe",
    "MyNameInCcBox": "sentCcMe", "MyNameInToOrCcBox": "sentToOrCcMe", "MyNameNotInToBox": "notSentToMe",
    "WithImportance": "importance", "WithSensitivity": "sensitivity", "FlaggedForAction": "messageActionFlag",
}

_SMTP_IN_TEXT = re.compile(r"\[smtp:([^\]]+)\]", re.IGNORECASE)
_FOLDER_SEPARATOR = ":\\"


# --- reading either source into one shape -----------------------------------------------------------------------------
def _graph_address(recipient: Any) -> str | None:
    address = build.dig(recipient, "emailAddress", "address") if isinstance(recipient, Mapping) else recipient
    return address.strip().lower() if isinstance(address, str) and address.strip() else None


def _graph_addresses(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value] if value else []
    return [a for a in (_graph_address(r) for r in items) if a]


def exchange_address(text: Any) -> str | None:
    """``"Name" [SMTP:someone@x]`` (as Get-InboxRule shows a recipient) -> ``someone@x``; other forms lowercased."""
    if not isinstance(text, str) or not text.strip():
        return None
    found = _SMTP_IN_TEXT.search(text)
    if found:
        return found.group(1).strip().lower()
    raw = text.strip().strip('"').strip()
    if raw.lower().startswith("smtp:"):
        raw = raw[5:]
    return raw.lower() or None


def _exchange_list(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list | tuple) else [value]
    return [str(v) for v in items if v is not None and str(v).strip()]


def _exchange_predicates(item: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    predicates: dict[str, Any] = {}
    for prop, name in _EXCHANGE_PREDICATES.items():
        value = item.get(prefix + prop)
        if value in (None, [], False, ""):
            continue
        if name in _RECIPIENT_LISTS:
            predicates[name] = [a for a in (exchange_address(v) for v in _exchange_list(value)) if a]
        elif name in _WORD_LISTS:
            predicates[name] = _exchange_list(value)
        elif name in _FLAGS:
            predicates[name] = build.bool_or_none(value) is True
        else:
            predicates[name] = value
    low, high = item.get(prefix + "WithinSizeRangeMinimum"), item.get(prefix + "WithinSizeRangeMaximum")
    if low is not None or high is not None:
        predicates["withinSizeRange"] = {"minimumSize": low, "maximumSize": high}
    return predicates


def _graph_predicates(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        return {}
    predicates: dict[str, Any] = {}
    for name, raw in value.items():
        if name in _RECIPIENT_LISTS:
            predicates[name] = _graph_addresses(raw)
        else:
            predicates[name] = raw
    return predicates


def _quoted(values: Iterable[Any]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _summary(predicates: Mapping[str, Any]) -> list[str]:
    parts: list[str] = []
    for name, words in _WORD_LISTS.items():
        values = predicates.get(name)
        if values:
            parts.append(f"{words} {_quoted(values if isinstance(values, list) else [values])}")
    for name, words in _RECIPIENT_LISTS.items():
        values = predicates.get(name)
        if values:
            parts.append(f"{words} {', '.join(values)}")
    for name, words in _VALUES.items():
        value = predicates.get(name)
        if value not in (None, ""):
            parts.append(f"{words} {value}")
    for name, words in _FLAGS.items():
        if predicates.get(name) is True:
            parts.append(words)
    size = predicates.get("withinSizeRange")
    if isinstance(size, Mapping) and (size.get("minimumSize") is not None or size.get("maximumSize") is not None):
        parts.append(f"size between {size.get('minimumSize', 0) or 0} and {size.get('maximumSize', '...')} KB")
    known = {*_WORD_LISTS, *_RECIPIENT_LISTS, *_VALUES, *_FLAGS, "withinSizeRange"}
    for name, value in predicates.items():  # predicates this module does not know yet: shown, never dropped
        if name not in known and not str(name).startswith("@") and value not in (None, "", [], {}, False):
            parts.append(f"{name} {value}")
    return parts


def conditions_text(conditions: Mapping[str, Any], exceptions: Mapping[str, Any]) -> str:
    """Conditions and exceptions in Graph predicate names, in words; ``all messages`` when there are none."""
    text = "; ".join(_summary(conditions)) or "all messages"
    excepted = _summary(exceptions)
    if excepted:
        text += "; except when " + "; ".join(excepted)
    return text


def is_punctuation(name: Any) -> bool:
    """A rule name with no letter or digit at all ('.', '..', ',', '-', blank): a favourite of attackers."""
    return not any(ch.isalnum() for ch in (name if isinstance(name, str) else ""))


def folder_display_name(folder: str | None, folder_names: Mapping[str, str] | None) -> tuple[str | None, bool]:
    """(name or id, whether the name is known) for a Graph folder id."""
    if not folder:
        return None, True
    if folder_names and folder in folder_names:
        return str(folder_names[folder]), True
    well_known = WELL_KNOWN_FOLDERS.get(folder.lower())
    if well_known:
        return well_known, True
    return folder, False


# --- rows -----------------------------------------------------------------------------------------------------------
def _row(*, mailbox: str, rule_id: Any, name: Any, enabled: Any, priority: Any, hidden: bool | None, in_error: Any,
         source: str, forward_to: list[str], attach_to: list[str], redirect_to: list[str], delete: Any,
         permanent_delete: Any, folder: str | None, folder_known: bool, mark_as_read: Any, stop: Any,
         conditions: str, domains: frozenset[str] | None) -> dict[str, Any]:
    targets = forward_to + attach_to + redirect_to
    if not targets:
        external: bool | None = False
    elif domains is None:
        external = None
    else:
        external = any(domain_of(t) is not None and domain_of(t) not in domains for t in targets)
    if folder is None:
        hiding: bool | None = False
    else:
        hiding = folder.strip().lower() in HIDING_FOLDERS if folder_known else None
    return {
        "mailbox": mailbox, "rule_id": None if rule_id is None else str(rule_id), "name": name,
        "enabled": build.bool_or_none(enabled), "priority": build.int_or_none(priority), "hidden": hidden,
        "in_error": build.bool_or_none(in_error), "source": source,
        "forward_to": build.joined(forward_to) or None, "forward_as_attachment_to": build.joined(attach_to) or None,
        "redirect_to": build.joined(redirect_to) or None,
        "delete": build.bool_or_none(delete) is True, "permanent_delete": build.bool_or_none(permanent_delete) is True,
        "move_to_folder": folder, "mark_as_read": build.bool_or_none(mark_as_read) is True,
        "stop_processing": build.bool_or_none(stop) is True, "conditions": conditions,
        "forwards_external": external, "moves_to_hiding_folder": hiding, "name_is_punctuation": is_punctuation(name),
    }


_NAMES = ("mailbox", "rule_id", "name", "enabled", "priority", "hidden", "in_error", "source", "forward_to",
          "forward_as_attachment_to", "redirect_to", "delete", "permanent_delete", "move_to_folder", "mark_as_read",
          "stop_processing", "conditions", "forwards_external", "moves_to_hiding_folder", "name_is_punctuation")


def _mailboxes(kind: str, mailbox: str | Sequence[str], rows: int) -> list[str]:
    owners = build.aligned(kind, "mailbox", mailbox, rows)
    for n, owner in enumerate(owners):
        if not owner or not owner.strip():
            raise FrameError(f"{kind}: pass mailbox= (the address whose rules these are, or one per item); "
                             f"item {n} has none and the items do not carry it")
    return [o.strip().lower() for o in owners if o]


def rules_from_graph(items: Iterable[Mapping[str, Any]], *, mailbox: str | Sequence[str],
                     accepted_domains: Iterable[str] | None = None,
                     folder_names: Mapping[str, str] | None = None, dedupe: bool = False) -> pd.DataFrame:
    """Graph ``users/{id}/mailFolders/inbox/messageRules`` items as the ``rules`` frame.

    ``mailbox`` is the address whose rules these are (or one address per item, for many mailboxes at once). Graph
    gives folder ids, not names: ``folder_names`` (id -> display name, e.g. from ``mailFolders``) lets
    ``move_to_folder`` show the name and ``moves_to_hiding_folder`` decide; well-known names are understood without
    it. Graph never lists hidden rules, so ``hidden`` is false.
    """
    kind = "rules"
    domains = normalise_domains(accepted_domains)
    listed = build.as_items(kind, items)
    owners = _mailboxes(kind, mailbox, len(listed))
    build.require(kind, listed, "id")

    def row(n: int, item: Mapping[str, Any]) -> dict[str, Any]:
        actions = item.get("actions") if isinstance(item.get("actions"), Mapping) else {}
        folder, known = folder_display_name(build.text_or_none(actions.get("moveToFolder")), folder_names)
        return _row(mailbox=owners[n], rule_id=item["id"], name=item.get("displayName"), enabled=item.get("isEnabled"),
                    priority=item.get("sequence"), hidden=False, in_error=item.get("hasError"), source="graph",
                    forward_to=_graph_addresses(actions.get("forwardTo")),
                    attach_to=_graph_addresses(actions.get("forwardAsAttachmentTo")),
                    redirect_to=_graph_addresses(actions.get("redirectTo")), delete=actions.get("delete"),
                    permanent_delete=actions.get("permanentDelete"), folder=folder, folder_known=known,
                    mark_as_read=actions.get("markAsRead"), stop=actions.get("stopProcessingRules"),
                    conditions=conditions_text(_graph_predicates(item.get("conditions")),
                                               _graph_predicates(item.get("exceptions"))),
                    domains=domains)

    columns = build.per_item(kind, listed, row, _NAMES)
    return build.frame(kind, columns, rows=len(listed), dedupe=dedupe)


def _exchange_rule_id(item: Mapping[str, Any]) -> str | None:
    rule_identity = item.get("RuleIdentity")
    if rule_identity not in (None, ""):
        return str(rule_identity)
    identity = build.text_or_none(item.get("Identity"))
    return identity.rsplit("\\", 1)[-1] if identity else None


def rules_from_exchange(items: Iterable[Mapping[str, Any]], *, mailbox: str | Sequence[str],
                        accepted_domains: Iterable[str] | None = None,
                        hidden_rule_ids: Collection[str] | None = None, dedupe: bool = False) -> pd.DataFrame:
    """Get-InboxRule objects as the ``rules`` frame.

    Get-InboxRule does not mark a hidden rule as such: pass ``hidden_rule_ids`` (the RuleIdentity values that
    ``-IncludeHidden`` added to the plain listing) to fill ``hidden``; without it ``hidden`` is empty (unknown).
    ``mailbox``: the address whose rules these are, or one per item (MailboxOwnerId is a name, not an address).
    """
    kind = "rules"
    domains = normalise_domains(accepted_domains)
    hidden_ids = None if hidden_rule_ids is None else {str(h) for h in hidden_rule_ids}
    listed = build.as_items(kind, items)
    owners = _mailboxes(kind, mailbox, len(listed))
    for n, item in enumerate(listed):
        if _exchange_rule_id(item) is None:
            raise FrameError(f"{kind}: item {n} has no 'RuleIdentity' and no 'Identity'")

    def row(n: int, item: Mapping[str, Any]) -> dict[str, Any]:
        rule_id = _exchange_rule_id(item)
        move = build.text_or_none(item.get("MoveToFolder"))
        folder = move.split(_FOLDER_SEPARATOR, 1)[-1].strip() if move else None
        return _row(mailbox=owners[n], rule_id=rule_id, name=item.get("Name"), enabled=item.get("Enabled"),
                    priority=item.get("Priority"), hidden=None if hidden_ids is None else rule_id in hidden_ids,
                    in_error=item.get("InError"), source="exchange",
                    forward_to=[a for a in map(exchange_address, _exchange_list(item.get("ForwardTo"))) if a],
                    attach_to=[a for a in map(exchange_address, _exchange_list(item.get("ForwardAsAttachmentTo")))
                               if a],
                    redirect_to=[a for a in map(exchange_address, _exchange_list(item.get("RedirectTo"))) if a],
                    # UNVERIFIED mapping: Graph permanentDelete is Exchange's SoftDeleteMessage (skips Deleted Items).
                    delete=item.get("DeleteMessage"), permanent_delete=item.get("SoftDeleteMessage"),
                    folder=folder or None, folder_known=True, mark_as_read=item.get("MarkAsRead"),
                    stop=item.get("StopProcessingRules"),
                    conditions=conditions_text(_exchange_predicates(item, ""), _exchange_predicates(item, "ExceptIf")),
                    domains=domains)

    columns = build.per_item(kind, listed, row, _NAMES)
    return build.frame(kind, columns, rows=len(listed), dedupe=dedupe)
