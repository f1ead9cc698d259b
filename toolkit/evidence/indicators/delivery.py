"""Delivery ratios: how much of the burst Exchange filtered as spam, and how much bounced.

The outbound filter judges content, not volume, so mail filtered as spam from an account whose earlier mail never
was is the most direct sign that someone else is writing it; the restriction's own reason carries the same count
when the trace is missing. A high bounce rate means addresses that do not exist (harvested lists): mail-industry
practice treats more than 2 % as a problem and more than 5 % as a bad list. A large burst that was delivered in
full points the other way.
"""

from __future__ import annotations

import pandas as pd

from toolkit.evidence.common import count, percent, text, when
from toolkit.evidence.findings import DELIVERY, EvidenceRows, Finding, finding
from toolkit.evidence.profile import Profile

BOUNCE_PROBLEM = 0.02
BOUNCE_BAD = 0.05


def _spam_strength(share: float) -> float:
    if share >= 0.5:
        return 0.8
    if share >= 0.25:
        return 0.65
    if share >= 0.1:
        return 0.45
    if share >= 0.02:
        return 0.25
    return 0.0


def spam_filtered(profile: Profile) -> list[Finding]:
    """The share of the burst filtered as spam (or quarantined), against the user's baseline."""
    burst, baseline = profile.burst, profile.baseline
    restriction = profile.restriction
    reason_share = None
    if restriction is not None and text(restriction["reason_kind"]) == "outbound_spam":
        spam, mail = restriction["spam_last_24h"], restriction["mail_last_24h"]
        if not pd.isna(spam) and not pd.isna(mail) and int(mail) > 0:
            reason_share = int(spam) / int(mail)
    if not len(burst):
        if reason_share is None:
            return []
        rows = EvidenceRows.of("restricted", restriction.to_frame().T, ("reason", "created"))  # type: ignore[union-attr]
        sentence = (f"Exchange restricted the account for outbound spam: {percent(reason_share)} of its mail in the "
                    f"24 hours before {when(profile.window_end)} was spam (the message trace is not available to show "
                    "which).")
        return [finding("delivery.spam", DELIVERY, sentence, _spam_strength(reason_share), "compromise", [rows])]
    share = float(burst["spam"].mean())
    base_share = float(baseline["spam"].mean()) if len(baseline) else 0.0
    spam_rows = burst[burst["spam"]]
    excess = share - base_share
    if not len(spam_rows) or _spam_strength(excess) == 0.0:
        return []
    subjects = spam_rows["subject"].astype(str).value_counts().head(2)
    sample = ", ".join(f"'{s}'" for s in subjects.index)
    sentence = (f"{percent(share)} of the burst ({count(len(spam_rows), 'recipient')}) was filtered as spam or "
                f"quarantined by Exchange, against {percent(base_share)} of the user's earlier mail; "
                f"filtered subjects include {sample}.")
    if reason_share is not None:
        sentence += f" The restriction itself is for outbound spam ({percent(reason_share)} spam in 24 hours)."
    rows = EvidenceRows.of("trace", spam_rows.head(15), ("received", "recipient", "subject", "status", "from_ip"))
    return [finding("delivery.spam", DELIVERY, sentence, _spam_strength(excess), "compromise", [rows])]


def bounces(profile: Profile) -> list[Finding]:
    """The share of burst recipients whose delivery failed (addresses that do not exist)."""
    burst, baseline = profile.burst, profile.baseline
    if len(burst) < 50:
        return []
    share = float(burst["failed"].mean())
    base = float(baseline["failed"].mean()) if len(baseline) else 0.0
    failed = burst[burst["failed"]]
    if share < BOUNCE_PROBLEM or share - base < BOUNCE_PROBLEM:
        return []
    strength = 0.5 if share >= 0.1 else 0.35 if share >= BOUNCE_BAD else 0.15
    rows = EvidenceRows.of("trace", failed.head(15), ("received", "recipient", "status"))
    return [finding("delivery.bounces", DELIVERY,
                    f"{percent(share)} of the burst's recipients bounced ({count(len(failed), 'address', 'addresses')}"
                    f"), against {percent(base)} before: a list with many addresses that do not exist.",
                    strength, "compromise", [rows])]


def delivered_clean(profile: Profile) -> list[Finding]:
    """A burst that Exchange delivered without filtering any of it (the content filter saw nothing wrong)."""
    burst = profile.burst
    if not len(burst) or bool(burst["spam"].any()):
        return []
    failed = float(burst["failed"].mean())
    if failed >= BOUNCE_PROBLEM:
        return []
    messages = burst["trace_id"].nunique()
    strength = 0.45 if messages >= 50 else 0.3 if messages >= 10 else 0.15
    return [finding("delivery.clean", DELIVERY,
                    f"None of the burst's {count(len(burst), 'recipient')} ({count(messages, 'message')}) was filtered "
                    f"as spam, and {percent(failed)} bounced: Exchange's content filter found nothing wrong with it.",
                    strength, "benign")]
