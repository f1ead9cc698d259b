"""The scenarios by the names the command line uses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from toolkit.sandbox.generate import benign, compromised
from toolkit.sandbox.generate.story import PlanContext, Story


@dataclass(frozen=True)
class Scenario:
    name: str
    label: str  # "compromised" or "benign"
    summary: str
    plan: Callable[[PlanContext], Story]
    tenant_wide: bool = False  # changes the whole tenant (licences), not only its sender


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("spam_after_spray", "compromised",
             "password spray, a legacy-protocol sign-in from abroad, then external spam over SMTP AUTH",
             compromised.spam_after_spray),
    Scenario("internal_phishing", "compromised",
             "a phished web session sends phishing to everyone in the company", compromised.internal_phishing),
    Scenario("forwarding_and_hiding_rules", "compromised",
             "forwarding and hiding inbox rules set from the attacker's session, then a small outbound run",
             compromised.forwarding_and_hiding_rules),
    Scenario("oauth_app_sender", "compromised",
             "an unverified app consented with Mail.Send sends spam through Graph", compromised.oauth_app_sender),
    Scenario("new_mfa_method", "compromised",
             "the attacker registers their own MFA method, then sends phishing", compromised.new_mfa_method),
    Scenario("already_remediated", "compromised",
             "compromised and restricted, then password reset, sessions revoked and rules removed by an admin",
             compromised.already_remediated),
    Scenario("newsletter", "benign", "a newsletter to a large external list, blocked for the day",
             benign.newsletter),
    Scenario("mail_merge", "benign", "a personalised mail merge under the strict policy", benign.mail_merge),
    Scenario("service_account_limit", "benign",
             "an ERP service account or a scanner relaying through SMTP AUTH goes over the daily limit",
             benign.service_account_limit),
    Scenario("travelling_user", "benign",
             "signs in from a new country with their own laptop and follows up with new contacts",
             benign.travelling_user),
    Scenario("evidence_missing", "benign",
             "a bulk send in a tenant without Entra ID P1/P2 (sign-ins 403, risk hidden) - tenant-wide",
             benign.evidence_missing, tenant_wide=True),
)}

#: What a tenant holds when no scenarios are named: every kind except the tenant-wide licence switch, which would
#: hide the sign-in and risk evidence of every other story.
DEFAULT_SCENARIOS: tuple[str, ...] = tuple(name for name, s in SCENARIOS.items() if not s.tenant_wide)


def resolve(names: list[str] | None) -> list[str]:
    """Validate scenario names (repeats allowed: each repeat plants another sender); None means the defaults."""
    if names is None:
        return list(DEFAULT_SCENARIOS)
    cleaned = [n.strip() for n in names if n.strip()]
    if "all" in cleaned:
        expanded: list[str] = []
        for n in cleaned:
            expanded.extend(SCENARIOS if n == "all" else [n])
        cleaned = expanded
    unknown = [n for n in cleaned if n not in SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenario{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}; "
                         f"valid: {', '.join(SCENARIOS)} (or 'all')")
    return cleaned


def parse_scenarios(text: str | None) -> list[str] | None:
    """The --scenarios option: a comma-separated list; empty or missing means the defaults."""
    if text is None or not text.strip():
        return None
    return resolve(text.split(","))
