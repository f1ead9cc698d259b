"""Sign-ins & risk: risky sign-ins, password guessing, legacy protocols, new places, travel, risk detections and the
user's risk state - each on the compromising pattern and on its benign look-alike."""

from __future__ import annotations

import pandas as pd
from evidence_builder import ATTACKER, BLOCK, OFFICE, Story, named, one

from toolkit.evidence.indicators import risk, signins


def _ids(story: Story, **match: object) -> set[str]:
    return {r["signin_id"] for r in story.records["signins"] if all(r.get(k) == v for k, v in match.items())}


def test_risky_sign_ins_are_named_with_their_rows() -> None:
    story = Story()
    story.routine()
    story.signin(BLOCK - pd.Timedelta(hours=5), ip="89.38.29.71", country="RO", device=None, os="Linux",
                 browser="Firefox 115.0", risk="medium", events="anomalousToken,unfamiliarFeatures")
    found = one(signins.risky(story.profile()), "signins.risky")
    assert found.direction == "compromise" and found.strength == 0.7
    assert "medium risk, anomalousToken and unfamiliarFeatures" in found.sentence and "89.38.29.71" in found.sentence
    assert set(found.row_keys("signins")) == _ids(story, ip="89.38.29.71")


def test_failed_passwords_then_a_success_from_a_new_address() -> None:
    story = Story()
    story.routine()
    for minutes in (300, 290, 280):
        story.signin(BLOCK - pd.Timedelta(minutes=minutes), ip=ATTACKER, country="NG", success=False, error=50126,
                     client="IMAP4", device=None, os="", browser="", legacy=True)
    story.signin(BLOCK - pd.Timedelta(minutes=270), ip=ATTACKER, country="NG", client="IMAP4", device=None, os="",
                 browser="", legacy=True)
    profile = story.profile()
    found = one(signins.failures_then_success(profile), "signins.failures_then_success")
    assert found.direction == "compromise" and "3 failed sign-ins (50126 invalid user name or password)" \
        in found.sentence
    assert set(found.row_keys("signins")) == _ids(story, ip=ATTACKER)
    legacy = one(signins.legacy_protocol(profile), "signins.legacy_protocol")
    assert legacy.strength == 0.6 and "IMAP4" in legacy.sentence
    location = one(signins.new_location(profile), "signins.new_location")
    assert location.direction == "compromise" and "NG" in location.sentence
    assert ATTACKER in profile.attacker_ips


def test_a_typo_at_the_office_is_not_password_guessing() -> None:
    story = Story()
    story.routine()
    story.signin(BLOCK - pd.Timedelta(minutes=30), success=False, error=50126)
    story.signin(BLOCK - pd.Timedelta(minutes=29))
    profile = story.profile()
    assert signins.failures_then_success(profile) == []
    found = one(signins.familiar_signins(profile), "signins.familiar")
    assert found.direction == "benign"


def test_a_service_account_that_always_uses_smtp_is_not_flagged() -> None:
    story = Story()
    for day in range(2, 12):
        story.signin((BLOCK - pd.Timedelta(days=day)).normalize() + pd.Timedelta(hours=7), client="Authenticated SMTP",
                     device=None, os="", browser="", legacy=True)
    story.signin(BLOCK - pd.Timedelta(hours=1), client="Authenticated SMTP", device=None, os="", browser="",
                 legacy=True)
    profile = story.profile()
    assert signins.legacy_protocol(profile) == []
    assert one(signins.familiar_signins(profile), "signins.familiar").direction == "benign"


def test_travel_on_the_users_own_laptop_is_not_an_attack() -> None:
    story = Story()
    story.routine()
    story.travel_signins()
    profile = story.profile()
    findings = signins.new_location(profile) + signins.weak_risk(profile) + signins.risky(profile)
    assert named(findings, "signins.new_location") == [] and named(findings, "signins.risky") == []
    travel = one(findings, "signins.travel")
    assert travel.direction == "neutral" and "consistent with travel" in travel.sentence and "SG" in travel.sentence
    assert one(findings, "signins.low_risk").direction == "neutral"
    assert one(signins.familiar_signins(profile), "signins.familiar").direction == "benign"
    assert profile.attacker_ips == frozenset()


def test_a_new_country_on_a_stranger_device_counts() -> None:
    story = Story()
    story.routine()
    story.signin(BLOCK - pd.Timedelta(hours=4), ip="39.45.78.161", country="PK", device=None, os="Windows 10",
                 browser="Chrome 120.0.0")
    profile = story.profile()
    found = one(signins.new_location(profile), "signins.new_location")
    assert found.direction == "compromise" and found.strength == 0.45
    assert signins.familiar_signins(profile) == []


