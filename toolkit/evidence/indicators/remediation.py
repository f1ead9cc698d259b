"""Remediation state: what has already been cleaned up since the last suspicious activity.

The password was reset and sessions revoked after the attacker's last sign-in, message or change; the rules and
forwarding set during the incident are gone; Entra records the risk as remediated. These findings are neutral (they
do not say whether the account was compromised); the plan reads ``remediation_state`` to mark steps done.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from toolkit.evidence.audit import MAILBOX_OPERATIONS, RULE_OPERATIONS, operations, rule_name, sets_forwarding
from toolkit.evidence.common import listing, text, texts, when
from toolkit.evidence.findings import REMEDIATION, EvidenceRows, Finding, finding
from toolkit.evidence.profile import Profile


@dataclass(frozen=True)
class RemediationState:
    """What was done after the incident, as far as the case shows."""

    reference: pd.Timestamp | None  # the last suspicious activity (else the restriction) that remediation must follow
    password_changed: pd.Timestamp | None
    sessions_valid_from: pd.Timestamp | None
    removed_rules: tuple[str, ...]  # rules set in the window that no longer exist
    forwarding_cleared: str  # the forwarding address set in the window and since removed ('' if none)
    risk_remediated: bool

    @property
    def password_reset(self) -> bool:
        return _after(self.password_changed, self.reference)

    @property
    def sessions_revoked(self) -> bool:
        return _after(self.sessions_valid_from, self.reference)


def _after(moment: pd.Timestamp | None, reference: pd.Timestamp | None) -> bool:
    return moment is not None and reference is not None and moment > reference


def remediation_state(profile: Profile) -> RemediationState:
    case = profile.case
    reference = profile.last_attacker_activity()
    if reference is None and profile.restriction is not None:
        reference = pd.Timestamp(profile.restriction["created"])
    users = case.users
    changed = _stamp(users["last_password_change"].iloc[0]) if len(users) else None
    valid_from = _stamp(users["sessions_valid_from"].iloc[0]) if len(users) else None
    present = set(texts(case.rules["name"])) if len(case.rules) else set()
    created = [rule_name(r) for r in operations(case.audit, RULE_OPERATIONS).to_dict("records")]
    removed = tuple(dict.fromkeys(n for n in created if n and n not in present))
    forwarding = ""
    mailbox_now = text(case.mailbox["forwarding_smtp"].iloc[0]).lower() if len(case.mailbox) else ""
    for record in operations(case.audit, MAILBOX_OPERATIONS).to_dict("records"):
        target = sets_forwarding(record)
        if target and target != mailbox_now and "@" in target:
            forwarding = target
    risky = case.risky_users
    remediated = bool(len(risky)) and text(risky["risk_state"].iloc[0]) == "remediated"
    return RemediationState(reference, changed, valid_from, removed, forwarding, remediated)


def _stamp(value: object) -> pd.Timestamp | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value)  # type: ignore[arg-type]


def remediation(profile: Profile) -> list[Finding]:
    if profile.last_attacker_activity() is None:
        return []
    state = remediation_state(profile)
    if state.reference is None:
        return []
    done, pending = [], []
    ref = when(state.reference)
    if state.password_reset:
        done.append(f"the password was changed at {when(state.password_changed)}")
    else:
        pending.append(f"the password was last changed at {when(state.password_changed)}")
    if state.sessions_revoked:
        done.append(f"sessions were revoked at {when(state.sessions_valid_from)}")
    else:
        pending.append("sessions were not revoked since")
    if state.removed_rules:
        done.append(f"the rules {listing([repr(n) for n in state.removed_rules])} set in the window are gone")
    if state.forwarding_cleared:
        done.append(f"forwarding to {state.forwarding_cleared} was removed")
    if state.risk_remediated:
        done.append("Entra records the risk as remediated")
    parts = []
    if done:
        parts.append(f"After the last suspicious activity ({ref}): {listing(done, 6)}.")
    if pending:
        parts.append(f"Not yet: {listing(pending)} (the last suspicious activity was at {ref}).")
    rows = [EvidenceRows.of("users", profile.case.users.head(1), ("last_password_change", "sessions_valid_from"))] \
        if len(profile.case.users) else []
    return [finding("remediation.state", REMEDIATION, " ".join(parts), 0.0, "neutral", rows)]
