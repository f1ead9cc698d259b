"""The user's own baseline of places and devices, and every sign-in classified against it.

What is **familiar** comes from the sign-ins and mail before the burst: addresses and countries seen on at least two
days (one day can be an attacker's first visit), the usage location, Entra device ids, OS/browser fingerprints and
sign-in clients. Sign-ins Entra rated medium or high risk never count as familiar. Each sign-in then gets a
**suspicion** (0..1) and its reasons in words: a new address, a new country on an unfamiliar device, a legacy
protocol the user does not use, failed passwords before a success, Entra's own risk rating. A new country on the
user's own device with nothing else wrong reads as travel.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pandas as pd

from toolkit.evidence.common import family_of, flag, listing, text, texts

DAY = pd.Timedelta(hours=24)

#: Entra sign-in error codes that mean a wrong or blocked password (not an MFA prompt or an interrupt).
CREDENTIAL_FAILURES: dict[int, str] = {
    50126: "invalid user name or password",
    50053: "account locked or sign-in from a malicious address",
    50055: "password expired",
    50056: "invalid or missing password",
    500121: "MFA failed after a correct password",
}

#: Identity Protection risk event types that point at an attacker (documented riskEventType values).
STRONG_RISK_EVENTS = frozenset({
    "anomaloustoken", "tokenissueranomaly", "attackerinthemiddle", "passwordspray", "maliciousipaddress",
    "anonymizedipaddress", "unlikelytravel", "impossibletravel", "mcasimpossibletravel", "leakedcredentials",
    "investigationsthreatintelligence", "suspiciousinboxforwarding", "mcassuspiciousinboxmanipulationrules",
    "suspiciousinboxmanipulationrules", "adminconfirmedusercompromised", "suspiciousapitraffic",
    "suspicioussendingpatterns", "nationstateip", "suspiciousbrowser", "mcasfinsuspiciousfileaccess",
})
#: Every other risk event type (unfamiliarFeatures, newCountry...) also fires on ordinary change: a new place or device.

#: A sign-in's suspicion from which its address counts as the attacker's.
SUSPECT = 0.45


@dataclass(frozen=True)
class Familiar:
    """What the user's baseline (before the burst) shows as theirs."""

    ips: frozenset[str]  # on two or more days (sign-ins or clean mail)
    seen_ips: frozenset[str]  # at least once
    countries: frozenset[str]  # on two or more days, plus the usage location
    devices: frozenset[str]  # Entra device ids
    fingerprints: frozenset[tuple[str, str]]  # (OS, browser) without versions, two or more days
    managed: frozenset[tuple[str, str]]  # fingerprints that carry a device id in the baseline
    clients: frozenset[str]  # clientAppUsed on two or more days
    signin_days: int  # days with a clean sign-in in the baseline
    send_days: int  # days with sent mail in the baseline
    usage_location: str


# --- what is familiar -------------------------------------------------------------------------------------------------
def _fingerprint(os_name: str, browser: str) -> tuple[str, str]:
    return (family_of(os_name), family_of(browser))


def _risk_of(level: str, events: frozenset[str]) -> tuple[bool, bool]:
    """(strong, weak) risk of one sign-in from its level during sign-in and its event types."""
    strong = level in ("medium", "high") or bool(events & STRONG_RISK_EVENTS)
    weak = not strong and (level == "low" or bool(events - STRONG_RISK_EVENTS))
    return strong, weak


def _events(value: str) -> frozenset[str]:
    return frozenset(e.strip().lower() for e in value.split(",") if e.strip() and e.strip().lower() != "none")


