"""What the indicators need to know about a case, worked out once.

- the **burst**: the user's mail in the 24 hours up to the restriction (the window both Exchange's daily recipient
  limit and the outbound spam counts use), and the **baseline**: everything the user sent before it;
- the **limits** that apply to the user: the effective outbound spam policy (a custom policy whose rule names the
  user, else the default), with 0 resolved to the service defaults;
- the user's **familiar** places and devices from the baseline, and every sign-in **classified** against them with
  a suspicion and its reasons in words (``evidence.familiar``);
- the **suspect addresses**: those of suspicious sign-ins, of strong risk detections, and new sending addresses
  whose mail was filtered as spam.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pandas as pd

from toolkit import frames
from toolkit.case import Case
from toolkit.evidence.common import CoverageState, coverage, text, texts, truthy
from toolkit.evidence.familiar import (
    CREDENTIAL_FAILURES,
    DAY,
    STRONG_RISK_EVENTS,
    SUSPECT,
    Familiar,
    classify_signins,
    detection_ips,
    familiar_of,
    spam_ips,
)
from toolkit.frames import FrameError

log = logging.getLogger(__name__)

HOUR = pd.Timedelta(hours=1)


@dataclass(frozen=True)
class Limits:
    """The outbound limits that apply to the user (effective: 0 resolved to the service default)."""

    policy: str
    external_per_hour: int
    internal_per_hour: int
    per_day: int
    action: str
    source: str  # how it was chosen, in words


@dataclass
class Profile:
    """The derived view of one case that the indicators share."""

    case: Case
    addresses: frozenset[str]
    internal_domains: frozenset[str]
    restriction: pd.Series | None
    window_end: pd.Timestamp
    burst_start: pd.Timestamp
    sent: pd.DataFrame  # the user's outgoing trace rows, oldest first, with ``external`` and ``spam``
    burst: pd.DataFrame
    baseline: pd.DataFrame
    limits: Limits
    signins: pd.DataFrame  # classified: the frame's columns plus the derived ones
    familiar: Familiar
    attacker_ips: frozenset[str]  # suspicious sign-ins and strong risk detections
    spam_ips: frozenset[str]  # new sending addresses whose mail was filtered as spam
    coverage: dict[str, CoverageState]

    @property
    def suspect_ips(self) -> frozenset[str]:
        return self.attacker_ips | self.spam_ips

    @property
    def suspicious_signins(self) -> pd.DataFrame:
        return self.signins[self.signins["suspicion"] >= SUSPECT]

    def available(self, kind: str) -> bool:
        return self.coverage.get(kind, "complete") != "missing"

    def first_suspicious(self) -> pd.Timestamp | None:
        times = self.suspicious_signins["time"]
        return times.min() if len(times) else None

    def last_attacker_activity(self) -> pd.Timestamp | None:
        """The latest sign-in, message or audited change from a suspect address."""
        stamps: list[pd.Timestamp] = []
        suspect = self.suspect_ips
        signins = self.signins
        if len(signins):
            hits = signins[signins["ip_text"].isin(suspect) & truthy(signins["success"])]
            stamps += hits["time"].tolist()
        if len(self.sent):
            stamps += self.sent.loc[self.sent["ip_text"].isin(self.spam_ips | self.attacker_ips), "received"].tolist()
        audit = self.case.audit
        if len(audit):
            stamps += audit.loc[pd.Series(texts(audit["client_ip"]), index=audit.index).isin(suspect), "time"].tolist()
        stamps = [s for s in stamps if not pd.isna(s)]
        return max(stamps) if stamps else None


def build_profile(case: Case) -> Profile:
    addresses = frozenset(a.lower() for a in (*case.user.addresses, case.user.upn) if a)
    own_domains = {a.rsplit("@", 1)[-1] for a in addresses if "@" in a}
    internal = frozenset({d.lower() for d in case.accepted_domains} | own_domains)
    restriction = _restriction(case, addresses)
    sent = _sent(case, addresses, internal)
    window_end = _window_end(case, restriction, sent)
    burst_start = window_end - DAY
    burst = sent[(sent["received"] > burst_start) & (sent["received"] <= window_end)]
    baseline = sent[sent["received"] <= burst_start]
    usage = text(case.users["usage_location"].iloc[0]).upper() if len(case.users) else ""
    familiar = familiar_of(case.signins, baseline, burst_start, usage)
    signins = classify_signins(case.signins, familiar)
    attacker = set(signins.loc[(signins["suspicion"] >= SUSPECT) & truthy(signins["success"]), "ip_text"])
    attacker |= detection_ips(case.risk_detections)
    attacker.discard("")
    spam = spam_ips(burst, familiar)
    kinds = ("trace", "signins", "risky_users", "risk_detections", "rules", "mailbox", "grants", "auth_methods",
             "audit", "alerts", "restricted", "policy", "users")
    return Profile(case, addresses, internal, restriction, window_end, burst_start, sent, burst, baseline,
                   _limits(case), signins, familiar, frozenset(attacker), frozenset(spam),
                   {kind: coverage(case, kind) for kind in kinds})


# --- the restriction, the mail ---------------------------------------------------------------------------------------
def _restriction(case: Case, addresses: frozenset[str]) -> pd.Series | None:
    restricted = case.restricted
    if not len(restricted):
        return None
    mine = restricted[pd.Series(texts(restricted["sender"]), index=restricted.index).isin(addresses)]
    chosen = mine if len(mine) else restricted
    return chosen.sort_values("created", na_position="first").iloc[-1]


def _sent(case: Case, addresses: frozenset[str], internal: frozenset[str]) -> pd.DataFrame:
    trace = case.trace
    if not len(trace):
        sent = trace.copy()
        for name, dtype in (("external", bool), ("spam", bool), ("failed", bool), ("ip_text", object)):
            sent[name] = pd.Series(dtype=dtype)
        return sent
    senders = pd.Series(texts(trace["sender"]), index=trace.index)
    direction = pd.Series(texts(trace["direction"]), index=trace.index)
    sent = trace[senders.isin(addresses) & (direction != "inbound")].copy()
    domains = pd.Series(texts(sent["recipient_domain"]), index=sent.index)
    known_direction = pd.Series(texts(sent["direction"]), index=sent.index)
    sent["external"] = (known_direction == "outbound") | ((known_direction == "") & ~domains.isin(internal))
    status = pd.Series(texts(sent["status"]), index=sent.index)
    sent["spam"] = status.isin(["filteredAsSpam", "quarantined"])
    sent["failed"] = status == "failed"
    sent["ip_text"] = texts(sent["from_ip"])
    return sent.sort_values("received", kind="stable").reset_index(drop=True)


def _window_end(case: Case, restriction: pd.Series | None, sent: pd.DataFrame) -> pd.Timestamp:
    if restriction is not None and not pd.isna(restriction["created"]):
        return pd.Timestamp(restriction["created"])
    if len(sent):
        return pd.Timestamp(sent["received"].max())
    return pd.Timestamp(case.end)


def _limits(case: Case) -> Limits:
    defaults = frames.SERVICE_DEFAULTS
    if len(case.policy):
        try:
            row = frames.effective_policy(case.policy, case.policy_rules, case.user.primary_smtp)
        except FrameError as exc:
            log.warning("the effective outbound policy of %s cannot be determined: %s", case.user.upn, exc)
        else:
            name = text(row["name"])
            how = "the default policy (no custom policy's rule names the user)" if bool(row["is_default"]) else \
                f"the custom policy {name!r}, whose rule applies to the user"
            return Limits(name, _int(row["external_per_hour"], defaults["external_per_hour"]),
                          _int(row["internal_per_hour"], defaults["internal_per_hour"]),
                          _int(row["per_day"], defaults["per_day"]), text(row["action"]) or "BlockUserForToday", how)
    return Limits("(unknown)", defaults["external_per_hour"], defaults["internal_per_hour"], defaults["per_day"],
                  "BlockUserForToday", "the service defaults (the outbound spam policy was not collected)")


def _int(value: Any, default: int) -> int:
    return default if value is None or pd.isna(value) else int(value)


def peak_hour(times: pd.Series) -> tuple[int, pd.Timestamp | None]:
    """The most rows in any sliding hour (the way Exchange counts recipients per hour) and when that hour ended."""
    if not len(times):
        return 0, None
    ordered = pd.DatetimeIndex(times).as_unit("ns").sort_values()
    nanos = ordered.asi8
    starts = nanos.searchsorted(nanos - HOUR.value, side="right")
    counts = [i - start + 1 for i, start in enumerate(starts)]
    best = max(range(len(counts)), key=counts.__getitem__)
    return int(counts[best]), ordered[best]


__all__ = ["CREDENTIAL_FAILURES", "DAY", "HOUR", "STRONG_RISK_EVENTS", "SUSPECT", "Familiar", "Limits", "Profile",
           "build_profile", "classify_signins", "peak_hour"]
