"""The verdict: the findings combined into compromised, benign or inconclusive, with a confidence and reasons.

How the findings combine:

1. Each finding weighs ``-ln(1 - strength)`` (log-odds units), positive towards compromise, negative towards a
   benign cause; neutral findings weigh nothing.
2. Within a family (sign-ins & risk, rules & forwarding, ...) the findings often restate one event (a risky sign-in
   and its risk detection), so a family counts its strongest finding in full and the others at half weight, per
   direction.
3. The score is the sum over families. **Compromised** needs a score of at least 1.0, one finding of strength 0.5 or
   more (one solid indicator, not a pile of weak ones), *and* compromise evidence from two families (a second,
   independent kind of evidence), unless one finding alone is decisive (0.85 or more: an admin confirmed the
   compromise). **Benign** needs a score of -0.5 or less, no single
   compromise finding of strength 0.6 or more, *and* the evidence needed to clear an account: the message trace and
   the sign-in log (a compromise can be proven from what is there; a clean bill of health cannot be given without
   the sign-ins). Anything else is **inconclusive**: the evidence is missing or conflicts.

A wrong "benign" costs most (the attacker keeps sending and the tenant itself gets restricted), hence the
asymmetry: the bar for benign is evidence of a benign cause *and* the absence of strong compromise signs *and*
complete clearing evidence.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from toolkit.evidence.findings import Finding
from toolkit.evidence.lifecycle import Lifecycle, lifecycle
from toolkit.evidence.profile import Profile

Label = Literal["compromised", "benign", "inconclusive"]

COMPROMISED_AT = 1.0
BENIGN_AT = -0.5
SOLID = 0.5  # a finding this strong can carry a compromised verdict
DECISIVE = 0.85  # a finding this strong needs no second family
BARS_BENIGN = 0.6  # a compromise finding this strong rules out benign
OTHERS = 0.5  # the weight of a family's other findings, after its strongest
#: What must be there to clear an account, and what lowers the confidence in a benign verdict when partial.
CLEARING_KINDS = ("trace", "signins")
SUPPORTING_KINDS = ("rules", "mailbox", "audit", "grants", "auth_methods", "risk_detections")
MAX_REASONS = 4
MAX_CONFIDENCE = 0.99  # evidence never makes it certain


@dataclass(frozen=True)
class Verdict:
    """The combined answer for one restricted user."""

    label: Label
    confidence: float  # compromised: P(compromised); benign: P(benign) x coverage; inconclusive: how far it leans
    leaning: Literal["compromised", "benign", "none"]
    score: float  # the summed log-odds (positive: compromise)
    reasons: tuple[str, ...]  # the top findings' sentences, strongest first
    missing: tuple[str, ...]  # evidence that could not be collected (the ledger) or read (a failed indicator)
    basis: str  # how the verdict was reached, in one sentence
    lifecycle: Lifecycle

    @property
    def p_compromised(self) -> float:
        return _sigmoid(self.score)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def family_scores(findings: Iterable[Finding]) -> dict[str, tuple[float, float]]:
    """Per family: (compromise weight, benign weight), the strongest in full and the rest at half."""
    grouped: dict[str, dict[str, list[float]]] = defaultdict(lambda: {"compromise": [], "benign": []})
    for item in findings:
        if item.direction in ("compromise", "benign") and item.weight:
            grouped[item.family][item.direction].append(abs(item.weight))
    scores = {}
    for family, sides in grouped.items():
        parts = []
        for side in ("compromise", "benign"):
            weights = sorted(sides[side], reverse=True)
            parts.append(weights[0] + OTHERS * sum(weights[1:]) if weights else 0.0)
        scores[family] = (parts[0], parts[1])
    return scores


def score(findings: Iterable[Finding]) -> float:
    return sum(c - b for c, b in family_scores(findings).values())


def decide(profile: Profile, findings: list[Finding], failures: Sequence[str] = (), *,
           remediated: bool = False) -> Verdict:
    """The verdict on one case from its findings (``remediated``: the password was reset and sessions revoked after
    the last suspicious activity, which lowers the risk of a new restriction)."""
    families = family_scores(findings)
    total = round(sum(c - b for c, b in families.values()), 3)
    strongest = max((f.strength for f in findings if f.direction == "compromise"), default=0.0)
    corroborated = sum(1 for c, _ in families.values() if c > 0) >= 2 or strongest >= DECISIVE
    missing_kinds = [kind for kind in CLEARING_KINDS if not profile.available(kind)]
    partial = [kind for kind in (*CLEARING_KINDS, *SUPPORTING_KINDS) if profile.coverage.get(kind) == "partial"]
    p = _sigmoid(total)
    missing = tuple(dict.fromkeys([*profile.case.gaps(), *(f"indicator failed: {f}" for f in failures)]))
    if total >= COMPROMISED_AT and strongest >= SOLID and corroborated:
        label: Label = "compromised"
        confidence = p
        basis = (f"The compromise evidence outweighs the rest (score {total:+.1f}; strongest finding "
                 f"{strongest:.2f}).")
    elif total <= BENIGN_AT and strongest < BARS_BENIGN and not missing_kinds:
        label = "benign"
        confidence = (1 - p) * 0.9 ** len(partial)
        basis = f"A benign cause explains the evidence and nothing strong points to compromise (score {total:+.1f})."
    else:
        label = "inconclusive"
        confidence = max(p, 1 - p)
        if missing_kinds and total <= BENIGN_AT:
            basis = (f"The available evidence leans benign (score {total:+.1f}), but an account cannot be cleared "
                     f"without its {' and '.join(_names(missing_kinds))}.")
        elif missing_kinds:
            basis = (f"The evidence is not enough to decide (score {total:+.1f}) and the "
                     f"{' and '.join(_names(missing_kinds))} could not be collected.")
        elif total >= COMPROMISED_AT and strongest >= SOLID:
            basis = (f"The evidence leans towards compromise (score {total:+.1f}) but rests on one kind of evidence "
                     "only; a second, independent sign is needed.")
        elif not any(c or b for c, b in families.values()):
            basis = "There is too little evidence to decide either way."
        else:
            basis = (f"The evidence conflicts (score {total:+.1f}, strongest compromise finding {strongest:.2f}): "
                     "neither side is clear.")
    leaning: Literal["compromised", "benign", "none"] = \
        "compromised" if total > 0.25 else "benign" if total < -0.25 else "none"
    return Verdict(label, round(min(confidence, MAX_CONFIDENCE), 3), leaning, total,
                   _reasons(findings, label, leaning), missing, basis, lifecycle(profile, label, remediated))


def _names(kinds: list[str]) -> list[str]:
    return ["message trace" if k == "trace" else "sign-in log" if k == "signins" else k for k in kinds]


def _reasons(findings: list[Finding], label: Label, leaning: str) -> tuple[str, ...]:
    """The strongest findings behind the verdict (one per indicator); for inconclusive, the strongest on each side."""
    if label == "inconclusive":
        sides = [("compromise", MAX_REASONS // 2), ("benign", MAX_REASONS // 2)]
        if leaning == "benign":
            sides.reverse()
    else:
        sides = [("compromise" if label == "compromised" else "benign", MAX_REASONS)]
    reasons: list[str] = []
    for side, limit in sides:
        seen: set[str] = set()
        for item in sorted((f for f in findings if f.direction == side), key=lambda f: -f.strength):
            if item.indicator in seen:
                continue
            seen.add(item.indicator)
            reasons.append(item.sentence)
            if len(seen) == limit:
                break
    return tuple(reasons)
