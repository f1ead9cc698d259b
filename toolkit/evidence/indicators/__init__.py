"""The indicators: small pure functions over a case's ``Profile``, each returning findings.

Grouped by family, one module each: ``volume`` (sending volume & limits), ``recipients`` (recipients & campaign),
``delivery`` (delivery ratios), ``clients`` (clients & IPs), ``signins`` and ``risk`` (sign-ins & risk), ``rules``
(rules & forwarding), ``timing`` (audit timing), ``access`` (MFA & consent), ``remediation`` (remediation state),
``alerts`` (Defender's determinations).

    from toolkit.evidence.indicators import INDICATORS, run_indicators
    findings, failures = run_indicators(build_profile(case))
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from toolkit.evidence.findings import Finding
from toolkit.evidence.indicators import (
    access,
    alerts,
    clients,
    delivery,
    recipients,
    remediation,
    risk,
    rules,
    signins,
    timing,
    volume,
)
from toolkit.evidence.profile import Profile

log = logging.getLogger(__name__)

Indicator = Callable[[Profile], list[Finding]]

INDICATORS: tuple[Indicator, ...] = (
    volume.burst_against_limits,
    volume.burst_against_baseline,
    volume.off_hours,
    recipients.first_time_recipients,
    recipients.campaign,
    delivery.spam_filtered,
    delivery.bounces,
    delivery.delivered_clean,
    clients.sending_addresses,
    clients.sending_client,
    signins.risky,
    signins.failures_then_success,
    signins.legacy_protocol,
    signins.new_location,
    signins.unfamiliar_device,
    signins.weak_risk,
    signins.failed_only,
    signins.familiar_signins,
    risk.detections,
    risk.user_risk,
    rules.inbox_rules,
    rules.mailbox_forwarding,
    timing.configuration_changes,
    access.new_methods,
    access.mail_grants,
    remediation.remediation,
    alerts.determinations,
)


def name_of(indicator: Indicator) -> str:
    return f"{indicator.__module__.rsplit('.', 1)[-1]}.{indicator.__name__}"


def run_indicators(profile: Profile) -> tuple[list[Finding], list[str]]:
    """Every indicator's findings, and the indicators that failed (named, with the error), which the verdict
    reports as missing evidence rather than letting one bug sink the assessment."""
    findings: list[Finding] = []
    failures: list[str] = []
    for indicator in INDICATORS:
        try:
            findings.extend(indicator(profile))
        except Exception as exc:  # an indicator bug must not hide the other evidence; it is logged and reported
            log.exception("indicator %s failed on %s", name_of(indicator), profile.case.user.upn)
            failures.append(f"{name_of(indicator)}: {type(exc).__name__}: {exc}")
    return findings, failures


__all__ = ["INDICATORS", "Indicator", "name_of", "run_indicators"]
