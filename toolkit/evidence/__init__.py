"""The evidence engine: indicators over a case, a verdict, and a plan (pure: frames in, results out).

    from toolkit.evidence import assess, triage
    assessment = assess(case)           # Assessment: findings, verdict (label, confidence, reasons, lifecycle), plan
    print(assessment.report())
    triage(tenant)                      # DataFrame: user, verdict, confidence, reasons, next_step, ...

Modules: ``findings`` (Finding, EvidenceRows, ObjectRef), ``profile`` (what every indicator needs, worked out
once), ``familiar`` (the user's baseline of places and devices; sign-ins classified against it), ``audit`` (reading
the audit log's changes), ``indicators`` (one module per family), ``verdict`` (how findings combine),
``lifecycle`` (block type, release, re-restriction risk), ``plan`` (the recommendation in Microsoft's order),
``triage`` (assess, triage), ``evaluate`` (the measurement against labelled generated tenants).
"""

from toolkit.evidence.findings import Finding
from toolkit.evidence.lifecycle import Lifecycle
from toolkit.evidence.plan import Recommendation, Step
from toolkit.evidence.triage import Assessment, assess, triage, triage_cases
from toolkit.evidence.verdict import Verdict

__all__ = ["Assessment", "Finding", "Lifecycle", "Recommendation", "Step", "Verdict", "assess", "triage",
           "triage_cases"]
