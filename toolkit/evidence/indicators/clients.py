"""Clients and IPs: where the burst was submitted from, against where the user usually sends and signs in.

Each sending address of the burst is one of: the user's own (in their baseline mail or sign-ins), a suspect one
(a suspicious sign-in or a strong risk detection came from it), one where the user signed in normally (a hotel on a
trip), or one the user never used and never signed in from (an app sending through Graph, or a relay).
The client matters too: a burst submitted over a legacy protocol (SMTP AUTH) the user never uses.
"""

from __future__ import annotations

import pandas as pd

from toolkit.evidence.common import count, listing, percent, truthy, when
from toolkit.evidence.findings import CLIENTS, EvidenceRows, Finding, finding
from toolkit.evidence.profile import SUSPECT, Profile

SIGNIN_COLUMNS = ("time", "ip", "country", "client_app", "app", "success", "os", "browser", "why")


def sending_addresses(profile: Profile) -> list[Finding]:
    burst = profile.burst
    if not len(burst):
        return []
    signins = profile.signins
    success = signins[truthy(signins["success"])] if len(signins) else signins
    ordinary_signin_ips = set(success.loc[success["suspicion"] < SUSPECT, "ip_text"]) if len(success) else set()
    familiar = profile.familiar.seen_ips
    groups = {"own": [], "suspect": [], "signed_in": [], "unexplained": []}
    for ip, rows in burst.groupby("ip_text", sort=False):
        ip = str(ip)
        if ip in profile.attacker_ips:
            groups["suspect"].append((ip, rows))
        elif ip in familiar:
            groups["own"].append((ip, rows))
        elif ip in ordinary_signin_ips:
            groups["signed_in"].append((ip, rows))
        else:
            groups["unexplained"].append((ip, rows))
    findings: list[Finding] = []
    total = len(burst)

    def share(items: list[tuple[str, pd.DataFrame]]) -> tuple[int, float]:
        n = sum(len(rows) for _, rows in items)
        return n, n / total

    def rows_of(items: list[tuple[str, pd.DataFrame]]) -> EvidenceRows:
        frame = pd.concat([rows.head(5) for _, rows in items])
        return EvidenceRows.of("trace", frame, ("received", "from_ip", "recipient", "subject"))

    n, part = share(groups["suspect"])
    if n:
        ips = [ip for ip, _ in groups["suspect"]]
        hits = signins[signins["ip_text"].isin(ips) & (signins["suspicion"] >= SUSPECT)]
        first = when(hits["time"].min()) if len(hits) else "the risk detection"
        evidence = [rows_of(groups["suspect"])]
        if len(hits):
            evidence.append(EvidenceRows.of("signins", hits, SIGNIN_COLUMNS))
        findings.append(finding("clients.suspect_sender", CLIENTS,
                                f"{percent(part)} of the burst ({count(n, 'recipient')}) was sent from "
                                f"{listing(ips)}, the address of a suspicious sign-in (first at {first}).",
                                0.65, "compromise", evidence))
    n, part = share(groups["unexplained"])
    if n:
        ips = [ip for ip, _ in groups["unexplained"]]
        findings.append(finding("clients.new_sender", CLIENTS,
                                f"{percent(part)} of the burst ({count(n, 'recipient')}) was sent from {listing(ips)}, "
                                "never used by the user before and with no sign-in of theirs: an app or a relay "
                                "sending as the user.", 0.35 if part >= 0.5 else 0.2, "compromise",
                                [rows_of(groups["unexplained"])]))
    n, part = share(groups["signed_in"])
    if n:
        ips = [ip for ip, _ in groups["signed_in"]]
        there = success[success["ip_text"].isin(ips)]
        own_device = bool(len(there)) and bool(there["device"].isin(["known", "familiar"]).all()) \
            and float(there["suspicion"].max()) < 0.2
        evidence = [rows_of(groups["signed_in"]), EvidenceRows.of("signins", there, SIGNIN_COLUMNS)]
        if own_device:
            findings.append(finding("clients.signed_in_sender", CLIENTS,
                                    f"{percent(part)} of the burst was sent from {listing(ips)}, new for the user's "
                                    "mail, but where the user signed in on their own device with nothing suspicious "
                                    "(working from a new place, such as home or a trip).", 0.25, "benign", evidence))
        else:
            findings.append(finding("clients.signed_in_sender", CLIENTS,
                                    f"{percent(part)} of the burst was sent from {listing(ips)}, new for the user's "
                                    "mail; the user signed in there, but not on a device their baseline shows.",
                                    0.0, "neutral", evidence))
    n, part = share(groups["own"])
    if n and part >= 0.9:
        ips = [ip for ip, _ in groups["own"]]
        findings.append(finding("clients.usual_sender", CLIENTS,
                                f"{percent(part)} of the burst was sent from {listing(ips)}, where the user's earlier "
                                "mail or sign-ins came from.", 0.4, "benign", [rows_of(groups["own"])]))
    return findings


def sending_client(profile: Profile) -> list[Finding]:
    """Legacy-protocol sign-ins (SMTP AUTH, IMAP...) from the burst's sending addresses during the burst."""
    burst, signins = profile.burst, profile.signins
    if not len(burst) or not len(signins):
        return []
    ips = set(burst["ip_text"])
    start = profile.burst_start
    legacy = signins[truthy(signins["success"]) & truthy(signins["legacy_protocol"]) & signins["ip_text"].isin(ips)
                     & (signins["time"] >= start - pd.Timedelta(hours=24)) & (signins["time"] <= profile.window_end)]
    if not len(legacy):
        return []
    clients = sorted(set(legacy["client_app"].astype(str)))
    rows = EvidenceRows.of("signins", legacy, SIGNIN_COLUMNS)
    new = legacy[legacy["legacy_new"].astype(bool)]
    if len(new):
        return [finding("clients.legacy_sender", CLIENTS,
                        f"The burst was submitted over {listing(clients)} (a legacy protocol the user does not use) "
                        f"from {listing(sorted(set(new['ip_text'])))}: {count(len(new), 'sign-in')} between "
                        f"{when(new['time'].min())} and {when(new['time'].max())}.", 0.5, "compromise", [rows])]
    return [finding("clients.legacy_sender", CLIENTS,
                    f"The burst was submitted over {listing(clients)} from {listing(sorted(set(legacy['ip_text'])))}, "
                    "as the account's earlier mail was: a device or application that sends this way routinely.",
                    0.2, "benign", [rows])]
