"""Sending volume & limits: the burst against the effective policy and the user's baseline, and off-hours sending."""

from __future__ import annotations

import pandas as pd
from evidence_builder import BLOCK, OFFICE, Story, named, one

from toolkit.evidence.indicators import volume
from toolkit.evidence.lifecycle import lifecycle
from toolkit.evidence.profile import peak_hour


def test_peak_hour_counts_a_sliding_hour() -> None:
    times = pd.Series(pd.to_datetime(["2026-11-20T08:00:00Z", "2026-11-20T08:30:00Z", "2026-11-20T09:00:00Z",
                                      "2026-11-20T09:00:01Z", "2026-11-20T11:00:00Z"]))
    assert peak_hour(times)[0] == 3
    assert peak_hour(times[:0]) == (0, None)


def test_limits_come_from_the_custom_policy_whose_rule_names_the_user() -> None:
    story = Story()
    story.routine()
    story.records["policy"].append(dict(name="Strict", is_default=False, enabled=True, priority=0,
                                        external_per_hour=400, internal_per_hour=800, per_day=800,
                                        external_per_hour_configured=400, internal_per_hour_configured=800,
                                        per_day_configured=800, action="BlockUser", auto_forwarding_mode="Automatic",
                                        auto_forwarding_allowed=False))
    story.add("policy_rules", name="Strict rule", policy="Strict", priority=0, enabled=True, senders=story.user)
    story.burst(450)
    story.restrict(external=450)
    profile = story.profile()
    assert (profile.limits.policy, profile.limits.external_per_hour, profile.limits.action) == ("Strict", 400,
                                                                                                 "BlockUser")
    found = one(volume.burst_against_limits(profile), "volume.limits")
    assert found.direction == "neutral"
    assert "over the external limit of 400 per hour" in found.sentence and "'Strict'" in found.sentence
    assert found.row_keys("restricted") == (story.user,)


def test_within_every_limit_is_said_so() -> None:
    story = Story()
    story.routine()
    story.burst(100)
    story.restrict()
    found = one(volume.burst_against_limits(story.profile()), "volume.limits")
    assert "within every recipient limit" in found.sentence
    assert "2,000 external and 5,000 internal per hour, 10,000 per day" in found.sentence


def test_a_burst_far_above_the_baseline_is_neutral_and_routine_volume_is_benign() -> None:
    story = Story()
    story.routine(per_day=3)
    story.burst(300)
    found = one(volume.burst_against_baseline(story.profile()), "volume.baseline")
    assert found.direction == "neutral" and "100 times their busiest day" in found.sentence

    routine = Story()
    routine.routine(per_day=250)
    routine.burst(300)
    found = one(volume.burst_against_baseline(routine.profile()), "volume.baseline")
    assert found.direction == "benign" and "routine for the account" in found.sentence


def test_no_baseline_says_so() -> None:
    story = Story()
    story.burst(50)
    found = one(volume.burst_against_baseline(story.profile()), "volume.baseline")
    assert found.direction == "neutral" and "too little to say what is usual" in found.sentence


def test_a_burst_at_hours_the_user_never_sends_points_weakly_to_compromise() -> None:
    story = Story()
    story.routine()  # 09:00-11:00 UTC
    story.burst(40, start=BLOCK.normalize() + pd.Timedelta(hours=2, minutes=30), ip=OFFICE)
    found = one(volume.off_hours(story.profile()), "volume.off_hours")
    assert found.direction == "compromise" and found.strength == 0.2
    assert found.rows[0].kind == "trace" and len(found.row_keys("trace")) == 10

    daytime = Story()
    daytime.routine()
    daytime.burst(40, start=BLOCK.normalize() + pd.Timedelta(hours=9))
    assert named(volume.off_hours(daytime.profile()), "volume.off_hours") == []


def test_lifecycle_for_a_block_for_the_day_and_the_risk_of_a_new_one() -> None:
    story = Story()
    story.routine()
    story.burst(2400)
    story.restrict(block="BlockUserForToday", external=2400)
    life = lifecycle(story.profile(), "benign", remediated=False)
    assert life.block_type == "BlockUserForToday"
    assert life.release_at == BLOCK.normalize() + pd.Timedelta(days=1)
    assert life.unblocks_used is None and life.risk == "high"
    assert "within about 50 minutes" in life.risk_reason  # 2,000 of 2,400 an hour
    assert "lifts by itself at 2026-11-21 00:00 UTC" in life.sentence()


def test_lifecycle_of_a_quiet_sender_is_low_risk_and_an_open_block_has_no_release() -> None:
    story = Story()
    story.routine()
    story.burst(100)
    story.restrict("outbound_spam")
    life = lifecycle(story.profile(), "compromised", remediated=True)
    assert life.release_at is None and life.block_type == "BlockUser"
    assert life.risk == "low"
    assert "until an admin removes it" in life.sentence()
    unremediated = lifecycle(story.profile(), "compromised", remediated=False)
    assert unremediated.risk == "high" and "attacker can still send" in unremediated.risk_reason
