"""Inbox rules and mailbox forwarding: what an attacker sets up to hide the victim's replies and bounces, or to keep
a copy of their mail.

A rule's traits add up: a name without letters ('.', '..', ';'), hidden from Outlook, forwarding or redirecting
outside, moving to folders nobody reads (RSS Feeds, Conversation History, Archive), deleting, marking read, and
conditions on security-alarm words ('hacked', 'phish', 'spam') or on bounces (postmaster, mailer-daemon,
'undeliverable'). Harmless rules (notifications to Archive, deleting out-of-office replies) have one or two weak
traits and stay below the bar. A rule or forwarding set inside the window (per the audit log) counts in full; one
older than the window counts a quarter less.
"""

from __future__ import annotations

import re

import pandas as pd

from toolkit.evidence.audit import MAILBOX_OPERATIONS, RULE_OPERATIONS, operations, rule_name, sets_forwarding
from toolkit.evidence.common import flag, listing, text, truthy, when
from toolkit.evidence.findings import RULES, EvidenceRows, Finding, ObjectRef, finding
from toolkit.evidence.profile import Profile

#: Words attackers filter so that the victim never sees the alarm (Microsoft's and IR vendors' rule guidance).
ALARM_WORDS = ("hack", "phish", "spam", "virus", "malware", "compromis", "suspicious", "fraud", "scam")
#: Bounce senders and words: hiding the non-delivery reports of a spam run.
BOUNCE_WORDS = ("postmaster", "mailer-daemon", "microsoftexchange", "undeliver", "delivery", "returned", "bounce")
#: Payment words: business-email-compromise interception, but also everyday filing rules.
PAYMENT_WORDS = ("invoice", "payment", "wire", "bank")
SUSPICIOUS = 0.45
OLD_RULE = 0.75
COLUMNS = ("rule_id", "name", "enabled", "hidden", "forward_to", "redirect_to", "delete", "move_to_folder",
           "mark_as_read", "conditions")


def _has(conditions: str, words: tuple[str, ...]) -> list[str]:
    """The words of ``conditions`` that contain one of ``words`` (``undeliver`` finds 'undeliverable')."""
    lowered = conditions.lower()
    found: list[str] = []
    for word in words:
        found += re.findall(rf"[\w-]*{re.escape(word)}[\w-]*", lowered)
    return list(dict.fromkeys(found))


def score_rule(rule: dict[str, object]) -> tuple[float, list[str]]:
    """A rule's suspicion (before its age) and its traits in words."""
    traits: list[tuple[float, str]] = []
    name = text(rule.get("name"))
    if flag(rule.get("name_is_punctuation")) is True:
        traits.append((0.5, f"a name without letters ('{name}')"))
    if flag(rule.get("hidden")) is True:
        traits.append((0.5, "hidden from Outlook and Graph"))
    targets = [t for key in ("forward_to", "forward_as_attachment_to", "redirect_to") for t in
               text(rule.get(key)).split(",") if t]
    if flag(rule.get("forwards_external")) is True:
        traits.append((0.5, f"forwards outside the organisation (to {listing(targets, 2)})"))
    if flag(rule.get("moves_to_hiding_folder")) is True:
        traits.append((0.25, f"moves mail to {text(rule.get('move_to_folder'))}"))
    if flag(rule.get("delete")) is True or flag(rule.get("permanent_delete")) is True:
        traits.append((0.2, "deletes mail"))
    if flag(rule.get("mark_as_read")) is True:
        traits.append((0.1, "marks it read"))
    conditions = text(rule.get("conditions"))
    alarm, bounce, pay = _has(conditions, ALARM_WORDS), _has(conditions, BOUNCE_WORDS), _has(conditions, PAYMENT_WORDS)
    if alarm:
        traits.append((0.4, f"acts on security alarms ({listing(alarm)})"))
    if bounce:
        traits.append((0.35, f"acts on bounces ({listing(bounce)})"))
    if pay:
        traits.append((0.1, f"acts on payment mail ({listing(pay)})"))
    keep = 1.0
    for strength, _ in traits:
        keep *= 1 - strength
    return 1 - keep, [why for _, why in traits]


