"""Audit timing: when and from where the mailbox was reconfigured (rules, forwarding, permissions), relative to the
suspicious sign-ins and the burst.

A change made from the address of a suspicious sign-in, or of the spam run, is the attacker's own hand; a change
from an address the user never used, shortly before the burst, nearly so. Changes from the user's familiar
addresses say nothing either way.
"""

from __future__ import annotations

import pandas as pd

from toolkit.evidence.audit import MAILBOX_OPERATIONS, RULE_OPERATIONS, operations, rule_name, sets_forwarding
from toolkit.evidence.common import listing, span, text, when
from toolkit.evidence.findings import TIMING, EvidenceRows, Finding, finding
from toolkit.evidence.profile import Profile

COLUMNS = ("time", "operation", "user", "client_ip", "target", "parameters")
#: How long before the burst an unexplained change still counts as preparing it.
LEAD = pd.Timedelta(days=3)


def _what(record: dict[str, object]) -> str:
    operation = text(record["operation"])
    name = rule_name(record) if operation.lower() in RULE_OPERATIONS else ""
    if name:
        return f"{operation} '{name}'"
    forward = sets_forwarding(record) if operation.lower() == "set-mailbox" else ""
    if forward:
        return f"{operation} forwarding to {forward}"
    target = text(record["target"])
    return f"{operation} on {target}" if target and operation.lower() != "set-mailbox" else operation


def configuration_changes(profile: Profile) -> list[Finding]:
    changes = operations(profile.case.audit, RULE_OPERATIONS | MAILBOX_OPERATIONS)
    if not len(changes):
        return []
    suspicious = profile.suspicious_signins
    findings: list[Finding] = []
    by_attacker, unexplained, ordinary = [], [], []
    for index, record in zip(changes.index, changes.to_dict("records"), strict=True):
        ip = text(record["client_ip"])
        when_ = record["time"]
        if ip and ip in profile.attacker_ips:
            before = suspicious[(suspicious["ip_text"] == ip) & (suspicious["time"] <= when_)]
            link = (f"the address of the suspicious sign-in {span(when_ - before['time'].max())} earlier"
                    if len(before) else "the address of a suspicious sign-in")
            by_attacker.append((index, f"{_what(record)} at {when(when_)} from {ip}, {link}"))
        elif ip and ip in profile.spam_ips:
            by_attacker.append((index, f"{_what(record)} at {when(when_)} from {ip}, the address that sent the "
                                       "spam run"))
        elif ip and ip not in profile.familiar.seen_ips and ip not in _ordinary_signin_ips(profile) \
                and profile.burst_start - LEAD <= when_ <= profile.window_end:
            unexplained.append((index, f"{_what(record)} at {when(when_)} from {ip}, an address the user never used, "
                                       f"{_relative(when_, profile.burst_start)}"))
        else:
            ordinary.append(_what(record))
    if by_attacker:
        what = listing([w for _, w in by_attacker], 5)
        findings.append(finding("timing.attacker_changes", TIMING,
                                f"The mailbox was reconfigured by the attacker: {what}.",
                                0.8, "compromise",
                                [EvidenceRows.of("audit", changes.loc[[i for i, _ in by_attacker]], COLUMNS)]))
    if unexplained:
        findings.append(finding("timing.unexplained_changes", TIMING,
                                f"The mailbox was reconfigured from unfamiliar addresses just before the burst: "
                                f"{listing([w for _, w in unexplained], 5)}.", 0.5, "compromise",
                                [EvidenceRows.of("audit", changes.loc[[i for i, _ in unexplained]], COLUMNS)]))
    if ordinary and not by_attacker and not unexplained:
        findings.append(finding("timing.ordinary_changes", TIMING,
                                f"Mailbox changes in the window came from the user's familiar addresses: "
                                f"{listing(ordinary)}.", 0.0, "neutral"))
    return findings


def _relative(moment: pd.Timestamp, burst_start: pd.Timestamp) -> str:
    if moment >= burst_start:
        return "during the burst"
    return f"{span(burst_start - moment)} before the burst"


def _ordinary_signin_ips(profile: Profile) -> set[str]:
    signins = profile.signins
    if not len(signins):
        return set()
    return set(signins.loc[(signins["suspicion"] < 0.3) & signins["success"].astype("boolean").fillna(False)
                           .astype(bool), "ip_text"])
