"""Rules & forwarding: hiding and forwarding rules against harmless filing rules, and mailbox forwarding."""

from __future__ import annotations

import json

import pandas as pd
from evidence_builder import ATTACKER, BLOCK, Story, named, one

from toolkit.evidence.indicators import rules


def _rule(story: Story, rule_id: str, name: str, **actions: object) -> None:
    base = dict(mailbox=story.user, rule_id=rule_id, name=name, enabled=True, priority=1, hidden=False,
                source="exchange", delete=False, mark_as_read=False, forwards_external=False,
                moves_to_hiding_folder=False, name_is_punctuation=not any(c.isalnum() for c in name),
                conditions="all messages")
    base.update(actions)
    story.add("rules", **base)


def _audit_new_rule(story: Story, name: str, ip: str, when: pd.Timestamp) -> None:
    story.add("audit", time=when, record_id=f"a-{name}-{ip}".lower().replace(".", "-"), operation="New-InboxRule",
              user=story.user, client_ip=ip, target=f"{story.user}\\{name}", parameters=json.dumps({"Name": name}))


def test_a_hiding_rule_set_by_the_attacker_is_strong_and_named() -> None:
    story = Story()
    _rule(story, "r-dot", ".", move_to_folder="RSS Feeds", moves_to_hiding_folder=True, mark_as_read=True,
          conditions="subject or body contains 'hacked', 'phish', 'spam'")
    _audit_new_rule(story, ".", ATTACKER, BLOCK - pd.Timedelta(hours=4))
    found = one(rules.inbox_rules(story.profile()), "rules.suspicious")
    assert found.direction == "compromise" and found.strength >= 0.7
    assert "Inbox rule '.' (id r-dot)" in found.sentence and "RSS Feeds" in found.sentence
    assert "hacked" in found.sentence and ATTACKER in found.sentence
    assert found.row_keys("rules") == (f"{story.user}/r-dot",)
    assert [o.object_id for o in found.objects] == ["r-dot"]
    assert found.rows[1].kind == "audit"


def test_a_rule_that_deletes_bounces_and_a_hidden_rule() -> None:
    story = Story()
    _rule(story, "r-ndr", "..", delete=True, conditions="sender contains 'postmaster', 'mailer-daemon'")
    _rule(story, "r-hidden", "Cleanup", hidden=True, delete=True, conditions="subject contains 'undeliverable'")
    findings = named(rules.inbox_rules(story.profile()), "rules.suspicious")
    assert {f.objects[0].object_id for f in findings} == {"r-ndr", "r-hidden"}
    assert all("set before the window" in f.sentence for f in findings)


def test_harmless_filing_rules_stay_below_the_bar() -> None:
    story = Story()
    _rule(story, "r-notif", "Notifications", move_to_folder="Archive", moves_to_hiding_folder=True, mark_as_read=True,
          conditions="subject contains 'notification'")
    _rule(story, "r-ooo", "Out of office replies", delete=True, conditions="subject contains 'automatic reply'")
    _rule(story, "r-inv", "Invoices", move_to_folder="Invoices", conditions="subject contains 'invoice'")
    findings = rules.inbox_rules(story.profile())
    assert named(findings, "rules.suspicious") == []
    ordinary = one(findings, "rules.ordinary")
    assert ordinary.direction == "neutral" and "'Notifications'" in ordinary.sentence


def test_an_old_personal_forwarding_rule_is_below_the_bar_and_a_new_one_is_not() -> None:
    old = Story()
    _rule(old, "r-fwd", "To my phone", forward_to="dana@gmail.example", forwards_external=True)
    assert named(rules.inbox_rules(old.profile()), "rules.suspicious") == []
    new = Story()
    _rule(new, "r-fwd", "To my phone", forward_to="dana@gmail.example", forwards_external=True)
    _audit_new_rule(new, "To my phone", "81.2.69.160", BLOCK - pd.Timedelta(days=2))
    found = one(rules.inbox_rules(new.profile()), "rules.suspicious")
    assert found.strength == 0.5 and "dana@gmail.example" in found.sentence


def test_external_mailbox_forwarding_set_in_the_window() -> None:
    story = Story()
    story.records["mailbox"][0].update(forwarding_smtp="drop@evil.example", deliver_and_forward=False,
                                       forwards_external=True)
    story.add("audit", time=BLOCK - pd.Timedelta(hours=5), record_id="a-fwd", operation="Set-Mailbox", user=story.user,
              client_ip=ATTACKER, target=story.user,
              parameters=json.dumps({"ForwardingSmtpAddress": "smtp:drop@evil.example"}))
    found = one(rules.mailbox_forwarding(story.profile()), "forwarding.mailbox")
    assert found.direction == "compromise" and found.strength == 0.65
    assert "drop@evil.example" in found.sentence and "without keeping a copy" in found.sentence
    assert "blocks external auto-forwarding" in found.sentence
    assert found.row_keys("mailbox") == (story.user,) and found.objects[0].kind == "forwarding"


def test_forwarding_to_an_assistant_is_neutral() -> None:
    story = Story()
    story.records["mailbox"][0].update(forwarding_address="assistant@contoso.com")
    found = one(rules.mailbox_forwarding(story.profile()), "forwarding.mailbox")
    assert found.direction == "neutral" and "assistant@contoso.com" in found.sentence
    assert rules.mailbox_forwarding(Story().profile()) == []
