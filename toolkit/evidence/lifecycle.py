"""The restriction's lifecycle: which block, when it lifts, what unblocking costs, and whether the same sending would
be restricted again (from the effective policy's limits and the burst's own pace)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from toolkit.evidence.audit import operations
from toolkit.evidence.common import names_address, text, texts, when
from toolkit.evidence.profile import Limits, Profile, peak_hour

Risk = Literal["high", "medium", "low", "unknown"]
RESTRICTED_ALERT = "user restricted from sending email"
UNBLOCK_OPERATIONS = frozenset({"remove-blockedsenderaddress"})


@dataclass(frozen=True)
class Lifecycle:
    """Where the restriction stands and what happens next."""

    restricted: bool
    block_type: str  # BlockUser, BlockUserForToday, or '' when the user is not restricted
    reason_kind: str  # sending_limit, outbound_spam, unknown, ''
    restricted_at: pd.Timestamp | None
    release_at: pd.Timestamp | None  # UTC, for a block for the day
    unblocks_used: int | None  # None: Microsoft does not report it (counted from the audit log when it shows them)
    previous_restrictions: int  # earlier "User restricted from sending email" alerts in the window
    limits: Limits
    recipients_24h: int
    peak_external_hour: int
    peak_internal_hour: int
    risk: Risk  # of being restricted again if the same sending goes on
    risk_reason: str
    exceeded: str = ""  # Exchange's ExceedingLimitType (Internal or External) for a sending-limit block

    def sentence(self) -> str:
        if not self.restricted:
            return "The user is not on the Restricted entities list."
        if self.block_type == "BlockUserForToday":
            block = (f"Blocked for the day since {when(self.restricted_at)}: it lifts by itself at "
                     f"{when(self.release_at)} (the next UTC midnight); an admin may remove it earlier.")
        else:
            block = (f"Blocked since {when(self.restricted_at)} until an admin removes it (BlockUser); removal takes "
                     "effect usually within an hour, at most 24 hours, and the user is not restricted again for the "
                     "rest of that day.")
        used = ("Unblocks already used: unknown (Microsoft does not report the allowance; each account can be "
                "unblocked only a limited number of times).") if self.unblocks_used is None else \
            f"Unblocks already used (from the audit log): {self.unblocks_used}; the allowance is limited."
        earlier = f" Restricted {self.previous_restrictions} time(s) before in the window." \
            if self.previous_restrictions else ""
        return f"{block} {used}{earlier} Risk of a new restriction: {self.risk}: {self.risk_reason}"


def lifecycle(profile: Profile, label: str, remediated: bool) -> Lifecycle:
    restriction = profile.restriction
    limits = profile.limits
    burst = profile.burst
    peak_ext, _ = peak_hour(burst.loc[burst["external"], "received"]) if len(burst) else (0, None)
    peak_int, _ = peak_hour(burst.loc[~burst["external"], "received"]) if len(burst) else (0, None)
    total = len(burst)
    risk, reason = _risk(profile, label, remediated, peak_ext, peak_int, total)
    if restriction is None:
        return Lifecycle(False, "", "", None, None, _unblocks(profile), _previous(profile), limits, total, peak_ext,
                         peak_int, risk, reason)
    counted = sum(int(restriction[c]) for c in ("internal_recipients_today", "external_recipients_today")
                  if not pd.isna(restriction[c]))
    total = max(total, counted)  # Exchange's own count, when the trace holds less
    created = restriction["created"]
    release = restriction["release_at"]
    block = text(restriction["block_type"])
    if block == "BlockUserForToday" and pd.isna(release) and not pd.isna(created):
        release = (pd.Timestamp(created).floor("D") + pd.Timedelta(days=1))
    return Lifecycle(True, block, text(restriction["reason_kind"]), None if pd.isna(created) else pd.Timestamp(created),
                     None if pd.isna(release) else pd.Timestamp(release), _unblocks(profile), _previous(profile),
                     limits, total, peak_ext, peak_int, risk, reason, text(restriction["exceeding_limit_type"]))


def _unblocks(profile: Profile) -> int | None:
    records = operations(profile.case.audit, UNBLOCK_OPERATIONS)
    if not len(records):
        return None
    mentions = [r for r in records.to_dict("records")
                if names_address(f"{text(r['target'])} {text(r['object_id'])} {text(r['parameters'])}",
                                 profile.addresses)]
    return len(mentions) or None


def _previous(profile: Profile) -> int:
    alerts = profile.case.alerts
    if not len(alerts) or profile.restriction is None or pd.isna(profile.restriction["created"]):
        return 0
    titles = pd.Series(texts(alerts["title"]), index=alerts.index).str.lower()
    earlier = alerts[(titles == RESTRICTED_ALERT)
                     & (alerts["created"] < pd.Timestamp(profile.restriction["created"]) - pd.Timedelta(hours=1))]
    return len(earlier)


def _risk(profile: Profile, label: str, remediated: bool, peak_ext: int, peak_int: int,
          total: int) -> tuple[Risk, str]:
    limits = profile.limits
    over: list[str] = []
    if peak_ext > limits.external_per_hour:
        minutes = math.ceil(limits.external_per_hour / peak_ext * 60)
        over.append(f"at the burst's pace ({peak_ext:,} external recipients in its busiest hour) the external limit "
                    f"of {limits.external_per_hour:,} per hour is reached again within about {minutes} minutes")
    if peak_int > limits.internal_per_hour:
        minutes = math.ceil(limits.internal_per_hour / peak_int * 60)
        over.append(f"at {peak_int:,} internal recipients an hour the internal limit of "
                    f"{limits.internal_per_hour:,} is reached within about {minutes} minutes")
    if total > limits.per_day:
        over.append(f"{total:,} recipients in 24 hours is over the daily limit of {limits.per_day:,}")
    spam = profile.restriction is not None and text(profile.restriction["reason_kind"]) == "outbound_spam"
    if label == "compromised" and not remediated:
        return "high", ("the attacker can still send as the user; "
                        + ("; ".join(over) if over else "the outbound spam filter restricts again as soon as spam "
                           "flows") + ".")
    if over:
        return "high", "if the same sending goes on, " + "; ".join(over) + "."
    if profile.restriction is not None and text(profile.restriction["reason_kind"]) == "sending_limit":
        kind = text(profile.restriction["exceeding_limit_type"]).lower() or "a"
        return "high", (f"Exchange counted the user over the {kind} recipient limit; the same sending will be "
                        "restricted again (the trace holds less than Exchange counted, so the pace is unknown).")
    near = [name for peak, limit, name in ((peak_ext, limits.external_per_hour, "external hourly"),
                                           (peak_int, limits.internal_per_hour, "internal hourly"),
                                           (total, limits.per_day, "daily"))
            if limit and peak >= 0.8 * limit]
    if near:
        return "medium", f"the burst came within 20% of the {' and '.join(near)} limit."
    if spam and label != "compromised":
        return "medium", "the outbound spam filter judged the mail as spam; similar mail will be restricted again."
    if not len(profile.burst):
        return "unknown", "the message trace is missing, so the pace is unknown."
    return "low", "the burst stayed well within the limits."
