"""Whose case and which rows: the user under every name the files know, the mail domains, the window, and the rows
of each kind that are about that user in that window (the same choice a live investigation makes: mail the user
sent, their sign-ins, the audit records they made, their own objects)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from toolkit.frames.exchange import strip_smtp
from toolkit.sources.exports.dates import DateError, parse_instant
from toolkit.sources.exports.history import FORWARDING_OPERATIONS, RULE_OPERATIONS, Matcher
from toolkit.sources.exports.model import WHO_FIELDS, FileResult, Item, Keep
from toolkit.sources.graph import UserIdentity

log = logging.getLogger(__name__)

HISTORY_OPERATIONS = RULE_OPERATIONS | FORWARDING_OPERATIONS
#: The field that dates an item of each timed kind (rows outside the window are left out).
TIME_FIELDS = {"trace": "receivedDateTime", "trace_details": "dateTime", "signins": "createdDateTime",
               "audit": "CreationTime", "risk_detections": "detectedDateTime", "alerts": "createdDateTime"}


@dataclass
class Contribution:
    """One file's items of one kind, with their lines."""

    result: FileResult
    items: list[Item]
    lines: list[int | None]
    read: int = 0  # items the file gave before filtering


def contributions(results: Sequence[FileResult], kind: str) -> list[Contribution]:
    out = [Contribution(r, list(r.items.get(kind, [])), list(r.lines.get(kind, [])))
           for r in results if r.items.get(kind) or kind in r.format.kinds]
    for c in out:
        c.read = max(c.result.seen.get(kind, 0), len(c.items))
    return out


def lower(value: Any) -> str:
    return str(value).strip().lower() if value not in (None, "") else ""


def resolve_identity(user: str, results: Sequence[FileResult]) -> UserIdentity:
    """The user under every name the files know: a Graph user, else a mailbox, else their sign-ins, else the name
    as given."""
    key = strip_smtp(user) or user.strip().lower()
    for c in contributions(results, "users"):
        for item in c.items:
            names = {lower(item.get("id")), lower(item.get("userPrincipalName")), lower(item.get("mail"))}
            names |= {strip_smtp(p) or "" for p in item.get("proxyAddresses") or []}
            if key in names:
                return UserIdentity.from_graph(item)
    user_id, display, upn = "", None, key
    addresses = {key}
    found = False
    for c in contributions(results, "mailbox"):
        for item in c.items:
            names = {lower(item.get("UserPrincipalName")), lower(item.get("PrimarySmtpAddress")),
                     lower(item.get("ExternalDirectoryObjectId"))}
            emails = {strip_smtp(a) or "" for a in item.get("EmailAddresses") or []}
            if key in names | emails:
                found = True
                upn = lower(item.get("UserPrincipalName")) or upn
                addresses |= {a for a in emails | {upn, lower(item.get("PrimarySmtpAddress"))} if a}
                user_id = lower(item.get("ExternalDirectoryObjectId")) or user_id
                display = item.get("DisplayName") or display
    for c in contributions(results, "signins"):
        for item in c.items:
            if key in {lower(item.get("userPrincipalName")), lower(item.get("userId"))}:
                upn = lower(item.get("userPrincipalName")) or upn
                user_id = user_id or lower(item.get("userId"))
                display = display or item.get("userDisplayName")
                addresses.add(upn)
                found = True
                break
    if not found:
        log.info("%s: no users, mailbox or sign-in file names this user; matching on %s only", user, key)
    primary = key if "@" in key else upn
    ordered = (primary, *sorted(a for a in addresses if a != primary and "@" in a))
    return UserIdentity(user_id, upn, display, primary if "@" in primary else None, ordered)


def accepted_domains_of(given: Iterable[str] | None, results: Sequence[FileResult],
             identity: UserIdentity | None) -> tuple[str, ...]:
    if given is not None:
        return tuple(sorted({d.strip().lower() for d in given if d and d.strip()}))
    listed = {lower(i.get("DomainName")) for c in contributions(results, "accepted_domains") for i in c.items}
    listed.discard("")
    if listed:
        return tuple(sorted(listed))
    if identity is not None:
        return tuple(sorted({a.rsplit("@", 1)[1] for a in identity.addresses if "@" in a}))
    return ()


# --- the window ------------------------------------------------------------------------------------------------------
def instant_of(item: Mapping[str, Any], kind: str) -> datetime | None:
    text = item.get(TIME_FIELDS[kind])
    if not text:
        return None
    try:
        return parse_instant(str(text))
    except DateError:
        return None


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"{name} must carry a time zone (e.g. datetime(..., tzinfo=UTC)), got {value!r}")
    return value.astimezone(UTC)