def familiar_of(signins: pd.DataFrame, baseline: pd.DataFrame, burst_start: pd.Timestamp, usage: str) -> Familiar:
    ip_days: dict[str, set[Any]] = defaultdict(set)
    country_days: dict[str, set[Any]] = defaultdict(set)
    fp_days: dict[tuple[str, str], set[Any]] = defaultdict(set)
    client_days: dict[str, set[Any]] = defaultdict(set)
    devices: set[str] = set()
    managed: set[tuple[str, str]] = set()
    signin_days: set[Any] = set()
    for row in signins.to_dict("records"):
        if row["time"] > burst_start or flag(row["success"]) is not True:
            continue
        strong, _ = _risk_of(text(row["risk_level_during"]).lower(), _events(text(row["risk_event_types"])))
        if strong:
            continue
        day = row["time"].date()
        signin_days.add(day)
        ip, country, device = text(row["ip"]), text(row["country"]).upper(), text(row["device_id"])
        fp = _fingerprint(text(row["os"]), text(row["browser"]))
        if ip:
            ip_days[ip].add(day)
        if country:
            country_days[country].add(day)
        if any(fp):
            fp_days[fp].add(day)
            if device:
                managed.add(fp)
        if device:
            devices.add(device)
        client = text(row["client_app"])
        if client:
            client_days[client].add(day)
    clean = baseline[~baseline["spam"]] if len(baseline) else baseline
    for ip, day in zip(clean.get("ip_text", []), clean.get("received", pd.Series(dtype=object)), strict=False):
        if ip:
            ip_days[ip].add(day.date())
    countries = {c for c, days in country_days.items() if len(days) >= 2}
    if usage:
        countries.add(usage)
    return Familiar(
        ips=frozenset(ip for ip, days in ip_days.items() if len(days) >= 2),
        seen_ips=frozenset(ip_days),
        countries=frozenset(countries),
        devices=frozenset(devices),
        fingerprints=frozenset(fp for fp, days in fp_days.items() if len(days) >= 2),
        managed=frozenset(managed),
        clients=frozenset(c for c, days in client_days.items() if len(days) >= 2),
        signin_days=len(signin_days),
        send_days=len({d.date() for d in baseline["received"]}) if len(baseline) else 0,
        usage_location=usage,
    )


# --- classifying sign-ins ---------------------------------------------------------------------------------------------
def classify_signins(signins: pd.DataFrame, familiar: Familiar) -> pd.DataFrame:
    """The sign-ins, oldest first, with: ``ip_text``, ``credential_failure``, ``risk_strong``, ``risk_weak``,
    ``new_ip``, ``new_country``, ``device`` (known, familiar, unmanaged, unfamiliar, or unknown when the baseline
    has too few sign-ins to tell), ``legacy_new``,
    ``failures_before``, ``suspicion`` (0..1) and ``why`` (the reasons in words)."""
    frame = signins.sort_values("time", kind="stable").reset_index(drop=True).copy()
    records = frame.to_dict("records")
    derived: dict[str, list[Any]] = defaultdict(list)
    failures: list[tuple[pd.Timestamp, str]] = []
    for row in records:
        ip = text(row["ip"])
        code = row["error_code"]
        credential_failure = code is not None and not pd.isna(code) and int(code) in CREDENTIAL_FAILURES
        level = text(row["risk_level_during"]).lower()
        events = _events(text(row["risk_event_types"]))
        strong, weak = _risk_of(level, events)
        country = text(row["country"]).upper()
        device_id = text(row["device_id"])
        fp = _fingerprint(text(row["os"]), text(row["browser"]))
        if device_id and device_id in familiar.devices:
            device = "known"
        elif familiar.signin_days < 2:
            device = "unknown"  # too few earlier sign-ins to know the user's devices
        elif fp in familiar.managed and not device_id:
            device = "unmanaged"
        elif fp in familiar.fingerprints:
            device = "familiar"
        else:
            device = "unfamiliar"
        new_ip = bool(ip) and ip not in familiar.ips
        new_country = bool(country) and country not in familiar.countries
        legacy_new = flag(row["legacy_protocol"]) is True and text(row["client_app"]) not in familiar.clients
        recent = [(t, f_ip) for t, f_ip in failures if row["time"] - t <= DAY]
        failures_before = sum(1 for _, f_ip in recent if f_ip == ip or f_ip not in familiar.ips)
        if credential_failure:
            failures.append((row["time"], ip))
        suspicion, why = 0.0, []
        if flag(row["success"]) is True:
            suspicion, why = _suspicion(row, strong=strong, weak=weak, level=level, events=events, device=device,
                                        new_ip=new_ip, new_country=new_country, legacy_new=legacy_new,
                                        failures_before=failures_before, familiar=familiar)
        for name, value in (("ip_text", ip), ("credential_failure", credential_failure), ("risk_strong", strong),
                            ("risk_weak", weak), ("new_ip", new_ip), ("new_country", new_country),
                            ("device", device), ("legacy_new", legacy_new), ("failures_before", failures_before),
                            ("suspicion", suspicion), ("why", "; ".join(why))):
            derived[name].append(value)
    for name in ("ip_text", "credential_failure", "risk_strong", "risk_weak", "new_ip", "new_country", "device",
                 "legacy_new", "failures_before", "suspicion", "why"):
        frame[name] = pd.Series(derived.get(name, []), index=frame.index, dtype=object if name in (
            "ip_text", "device", "why") else None)
    if not len(frame):
        frame["suspicion"] = pd.Series(dtype=float)
    return frame


