"""Clients & IPs: where the burst was submitted from, and over which client."""

from __future__ import annotations

import pandas as pd
from evidence_builder import ATTACKER, BLOCK, CLOUD, OFFICE, Story, named, one

from toolkit.evidence.indicators import clients


def _spray(story: Story) -> None:
    """Failed passwords then a success over SMTP AUTH from the attacker's address."""
    for minutes in (200, 190):
        story.signin(BLOCK - pd.Timedelta(minutes=minutes), ip=ATTACKER, country="NG", success=False, error=50126,
                     client="Authenticated SMTP", device=None, os="", browser="", legacy=True)
    story.signin(BLOCK - pd.Timedelta(minutes=180), ip=ATTACKER, country="NG", client="Authenticated SMTP",
                 device=None, os="", browser="", legacy=True)


def test_a_burst_from_the_suspicious_sign_in_address_names_both() -> None:
    story = Story()
    story.routine()
    _spray(story)
    story.burst(100, ip=ATTACKER, spam=0.5)
    found = one(clients.sending_addresses(story.profile()), "clients.suspect_sender")
    assert found.direction == "compromise" and found.strength == 0.65
    assert ATTACKER in found.sentence and "suspicious sign-in" in found.sentence
    assert {r.kind for r in found.rows} == {"trace", "signins"}
    spray_success = [r["signin_id"] for r in story.records["signins"] if r["ip"] == ATTACKER and r["success"]]
    assert set(found.row_keys("signins")) == set(spray_success)


def test_a_burst_from_an_address_nobody_signed_in_from() -> None:
    story = Story()
    story.routine()
    story.burst(100, ip=CLOUD)
    found = one(clients.sending_addresses(story.profile()), "clients.new_sender")
    assert found.direction == "compromise" and found.strength == 0.35
    assert CLOUD in found.sentence and "no sign-in of theirs" in found.sentence
    burst_keys = {f"{r['trace_id']}/{r['recipient']}" for r in story.records["trace"] if r["from_ip"] == CLOUD}
    assert found.row_keys("trace") and set(found.row_keys("trace")) <= burst_keys


def test_a_burst_from_the_users_own_addresses_points_benign() -> None:
    story = Story()
    story.routine()
    story.burst(100, ip=OFFICE)
    findings = clients.sending_addresses(story.profile())
    found = one(findings, "clients.usual_sender")
    assert found.direction == "benign" and OFFICE in found.sentence
    assert named(findings, "clients.new_sender") == [] and named(findings, "clients.suspect_sender") == []


def test_a_burst_from_where_the_user_signed_in_on_their_own_device_points_benign() -> None:
    story = Story()
    story.routine()
    hotel = "116.14.8.192"
    story.signin(BLOCK - pd.Timedelta(hours=3), ip=hotel, country="SG")
    story.burst(100, ip=hotel)
    found = one(clients.sending_addresses(story.profile()), "clients.signed_in_sender")
    assert found.direction == "benign" and hotel in found.sentence and "own device" in found.sentence
    assert {r.kind for r in found.rows} == {"trace", "signins"}


def test_a_burst_from_where_someone_signed_in_on_a_strange_device_is_only_context() -> None:
    story = Story()
    story.routine()
    proxy = "89.38.51.82"
    story.signin(BLOCK - pd.Timedelta(hours=3), ip=proxy, device=None)  # the user's system, but no device id
    story.burst(100, ip=proxy)
    found = one(clients.sending_addresses(story.profile()), "clients.signed_in_sender")
    assert found.direction == "neutral" and "not on a device their baseline shows" in found.sentence


def test_submission_over_a_legacy_protocol_the_user_does_not_use() -> None:
    story = Story()
    story.routine()
    _spray(story)
    story.burst(100, ip=ATTACKER)
    found = one(clients.sending_client(story.profile()), "clients.legacy_sender")
    assert found.direction == "compromise" and "Authenticated SMTP" in found.sentence
    assert found.rows[0].kind == "signins"


def test_a_device_that_always_sends_over_smtp_is_routine() -> None:
    story = Story()
    scanner = "10.1.2.3"
    for day in range(2, 12):
        morning = (BLOCK - pd.Timedelta(days=day)).normalize() + pd.Timedelta(hours=7)
        story.signin(morning, ip=scanner, client="Authenticated SMTP", app="Office 365 Exchange Online", device=None,
                     os="", browser="", legacy=True)
        story.mail(morning + pd.Timedelta(minutes=5), "colleague0@contoso.com", ip=scanner, subject="Scan to email")
    story.signin(BLOCK - pd.Timedelta(minutes=55), ip=scanner, client="Authenticated SMTP", device=None, os="",
                 browser="", legacy=True)
    story.burst(100, ip=scanner)
    found = one(clients.sending_client(story.profile()), "clients.legacy_sender")
    assert found.direction == "benign" and "routinely" in found.sentence