def window(results: Sequence[FileResult], start: datetime | None, end: datetime | None,
           days: int | float | None) -> tuple[datetime, datetime]:
    """The case window: as given; else ``days`` back from the newest row; else from the oldest row to the newest."""
    if start is not None:
        start = _aware(start, "start")
    if end is not None:
        end = _aware(end, "end")
    instants = [t for r in results for kind in TIME_FIELDS for item in r.items.get(kind, [])
                if (t := instant_of(item, kind)) is not None]
    newest = max(instants) if instants else datetime.now(UTC)
    oldest = min(instants) if instants else newest
    if end is None:
        end = newest
    if start is None:
        if days is not None:
            if days <= 0:
                raise ValueError(f"days must be positive, got {days}")
            start = end - timedelta(days=days)
        else:
            start = min(oldest, end)
    if start > end:
        raise ValueError(f"the window starts ({start:%Y-%m-%d %H:%M}) after it ends ({end:%Y-%m-%d %H:%M})")
    return start, end


# --- which rows are about the user -------------------------------------------------------------------------------
def selector(kind: str, identity: UserIdentity | None, matcher: Matcher | None) -> Callable[[Item], bool]:
    if identity is None or matcher is None:
        return lambda item: True
    addresses = set(identity.addresses) | {identity.upn}
    user_id = identity.user_id.lower()

    def named(*values: Any) -> bool:
        return any(lower(v) in addresses or (user_id and lower(v) == user_id) for v in values)

    selectors: dict[str, Callable[[Item], bool]] = {
        "trace": lambda i: lower(i.get("senderAddress")) in addresses,
        "signins": lambda i: named(i.get("userPrincipalName"), i.get("userId")),
        "audit": lambda i: lower(i.get("UserId")) in addresses,
        "restricted": lambda i: lower(i.get("SenderAddress")) in addresses,
        "mailbox": lambda i: named(i.get("UserPrincipalName"), i.get("PrimarySmtpAddress"),
                                   i.get("ExternalDirectoryObjectId"),
                                   *(strip_smtp(a) for a in i.get("EmailAddresses") or [])),
        "users": lambda i: named(i.get("id"), i.get("userPrincipalName"), i.get("mail"),
                                 *(strip_smtp(a) for a in i.get("proxyAddresses") or [])),
        "risky_users": lambda i: named(i.get("id"), i.get("userPrincipalName")),
        "risk_detections": lambda i: named(i.get("userId"), i.get("userPrincipalName")),
        "grants": lambda i: not user_id or lower(i.get("principalId")) == user_id,
    }
    return selectors.get(kind, lambda item: True)


def while_reading(identity: UserIdentity, matcher: Matcher) -> Keep:
    """What to keep as files are read: the user's rows of every kind, and - for the rules' and forwarding history -
    every inbox-rule and Set-Mailbox audit record, whoever made it (the history picks the user's mailbox later)."""
    selectors: dict[str, Callable[[Item], bool]] = {}

    def keep_item(kind: str, item: Item) -> bool:
        if kind == "audit" and lower(item.get("Operation")) in HISTORY_OPERATIONS:
            return True
        if kind not in selectors:
            selectors[kind] = selector(kind, identity, matcher)
        return selectors[kind](item)

    return keep_item


def who(kind: str, counts: Counter[str]) -> str:
    return ", ".join(f"{name} ({n})" for name, n in counts.most_common(3))


def keep(kind: str, contributions: list[Contribution], select: Callable[[Item], bool], start: datetime,
          end: datetime) -> dict[int, str]:
    """Filter each contribution in place; returns, per contribution, why rows were left out (for the ledger)."""
    why: dict[int, str] = {}
    field_name = WHO_FIELDS.get(kind)
    for n, c in enumerate(contributions):
        kept_items: list[Item] = []
        kept_lines: list[int | None] = []
        whom = Counter(c.result.others.get(kind, Counter()))
        other_user = c.read - len(c.items)  # dropped while the file was read
        outside = 0
        for item, line in zip(c.items, c.lines, strict=True):
            if not select(item):
                other_user += 1
                if field_name and item.get(field_name):
                    whom[lower(item.get(field_name))] += 1
                continue
            if kind in TIME_FIELDS:
                instant = instant_of(item, kind)
                if instant is not None and not start <= instant <= end:
                    outside += 1
                    continue
            kept_items.append(item)
            kept_lines.append(line)
        parts = []
        if other_user:
            parts.append(f"{other_user} about other users")
            if not kept_items and not outside:
                parts.append(f"this file is about {who(kind, whom)}")
        if outside:
            parts.append(f"{outside} outside the window")
        why[n] = "; ".join(parts)
        c.items, c.lines = kept_items, kept_lines
    return why
