"""How findings combine into a verdict, the plan in Microsoft's order, and the verdict on tests/data/tenant_small
collected over HTTPS from the sandbox (alice compromised, bob benign)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from evidence_builder import ATTACKER, BLOCK, CLOUD, USER_ID, Story

from toolkit.evidence import assess, triage, triage_cases
from toolkit.evidence.findings import CLIENTS, DELIVERY, RECIPIENTS, SIGNINS, VOLUME, Finding, finding
from toolkit.evidence.verdict import decide, family_scores, score
from toolkit.tenant import Tenant

SMALL_TENANT = Path(__file__).parent / "data" / "tenant_small"


def test_findings_validate_their_fields() -> None:
    with pytest.raises(ValueError, match="direction"):
        Finding("x", VOLUME, "s", 0.5, "maybe")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="strength"):
        Finding("x", VOLUME, "s", 1.5, "compromise")
    with pytest.raises(ValueError, match="family"):
        Finding("x", "gut feeling", "s", 0.5, "compromise")
    assert finding("x", VOLUME, "s", 1.7, "benign").strength == 1.0
    assert finding("x", VOLUME, "s", 0.5, "neutral").weight == 0.0


def test_a_family_counts_its_strongest_finding_in_full_and_the_rest_at_half() -> None:
    a = finding("a", SIGNINS, "a", 0.5, "compromise")
    b = finding("b", SIGNINS, "b", 0.5, "compromise")
    c = finding("c", DELIVERY, "c", 0.5, "benign")
    assert family_scores([a, b])[SIGNINS][0] == pytest.approx(1.5 * a.weight)
    assert c.weight < 0 and score([a, b, c]) == pytest.approx(1.5 * a.weight + c.weight)


def _quiet() -> Story:
    story = Story()
    story.routine()
    return story


def test_weak_signs_alone_do_not_make_a_compromise() -> None:
    story = _quiet()
    story.burst(100)
    story.restrict()
    weak = [finding(f"w{i}", family, "weak", 0.3, "compromise") for i, family in
            enumerate((VOLUME, RECIPIENTS, DELIVERY, CLIENTS, SIGNINS, "rules & forwarding"))]
    verdict = decide(story.profile(), weak)
    assert verdict.score > 1.0 and verdict.label == "inconclusive" and "conflicts" in verdict.basis


def test_one_kind_of_evidence_alone_does_not_make_a_compromise() -> None:
    story = Story()
    story.restrict("outbound_spam", spam=60, mail=100)
    for kind in ("trace", "signins"):
        story.gap(kind, reason="error", status="failed")
    assessment = assess(story.case())
    assert [f.indicator for f in assessment.findings if f.direction == "compromise"] == ["delivery.spam"]
    assert assessment.verdict.label == "inconclusive" and assessment.plan.kind == "gather_evidence"
    assert [s.title for s in assessment.plan.steps[:2]] == ["Get the trace evidence", "Get the signins evidence"]
    confirmed = decide(story.profile(), [finding("admin", SIGNINS, "confirmed", 0.9, "compromise")])
    assert confirmed.label == "compromised"  # decisive on its own


def test_no_evidence_says_so() -> None:
    verdict = decide(Story().profile(), [])
    assert verdict.label == "inconclusive" and verdict.basis == "There is too little evidence to decide either way."


def test_one_strong_sign_bars_a_benign_verdict() -> None:
    story = _quiet()
    story.burst(100)
    story.restrict()
    findings = [finding("good", DELIVERY, "clean", 0.9, "benign"), finding("bad", SIGNINS, "risky", 0.65,
                                                                           "compromise")]
    assert decide(story.profile(), findings).label == "inconclusive"


def test_a_benign_looking_case_without_sign_ins_is_inconclusive_and_asks_for_them() -> None:
    story = Story()
    story.routine()
    story.records.pop("signins")
    story.gap("signins")
    story.burst(2500, per_message=250)
    story.restrict(block="BlockUserForToday", external=2500)
    assessment = assess(story.case())
    assert assessment.verdict.label == "inconclusive" and assessment.verdict.leaning == "benign"
    assert "cannot be cleared without its sign-in log" in assessment.verdict.basis
    assert any("signins: unavailable" in m for m in assessment.verdict.missing)
    assert assessment.plan.kind == "gather_evidence"
    assert "Entra ID P1" in assessment.plan.steps[0].reason
    assert assessment.plan.steps[-1].action == "keep_blocked"


def test_compromise_is_proven_without_sign_ins() -> None:
    story = Story()
    story.routine()
    story.records.pop("signins")
    story.gap("signins")
    story.burst(150, ip=ATTACKER, spam=0.7)
    story.add("audit", time=BLOCK - pd.Timedelta(hours=4), record_id="r1", operation="New-InboxRule",
              user=story.user, client_ip=ATTACKER, target=f"{story.user}\\..", parameters='{"Name": ".."}')
    story.restrict("outbound_spam")
    assert assess(story.case()).verdict.label == "compromised"


def _everything(story: Story) -> None:
    story.routine()
    story.signin(BLOCK - pd.Timedelta(hours=8), ip=ATTACKER, country="NG", device=None, os="Linux",
                 browser="Firefox 115.0", risk="high", events="anomalousToken")
    story.add("rules", mailbox=story.user, rule_id="r-dot", name=".", enabled=True, hidden=False, source="exchange",
              move_to_folder="RSS Feeds", moves_to_hiding_folder=True, mark_as_read=True, name_is_punctuation=True,
              forwards_external=False, conditions="subject or body contains 'hacked'")
    story.records["mailbox"][0].update(forwarding_smtp="drop@evil.example", forwards_external=True)
    story.add("grants", grant_id="g-1", principal_id=USER_ID, client_id="sp-1", client_name="PDF Mail Helper",
              client_created=BLOCK - pd.Timedelta(hours=7), consent_type="Principal", scopes="Mail.Send",
              risky_scopes="Mail.Send")
    story.add("auth_methods", user_id=USER_ID, upn=story.user, method_id="m-evil", method_type="phone",
              detail="+234 800 (alternateMobile)", created=BLOCK - pd.Timedelta(hours=7, minutes=30))
    story.add("audit", time=BLOCK - pd.Timedelta(hours=7, minutes=30), record_id="reg", user=story.user,
              operation="User registered security info", client_ip=ATTACKER, target=USER_ID)
    story.burst(300, ip=CLOUD, spam=0.7)
    story.restrict("outbound_spam")


def test_the_plan_follows_microsofts_order_and_names_its_targets() -> None:
    story = Story()
    _everything(story)
    assessment = assess(story.case())
    assert assessment.verdict.label == "compromised" and assessment.verdict.confidence >= 0.9
    plan = assessment.plan
    assert plan.kind == "remediate_then_unblock" and plan.next_step == "Reset the password"
    assert [s.action for s in plan.steps] == ["reset_password", "remove_forwarding", "disable_rules", "revoke_grants",
                                             "revoke_sessions", "review_mfa", "unblock"]
    assert [s.order for s in plan.steps] == list(range(1, 8))
    assert [t.object_id for t in plan.targets("disable_rules")] == ["r-dot"]
    assert [t.object_id for t in plan.targets("revoke_grants")] == ["g-1"]
    assert [t.object_id for t in plan.targets("review_mfa")] == ["m-evil"]
    assert [t.label for t in plan.targets("remove_forwarding")] == ["drop@evil.example"]
    assert assessment.verdict.lifecycle.risk == "high"
    row = assessment.row()
    assert set(row) >= {"user", "verdict", "confidence", "reasons", "next_step"} and len(row["reasons"]) == 3
    report = assessment.report()
    assert "COMPROMISED" in report and "[ ] 1. Reset the password" in report and "r-dot" in report


def test_a_remediated_account_is_ready_to_unblock() -> None:
    story = Story()
    story.routine()
    story.signin(BLOCK - pd.Timedelta(hours=8), ip=ATTACKER, country="NG", device=None, os="Linux",
                 browser="Firefox 115.0", risk="high", events="passwordSpray")
    story.add("audit", time=BLOCK - pd.Timedelta(hours=7), record_id="rule", operation="New-InboxRule",
              user=story.user, client_ip=ATTACKER, target=f"{story.user}\\.", parameters='{"Name": "."}')
    story.burst(120, ip=ATTACKER, spam=0.6)
    story.restrict("outbound_spam")
    story.records["users"][0].update(last_password_change=BLOCK + pd.Timedelta(hours=2),
                                     sessions_valid_from=BLOCK + pd.Timedelta(hours=2))
    assessment = assess(story.case())
    assert assessment.verdict.label == "compromised"
    plan = assessment.plan
    assert plan.kind == "ready_to_unblock"
    assert plan.next_step.startswith("Ready to unblock")
    done = {s.action for s in plan.steps if s.done}
    assert {"reset_password", "disable_rules", "revoke_sessions"} <= done
    assert assessment.verdict.lifecycle.risk != "high"


def test_a_newsletter_gets_unblock_with_advice() -> None:
    story = _quiet()
    story.burst(2600, per_message=260)
    story.restrict(block="BlockUserForToday", external=2600)
    assessment = assess(story.case())
    assert assessment.verdict.label == "benign"
    assert assessment.plan.kind == "unblock_with_advice"
    assert any("bulk-mail service" in a for a in assessment.plan.advice)
    assert any("under 2,000 recipients an hour" in a for a in assessment.plan.advice)
    assert assessment.plan.steps[0].action == "unblock" and "00:00 UTC" in assessment.plan.steps[0].reason


def test_triage_cases_sorts_compromised_first() -> None:
    bad, good = Story(user="eve@contoso.com"), Story()
    _everything(bad)
    good.routine()
    good.burst(2600, per_message=260)
    good.restrict(block="BlockUserForToday")
    table = triage_cases([good.case(), bad.case()])
    assert list(table["verdict"]) == ["compromised", "benign"]
    assert list(table.columns[:5]) == ["user", "verdict", "confidence", "reasons", "next_step"]


# -- over HTTPS, from the sandbox --------------------------------------------------------------------------------------
def test_alice_is_compromised_and_bob_is_benign(small: Tenant) -> None:
    alice = assess(small.investigate("alice@contoso.com", days=14, save=False))
    assert alice.verdict.label == "compromised" and alice.verdict.confidence >= 0.9
    indicators = {f.indicator for f in alice.findings if f.direction == "compromise"}
    assert {"signins.failures_then_success", "rules.suspicious", "forwarding.mailbox", "timing.attacker_changes",
            "consent.mail_grant", "delivery.spam"} <= indicators
    assert alice.plan.targets("remove_forwarding") and alice.plan.targets("revoke_grants")
    assert {t.label for t in alice.plan.targets("disable_rules")} >= {".", "Backup"}

    bob = assess(small.investigate("bob@contoso.com", days=14, save=False))
    assert bob.verdict.label == "benign"
    assert bob.verdict.lifecycle.block_type == "BlockUserForToday"
    assert bob.verdict.lifecycle.release_at == pd.Timestamp("2026-11-21T00:00:00Z")
    assert bob.plan.kind == "unblock_with_advice"


def test_triage_of_the_small_tenant(small: Tenant) -> None:
    table = triage(small)
    assert dict(zip(table["user"], table["verdict"], strict=True)) == {"alice@contoso.com": "compromised",
                                                                      "bob@contoso.com": "benign"}
    assert table["next_step"].str.len().gt(0).all()
