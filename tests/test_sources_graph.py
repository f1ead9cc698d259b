"""Graph sources against the sandbox: each frame matches what the sandbox holds, row for row, with honest coverage."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SMALL_TENANT, StartTenant, Tenant
from toolkit.connection import Connection, open_connection, sandbox_settings
from toolkit.sources import graph
from toolkit.transport import RetryPolicy

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DOMAINS = ("contoso.com", "contoso.onmicrosoft.com")
FAST = RetryPolicy(max_attempts=6, max_total_wait=20, backoff_base=0.05, backoff_max=0.2)


def lines(name: str, folder: Path = SMALL_TENANT) -> list[dict[str, Any]]:
    path = folder / name
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def conn(shared_tenant: Tenant) -> Connection:
    return open_connection(sandbox_settings(shared_tenant.ep), retry=FAST)


def test_identity_covers_every_alias_whichever_name_is_given(conn: Connection) -> None:
    for key in ("alice@contoso.com", "ALICE.NG@contoso.com", "00000003-aaaa-4bbb-8ccc-000000000003",
                "alice@contoso.onmicrosoft.com"):
        identity, pull = graph.resolve_user(conn.transport, key)
        assert identity.user_id == "00000003-aaaa-4bbb-8ccc-000000000003"
        assert set(identity.addresses) == {"alice@contoso.com", "alice.ng@contoso.com", "alice@contoso.onmicrosoft.com"}
        assert identity.primary_smtp == "alice@contoso.com"
        assert pull.frame["upn"].tolist() == ["alice@contoso.com"]
    with pytest.raises(graph.UserNotFound, match=r"nobody@contoso\.com"):
        graph.resolve_user(conn.transport, "nobody@contoso.com")


def test_a_quote_in_an_address_cannot_change_a_filter(conn: Connection) -> None:
    identity, _ = graph.resolve_user(conn.transport, "o'brien@contoso.com")
    assert identity.upn == "o'brien@contoso.com"
    pull = graph.message_traces(conn.transport, NOW - timedelta(days=9), NOW, senders=identity.addresses,
                                accepted_domains=DOMAINS)
    assert pull.frame["subject"].astype(str).tolist() == ["Re: let's meet for lunch?"]
    hostile = "x' or senderAddress eq 'alice@contoso.com"
    pull = graph.message_traces(conn.transport, NOW - timedelta(days=9), NOW, senders=(hostile,))
    assert len(pull.frame) == 0 and pull.complete


def test_signins_risk_methods_grants_match_the_snapshot(conn: Connection) -> None:
    identity, _ = graph.resolve_user(conn.transport, "alice@contoso.com")
    start = NOW - timedelta(days=14)
    signins = graph.signins(conn.transport, identity, start, NOW)
    expected = {r["id"] for r in lines("sign_ins.jsonl") if r["userId"] == identity.user_id
                and start <= instant(r["createdDateTime"]) <= NOW}
    assert set(signins.frame["signin_id"]) == expected and signins.complete
    assert set(graph.risky_user(conn.transport, identity).frame["risk_level"]) == {"high"}
    detections = graph.risk_detections(conn.transport, identity, start, NOW)
    assert set(detections.frame["risk_event_type"]) == {"passwordSpray", "suspiciousInboxForwarding"}
    methods = graph.auth_methods(conn.transport, identity)
    assert set(methods.frame["method_id"]) == {r["id"] for r in lines("auth_methods.jsonl")
                                               if r["user"] == identity.user_id}
    grants = graph.grants(conn.transport, identity)
    assert grants.frame["client_name"].tolist() == ["PDF Mail Helper"]
    assert "Mail.Send" in grants.frame["risky_scopes"].iloc[0]
    rules = graph.inbox_rules(conn.transport, identity, DOMAINS)
    assert set(rules.frame["rule_id"]) == {"AQAAAJ5dZqA=", "AQAAAJ5dZqB="}  # Graph never shows the hidden one
    alerts = graph.alerts(conn.transport, start, NOW, identity)
    assert alerts.frame["title"].tolist() == ["User restricted from sending email"]


def test_a_user_never_flagged_has_a_complete_empty_risk_record(conn: Connection) -> None:
    identity, _ = graph.resolve_user(conn.transport, "carol@contoso.com")
    pull = graph.risky_user(conn.transport, identity)
    assert len(pull.frame) == 0 and pull.complete


def test_trace_window_past_retention_is_recorded_not_clipped_silently(conn: Connection) -> None:
    identity, _ = graph.resolve_user(conn.transport, "carol@contoso.com")
    pull = graph.message_traces(conn.transport, NOW - timedelta(days=100), NOW, senders=identity.addresses,
                                accepted_domains=DOMAINS)
    gaps = [c for c in pull.coverage if not c.complete]
    assert len(gaps) == 1 and gaps[0].reason == "retention"
    assert gaps[0].start == NOW - timedelta(days=100)
    slices_ = [c for c in pull.coverage if c.complete]
    assert len(slices_) >= 9  # 90 days in 10-day slices
    assert all(c.end - c.start <= timedelta(days=10) for c in slices_)
    expected = [r for r in lines("message_traces.jsonl") if r["senderAddress"] == "carol@contoso.com"
                and instant(r["receivedDateTime"]) >= NOW - timedelta(days=90)]
    assert len(pull.frame) == len(expected)
    assert set(pull.frame["direction"].astype(str)) == {"outbound"}


@pytest.mark.parametrize("fault", [
    {"fault": "throttle", "retry_after": None},
    {"fault": "status", "status": 503},
    {"fault": "reset"},
    {"fault": "truncate"},
    {"fault": "repeat_page"},
    {"fault": "token_rejected"},
], ids=lambda f: str(f["fault"]))
def test_faults_mid_pull_end_in_the_same_complete_frame(start_tenant: StartTenant, fault: dict[str, Any]) -> None:
    tenant = start_tenant()
    conn = open_connection(sandbox_settings(tenant.ep), retry=FAST)
    window = (NOW - timedelta(days=12), NOW)
    clean = graph.message_traces(conn.transport, *window, accepted_domains=DOMAINS)
    tenant.set_faults([{"path": "/v1.0/admin/exchange/tracing/messageTraces", "calls": [2], **fault}])
    faulty = graph.message_traces(conn.transport, *window, accepted_domains=DOMAINS, page_size=7)
    assert faulty.complete
    key = ["trace_id", "recipient"]
    assert faulty.frame.sort_values(key).reset_index(drop=True)[key].equals(
        clean.frame.sort_values(key).reset_index(drop=True)[key])


def test_throttled_past_the_budget_is_a_gap_in_the_ledger(start_tenant: StartTenant) -> None:
    tenant = start_tenant(faults=[{"path": "/v1.0/auditLogs/signIns", "calls": "all", "fault": "throttle",
                                   "retry_after": 0.1}])
    conn = open_connection(sandbox_settings(tenant.ep), retry=RetryPolicy(max_attempts=2, max_total_wait=1))
    identity, _ = graph.resolve_user(conn.transport, "alice@contoso.com")
    pull = graph.signins(conn.transport, identity, NOW - timedelta(days=5), NOW)
    assert not pull.complete
    gap = pull.coverage[-1]
    assert gap.reason == "throttled" and gap.status == "failed" and "429" in gap.detail


def test_missing_licence_is_a_named_gap(start_tenant: StartTenant, tmp_path: Path) -> None:
    folder = tmp_path / "no-p1"
    shutil.copytree(SMALL_TENANT, folder)
    info = json.loads((folder / "tenant.json").read_text())
    info["licences"] = {"entraIdP1": False, "entraIdP2": False}
    (folder / "tenant.json").write_text(json.dumps(info))
    conn = open_connection(sandbox_settings(start_tenant(folder).ep), retry=FAST)
    identity, _ = graph.resolve_user(conn.transport, "alice@contoso.com")
    pull = graph.signins(conn.transport, identity, NOW - timedelta(days=5), NOW)
    assert len(pull.frame) == 0
    assert pull.coverage[-1].status == "unavailable" and pull.coverage[-1].reason == "licence"
    assert "Neither tenant is B2C" in pull.coverage[-1].detail


def test_concurrent_trace_queries_give_the_sequential_answer(conn: Connection) -> None:
    """A tenant-wide pull runs its slices four at a time: the same rows in the same order, the same ledger, and every
    request it sent accounted to the slice that sent it."""
    window = (NOW - timedelta(days=12), NOW)
    one = graph.message_traces(conn.transport, *window, accepted_domains=DOMAINS, page_size=5, workers=1)
    sent_before = sum(conn.transport.stats.requests.values())
    four = graph.message_traces(conn.transport, *window, accepted_domains=DOMAINS, page_size=5, workers=4)
    sent = sum(conn.transport.stats.requests.values()) - sent_before
    assert four.complete and one.complete
    assert four.frame.equals(one.frame)
    assert len(four.frame) == len([r for r in lines("message_traces.jsonl")
                                   if window[0] <= instant(r["receivedDateTime"]) <= window[1]])
    spans = [(c.start, c.end) for c in four.coverage]
    assert spans == [(c.start, c.end) for c in one.coverage] and len(spans) >= 4
    assert sum(c.rows for c in four.coverage) == len(four.frame)
    assert sum(c.requests for c in four.coverage) == sent


def test_trace_page_size_and_workers_are_checked(conn: Connection) -> None:
    with pytest.raises(ValueError, match="page_size"):
        graph.message_traces(conn.transport, NOW - timedelta(days=1), NOW, page_size=5001)
    with pytest.raises(ValueError, match="workers"):
        graph.message_traces(conn.transport, NOW - timedelta(days=1), NOW, workers=0)
