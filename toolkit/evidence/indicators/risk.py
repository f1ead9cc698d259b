"""Identity Protection: risk detections and the user's risk state.

Attacker-type detections (password spray, anomalous token, suspicious inbox forwarding or manipulation rules...)
count by their level; a detection an admin dismissed or confirmed safe points the other way. Detections that fire
on ordinary change (unfamiliar features) count little, and nothing when the sign-in they rate was on the user's own
device. Without Entra ID P2 the risk reads ``hidden`` and says nothing.
"""

from __future__ import annotations

import pandas as pd

from toolkit.evidence.common import count, listing, text, texts, when
from toolkit.evidence.findings import SIGNINS, EvidenceRows, Finding, finding
from toolkit.evidence.profile import STRONG_RISK_EVENTS, Profile

COLUMNS = ("risk_event_type", "risk_level", "risk_state", "ip", "country", "activity_time", "detected_time")
SAFE_STATES = ("dismissed", "confirmedSafe")


def detections(profile: Profile) -> list[Finding]:
    frame = profile.case.risk_detections
    if not len(frame):
        return []
    kinds = pd.Series(texts(frame["risk_event_type"]), index=frame.index)
    states = pd.Series(texts(frame["risk_state"]), index=frame.index)
    levels = pd.Series(texts(frame["risk_level"]), index=frame.index)
    strong = kinds.str.lower().isin(STRONG_RISK_EVENTS)
    safe = states.isin(SAFE_STATES)
    findings: list[Finding] = []
    attack = frame[strong & ~safe]
    if len(attack):
        leaked_only = bool((kinds[attack.index].str.lower() == "leakedcredentials").all())
        level_set = set(levels[attack.index])
        strength = 0.4 if leaked_only else 0.75 if "high" in level_set else 0.65 if "medium" in level_set else 0.5
        described = [f"{text(r['risk_event_type'])} ({text(r['risk_level']) or '?'}, {text(r['risk_state'])}) "
                     f"at {when(r['activity_time'])} from {text(r['ip']) or 'no address'}"
                     for r in attack.to_dict("records")]
        what = "leaked credentials were found" if leaked_only else "Identity Protection detected an attack"
        findings.append(finding("risk.detections", SIGNINS,
                                f"{what}: {listing(described, 3)}.", strength, "compromise",
                                [EvidenceRows.of("risk_detections", attack, COLUMNS)]))
    weak = frame[~strong & ~safe]
    if len(weak):
        signins = profile.signins
        own_ips = set(signins.loc[signins["device"].isin(["known", "familiar"]), "ip_text"]) if len(signins) else set()
        own_ips |= profile.familiar.ips
        explained = pd.Series(texts(weak["ip"]), index=weak.index).isin(own_ips)
        described = listing(sorted({f"{k} ({lv})" for k, lv in zip(kinds[weak.index], levels[weak.index],
                                                                    strict=True)}))
        rows = [EvidenceRows.of("risk_detections", weak, COLUMNS)]
        what = f"{count(len(weak), 'detection')} of ordinary change ({described})"
        if bool(explained.all()):
            findings.append(finding("risk.weak_detections", SIGNINS,
                                    f"{what} on sign-ins from the user's own device or familiar addresses.", 0.0,
                                    "neutral", rows))
        else:
            findings.append(finding("risk.weak_detections", SIGNINS,
                                    f"{what} from addresses and devices the user's baseline does not show.", 0.25,
                                    "compromise", rows))
    cleared = frame[safe]
    if len(cleared) and not len(attack):
        findings.append(finding("risk.dismissed", SIGNINS,
                                f"An admin dismissed or confirmed safe {count(len(cleared), 'detection')} "
                                f"({listing(sorted(set(kinds[cleared.index])))}).", 0.15, "benign",
                                [EvidenceRows.of("risk_detections", cleared, COLUMNS)]))
    return findings


def user_risk(profile: Profile) -> list[Finding]:
    frame = profile.case.risky_users
    if not len(frame):
        return []
    row = frame.iloc[0]
    level, state, detail = text(row["risk_level"]), text(row["risk_state"]), text(row["risk_detail"])
    rows = [EvidenceRows.of("risky_users", frame.head(1), ("risk_level", "risk_state", "risk_detail",
                                                           "risk_last_updated"))]
    stamp = when(row["risk_last_updated"])
    if state == "confirmedCompromised":
        return [finding("risk.user", SIGNINS, f"An admin confirmed the user compromised in Entra ({stamp}).", 0.9,
                        "compromise", rows)]
    if state == "remediated":
        return [finding("risk.user", SIGNINS,
                        f"Entra records the user's risk as remediated ({detail or 'no detail'}, {stamp}): the account "
                        "was at risk and was cleaned up.", 0.45, "compromise", rows)]
    if state in SAFE_STATES:
        return [finding("risk.user", SIGNINS, f"An admin marked the user's risk {state} ({stamp}).", 0.2, "benign",
                        rows)]
    if state == "atRisk" and level in ("high", "medium"):
        return [finding("risk.user", SIGNINS, f"Entra holds the user at {level} risk ({stamp}).",
                        0.6 if level == "high" else 0.45, "compromise", rows)]
    return []
