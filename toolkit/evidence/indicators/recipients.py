"""Recipients and campaign: who the burst went to, and whether it was one message copied or personal messages.

Bulk mail and spam both reach people the user never wrote to, so first-time recipients weigh little either way;
a burst to the user's existing contacts points to their own work. Subjects tell a campaign (one or a few subjects
repeated) from a personalised mail merge (one template, a different name in each subject, one recipient each),
which spam runs from hijacked accounts rarely bother with.
"""

from __future__ import annotations

import re
from collections import Counter

from toolkit.evidence.common import count, listing, percent, texts
from toolkit.evidence.findings import RECIPIENTS, EvidenceRows, Finding, finding
from toolkit.evidence.profile import Profile

#: Fewer burst messages than this say nothing about a campaign.
MIN_MESSAGES = 10
_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|wg|tr|sv)\s*:\s*)+", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def first_time_recipients(profile: Profile) -> list[Finding]:
    """The share of burst recipients (and their domains) the user never sent to before."""
    burst, baseline = profile.burst, profile.baseline
    if not len(burst) or not len(baseline):
        return []
    recipients = set(texts(burst["recipient"]))
    known = set(texts(baseline["recipient"]))
    domains = set(texts(burst["recipient_domain"]))
    known_domains = set(texts(baseline["recipient_domain"]))
    new = recipients - known
    new_domains = domains - known_domains
    share = len(new) / max(len(recipients), 1)
    sentence = (f"{percent(share)} of the burst's {len(recipients):,} recipients were new for the user "
                f"({len(new_domains):,} of {len(domains):,} domains never written to before, e.g. "
                f"{listing(sorted(new_domains), 3)}).")
    if share <= 0.3:
        return [finding("recipients.first_time", RECIPIENTS, sentence + " Most were existing contacts.", 0.2,
                        "benign")]
    if share >= 0.9 and len(new_domains) >= 20:
        return [finding("recipients.first_time", RECIPIENTS,
                        sentence + " Nearly all were strangers, spread over many domains.", 0.15, "compromise")]
    return [finding("recipients.first_time", RECIPIENTS, sentence, 0.0, "neutral")]


def normalise(subject: str) -> str:
    """A subject without reply/forward prefixes, lowercased, with digits folded (``Invoice 123`` = ``Invoice 456``)."""
    return re.sub(r"\d+", "#", _PREFIX.sub("", subject)).strip().lower()


def campaign(profile: Profile) -> list[Finding]:
    """One message copied to many (a campaign) or a personalised mail merge."""
    burst = profile.burst
    if not len(burst):
        return []
    messages = burst.drop_duplicates("trace_id")
    if len(messages) < MIN_MESSAGES:
        return []
    subjects = [normalise(s) for s in texts(messages["subject"])]
    per_message = len(burst) / len(messages)
    counts = Counter(subjects)
    top, top_n = counts.most_common(1)[0]
    distinct = len(counts)
    rows = EvidenceRows.of("trace", messages.head(10), ("received", "subject", "recipient"))
    shape = f"{count(len(messages), 'message')} to {len(burst):,} recipients ({per_message:,.1f} per message)"
    template = _template(subjects)
    if distinct >= 0.5 * len(messages) and template and per_message <= 1.5:
        return [finding("recipients.campaign", RECIPIENTS,
                        f"The burst was personalised: {shape}, {distinct:,} different subjects on one template "
                        f"('{template}'), one recipient each: a mail merge rather than a copied message.",
                        0.25, "benign", [rows])]
    if top_n >= 0.5 * len(messages) or distinct <= max(3, 0.1 * len(messages)):
        top_subjects = [f"'{s}' ({n:,})" for s, n in counts.most_common(3)]
        return [finding("recipients.campaign", RECIPIENTS,
                        f"The burst was a campaign: {shape} under {count(distinct, 'subject')}, "
                        f"chiefly {listing(top_subjects, 3)}.", 0.0, "neutral", [rows])]
    return [finding("recipients.campaign", RECIPIENTS,
                    f"The burst was {shape} under {distinct:,} different subjects (the most common: '{top}', "
                    f"{top_n:,}).", 0.0, "neutral", [rows])]


def _template(subjects: list[str]) -> str:
    """The words most subjects share, in order, when each subject adds only a few words of its own."""
    words = [_WORD.findall(s) for s in subjects]
    presence = Counter(w for ws in words for w in set(ws))
    common = {w for w, n in presence.items() if n >= 0.6 * len(subjects)}
    if len(common) < 2:
        return ""
    own = [len([w for w in ws if w not in common]) for ws in words]
    if sorted(own)[len(own) // 2] > 3 or sum(1 for n in own if n == 0) > 0.2 * len(own):
        return ""
    sample = max(words, key=lambda ws: (sum(1 for w in ws if w in common), -len(ws)))
    return " ".join(w if w in common else "…" for w in sample)
