"""Defender alerts: an analyst's or automated investigation's determination, and attacker-specific alert policies.

Every restricted user has a "User restricted from sending email" alert, which says nothing new. An alert resolved
as a true positive (or determined a compromised account) is someone's judgement that it was an attack; a false
positive or expected activity is the opposite judgement. "Suspicious email forwarding activity" is Defender's own
detection of attacker forwarding.
"""

from __future__ import annotations

import pandas as pd

from toolkit.evidence.common import count, listing, texts
from toolkit.evidence.findings import ALERTS, EvidenceRows, Finding, finding
from toolkit.evidence.profile import Profile

COLUMNS = ("created", "title", "severity", "status", "classification", "determination")
ATTACK_DETERMINATIONS = {"compromisedaccount", "compromiseduser", "malware", "phishing", "multistagedattack",
                         "malicioususeractivity", "apt"}
BENIGN_CLASSIFICATIONS = {"falsepositive", "informationalexpectedactivity"}
ATTACK_TITLES = {"suspicious email forwarding activity"}


def determinations(profile: Profile) -> list[Finding]:
    alerts = profile.case.alerts
    if not len(alerts):
        return []
    classification = pd.Series(texts(alerts["classification"]), index=alerts.index).str.lower()
    determination = pd.Series(texts(alerts["determination"]), index=alerts.index).str.lower()
    titles = pd.Series(texts(alerts["title"]), index=alerts.index)
    findings: list[Finding] = []
    confirmed = alerts[(classification == "truepositive") | determination.isin(ATTACK_DETERMINATIONS)]
    if len(confirmed):
        strength = 0.7 if bool(determination[confirmed.index].isin(ATTACK_DETERMINATIONS).any()) else 0.6
        findings.append(finding("alerts.confirmed", ALERTS,
                                f"{count(len(confirmed), 'alert')} about the user were resolved as a true positive "
                                f"({listing(sorted(set(titles[confirmed.index])))}).", strength, "compromise",
                                [EvidenceRows.of("alerts", confirmed, COLUMNS)]))
    cleared = alerts[classification.isin(BENIGN_CLASSIFICATIONS)]
    if len(cleared) and not len(confirmed):
        findings.append(finding("alerts.cleared", ALERTS,
                                f"{count(len(cleared), 'alert')} about the user were resolved as a false positive or "
                                f"expected activity ({listing(sorted(set(titles[cleared.index])))}).", 0.3, "benign",
                                [EvidenceRows.of("alerts", cleared, COLUMNS)]))
    attack = alerts[titles.str.lower().isin(ATTACK_TITLES) & ~classification.isin(BENIGN_CLASSIFICATIONS)]
    if len(attack):
        findings.append(finding("alerts.forwarding", ALERTS,
                                f"Defender raised '{titles[attack.index[0]]}' ({count(len(attack), 'alert')}, first at "
                                f"{attack['created'].min():%Y-%m-%d %H:%M} UTC).", 0.5, "compromise",
                                [EvidenceRows.of("alerts", attack, COLUMNS)]))
    return findings
