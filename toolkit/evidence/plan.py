"""The recommendation: what to do, in Microsoft's order, with the objects each step acts on.

For a compromised account, "Responding to a compromised email account": reset the password, remove forwarding,
disable the suspicious inbox rules, revoke OAuth grants and sessions, review the MFA methods, and only then
unblock. Steps the remediation state shows as already done are kept and marked done, so the plan doubles as a
checklist; when everything is done the recommendation is "ready to unblock". A benign sender gets "unblock with
advice" (how to send this mail without being restricted again); an undecided case gets the evidence to gather.
Each step names its targets (rule ids, grant ids, method ids) for the remediation module to act on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

from toolkit.evidence.common import listing, when
from toolkit.evidence.findings import Finding, ObjectRef
from toolkit.evidence.indicators.remediation import RemediationState
from toolkit.evidence.profile import Profile
from toolkit.evidence.verdict import Verdict

Action = Literal["reset_password", "remove_forwarding", "disable_rules", "revoke_grants", "revoke_sessions",
                 "review_mfa", "unblock", "wait_for_release", "gather_evidence", "keep_blocked"]
Kind = Literal["remediate_then_unblock", "ready_to_unblock", "unblock_with_advice", "gather_evidence"]

#: A grant at least this suspicious is revoked; weaker ones are left for the analyst to review with the user.
REVOKE_GRANT = 0.3


@dataclass(frozen=True)
class Step:
    """One step of the plan."""

    order: int
    action: Action
    title: str
    reason: str
    targets: tuple[ObjectRef, ...] = ()
    done: bool = False
    required: bool = True  # False for advisory steps (a review with the user) that do not hold up the unblock


@dataclass(frozen=True)
class Recommendation:
    """The plan for one user."""

    kind: Kind
    next_step: str
    steps: tuple[Step, ...]
    advice: tuple[str, ...] = ()

    def pending(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if not s.done)

    def targets(self, action: Action) -> tuple[ObjectRef, ...]:
        return tuple(t for s in self.steps if s.action == action for t in s.targets)


def _objects(findings: Iterable[Finding], kind: str, indicator: str, minimum: float = 0.0) -> tuple[ObjectRef, ...]:
    seen: dict[str, ObjectRef] = {}
    for item in findings:
        if item.indicator == indicator and item.direction == "compromise" and item.strength >= minimum:
            for ref in item.objects:
                if ref.kind == kind:
                    seen.setdefault(ref.object_id, ref)
    return tuple(seen.values())


def recommend(profile: Profile, findings: list[Finding], verdict: Verdict, state: RemediationState) -> Recommendation:
    if verdict.label == "compromised":
        return _remediate(profile, findings, verdict, state)
    if verdict.label == "benign":
        return _advise(profile, findings, verdict)
    return _gather(profile, verdict)


def _remediate(profile: Profile, findings: list[Finding], verdict: Verdict, state: RemediationState) -> Recommendation:
    steps: list[Step] = []
    since = when(state.reference)
    legacy = any(f.indicator in ("signins.legacy_protocol", "clients.legacy_sender") and f.direction == "compromise"
                 for f in findings)
    evidence = verdict.reasons[0] if verdict.reasons else "see the findings"
    reset_reason = f"Someone else used the account: {evidence} Reset the password (do not send it by mail), require MFA"
    reset_reason += (", and block legacy authentication (SMTP AUTH, IMAP, POP) for the user: it bypasses MFA."
                     if legacy else ".")
    if state.password_reset:
        reset_reason = f"Done: the password was changed at {when(state.password_changed)}, after {since}."
    steps.append(Step(1, "reset_password", "Reset the password", reset_reason, done=state.password_reset))
    forwarding = _objects(findings, "forwarding", "forwarding.mailbox")
    if forwarding:
        steps.append(Step(2, "remove_forwarding", "Remove the mailbox forwarding",
                          f"The mailbox forwards to {listing(r.label for r in forwarding)}, outside the organisation.",
                          forwarding))
    elif state.forwarding_cleared:
        steps.append(Step(2, "remove_forwarding", "Remove the mailbox forwarding",
                          f"Done: forwarding to {state.forwarding_cleared} was removed.", done=True))
    rules = _objects(findings, "rule", "rules.suspicious")
    if rules:
        names = listing(repr(r.label) for r in rules)
        steps.append(Step(3, "disable_rules", "Disable the suspicious inbox rules",
                          f"{len(rules)} rule(s) hide or forward mail: {names}.", rules))
    elif state.removed_rules:
        steps.append(Step(3, "disable_rules", "Disable the suspicious inbox rules",
                          f"Done: the rules {listing(repr(n) for n in state.removed_rules)} set during the incident "
                          "are gone.", done=True))
    grants = _objects(findings, "grant", "consent.mail_grant", REVOKE_GRANT)
    if grants:
        steps.append(Step(4, "revoke_grants", "Revoke the OAuth grants",
                          f"{listing(repr(g.label) for g in grants)} can send or read mail as the user.", grants))
    sessions_reason = ("Done: sessions were revoked at " + when(state.sessions_valid_from) + f", after {since}."
                       if state.sessions_revoked else
                       "Revoke sign-in sessions so that stolen tokens and app sessions stop working.")
    steps.append(Step(5, "revoke_sessions", "Revoke sign-in sessions", sessions_reason, done=state.sessions_revoked))
    methods = _objects(findings, "method", "mfa.new_method")
    if methods:
        steps.append(Step(6, "review_mfa", "Remove the MFA methods the attacker registered",
                          f"Registered during the incident: {listing(m.label for m in methods)}.", methods))
    else:
        steps.append(Step(6, "review_mfa", "Review the MFA methods with the user",
                          "No method was registered during the incident; confirm with the user that every method "
                          "is theirs.", _all_methods(profile), required=False))
    steps.append(_unblock_step(7, verdict, remediated=True))
    steps = [replace(step, order=number) for number, step in enumerate(steps, start=1)]
    ready = all(s.done for s in steps if s.required and s.action != "unblock")
    kind: Kind = "ready_to_unblock" if ready else "remediate_then_unblock"
    pending = [s for s in steps if not s.done and s.required]
    next_step = pending[0].title if pending else "Nothing left to do"
    if ready:
        next_step = "Ready to unblock: " + (pending[0].title[0].lower() + pending[0].title[1:] if pending else
                                             "nothing is pending")
    return Recommendation(kind, next_step, tuple(steps))


def _all_methods(profile: Profile) -> tuple[ObjectRef, ...]:
    methods = profile.case.auth_methods
    if not len(methods):
        return ()
    refs = []
    for row in methods.to_dict("records"):
        if str(row["method_type"]) == "password":
            continue
        label = f"{row['method_type']} {row['detail'] if isinstance(row['detail'], str) else ''}".strip()
        refs.append(ObjectRef("method", str(row["method_id"]), label, profile.case.user.upn))
    return tuple(refs)


def _unblock_step(order: int, verdict: Verdict, remediated: bool) -> Step:
    life = verdict.lifecycle
    if not life.restricted:
        return Step(order, "unblock", "Nothing to unblock", "The user is not restricted.", done=True)
    if life.block_type == "BlockUserForToday":
        return Step(order, "unblock", "Unblock, or let the block lift",
                    f"A block for the day: it lifts by itself at {when(life.release_at)}; remove it earlier only "
                    + ("after the steps above." if remediated else "if the user must send today."))
    return Step(order, "unblock", "Unblock the user (Remove-BlockedSenderAddress)",
                "BlockUser stays until an admin removes it; unblocks per account are limited, so unblock once, "
                + ("after the steps above." if remediated else "when the sending is under control."))


def _advise(profile: Profile, findings: list[Finding], verdict: Verdict) -> Recommendation:
    life = verdict.lifecycle
    limits = life.limits
    advice: list[str] = []
    indicators = {f.indicator: f for f in findings}
    burst = profile.burst
    per_message = len(burst) / max(burst["trace_id"].nunique(), 1) if len(burst) else 0.0
    routine_client = indicators.get("clients.legacy_sender")
    if routine_client is not None and routine_client.direction == "benign":
        advice.append("This account sends for an application or device. If its volume is expected, give it a custom "
                      "outbound spam policy with limits that fit, or spread the run over more hours; mail beyond "
                      "10,000 recipients a day needs a high-volume or bulk sending service (the daily recipient rate "
                      "limit cannot be raised).")
    elif per_message >= 10:
        advice.append("Move bulk mail (newsletters, announcements to lists) to a bulk-mail service or Microsoft's "
                      "High Volume Email; Exchange Online mailboxes are not meant for it.")
    elif indicators.get("recipients.campaign") is not None and indicators["recipients.campaign"].direction == "benign":
        advice.append("Send mail merges in batches under the hourly limit, or through a bulk-mail service.")
    if life.peak_external_hour > limits.external_per_hour:
        advice.append(f"Keep external sending under {limits.external_per_hour:,} recipients an hour (the burst reached "
                      f"{life.peak_external_hour:,}).")
    if life.peak_internal_hour > limits.internal_per_hour:
        advice.append(f"Keep internal sending under {limits.internal_per_hour:,} recipients an hour (the burst reached "
                      f"{life.peak_internal_hour:,}); use a distribution group, which counts as one recipient.")
    if life.exceeded and not any("recipients an hour" in a or "recipients a day" in a for a in advice):
        hourly = limits.external_per_hour if life.exceeded.lower() == "external" else limits.internal_per_hour
        advice.append(f"Exchange counted the user over the {life.exceeded.lower()} limit: keep {life.exceeded.lower()} "
                      f"sending under {hourly:,} recipients an hour and {limits.per_day:,} a day.")
    if life.recipients_24h > limits.per_day:
        advice.append(f"Keep to {limits.per_day:,} recipients a day ({limits.policy} policy); the burst reached "
                      f"{life.recipients_24h:,}.")
    if not advice:
        advice.append("Tell the user what triggered the block and keep an eye on the next days' volume.")
    steps = (_unblock_step(1, verdict, remediated=False),)
    return Recommendation("unblock_with_advice", f"Unblock with advice: {advice[0]}", steps, tuple(advice))


_HOW = {
    "licence": "the tenant lacks the licence (sign-in logs need Entra ID P1, risk needs P2): export the user's "
               "sign-ins from the Entra admin center or Sentinel and load them with toolkit.open_case(files=...)",
    "permission": "the app lacks a permission or role: run tenant.preflight() to see which, grant it, collect again",
    "throttled": "the service throttled the pull: collect again later",
    "retention": "the data is older than the service keeps it: use an export or the audit log archive",
    "cap": "a result cap was hit: collect a shorter window",
}


def _gather(profile: Profile, verdict: Verdict) -> Recommendation:
    steps: list[Step] = []
    gaps = [entry for entry in profile.case.ledger.gaps()]
    seen: set[str] = set()
    for entry in gaps:
        if entry.kind in seen:
            continue
        seen.add(entry.kind)
        how = _HOW.get(entry.reason, "collect it again, or load an export of it")
        steps.append(Step(len(steps) + 1, "gather_evidence", f"Get the {entry.kind} evidence", f"{entry.sentence()} "
                          f"How: {how}."))
    if not steps:
        steps.append(Step(1, "gather_evidence", "Review the conflicting findings with the user",
                          f"{verdict.basis} Ask the user whether they sent the burst and from where; check the "
                          "findings below against their answer."))
    life = verdict.lifecycle
    if life.restricted:
        keep = ("The block lifts by itself at " + when(life.release_at) + "; decide before then whether to reset "
                "the password." if life.block_type == "BlockUserForToday" else
                "Keep the block until the evidence decides; unblocks are limited.")
        steps.append(Step(len(steps) + 1, "keep_blocked", "Keep the user blocked for now", keep))
    return Recommendation("gather_evidence", f"Gather more evidence: {steps[0].title.lower()}", tuple(steps))
