"""A whole investigation over HTTPS on a generated tenant: every frame matches what the sandbox holds, row for row;
the case reopens offline; no token reaches the log."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from toolkit.case import CASE_KINDS, Case
from toolkit.connection import _started
from toolkit.tenant import Tenant, connect

SEED = 5


def rows(folder: Path, name: str) -> list[dict[str, Any]]:
    path = folder / name
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


def instant(text: str) -> datetime:
    return pd.Timestamp(text).tz_convert("UTC").to_pydatetime()


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("gen") / "tenant"
    subprocess.run([sys.executable, "-m", "toolkit.sandbox", "generate", "--out", str(folder), "--seed", str(SEED),
                    "--users", "80", "--days", "21"], check=True, capture_output=True)
    return folder


@pytest.fixture(scope="module")
def tenant(generated: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenant]:
    store = tmp_path_factory.mktemp("store")
    connected = connect(sandbox_tenant=generated, store_dir=store, quiet=True)
    yield connected
    for process in _started:
        process.stop()
    _started.clear()


@pytest.fixture(scope="module")
def truth(generated: Path) -> dict[str, Any]:
    return json.loads((generated / "truth.json").read_text())


def labelled(truth: dict[str, Any]) -> list[str]:
    return sorted(truth["labels"])


def test_restricted_users_are_the_active_blocks(tenant: Tenant, generated: Path, truth: dict[str, Any]) -> None:
    pull = tenant.restricted_users()
    assert pull.ledger.gaps() == []
    assert set(pull.frame["sender"]) == {r["SenderAddress"].lower() for r in rows(generated, "blocked_senders.jsonl")}
    assert set(labelled(truth)) <= set(pull.frame["sender"])


def test_every_frame_matches_the_sandbox_row_for_row(tenant: Tenant, generated: Path, truth: dict[str, Any],
                                                      caplog: pytest.LogCaptureFixture) -> None:
    # the forwarding-and-hiding story has the most kinds of evidence (hidden rules, forwarding, audit)
    sender = next(s for s, v in truth["labels"].items() if v["scenario"] == "forwarding_and_hiding_rules")
    with caplog.at_level(logging.DEBUG):
        case = tenant.investigate(sender, days=14)
    assert case.ledger.gaps() == [], case.gaps()
    user = next(u for u in rows(generated, "users.jsonl") if u["userPrincipalName"].lower() == case.user.upn)
    aliases = set(case.user.addresses)
    start, end = case.start, case.end

    expected_trace = {(r["id"].lower(), r["recipientAddress"].lower()) for r in rows(generated, "message_traces.jsonl")
                      if r["senderAddress"].lower() in aliases and start <= instant(r["receivedDateTime"]) <= end}
    got_trace = set(zip(case.trace["trace_id"].str.lower(), case.trace["recipient"].astype(str), strict=True))
    assert expected_trace and got_trace == expected_trace and len(case.trace) == len(expected_trace)

    expected_signins = {r["id"] for r in rows(generated, "sign_ins.jsonl")
                        if r.get("userId") == user["id"] and start <= instant(r["createdDateTime"]) <= end}
    assert expected_signins and set(case.signins["signin_id"]) == expected_signins

    expected_rules = {r["id"] for r in rows(generated, "message_rules.jsonl")
                      if r["mailbox"].lower() in aliases | {user["id"].lower()}}
    assert len(case.rules) == len(expected_rules)  # hidden rules included (from Get-InboxRule -IncludeHidden)
    hidden = {r["displayName"] for r in rows(generated, "message_rules.jsonl")
              if r["mailbox"].lower() in aliases and (r.get("_sandbox") or {}).get("hidden")}
    assert set(case.rules.loc[case.rules["hidden"].fillna(False).astype(bool), "name"]) == hidden

    expected_methods = {r["id"] for r in rows(generated, "auth_methods.jsonl")
                        if r["user"].lower() in {user["id"].lower(), user["userPrincipalName"].lower()}}
    assert set(case.auth_methods["method_id"]) == expected_methods
    expected_grants = {r["id"] for r in rows(generated, "oauth_grants.jsonl") if r.get("principalId") == user["id"]}
    assert set(case.grants["grant_id"]) == expected_grants
    expected_detections = {r["id"] for r in rows(generated, "risk_detections.jsonl") if r["userId"] == user["id"]
                           and start <= instant(r["detectedDateTime"]) <= end}
    assert set(case.risk_detections["detection_id"]) == expected_detections
    assert case.restricted["sender"].tolist() == [case.user.primary_smtp]
    assert case.mailbox["upn"].tolist() == [case.user.upn]

    text = "\n".join(r.getMessage() for r in caplog.records)
    token = tenant.connection.tokens.token("graph")
    assert token not in text and "eyJ" not in text


def test_a_stored_case_reopens_offline_identically(tenant: Tenant, truth: dict[str, Any]) -> None:
    case = tenant.investigate(labelled(truth)[1], days=7)
    assert case.path is not None
    reopened = tenant.open_case(case.user.upn)
    assert reopened is not None and reopened.path == case.path
    for kind in CASE_KINDS:
        pd.testing.assert_frame_equal(case.frames[kind].reset_index(drop=True),
                                      reopened.frames[kind].reset_index(drop=True), check_categorical=False)
    assert [e.sentence() for e in reopened.ledger] == [e.sentence() for e in case.ledger]
    assert Case.load(case.path).user == case.user


def test_policy_for_a_user_and_bad_arguments(tenant: Tenant, truth: dict[str, Any]) -> None:
    policy = tenant.outbound_policy(labelled(truth)[0])
    assert policy["per_day"] > 0 and policy["external_per_hour"] > 0
    with pytest.raises(ValueError, match="between 1 and 90"):
        tenant.investigate(labelled(truth)[0], days=120)


def test_window_is_on_the_service_clock(tenant: Tenant) -> None:
    assert abs(tenant.now() - datetime.fromisoformat("2026-11-20T12:00:00+00:00")) < timedelta(minutes=10)
    assert "SIMULATED" in repr(tenant)