def test_an_unmanaged_copy_of_the_users_system_from_a_new_address() -> None:
    story = Story()
    story.routine()
    story.signin(BLOCK - pd.Timedelta(hours=4), ip="81.2.99.1", device=None)  # same OS and browser, no device id
    found = one(signins.unfamiliar_device(story.profile()), "signins.unfamiliar_device")
    assert found.direction == "compromise" and found.strength == 0.3


def test_failed_attempts_that_never_succeeded_are_context() -> None:
    story = Story()
    story.routine()
    story.signin(BLOCK - pd.Timedelta(hours=6), ip="5.9.16.17", country="DE", success=False, error=50053,
                 device=None, os="", browser="")
    profile = story.profile()
    found = one(signins.failed_only(profile), "signins.failed_attempts")
    assert found.direction == "neutral" and "5.9.16.17" in found.sentence
    assert one(signins.familiar_signins(profile), "signins.familiar").direction == "benign"


def _detection(story: Story, kind: str, level: str, state: str = "atRisk", ip: str = ATTACKER) -> None:
    story.add("risk_detections", detection_id=f"d-{kind}-{level}-{state}".lower(), user_id="u", upn=story.user,
              risk_event_type=kind, risk_state=state, risk_level=level, ip=ip,
              activity_time=BLOCK - pd.Timedelta(hours=3), detected_time=BLOCK - pd.Timedelta(hours=3))


def test_attack_detections_count_and_dismissed_ones_point_back() -> None:
    story = Story()
    story.routine()
    _detection(story, "passwordSpray", "high")
    found = one(risk.detections(story.profile()), "risk.detections")
    assert found.direction == "compromise" and found.strength == 0.75
    assert found.row_keys("risk_detections") == ("d-passwordspray-high-atrisk",)

    dismissed = Story()
    dismissed.routine()
    _detection(dismissed, "passwordSpray", "high", state="dismissed")
    found = one(risk.detections(dismissed.profile()), "risk.dismissed")
    assert found.direction == "benign"


def test_leaked_credentials_alone_weigh_less() -> None:
    story = Story()
    story.routine()
    _detection(story, "leakedCredentials", "high", ip="")
    found = one(risk.detections(story.profile()), "risk.detections")
    assert found.strength == 0.4 and "leaked credentials" in found.sentence
    assert story.profile().attacker_ips == frozenset()


def test_unfamiliar_features_at_the_users_own_place_are_neutral() -> None:
    story = Story()
    story.routine()
    _detection(story, "unfamiliarFeatures", "low", ip=OFFICE)
    assert one(risk.detections(story.profile()), "risk.weak_detections").direction == "neutral"
    elsewhere = Story()
    elsewhere.routine()
    _detection(elsewhere, "unfamiliarFeatures", "low", ip="203.0.113.9")
    assert one(risk.detections(elsewhere.profile()), "risk.weak_detections").direction == "compromise"


def test_the_users_risk_state() -> None:
    cases = {("confirmedCompromised", "high"): ("compromise", 0.9), ("atRisk", "high"): ("compromise", 0.6),
             ("remediated", "none"): ("compromise", 0.45), ("dismissed", "none"): ("benign", 0.2)}
    for (state, level), (direction, strength) in cases.items():
        story = Story()
        story.add("risky_users", user_id="u", upn=story.user, risk_level=level, risk_state=state,
                  risk_last_updated=BLOCK)
        found = one(risk.user_risk(story.profile()), "risk.user")
        assert (found.direction, found.strength) == (direction, strength), state
        assert found.row_keys("risky_users") == ("u",)
    low = Story()
    low.add("risky_users", user_id="u", upn=low.user, risk_level="low", risk_state="atRisk", risk_last_updated=BLOCK)
    assert risk.user_risk(low.profile()) == []


def test_a_new_country_without_a_device_baseline_weighs_less() -> None:
    story = Story()
    story.signin(BLOCK - pd.Timedelta(days=9), country="GB")  # a single earlier sign-in: devices unknown
    story.signin(BLOCK - pd.Timedelta(hours=4), ip="71.190.127.210", country="US", device=None, os="MacOs",
                 browser="Safari 18.1")
    profile = story.profile()
    found = one(signins.new_location(profile), "signins.new_location")
    assert found.strength == 0.3 and "too few to tell" in found.sentence
    assert profile.attacker_ips == frozenset()  # not enough to call the address the attacker's
