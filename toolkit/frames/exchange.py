"""Exchange admin objects (InvokeCommand ``value[]``) into frames: blocked senders, outbound spam policies and their
rules, mailboxes; and ``effective_policy``, which policy a sender is held to.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from toolkit.frames import build
from toolkit.frames.kinds import SERVICE_DEFAULTS
from toolkit.frames.spec import FrameError
from toolkit.frames.trace import accepted, normalise_domains

log = logging.getLogger(__name__)


# --- Reason -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ParsedReason:
    """A ``Get-BlockedSenderAddress`` ``Reason`` taken apart. Tokens it does not know are listed in ``unknown``."""

    kind: str  # sending_limit | outbound_spam | unknown
    internal_recipients_today: int | None = None
    external_recipients_today: int | None = None
    exceeding_limit_type: str | None = None
    last_trace_id: str | None = None
    last_message_recipients: int | None = None
    spam_last_24h: int | None = None
    mail_last_24h: int | None = None
    spam_percent: float | None = None
    client_ip: str | None = None
    unknown: tuple[str, ...] = field(default=())


#: Normalised key (lowercase, no spaces) -> ParsedReason field and how to read its value.
_REASON_KEYS: dict[str, tuple[str, str]] = {
    "internalrecipientcounttoday": ("internal_recipients_today", "int"),
    "externalrecipientcounttoday": ("external_recipients_today", "int"),
    "exceedinglimittype": ("exceeding_limit_type", "text"),
    "lastmessagetraceid": ("last_trace_id", "guid"),
    "lastspammessagemessagetraceid": ("last_trace_id", "guid"),
    "lastmessagercptcount": ("last_message_recipients", "int"),
    "outboundspamlast24hours": ("spam_last_24h", "int"),
    "outboundmaillast24hours": ("mail_last_24h", "int"),
    "outboundspampercent": ("spam_percent", "float"),
    "cip": ("client_ip", "text"),
}
_SENDING_LIMIT_FIELDS = {"internal_recipients_today", "external_recipients_today", "exceeding_limit_type",
                         "last_message_recipients"}
_SPAM_FIELDS = {"spam_last_24h", "mail_last_24h", "spam_percent"}


def parse_reason(reason: str | None) -> ParsedReason:
    """Parse both observed ``Reason`` formats; never fails.

    Tokens are split on ``;`` and each on its first ``=`` or, failing that, its first ``:``. Keys are compared
    without case or spaces (``Last MessagetraceId``, ``Last Spam Message MessagetraceId``). A value that does not
    read as its type is left empty and logged; unknown tokens are returned in ``unknown``.
    """
    if not reason or not isinstance(reason, str):
        return ParsedReason(kind="unknown")
    values: dict[str, Any] = {}
    unknown: list[str] = []
    flag_sending_limit = False
    for token in (t.strip() for t in reason.split(";")):
        if not token:
            continue
        if "=" in token:
            key, value = token.split("=", 1)
        elif ":" in token:
            key, value = token.split(":", 1)
        else:
            if token.lower() == "emailsendinglimitexceeded":
                flag_sending_limit = True
            else:
                unknown.append(token)
            continue
        normal = re.sub(r"\s+", "", key).lower()
        value = value.strip()
        target = _REASON_KEYS.get(normal)
        if target is None:
            unknown.append(token)
            continue
        name, how = target
        read: Any
        if how == "int":
            read = build.int_or_none(value)
        elif how == "float":
            read = build.float_or_none(value.rstrip("%"))
        elif how == "guid":
            read = value.lower() or None
        else:
            read = value or None
        if read is None and value:
            log.warning("restricted: Reason token %r has a value that does not read as %s; left empty", token, how)
        values[name] = read
    if flag_sending_limit or _SENDING_LIMIT_FIELDS & values.keys():
        kind = "sending_limit"
    elif _SPAM_FIELDS & values.keys():
        kind = "outbound_spam"
    else:
        kind = "unknown"
    return ParsedReason(kind=kind, unknown=tuple(unknown), **values)


def restricted_from_exchange(items: Iterable[Mapping[str, Any]], *, dedupe: bool = False) -> pd.DataFrame:
    """Get-BlockedSenderAddress objects as the ``restricted`` frame."""
    kind = "restricted"
    listed = build.as_items(kind, items)
    build.require(kind, listed, "SenderAddress")
    created = build.timestamps_of(kind, listed, "CreatedDatetime")
    temporary = [None if pd.isna(v) else bool(v) for v in build.checked_bools(kind, listed, "TemporaryBlock")]
    parsed = [parse_reason(build.text_or_none(item.get("Reason"))) for item in listed]
    day = pd.Timedelta(days=1)
    release = [
        (t.floor("D") + day) if (flag is True and not pd.isna(t)) else pd.NaT
        for t, flag in zip(created, temporary, strict=True)
    ]
    columns: build.Columns = {
        "sender": build.field(listed, "SenderAddress"),
        "reason": build.string(build.text_array(kind, build.field(listed, "Reason"), "Reason"), blank=False),
        "reason_kind": [p.kind for p in parsed],
        "block_type": [None if flag is None else "BlockUserForToday" if flag else "BlockUser" for flag in temporary],
        "created": created,
        "changed": build.timestamps_of(kind, listed, "ChangedDatetime"),
        "release_at": pd.Series(pd.array(release, dtype="datetime64[ns, UTC]")),
        "client_ip": [p.client_ip for p in parsed],
    }
    for name in ("internal_recipients_today", "external_recipients_today", "exceeding_limit_type", "last_trace_id",
                 "last_message_recipients", "spam_last_24h", "mail_last_24h", "spam_percent"):
        columns[name] = [getattr(p, name) for p in parsed]
    return build.frame(kind, columns, rows=len(listed), dedupe=dedupe)


# --- outbound spam policies and their rules -------------------------------------------------------------------------
def _addresses(value: Any) -> list[str]:
    """A multi-valued property (list, or one text) as lowercased texts."""
    if value is None:
        return []
    values = value if isinstance(value, list | tuple) else [value]
    return [str(v).strip().lower() for v in values if v is not None and str(v).strip()]


_RULE_PROPERTIES = {
    "senders": "From", "sender_groups": "FromMemberOf", "sender_domains": "SenderDomainIs",
    "except_senders": "ExceptIfFrom", "except_sender_groups": "ExceptIfFromMemberOf",
    "except_sender_domains": "ExceptIfSenderDomainIs",
}


def policy_rules_from_exchange(items: Iterable[Mapping[str, Any]], *, dedupe: bool = False) -> pd.DataFrame:
    """Get-HostedOutboundSpamFilterRule objects as the ``policy_rules`` frame."""
    kind = "policy_rules"
    listed = build.as_items(kind, items)
    build.require(kind, listed, "Name", "HostedOutboundSpamFilterPolicy")
    columns: build.Columns = {
        "name": build.field(listed, "Name"),
        "policy": build.field(listed, "HostedOutboundSpamFilterPolicy"),
        "priority": build.checked_ints(kind, listed, "Priority"),
        "enabled": [None if item.get("State") is None else str(item["State"]).lower() == "enabled"
                    for item in listed],
    }
    for column, prop in _RULE_PROPERTIES.items():
        columns[column] = [build.joined(_addresses(item.get(prop))) or None for item in listed]
    return build.frame(kind, columns, rows=len(listed), dedupe=dedupe)


def _applies_to(rule: Mapping[str, Any]) -> str:
    parts = []
    for column, words in (("senders", "from"), ("sender_groups", "from members of"),
                          ("sender_domains", "from domains")):
        if rule.get(column):
            parts.append(f"{words} {rule[column].replace(',', ', ')}")
    text = " and ".join(parts) or "no condition"
    excepts = [f"{words} {rule[column].replace(',', ', ')}"
               for column, words in (("except_senders", "from"), ("except_sender_groups", "from members of"),
                                     ("except_sender_domains", "from domains")) if rule.get(column)]
    if excepts:
        text += ", except " + " or ".join(excepts)
    return text


def policy_from_exchange(items: Iterable[Mapping[str, Any]], *, rules: Iterable[Mapping[str, Any]] = (),
                         service_defaults: Mapping[str, int] | None = None, dedupe: bool = False) -> pd.DataFrame:
    """Get-HostedOutboundSpamFilterPolicy objects as the ``policy`` frame, with effective limits.

    ``rules`` are the Get-HostedOutboundSpamFilterRule objects: they say whom each custom policy covers
    (``applies_to``, ``priority``, ``enabled``). ``service_defaults`` replace ``SERVICE_DEFAULTS`` for a 0 limit.
    """
    kind = "policy"
    defaults = {**SERVICE_DEFAULTS, **(service_defaults or {})}
    listed = build.as_items(kind, items)
    build.require(kind, listed, "Name")
    rule_frame = policy_rules_from_exchange(rules)
    by_policy: dict[str, list[dict[str, Any]]] = {}
    for row in rule_frame.to_dict("records"):
        by_policy.setdefault(str(row["policy"]).lower(), []).append(row)

    def row(n: int, item: Mapping[str, Any]) -> dict[str, Any]:
        name = str(item["Name"])
        default = build.bool_or_none(item.get("IsDefault"))
        if default is None:
            default = name.lower() == "default"
        mine = by_policy.get(name.lower(), []) or by_policy.get(str(item.get("Identity") or "").lower(), [])
        mine.sort(key=lambda r: (pd.isna(r["priority"]), r["priority"] if not pd.isna(r["priority"]) else 0))
        out: dict[str, Any] = {"name": name, "is_default": default}
        if default:
            out.update(enabled=True, priority=None, applies_to="every sender no rule matches (default policy)")
        elif mine:
            out.update(enabled=any(is_true(r["enabled"]) for r in mine), priority=mine[0]["priority"],
                       applies_to="; ".join(_applies_to(r) for r in mine))
        else:
            out.update(enabled=False, priority=None, applies_to="nobody: no rule applies this policy")
        for column, prop in (("external_per_hour", "RecipientLimitExternalPerHour"),
                             ("internal_per_hour", "RecipientLimitInternalPerHour"),
                             ("per_day", "RecipientLimitPerDay")):
            raw = item.get(prop)
            configured = build.int_or_none(raw)
            if configured is None and raw is not None:
                raise FrameError(f"{kind}: item {n} has {prop!r} = {raw!r}, expected a whole number")
            out[f"{column}_configured"] = configured
            out[column] = defaults[column] if configured in (0, None) else configured
        mode = build.text_or_none(item.get("AutoForwardingMode"))
        out["action"] = build.text_or_none(item.get("ActionWhenThresholdReached"))
        out["auto_forwarding_mode"] = mode
        out["auto_forwarding_allowed"] = None if mode is None else mode.lower() == "on"
        return out

    names = ("name", "is_default", "enabled", "priority", "applies_to", "external_per_hour", "internal_per_hour",
             "per_day", "external_per_hour_configured", "internal_per_hour_configured", "per_day_configured",
             "action", "auto_forwarding_mode", "auto_forwarding_allowed")
    columns = build.per_item(kind, listed, row, names)
    columns["created"] = build.timestamps_of(kind, listed, "WhenCreated")
    columns["changed"] = build.timestamps_of(kind, listed, "WhenChanged")
    return build.frame(kind, columns, rows=len(listed), dedupe=dedupe)


def is_true(value: Any) -> bool:
    """True for a true flag; False for false and for missing (pd.NA, None)."""
    return value is not None and value is not pd.NA and bool(value)


def _split(value: Any) -> set[str]:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return set()
    return {v for v in str(value).split(",") if v}


def effective_policy(policies: pd.DataFrame, rules: pd.DataFrame, sender: str,
                     sender_groups: Collection[str] = ()) -> pd.Series:
    """The row of ``policies`` that holds ``sender`` (an address) to its limits.

    Enabled rules are tried by priority (lowest first); a rule matches when every condition type it sets matches
    (``senders`` lists the address, ``sender_groups`` names one of ``sender_groups``, ``sender_domains`` lists the
    address's domain) and no exception does. The first match's policy applies; otherwise the default policy.
    Group membership is the caller's to resolve: pass the names or addresses of the sender's groups.
    """
    if not isinstance(sender, str) or "@" not in sender:
        raise FrameError(f"policy: the sender must be an address, got {sender!r}")
    address = sender.strip().lower()
    domain = address.rsplit("@", 1)[1]
    groups = {g.strip().lower() for g in sender_groups if g and g.strip()}
    ordered = rules.sort_values("priority", na_position="last", kind="stable") if len(rules) else rules
    by_name = {str(n).lower(): i for i, n in zip(policies.index, policies["name"], strict=True)}
    for rule in ordered.to_dict("records"):
        if not is_true(rule["enabled"]):
            continue
        conditions = [(_split(rule["senders"]), {address}), (_split(rule["sender_groups"]), groups),
                      (_split(rule["sender_domains"]), {domain})]
        if not any(wanted for wanted, _ in conditions):
            log.warning("policy: rule %r has no condition; skipped", rule["name"])
            continue
        if not all(wanted & have for wanted, have in conditions if wanted):
            continue
        exceptions = [(_split(rule["except_senders"]), {address}), (_split(rule["except_sender_groups"]), groups),
                      (_split(rule["except_sender_domains"]), {domain})]
        if any(wanted & have for wanted, have in exceptions):
            continue
        index = by_name.get(str(rule["policy"]).lower())
        if index is None:
            raise FrameError(f"policy: rule {rule['name']!r} applies policy {rule['policy']!r}, which is not in the "
                             "policies frame")
        return policies.loc[index]
    defaults = policies[policies["is_default"].fillna(False).astype(bool)]
    if defaults.empty:
        raise FrameError(f"policy: no rule matches {address} and the policies frame has no default policy")
    return defaults.iloc[0]


# --- mailboxes ----------------------------------------------------------------------------------------------------
def smtp_addresses(values: Any, primary: str | None = None) -> list[str]:
    """SMTP proxy addresses (``SMTP:`` primary, ``smtp:`` secondary) lowercased without prefix, primary first.

    Other address types (``X500:``, ``SIP:``, ``SPO:``...) are not mail addresses and are left out; a bare address
    without a prefix is kept.
    """
    if values is None:
        values = []
    if isinstance(values, str):
        values = [values]
    primaries: list[str] = []
    others: list[str] = []
    for raw in values:
        if not isinstance(raw, str) or not raw.strip():
            continue
        text = raw.strip()
        prefix, sep, rest = text.partition(":")
        if sep and prefix.lower() == "smtp":
            (primaries if prefix == "SMTP" else others).append(rest.strip().lower())
        elif not sep and "@" in text:
            others.append(text.lower())
    ordered = ([primary.lower()] if primary else []) + primaries + others
    return [a for a in dict.fromkeys(ordered) if a]


def strip_smtp(value: Any) -> str | None:
    """``smtp:someone@x`` -> ``someone@x`` (lowercased); None for blank."""
    text = build.text_or_none(value)
    if text is None:
        return None
    text = text.strip()
    if text.lower().startswith("smtp:"):
        text = text[5:]
    return text.strip().lower() or None


def mailbox_from_exchange(items: Iterable[Mapping[str, Any]], *, accepted_domains: Iterable[str] | None = None,
                          dedupe: bool = False) -> pd.DataFrame:
    """Get-Mailbox objects as the ``mailbox`` frame. ``accepted_domains`` decide ``forwards_external``."""
    kind = "mailbox"
    domains = normalise_domains(accepted_domains)
    listed = build.as_items(kind, items)
    build.require(kind, listed, "UserPrincipalName")

    def row(n: int, item: Mapping[str, Any]) -> dict[str, Any]:
        forwarding = strip_smtp(item.get("ForwardingSmtpAddress"))
        limits = item.get("RecipientLimits")
        limit = build.int_or_none(limits)
        if limit is None and limits is not None and str(limits).strip().lower() != "unlimited":
            raise FrameError(f"{kind}: item {n} has 'RecipientLimits' = {limits!r}, expected a number or Unlimited")
        inside = accepted(domains, forwarding)
        return {
            "upn": item["UserPrincipalName"],
            "user_id": build.text_or_none(item.get("ExternalDirectoryObjectId")),
            "display_name": build.text_or_none(item.get("DisplayName")),
            "primary_smtp": build.text_or_none(item.get("PrimarySmtpAddress")),
            "addresses": build.joined(smtp_addresses(item.get("EmailAddresses"),
                                                     build.text_or_none(item.get("PrimarySmtpAddress")))) or None,
            "recipient_type": build.text_or_none(item.get("RecipientTypeDetails")),
            "forwarding_smtp": forwarding,
            "forwarding_address": build.text_or_none(item.get("ForwardingAddress")),
            "deliver_and_forward": build.bool_or_none(item.get("DeliverToMailboxAndForward")),
            "forwards_external": False if forwarding is None else (None if inside is None else not inside),
            "recipient_limits": limit,
        }

    names = ("upn", "user_id", "display_name", "primary_smtp", "addresses", "recipient_type", "forwarding_smtp",
             "forwarding_address", "deliver_and_forward", "forwards_external", "recipient_limits")
    columns = build.per_item(kind, listed, row, names)
    columns["created"] = build.timestamps_of(kind, listed, "WhenCreated")
    return build.frame(kind, columns, rows=len(listed), dedupe=dedupe)