def _recent_rule_names(profile: Profile) -> dict[str, pd.Series]:
    records = operations(profile.case.audit, RULE_OPERATIONS)
    found: dict[str, pd.Series] = {}
    for index, record in zip(records.index, records.to_dict("records"), strict=True):
        name = rule_name(record)
        if name:
            found.setdefault(name, records.loc[index])
    return found


def inbox_rules(profile: Profile) -> list[Finding]:
    rules = profile.case.rules
    if not len(rules):
        return []
    recent = _recent_rule_names(profile)
    findings: list[Finding] = []
    ordinary: list[str] = []
    for index, rule in zip(rules.index, rules.to_dict("records"), strict=True):
        score, traits = score_rule(rule)
        name = text(rule["name"])
        set_record = recent.get(name)
        if set_record is None:
            score *= OLD_RULE
            age = "set before the window (no audit record of it)"
        else:
            age = f"set at {when(set_record['time'])} from {text(set_record['client_ip']) or 'an unknown address'}"
        if score < SUSPICIOUS:
            ordinary.append(f"'{name}'")
            continue
        enabled = "" if flag(rule["enabled"]) is not False else " (disabled)"
        rows = [EvidenceRows.of("rules", rules.loc[[index]], COLUMNS)]
        if set_record is not None:
            rows.append(EvidenceRows.of("audit", set_record.to_frame().T, ("time", "operation", "client_ip")))
        findings.append(finding("rules.suspicious", RULES,
                                f"Inbox rule '{name}' (id {text(rule['rule_id'])}){enabled}: {listing(traits, 6)}; "
                                f"{age}.", min(score, 0.85), "compromise", rows,
                                [ObjectRef("rule", text(rule["rule_id"]), name, text(rule["mailbox"]))]))
    if ordinary:
        findings.append(finding("rules.ordinary", RULES,
                                f"{len(ordinary)} other inbox rule(s) look ordinary: {listing(ordinary)}.",
                                0.0, "neutral"))
    return findings


def mailbox_forwarding(profile: Profile) -> list[Finding]:
    mailbox = profile.case.mailbox
    if not len(mailbox):
        return []
    row = mailbox.iloc[0]
    external = text(row["forwarding_smtp"])
    internal = text(row["forwarding_address"])
    rows = [EvidenceRows.of("mailbox", mailbox.head(1), ("forwarding_smtp", "forwarding_address",
                                                         "deliver_and_forward", "forwards_external"))]
    if external and bool(truthy(mailbox["forwards_external"]).iloc[0]):
        sets = operations(profile.case.audit, MAILBOX_OPERATIONS)
        record = next((r for r in sets.to_dict("records") if sets_forwarding(r) == external.lower()), None)
        keeps_copy = flag(row["deliver_and_forward"]) is not False
        strength = 0.55 if keeps_copy else 0.65
        if record is None:
            strength *= OLD_RULE
            age = "set before the window (no audit record of it)"
        else:
            age = f"set at {when(record['time'])} from {text(record['client_ip']) or 'an unknown address'}"
        copy = "keeping a copy" if keeps_copy else "without keeping a copy"
        policy = profile.case.policy
        blocked = ""
        if len(policy) and not bool(truthy(policy["auto_forwarding_allowed"]).any()):
            blocked = " (the outbound spam policy blocks external auto-forwarding, so Exchange may have refused it)"
        return [finding("forwarding.mailbox", RULES,
                        f"The mailbox forwards all mail to {external}, outside the organisation, {copy}; {age}"
                        f"{blocked}.", strength, "compromise", rows,
                        [ObjectRef("forwarding", profile.case.user.upn, external, profile.case.user.upn)])]
    if internal:
        return [finding("forwarding.mailbox", RULES, f"The mailbox forwards to {internal}, inside the organisation "
                        "(a delegate or an assistant).", 0.0, "neutral", rows)]
    return []
