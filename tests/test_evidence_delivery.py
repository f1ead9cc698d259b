"""Delivery ratios: filtered as spam, bounces, and a burst delivered in full."""

from __future__ import annotations

from evidence_builder import Story, one

from toolkit.evidence.indicators import delivery


def test_mail_filtered_as_spam_points_to_compromise_and_shows_the_rows() -> None:
    story = Story()
    story.routine()
    story.burst(100, spam=0.6)
    story.restrict("outbound_spam")
    found = one(delivery.spam_filtered(story.profile()), "delivery.spam")
    assert found.direction == "compromise" and found.strength == 0.8
    assert "60% of the burst (60 recipients) was filtered as spam" in found.sentence
    assert "The restriction itself is for outbound spam" in found.sentence
    assert len(found.row_keys("trace")) == 15
    spam_ids = {f"{r['trace_id']}/{r['recipient']}" for r in story.records["trace"] if r["status"] == "filteredAsSpam"}
    assert set(found.row_keys("trace")) <= spam_ids


def test_strength_follows_the_share() -> None:
    shares = []
    for share in (0.05, 0.15, 0.3, 0.7):
        story = Story()
        story.routine()
        story.burst(200, spam=share)
        shares.append(one(delivery.spam_filtered(story.profile()), "delivery.spam").strength)
    assert shares == sorted(shares) and shares[0] < 0.5 < shares[-1]


def test_the_restriction_reason_stands_in_for_a_missing_trace() -> None:
    story = Story()
    story.restrict("outbound_spam", spam=45, mail=50)
    found = one(delivery.spam_filtered(story.profile()), "delivery.spam")
    assert found.direction == "compromise" and "90%" in found.sentence and "not available" in found.sentence
    assert found.row_keys("restricted") == (story.user,)


def test_a_clean_burst_points_benign_and_spam_stays_quiet() -> None:
    story = Story()
    story.routine()
    story.burst(300, per_message=3)
    profile = story.profile()
    assert delivery.spam_filtered(profile) == []
    found = one(delivery.delivered_clean(profile), "delivery.clean")
    assert found.direction == "benign" and found.strength == 0.45 and "100 messages" in found.sentence


def test_many_bounces_point_to_a_harvested_list() -> None:
    story = Story()
    story.routine()
    story.burst(200, failed=0.12)
    profile = story.profile()
    found = one(delivery.bounces(profile), "delivery.bounces")
    assert found.direction == "compromise" and found.strength == 0.5 and "12% of the burst's recipients bounced" \
        in found.sentence
    assert all(r.kind == "trace" for r in found.rows)
    assert delivery.delivered_clean(profile) == []

    few = Story()
    few.routine()
    few.burst(200, failed=0.01)
    assert delivery.bounces(few.profile()) == []
