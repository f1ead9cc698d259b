"""MFA & consent: a method registered by the attacker against a new phone from the usual place; an OAuth app with
Mail.Send consented just before the burst against a mail tool consented months ago."""

from __future__ import annotations

import pandas as pd
from evidence_builder import ATTACKER, BLOCK, CLOUD, OFFICE, USER_ID, Story, named, one

from toolkit.evidence.indicators import access


def _register(story: Story, method_id: str, when: pd.Timestamp, ip: str, method_type: str = "microsoftAuthenticator",
              detail: str = "SoftwareTokenActivated, app 6.2404") -> None:
    story.add("auth_methods", user_id=USER_ID, upn=story.user, method_id=method_id, method_type=method_type,
              detail=detail, created=when)
    story.add("audit", time=when, record_id=f"reg-{method_id}", operation="User registered security info",
              user=story.user, client_ip=ip, target=USER_ID)


def test_a_method_registered_from_the_risky_sign_in_address() -> None:
    story = Story()
    story.routine()
    story.signin(BLOCK - pd.Timedelta(hours=6), ip=ATTACKER, country="RO", device=None, os="Linux",
                 browser="Firefox 115.0", risk="medium", events="anomalousToken")
    _register(story, "m-evil", BLOCK - pd.Timedelta(hours=5, minutes=30), ATTACKER)
    found = one(access.new_methods(story.profile()), "mfa.new_method")
    assert found.direction == "compromise" and found.strength == 0.8
    assert "id m-evil" in found.sentence and ATTACKER in found.sentence
    assert found.row_keys("auth_methods") == (f"{USER_ID}/m-evil",) and found.row_keys("audit") == ("reg-m-evil",)
    assert [o.object_id for o in found.objects] == ["m-evil"]


def test_a_new_phone_registered_at_the_office_is_neutral() -> None:
    story = Story()
    story.routine()
    _register(story, "m-phone", BLOCK - pd.Timedelta(days=3), OFFICE)
    found = one(access.new_methods(story.profile()), "mfa.new_method")
    assert found.direction == "neutral" and "a familiar address" in found.sentence


def test_an_undated_phone_is_matched_to_its_registration_record() -> None:
    story = Story()
    story.routine()
    story.add("auth_methods", user_id=USER_ID, upn=story.user, method_id="b6332ec1-7057-4abe-9331-3d72feddfe41",
              method_type="phone", detail="+234 8030000000 (alternateMobile)")
    story.add("audit", time=BLOCK - pd.Timedelta(hours=8), record_id="reg-phone",
              operation="User registered security info", user=story.user, client_ip="198.51.100.9", target=USER_ID)
    found = one(access.new_methods(story.profile()), "mfa.new_method")
    assert found.direction == "compromise" and "likely one" in found.sentence and "+234" in found.sentence


def _grant(story: Story, grant_id: str, name: str, created: pd.Timestamp, scopes: str = "Mail.Send User.Read",
           risky: str = "Mail.Send") -> None:
    story.add("grants", grant_id=grant_id, principal_id=USER_ID, client_id=f"sp-{grant_id}", client_name=name,
              client_publisher="", client_created=created, consent_type="Principal", resource_id="graph",
              resource_name="Microsoft Graph", scopes=scopes, risky_scopes=risky)


def test_an_app_consented_hours_before_the_restriction() -> None:
    story = Story()
    story.routine()
    _grant(story, "g-pdf", "PDF Mail Helper", BLOCK - pd.Timedelta(hours=20))
    story.burst(200, ip=CLOUD, spam=0.7)
    story.restrict("outbound_spam")
    found = one(access.mail_grants(story.profile()), "consent.mail_grant")
    assert found.direction == "compromise" and found.strength == 0.4
    assert "'PDF Mail Helper'" in found.sentence and "20 hours before the restriction" in found.sentence
    assert "as an app sending through Graph would" in found.sentence
    assert found.row_keys("grants") == ("g-pdf",) and found.objects[0].object_id == "g-pdf"


def test_a_consent_from_a_suspect_address_is_strong() -> None:
    story = Story()
    story.routine()
    story.burst(100, ip=ATTACKER, spam=0.6)
    _grant(story, "g-evil", "DocuSlgn Connect", BLOCK - pd.Timedelta(hours=30))
    story.add("audit", time=BLOCK - pd.Timedelta(hours=30), record_id="consent", operation="Consent to application.",
              user=story.user, client_ip=ATTACKER, target="sp-g-evil")
    story.restrict("outbound_spam")
    found = one(access.mail_grants(story.profile()), "consent.mail_grant")
    assert found.strength == 0.7 and found.row_keys("audit") == ("consent",)


def test_a_mail_tool_consented_months_ago_is_weak() -> None:
    story = Story()
    story.routine()
    _grant(story, "g-merge", "Mail Merge for Outlook", pd.Timestamp("2026-08-01T12:00:00Z"))
    found = one(access.mail_grants(story.profile()), "consent.mail_grant")
    assert found.strength == 0.1 and "a standing grant, not a change" in found.sentence


def test_grants_without_mail_scopes_are_ignored() -> None:
    story = Story()
    _grant(story, "g-cal", "Calendar sync", BLOCK - pd.Timedelta(hours=2), scopes="Calendars.Read", risky="")
    assert named(access.mail_grants(story.profile()), "consent.mail_grant") == []