def _suspicion(row: dict[str, Any], *, strong: bool, weak: bool, level: str, events: frozenset[str], device: str,
               new_ip: bool, new_country: bool, legacy_new: bool, failures_before: int,
               familiar: Familiar) -> tuple[float, list[str]]:
    reasons: list[tuple[float, str]] = []
    country = text(row["country"]).upper() or "an unknown country"
    if strong:
        named = listing(sorted(events)) if events else "no event type given"
        score = {"high": 0.8, "medium": 0.7}.get(level, 0.6)
        reasons.append((score, f"Entra rated it {level or 'risky'} risk ({named})"))
    if failures_before and device != "known" and new_ip:
        reasons.append((0.7, f"it followed {failures_before} failed password attempt(s) in the previous 24 hours"))
    if legacy_new:
        client = text(row["client_app"])
        if new_ip:
            reasons.append((0.6, f"it used {client}, a legacy protocol this user does not use, from a new address"))
        else:
            reasons.append((0.3, f"it used {client}, a legacy protocol this user does not use"))
    travel_like = device in ("known", "familiar") and not failures_before and not legacy_new and not strong
    if new_country and new_ip:
        if travel_like:
            reasons.append((0.15, f"it came from {country}, new for the user, but on the user's own device "
                                  "(consistent with travel)"))
        elif device == "unknown" and not failures_before and not legacy_new:
            reasons.append((0.3, f"it came from {country}, new for the user (too few earlier sign-ins to know their "
                                 "devices)"))
        else:
            reasons.append((0.45, f"it came from {country}, a country new for the user, on an unfamiliar device"))
    elif new_ip and device == "unmanaged" and familiar.signin_days >= 2:
        reasons.append((0.3, "it came from a new address on the user's usual system but without the device id "
                             "their sign-ins from it always carry"))
    elif new_ip and device == "unfamiliar" and familiar.signin_days >= 2:
        reasons.append((0.25, "it came from a new address on a device and browser the user has not used"))
    if weak:
        if device in ("known", "familiar"):
            reasons.append((0.1, f"Entra rated it {level or 'low'} risk ({listing(sorted(events))}) on the "
                                 "user's own device"))
        else:
            reasons.append((0.3, f"Entra rated it {level or 'low'} risk ({listing(sorted(events))})"))
    if not reasons:
        return 0.0, []
    reasons.sort(key=lambda r: -r[0])
    top = reasons[0][0] + 0.05 * sum(1 for score, _ in reasons[1:] if score >= 0.3)
    return min(top, 0.9), [why for _, why in reasons]


def detection_ips(detections: pd.DataFrame) -> set[str]:
    if not len(detections):
        return set()
    kinds = pd.Series(texts(detections["risk_event_type"]), index=detections.index).str.lower()
    states = pd.Series(texts(detections["risk_state"]), index=detections.index)
    strong = kinds.isin(STRONG_RISK_EVENTS) & ~states.isin(["dismissed", "confirmedSafe"])
    strong &= kinds != "leakedcredentials"  # found offline on a paste site: its address is not the attacker's
    return {ip for ip in texts(detections.loc[strong, "ip"]) if ip}


def spam_ips(burst: pd.DataFrame, familiar: Familiar) -> set[str]:
    """New sending addresses (never in the baseline) with at least a fifth of their burst mail filtered as spam."""
    if not len(burst):
        return set()
    found = set()
    for ip, rows in burst.groupby("ip_text", sort=False):
        if not ip or ip in familiar.seen_ips:
            continue
        spam = int(rows["spam"].sum())
        if spam >= 3 and spam / len(rows) >= 0.2:
            found.add(str(ip))
    return found
