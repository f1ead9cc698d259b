"""Remediation state (password, sessions, rules and forwarding gone) and Defender's determinations."""

from __future__ import annotations

import json

import pandas as pd
from evidence_builder import ATTACKER, BLOCK, Story, one

from toolkit.evidence.indicators import alerts, remediation


def _attacked(story: Story) -> None:
    story.routine()
    story.signin(BLOCK - pd.Timedelta(hours=6), ip=ATTACKER, country="NG", device=None, os="Linux",
                 browser="Firefox 115.0", risk="high", events="anomalousToken")
    story.add("audit", time=BLOCK - pd.Timedelta(hours=5), record_id="rule", operation="New-InboxRule",
              user=story.user, client_ip=ATTACKER, target=f"{story.user}\\.", parameters=json.dumps({"Name": "."}))
    story.add("audit", time=BLOCK - pd.Timedelta(hours=5), record_id="fwd", operation="Set-Mailbox", user=story.user,
              client_ip=ATTACKER, target=story.user,
              parameters=json.dumps({"ForwardingSmtpAddress": "smtp:drop@evil.example"}))
    story.burst(80, ip=ATTACKER, spam=0.6)
    story.restrict("outbound_spam")


def test_a_cleaned_up_account() -> None:
    story = Story()
    _attacked(story)
    story.records["users"][0].update(last_password_change=BLOCK + pd.Timedelta(hours=1),
                                     sessions_valid_from=BLOCK + pd.Timedelta(hours=1, minutes=2))
    profile = story.profile()
    state = remediation.remediation_state(profile)
    assert state.password_reset and state.sessions_revoked
    assert state.removed_rules == (".",) and state.forwarding_cleared == "drop@evil.example"
    found = one(remediation.remediation(profile), "remediation.state")
    assert found.direction == "neutral"
    assert "the password was changed at 2026-11-20 11:00 UTC" in found.sentence and "'.'" in found.sentence
    assert found.row_keys("users")


def test_an_account_still_open() -> None:
    story = Story()
    _attacked(story)
    state = remediation.remediation_state(story.profile())
    assert not state.password_reset and not state.sessions_revoked
    found = one(remediation.remediation(story.profile()), "remediation.state")
    assert "Not yet" in found.sentence


def test_a_password_changed_before_the_attack_does_not_count() -> None:
    story = Story()
    _attacked(story)
    story.records["users"][0].update(last_password_change=BLOCK - pd.Timedelta(hours=7))
    assert not remediation.remediation_state(story.profile()).password_reset


def test_no_suspicious_activity_no_remediation_finding() -> None:
    story = Story()
    story.routine()
    story.burst(100)
    story.restrict()
    assert remediation.remediation(story.profile()) == []


def _alert(story: Story, alert_id: str, title: str, classification: str | None = None) -> None:
    story.add("alerts", alert_id=alert_id, created=BLOCK, title=title, severity="high",
              status="resolved" if classification else "new", classification=classification)


def test_alerts_resolved_as_true_positive_and_as_false_positive() -> None:
    story = Story()
    _alert(story, "al-1", "User restricted from sending email", "truePositive")
    found = one(alerts.determinations(story.profile()), "alerts.confirmed")
    assert found.direction == "compromise" and found.row_keys("alerts") == ("al-1",)

    cleared = Story()
    _alert(cleared, "al-2", "Email sending limit exceeded", "falsePositive")
    assert one(alerts.determinations(cleared.profile()), "alerts.cleared").direction == "benign"

    plain = Story()
    _alert(plain, "al-3", "User restricted from sending email")
    assert alerts.determinations(plain.profile()) == []


def test_defenders_forwarding_alert() -> None:
    story = Story()
    _alert(story, "al-4", "Suspicious email forwarding activity")
    found = one(alerts.determinations(story.profile()), "alerts.forwarding")
    assert found.direction == "compromise" and found.strength == 0.5
