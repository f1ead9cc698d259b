"""Assess one case (pure), or triage every restricted user of a tenant (collects through the tenant, then assesses).

    from toolkit.evidence import assess, triage
    assessment = assess(case)              # findings + verdict + plan, offline
    print(assessment.report())
    table = triage(tenant)                 # one row per restricted user

``assess`` touches no network: the case holds the frames. ``triage`` asks the tenant object (anything with
``restricted_users()`` and ``investigate()``) for the cases and assesses each; it imports no client module itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd

from toolkit.case import Case
from toolkit.errors import ToolkitError
from toolkit.evidence.common import texts
from toolkit.evidence.findings import Finding
from toolkit.evidence.indicators import run_indicators
from toolkit.evidence.indicators.remediation import RemediationState, remediation_state
from toolkit.evidence.plan import Recommendation, recommend
from toolkit.evidence.profile import Profile, build_profile
from toolkit.evidence.verdict import Verdict, decide

log = logging.getLogger(__name__)

TRIAGE_COLUMNS = ("user", "verdict", "confidence", "reasons", "next_step", "block_type", "release_at", "risk",
                  "missing")


@dataclass(frozen=True)
class Assessment:
    """Everything the evidence engine says about one user."""

    user: str
    findings: tuple[Finding, ...]
    verdict: Verdict
    plan: Recommendation
    remediation: RemediationState
    profile: Profile

    def row(self) -> dict[str, Any]:
        """The triage row: user, verdict, confidence, top reasons, next step (and the lifecycle's essentials)."""
        life = self.verdict.lifecycle
        return {
            "user": self.user,
            "verdict": self.verdict.label,
            "confidence": self.verdict.confidence,
            "reasons": list(self.verdict.reasons[:3]),
            "next_step": self.plan.next_step,
            "block_type": life.block_type or None,
            "release_at": life.release_at,
            "risk": life.risk,
            "missing": list(self.verdict.missing),
        }

    def report(self) -> str:
        """The assessment in plain text: verdict, reasons, lifecycle, plan, missing evidence and every finding."""
        v = self.verdict
        lines = [f"{self.user}: {v.label.upper()} (confidence {v.confidence:.0%}; leaning {v.leaning})", v.basis, ""]
        lines += ["Reasons:", *(f"  - {r}" for r in v.reasons), "", "Restriction:", f"  {v.lifecycle.sentence()}", ""]
        lines += [f"Plan ({self.plan.kind.replace('_', ' ')}): next - {self.plan.next_step}"]
        for step in self.plan.steps:
            mark = "x" if step.done else " "
            targets = f" [{', '.join(t.object_id for t in step.targets)}]" if step.targets else ""
            lines.append(f"  [{mark}] {step.order}. {step.title}{targets}: {step.reason}")
        lines += [f"  advice: {a}" for a in self.plan.advice]
        if v.missing:
            lines += ["", "Missing evidence:", *(f"  - {m}" for m in v.missing)]
        lines += ["", "Findings:"]
        for item in sorted(self.findings, key=lambda f: (f.direction == "neutral", -f.strength)):
            lines.append(f"  {item.direction:<10} {item.strength:.2f} {item.indicator}: {item.sentence}")
        return "\n".join(lines)


def assess(case: Case) -> Assessment:
    """Findings, verdict and plan for one case (pure: no network)."""
    profile = build_profile(case)
    findings, failures = run_indicators(profile)
    state = remediation_state(profile)
    verdict = decide(profile, findings, failures, remediated=state.password_reset and state.sessions_revoked)
    plan = recommend(profile, findings, verdict, state)
    return Assessment(case.user.upn, tuple(findings), verdict, plan, state, profile)


def triage_cases(cases: Iterable[Case]) -> pd.DataFrame:
    """The triage table for cases already collected (offline)."""
    return _table([assess(case).row() for case in cases])


#: From this many restricted users on, a triage reads Identity Protection once for the tenant (when the tenant can).
RISK_READ_ONCE_FROM = 3


class TenantLike(Protocol):
    """What ``triage`` needs from a tenant (``toolkit.tenant.Tenant`` has it)."""

    def restricted_users(self) -> Any: ...

    def investigate(self, user: str, days: int = 14, *, save: bool = True) -> Case: ...


def triage(tenant: TenantLike, *, days: int = 14, save: bool = False) -> pd.DataFrame:
    """One row per restricted user: user, verdict, confidence, top reasons, next step (plus block type, release
    time, re-restriction risk and missing evidence). Each user is investigated over ``days`` days; ``save`` keeps
    the cases in the store for offline work."""
    pull = tenant.restricted_users()
    for entry in pull.ledger.gaps():
        log.warning("restricted users: %s", entry.sentence())
    senders = sorted(dict.fromkeys(texts(pull.frame["sender"]))) if len(pull.frame) else []
    once = getattr(tenant, "risk_read_once", None)
    with _risk_once(once, days) if once is not None and len(senders) >= RISK_READ_ONCE_FROM else nullcontext():
        return _table([_row(tenant, sender, days, save) for sender in senders])


@contextmanager
def _risk_once(once: Any, days: int) -> Iterator[None]:
    """The tenant-wide risk read, or per-user reads when it cannot be made."""
    try:
        block = once(days)
        block.__enter__()
    except ToolkitError as exc:
        log.warning("Identity Protection could not be read for the whole tenant (%s); reading it per user", exc)
        yield
        return
    try:
        yield
    finally:
        block.__exit__(None, None, None)


def _row(tenant: TenantLike, sender: str, days: int, save: bool) -> dict[str, Any]:
    try:
        case = tenant.investigate(sender, days=days, save=save)
    except ToolkitError as exc:
        log.error("cannot investigate %s: %s", sender, exc)
        return {"user": sender, "verdict": "inconclusive", "confidence": 0.0, "reasons": [],
                "next_step": f"Gather more evidence: the investigation failed ({exc})", "block_type": None,
                "release_at": None, "risk": "unknown", "missing": [f"investigation failed: {exc}"]}
    return assess(case).row()


def _table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=list(TRIAGE_COLUMNS))
    table["release_at"] = pd.to_datetime(table["release_at"], utc=True)
    order = {"compromised": 0, "inconclusive": 1, "benign": 2}
    return table.sort_values(["verdict", "confidence"], key=lambda s: s.map(order) if s.name == "verdict" else -s,
                             kind="stable").reset_index(drop=True)
