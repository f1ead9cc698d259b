"""Audit timing: mailbox changes from the attacker's address, from unfamiliar addresses before the burst, or from
the user's own."""

from __future__ import annotations

import json

import pandas as pd
from evidence_builder import ATTACKER, BLOCK, OFFICE, Story, named, one

from toolkit.evidence.indicators import timing


def _change(story: Story, record_id: str, ip: str, when: pd.Timestamp, operation: str = "New-InboxRule",
            name: str = ".") -> None:
    story.add("audit", time=when, record_id=record_id, operation=operation, user=story.user, client_ip=ip,
              target=f"{story.user}\\{name}", parameters=json.dumps({"Name": name}))


def test_a_rule_set_minutes_after_a_risky_sign_in_from_the_same_address() -> None:
    story = Story()
    story.routine()
    story.signin(BLOCK - pd.Timedelta(hours=5), ip=ATTACKER, country="NG", device=None, os="Linux",
                 browser="Firefox 115.0", risk="high", events="anomalousToken")
    _change(story, "a1", ATTACKER, BLOCK - pd.Timedelta(hours=4, minutes=53))
    found = one(timing.configuration_changes(story.profile()), "timing.attacker_changes")
    assert found.direction == "compromise" and found.strength == 0.8
    assert "New-InboxRule '.'" in found.sentence and "7 minutes earlier" in found.sentence
    assert found.row_keys("audit") == ("a1",)


def test_a_change_from_the_address_that_sent_the_spam_counts_without_sign_ins() -> None:
    story = Story()
    story.routine()
    story.burst(60, ip=ATTACKER, spam=0.7)
    _change(story, "a2", ATTACKER, BLOCK - pd.Timedelta(hours=6))
    found = one(timing.configuration_changes(story.profile()), "timing.attacker_changes")
    assert "the address that sent the spam run" in found.sentence


def test_a_change_from_an_unfamiliar_address_shortly_before_the_burst() -> None:
    story = Story()
    story.routine()
    story.restrict()
    _change(story, "a3", "198.51.100.7", BLOCK - pd.Timedelta(days=1, hours=6))
    found = one(timing.configuration_changes(story.profile()), "timing.unexplained_changes")
    assert found.strength == 0.5 and "6.0 hours before the burst" in found.sentence
    assert found.row_keys("audit") == ("a3",)


def test_changes_from_the_users_own_address_are_neutral() -> None:
    story = Story()
    story.routine()
    story.restrict()
    _change(story, "a4", OFFICE, BLOCK - pd.Timedelta(hours=30), name="Newsletters")
    findings = timing.configuration_changes(story.profile())
    assert named(findings, "timing.attacker_changes") == [] and named(findings, "timing.unexplained_changes") == []
    assert one(findings, "timing.ordinary_changes").direction == "neutral"
