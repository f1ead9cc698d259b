"""Recipients & campaign: first-time recipients, a copied campaign, a personalised mail merge."""

from __future__ import annotations

import pandas as pd
from evidence_builder import BLOCK, DOMAIN, Story, one

from toolkit.evidence.indicators import recipients


def test_strangers_on_many_domains_point_weakly_to_compromise() -> None:
    story = Story()
    story.routine()
    story.burst(200)
    found = one(recipients.first_time_recipients(story.profile()), "recipients.first_time")
    assert found.direction == "compromise" and found.strength <= 0.2
    assert "100% of the burst's 200 recipients were new" in found.sentence and "40 of 40 domains" in found.sentence


def test_mail_to_existing_contacts_points_benign() -> None:
    story = Story()
    story.routine()
    for i in range(30):
        story.mail(BLOCK - pd.Timedelta(minutes=40 - i), f"colleague{i % 3}@{DOMAIN}", subject="Scanned document")
    found = one(recipients.first_time_recipients(story.profile()), "recipients.first_time")
    assert found.direction == "benign" and "Most were existing contacts" in found.sentence


def test_a_copied_campaign_is_neutral_and_names_its_subjects_and_rows() -> None:
    story = Story()
    story.routine()
    story.burst(200, per_message=20, subject="Invoice 4711 overdue")
    found = one(recipients.campaign(story.profile()), "recipients.campaign")
    assert found.direction == "neutral"
    assert "a campaign: 10 messages to 200 recipients (20.0 per message)" in found.sentence
    assert "'invoice # overdue' (10)" in found.sentence
    assert found.rows[0].kind == "trace" and len(found.row_keys("trace")) == 10


def test_a_personalised_mail_merge_points_benign() -> None:
    story = Story()
    story.routine()
    story.burst(120, personalised=True)
    found = one(recipients.campaign(story.profile()), "recipients.campaign")
    assert found.direction == "benign"
    assert "personalised" in found.sentence and "'… … your renewal quote is ready'" in found.sentence


def test_subjects_are_normalised() -> None:
    assert recipients.normalise("RE: Fwd: Invoice 12345") == "invoice #"
    assert recipients.normalise("Order 1 of 2") == "order # of #"


def test_too_few_messages_say_nothing() -> None:
    story = Story()
    story.routine()
    story.burst(5)
    assert recipients.campaign(story.profile()) == []
