"""Sign-ins: new countries or networks, unfamiliar devices, legacy protocols, failed passwords before a success,
and sign-ins Entra itself rated risky, each against the user's own baseline (``profile.classify_signins``).

The benign counterpart: every successful sign-in from the user's familiar places and devices. A new country on the
user's own device (its Entra device id, or their usual OS and browser) with nothing else wrong reads as travel.
"""

from __future__ import annotations

import pandas as pd

from toolkit.evidence.common import count, listing, texts, truthy, when
from toolkit.evidence.findings import SIGNINS, EvidenceRows, Finding, finding
from toolkit.evidence.profile import CREDENTIAL_FAILURES, SUSPECT, Profile

COLUMNS = ("time", "ip", "country", "client_app", "app", "success", "error_code", "os", "browser", "device_id",
           "risk_level_during", "risk_event_types", "why")


def _successes(profile: Profile) -> pd.DataFrame:
    signins = profile.signins
    return signins[truthy(signins["success"])] if len(signins) else signins


def _describe(rows: pd.DataFrame, limit: int = 3) -> str:
    parts = [f"{when(r['time'])} from {r['ip_text'] or 'an unknown address'} ({r['country'] or '?'}, "
             f"{r['client_app'] or '?'})" for r in rows.head(limit).to_dict("records")]
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return "; ".join(parts) + more


def risky(profile: Profile) -> list[Finding]:
    """Successful sign-ins Entra rated medium or high risk, or tagged with an attacker-type risk event."""
    rows = _successes(profile)
    hits = rows[rows["risk_strong"].astype(bool)] if len(rows) else rows
    if not len(hits):
        return []
    levels = set(texts(hits["risk_level_during"]))
    strength = 0.8 if "high" in levels else 0.7 if "medium" in levels else 0.6
    events = sorted({e.strip() for v in texts(hits["risk_event_types"]) for e in v.split(",")
                     if e.strip() and e.strip() != "none"})
    rated = listing(sorted(level for level in levels if level in ("low", "medium", "high"))) or "risky"
    kinds = f", {listing(events)}" if events else ""
    return [finding("signins.risky", SIGNINS,
                    f"Entra rated {count(len(hits), 'successful sign-in')} {rated} risk{kinds}: {_describe(hits)}.",
                    strength, "compromise", [EvidenceRows.of("signins", hits, COLUMNS)])]


def failures_then_success(profile: Profile) -> list[Finding]:
    """Wrong passwords followed by a success from a new address on a device that is not the user's."""
    rows = _successes(profile)
    hits = rows[(rows["failures_before"] > 0) & rows["new_ip"].astype(bool) & (rows["device"] != "known")] \
        if len(rows) else rows
    if not len(hits):
        return []
    signins = profile.signins
    first = hits["time"].min()
    failed = signins[signins["credential_failure"].astype(bool) & (signins["time"] <= hits["time"].max())
                     & (signins["time"] >= first - pd.Timedelta(hours=24))]
    codes = sorted({int(c) for c in failed["error_code"].dropna()})
    reasons = listing([f"{c} {CREDENTIAL_FAILURES[c]}" for c in codes if c in CREDENTIAL_FAILURES])
    sources = listing(sorted(set(failed["ip_text"])))
    return [finding("signins.failures_then_success", SIGNINS,
                    f"{count(len(failed), 'failed sign-in')} ({reasons}) from {sources} were followed by a success: "
                    f"{_describe(hits)}. Password guessing that worked.",
                    0.7, "compromise",
                    [EvidenceRows.of("signins", pd.concat([failed, hits]).drop_duplicates("signin_id"), COLUMNS)])]


def legacy_protocol(profile: Profile) -> list[Finding]:
    """Successful sign-ins over a legacy protocol (IMAP, POP, SMTP AUTH...) that the user does not use."""
    rows = _successes(profile)
    hits = rows[rows["legacy_new"].astype(bool)] if len(rows) else rows
    if not len(hits):
        return []
    from_new = hits[hits["new_ip"].astype(bool)]
    clients = listing(sorted(set(hits["client_app"].astype(str))))
    strength = 0.6 if len(from_new) else 0.3
    where = "from addresses the user never used" if len(from_new) else "from the user's usual addresses"
    return [finding("signins.legacy_protocol", SIGNINS,
                    f"{count(len(hits), 'successful sign-in')} over {clients}, a legacy protocol that bypasses MFA and "
                    f"that this user's baseline does not use, {where}: {_describe(hits)}.", strength, "compromise",
                    [EvidenceRows.of("signins", hits, COLUMNS)])]


