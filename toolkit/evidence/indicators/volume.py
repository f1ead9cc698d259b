"""Sending volume and limits: the burst against the effective policy's limits and against the user's own baseline.

Volume alone does not say who sent the mail (a newsletter and a spam run both go over the limit), so the limit
finding is neutral: it explains the restriction and feeds the lifecycle. Volume that the user's own history already
shows points to a routine sender; a burst at hours the user never sends at points, weakly, to someone else.
"""

from __future__ import annotations

import pandas as pd

from toolkit.evidence.common import count, listing, percent, text, when
from toolkit.evidence.findings import VOLUME, EvidenceRows, Finding, finding
from toolkit.evidence.profile import Profile, peak_hour

#: The fewest active baseline days, and baseline messages, that say what is usual for the user.
MIN_BASELINE_DAYS = 3
MIN_BASELINE_MESSAGES = 20


def burst_against_limits(profile: Profile) -> list[Finding]:
    """How the 24 hours before the block compare with the effective policy's hourly and daily limits."""
    burst, limits = profile.burst, profile.limits
    if not len(burst) and profile.restriction is None:
        return []
    external, internal = burst[burst["external"]], burst[~burst["external"]]
    peak_ext, _ = peak_hour(external["received"])
    peak_int, _ = peak_hour(internal["received"])
    over = []
    if peak_ext > limits.external_per_hour:
        over.append(f"the external limit of {limits.external_per_hour:,} per hour")
    if peak_int > limits.internal_per_hour:
        over.append(f"the internal limit of {limits.internal_per_hour:,} per hour")
    if len(burst) > limits.per_day:
        over.append(f"the daily limit of {limits.per_day:,}")
    sentence = (f"In the 24 hours up to {when(profile.window_end)} the user sent to {count(len(burst), 'recipient')} "
                f"({len(external):,} external, {len(internal):,} internal); the busiest hour had {peak_ext:,} external "
                f"and {peak_int:,} internal. The limits come from {limits.source} ({limits.external_per_hour:,} "
                f"external and {limits.internal_per_hour:,} internal per hour, {limits.per_day:,} per day, action "
                f"{limits.action}).")
    sentence += f" That is over {listing(over)}." if over else " That is within every recipient limit."
    rows = []
    restriction = profile.restriction
    if restriction is not None:
        kind = text(restriction["reason_kind"])
        if kind == "sending_limit":
            sentence += (f" Exchange's reason: recipient limit exceeded ({text(restriction['exceeding_limit_type'])}; "
                         f"{_n(restriction['external_recipients_today'])} external and "
                         f"{_n(restriction['internal_recipients_today'])} internal recipients today).")
        elif kind == "outbound_spam":
            sentence += (f" Exchange's reason: outbound spam ({_n(restriction['spam_last_24h'])} of "
                         f"{_n(restriction['mail_last_24h'])} messages in 24 hours were spam).")
        rows.append(EvidenceRows.of("restricted", restriction.to_frame().T,
                                    ("reason_kind", "block_type", "created", "reason")))
    return [finding("volume.limits", VOLUME, sentence, 0.0, "neutral", rows)]


def burst_against_baseline(profile: Profile) -> list[Finding]:
    """The burst against what the user usually sends in a day."""
    burst, baseline = profile.burst, profile.baseline
    if not len(burst):
        return []
    daily = baseline.groupby(baseline["received"].dt.date).size() if len(baseline) else pd.Series(dtype=int)
    if len(daily) < MIN_BASELINE_DAYS:
        return [finding("volume.baseline", VOLUME,
                        f"The user sent to {count(len(burst), 'recipient')} in the 24 hours before the block; their "
                        f"mail before that covers only {count(len(daily), 'day')}, too little to say what is usual.",
                        0.0, "neutral")]
    usual, most = int(daily.median()), int(daily.max())
    busiest = daily.idxmax()
    ratio = len(burst) / max(most, 1)
    base = (f"The user sent to {count(len(burst), 'recipient')} in the 24 hours before the block; on their "
            f"{len(daily)} earlier active days they sent to {usual:,} a day (median), {most:,} at most (on {busiest}).")
    if ratio <= 1.5:
        return [finding("volume.baseline", VOLUME, base + " This volume is routine for the account.", 0.35, "benign")]
    return [finding("volume.baseline", VOLUME, base + f" That is {ratio:,.0f} times their busiest day.", 0.0,
                    "neutral")]


def off_hours(profile: Profile) -> list[Finding]:
    """A burst sent at hours of the day the user's baseline mail never uses (UTC)."""
    burst, baseline = profile.burst, profile.baseline
    if not len(burst) or not len(baseline):
        return []
    base_messages = baseline.drop_duplicates("trace_id")
    days = base_messages["received"].dt.date.nunique()
    if len(base_messages) < MIN_BASELINE_MESSAGES or days < MIN_BASELINE_DAYS:
        return []
    usual = set()
    for hour in base_messages["received"].dt.hour:
        usual |= {(hour - 1) % 24, hour, (hour + 1) % 24}
    messages = burst.drop_duplicates("trace_id")
    hours = messages["received"].dt.hour
    outside = ~hours.isin(usual)
    share = float(outside.mean())
    if share < 0.8:
        return []
    span_text = f"{messages['received'].min():%H:%M} to {messages['received'].max():%H:%M} UTC"
    usual_text = f"{min(base_messages['received'].dt.hour):02d}:00 to {max(base_messages['received'].dt.hour):02d}:59"
    rows = EvidenceRows.of("trace", messages[outside].head(10), ("received", "subject", "from_ip"))
    return [finding("volume.off_hours", VOLUME,
                    f"{percent(share)} of the burst's messages ({span_text}) went out at hours the user's "
                    f"{len(base_messages):,} earlier messages over {days} days never used (they fall within "
                    f"{usual_text} UTC).", 0.2, "compromise", [rows])]


def _n(value: object) -> str:
    return "?" if value is None or pd.isna(value) else f"{int(value):,}"  # type: ignore[call-overload]