def new_location(profile: Profile) -> list[Finding]:
    """Successful sign-ins from a country and address new for the user: travel on their own device, or not."""
    rows = _successes(profile)
    hits = rows[rows["new_country"].astype(bool) & rows["new_ip"].astype(bool)] if len(rows) else rows
    if not len(hits):
        return []
    own = hits["device"].isin(["known", "familiar"]) & ~hits["legacy_new"].astype(bool) \
        & ~hits["risk_strong"].astype(bool) & (hits["failures_before"] == 0)
    findings = []
    unknown = hits["device"].eq("unknown") & ~hits["legacy_new"].astype(bool) & ~hits["risk_strong"].astype(bool) \
        & (hits["failures_before"] == 0)
    strange, travel, unsure = hits[~own & ~unknown], hits[own], hits[unknown]
    if len(unsure):
        countries = listing(sorted(set(unsure["country"].astype(str))))
        findings.append(finding("signins.new_location", SIGNINS,
                                f"{count(len(unsure), 'successful sign-in')} from {countries}, new for the user; their "
                                "earlier sign-ins are too few to tell whether the device is theirs: "
                                f"{_describe(unsure)}.", 0.3, "compromise",
                                [EvidenceRows.of("signins", unsure, COLUMNS)]))
    if len(strange):
        countries = listing(sorted(set(strange["country"].astype(str))))
        findings.append(finding("signins.new_location", SIGNINS,
                                f"{count(len(strange), 'successful sign-in')} from {countries}, new for the user, on a "
                                f"device that is not theirs: {_describe(strange)}.", 0.45, "compromise",
                                [EvidenceRows.of("signins", strange, COLUMNS)]))
    if len(travel):
        countries = listing(sorted(set(travel["country"].astype(str))))
        findings.append(finding("signins.travel", SIGNINS,
                                f"{count(len(travel), 'sign-in')} from {countries}, new for the user, came from their "
                                f"own device (its device id, or their usual system and browser) with no failed "
                                f"attempts: consistent with travel. {_describe(travel)}.", 0.0, "neutral",
                                [EvidenceRows.of("signins", travel, COLUMNS)]))
    return findings


def unfamiliar_device(profile: Profile) -> list[Finding]:
    """Successful sign-ins from a new address in a familiar country on a device the user has not used."""
    rows = _successes(profile)
    if not len(rows) or profile.familiar.signin_days < 2:
        return []
    hits = rows[rows["new_ip"].astype(bool) & ~rows["new_country"].astype(bool)
                & rows["device"].isin(["unmanaged", "unfamiliar"]) & ~rows["legacy_new"].astype(bool)]
    if not len(hits):
        return []
    return [finding("signins.unfamiliar_device", SIGNINS,
                    f"{count(len(hits), 'successful sign-in')} from new addresses on a device the user's baseline does "
                    f"not show (a different system or browser, or without their device id): {_describe(hits)}.",
                    0.3, "compromise", [EvidenceRows.of("signins", hits, COLUMNS)])]


def familiar_signins(profile: Profile) -> list[Finding]:
    """Every successful sign-in in the window from the user's familiar places and devices (benign)."""
    if not profile.available("signins"):
        return []
    rows = _successes(profile)
    if not len(rows):
        return [finding("signins.none", SIGNINS, "The user has no successful sign-in in the window.", 0.0,
                        "neutral")]
    worst = float(rows["suspicion"].max())
    if worst >= 0.3:
        return []
    failed = profile.signins[profile.signins["credential_failure"].astype(bool)]
    note = (f" ({count(len(failed), 'failed attempt')} from {listing(sorted(set(failed['ip_text'])))} never "
            "succeeded.)") if len(failed) else ""
    places = listing(sorted(set(rows["country"].astype(str))))
    every = "The only successful sign-in" if len(rows) == 1 else f"All {len(rows):,} successful sign-ins"
    return [finding("signins.familiar", SIGNINS,
                    f"{every} in the window ({places}) came from the user's "
                    f"familiar places and devices, with no risk, no legacy protocol and no password guessing.{note}",
                    0.35, "benign")]


def failed_only(profile: Profile) -> list[Finding]:
    """Failed password attempts from new addresses that never succeeded (an attack that did not get in)."""
    signins = profile.signins
    if not len(signins):
        return []
    failed = signins[signins["credential_failure"].astype(bool) & signins["new_ip"].astype(bool)]
    if not len(failed):
        return []
    succeeded = set(signins.loc[truthy(signins["success"]), "ip_text"])
    lost = failed[~failed["ip_text"].isin(succeeded)]
    if not len(lost) or len(lost) < len(failed):
        return []
    return [finding("signins.failed_attempts", SIGNINS,
                    f"{count(len(lost), 'failed password attempt')} from {listing(sorted(set(lost['ip_text'])))} "
                    f"({listing(sorted(set(lost['country'].astype(str))))}) never led to a success from there.",
                    0.0, "neutral", [EvidenceRows.of("signins", lost, COLUMNS)])]


def weak_risk(profile: Profile) -> list[Finding]:
    """Low-risk ratings (unfamiliar features) on sign-ins that nothing else marks as suspicious: they count only when
    the sign-in is also from a new address on a device the baseline does not show."""
    rows = _successes(profile)
    hits = rows[rows["risk_weak"].astype(bool) & (rows["suspicion"] < SUSPECT)] if len(rows) else rows
    if not len(hits):
        return []
    strange = hits["new_ip"].astype(bool) & ~hits["device"].isin(["known", "familiar"])
    if not bool(strange.any()):
        return [finding("signins.low_risk", SIGNINS,
                        f"Entra rated {count(len(hits), 'sign-in')} low risk, but from the user's own device or an "
                        f"address their mail already came from: {_describe(hits)}.", 0.0, "neutral",
                        [EvidenceRows.of("signins", hits, COLUMNS)])]
    return [finding("signins.low_risk", SIGNINS,
                    f"Entra rated {count(len(hits[strange]), 'sign-in')} low risk, from a new address on a device "
                    f"the user's baseline does not show: {_describe(hits[strange])}.", 0.3, "compromise",
                    [EvidenceRows.of("signins", hits[strange], COLUMNS)])]
