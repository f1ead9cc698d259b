"""The Exchange sources against the sandbox over HTTPS: every frame equals what the sandbox holds, row for row, and
every expected failure (a missing role, a missing object, throttling past the budget, retention, the audit cap)
ends in an honest coverage entry, never an exception or a silently short frame."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.conftest import READER_ID, READER_SECRET, SMALL_TENANT, StartTenant, Tenant
from toolkit import frames
from toolkit.connection import Connection, open_connection, sandbox_settings
from toolkit.sandbox_process import SandboxProcess
from toolkit.settings import Credential
from toolkit.sources import exchange
from toolkit.sources.base import Pull
from toolkit.sources.exchange_audit import SESSION_CAP
from toolkit.sources.exchange_trace import MAX_RESULT_SIZE, TICK, message_trace_v2
from toolkit.transport import FAIL_FAST, RequestStats, RetryPolicy

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # "now" of the small and the generated tenants
FAST_RETRY = RetryPolicy(max_attempts=6, max_total_wait=20, backoff_base=0.05, backoff_max=0.2)
SHORT_RETRY = RetryPolicy(max_attempts=2, max_total_wait=1, backoff_base=0.01, backoff_max=0.05)
CONTOSO = ["contoso.com", "contoso.onmicrosoft.com"]
LUCERNE = ["lucerne.com", "lucerne.onmicrosoft.com"]
#: Senders of the generated tenant (seed 3): a compromised spammer (many recipients per instant), a mail merge and
#: a travelling user.
SENDERS = ["valentina.fischer@lucerne.com", "amir.okafor@lucerne.com", "mateo.clarke@lucerne.com"]


def connect(tenant: Tenant, retry: RetryPolicy = FAST_RETRY) -> Connection:
    return open_connection(sandbox_settings(tenant.ep), retry=retry)


def lines(folder: Path, name: str) -> list[dict[str, Any]]:
    with (folder / f"{name}.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(text) for text in handle if text.strip()]


def instant(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def assert_accounted(pull: Pull) -> None:
    """Every row of the frame is counted by exactly one coverage entry."""
    assert sum(c.rows for c in pull.coverage) == len(pull.frame)
    frames.validate(pull.kind, pull.frame)


def trace_keys(frame: pd.DataFrame) -> list[tuple[str, str]]:
    return sorted(zip(frame["trace_id"].astype(str), frame["recipient"].astype(str), strict=True))


TRACE_COLUMNS = ["trace_id", "recipient", "sender", "received", "message_id", "subject", "size", "status",
                 "recipient_domain", "direction", "from_ip"]


def trace_rows(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    """The trace frame as comparable tuples, sorted by key (source and to_ip differ by API, not by row)."""
    table = frame[TRACE_COLUMNS].astype(object).where(frame[TRACE_COLUMNS].notna(), None)
    return sorted(tuple(row) for row in table.itertuples(index=False))


def expected_trace(folder: Path, start: datetime, end: datetime, senders: list[str] | None,
                   domains: list[str]) -> pd.DataFrame:
    """The snapshot's trace rows in [start, end] (of ``senders``), converted by the Graph converter."""
    wanted = None if senders is None else {s.lower() for s in senders}
    rows = [r for r in lines(folder, "message_traces")
            if start <= instant(r["receivedDateTime"]) <= end
            and (wanted is None or r["senderAddress"].lower() in wanted)]
    return frames.from_graph("trace", rows, accepted_domains=domains)


@pytest.fixture(scope="module")
def conn(shared_tenant: Tenant) -> Connection:
    return connect(shared_tenant)


@pytest.fixture
def reader_conn(shared_tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> Connection:
    monkeypatch.setenv("READER_SECRET_FOR_EXCHANGE_TEST", READER_SECRET)
    settings = replace(sandbox_settings(shared_tenant.ep), client_id=READER_ID,
                       credential=Credential("secret", secret_env="READER_SECRET_FOR_EXCHANGE_TEST"))
    return open_connection(settings, retry=FAST_RETRY)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A realistic tenant from the scenario generator: 60 users, 20 days (about 10,500 trace rows)."""
    folder = tmp_path_factory.mktemp("generated") / "tenant"
    subprocess.run([sys.executable, "-m", "toolkit.sandbox", "generate", "--out", str(folder), "--seed", "3",
                    "--users", "60", "--days", "20"], check=True, capture_output=True, timeout=120)
    return folder


@pytest.fixture(scope="module")
def generated_tenant(generated: Path, tmp_path_factory: pytest.TempPathFactory, state_dir: Path) -> Iterator[Tenant]:
    folder = tmp_path_factory.mktemp("generated-run") / "tenant"
    shutil.copytree(generated, folder)
    process = SandboxProcess.start(folder, state_dir=state_dir)
    yield Tenant(process, folder)
    process.stop()


# --- restricted senders, policies, domains --------------------------------------------------------------------
def test_accepted_domains_default_first(conn: Connection) -> None:
    assert exchange.accepted_domains(conn) == CONTOSO
    assert exchange.accepted_domains(conn.transport) == CONTOSO  # a Transport works as well as a Connection


def test_restricted_equals_the_active_blocks(conn: Connection) -> None:
    pull = exchange.restricted(conn)
    # carol's block was for the day (TemporaryBlock) of 2026-11-18: it lifted at midnight UTC, before "now"
    held = [r for r in lines(SMALL_TENANT, "blocked_senders") if r["SenderAddress"] != "carol@contoso.com"]
    assert pull.complete and pull.coverage[0].rows == 2 and pull.coverage[0].backend == "exchange"
    frame = pull.frame.sort_values("sender", ignore_index=True)
    assert list(frame["sender"]) == sorted(r["SenderAddress"] for r in held)
    assert list(frame["reason"]) == [r["Reason"] for r in sorted(held, key=lambda r: r["SenderAddress"])]
    assert list(frame["block_type"]) == ["BlockUser", "BlockUserForToday"]
    assert list(frame["created"]) == [pd.Timestamp(r["CreatedDatetime"])
                                      for r in sorted(held, key=lambda r: r["SenderAddress"])]
    assert list(frame["external_recipients_today"].fillna(-1)) == [-1, 1004]
    assert_accounted(pull)

    one = exchange.restricted(conn, sender="BOB@contoso.com")
    assert one.complete and list(one.frame["sender"]) == ["bob@contoso.com"]
    none = exchange.restricted(conn, sender="nobody@contoso.com")
    assert none.complete and none.frame.empty and none.coverage[0].rows == 0


def test_outbound_policies_and_the_policy_of_a_sender(conn: Connection) -> None:
    policy, rules = exchange.outbound_policies(conn)
    assert policy.complete and rules.complete
    stored = {p["Name"]: p for p in lines(SMALL_TENANT, "outbound_policies")}
    assert sorted(policy.frame["name"]) == sorted(stored)
    strict = policy.frame.set_index("name").loc["Strict outbound (finance)"]
    assert (strict["per_day"], strict["external_per_hour"], strict["action"]) == (800, 400, "BlockUser")
    assert strict["applies_to"] == "from alice@contoso.com"
    default = policy.frame.set_index("name").loc["Default"]
    assert default["per_day"] == frames.SERVICE_DEFAULTS["per_day"] and default["per_day_configured"] == 0
    assert list(rules.frame["name"]) == [r["Name"] for r in lines(SMALL_TENANT, "outbound_rules")]
    assert exchange.outbound_policy_for(policy, rules, "alice@contoso.com")["name"] == "Strict outbound (finance)"
    assert exchange.outbound_policy_for(policy, rules, "bob@contoso.com")["name"] == "Default"


def test_policy_rules_that_fail_leave_the_policy_partial(start_tenant: StartTenant) -> None:
    tenant = start_tenant(faults=[{"cmdlet": "Get-HostedOutboundSpamFilterRule", "calls": "all", "fault": "status",
                                   "status": 503}])
    policy, rules = exchange.outbound_policies(connect(tenant, SHORT_RETRY))
    assert rules.coverage[0].status == "failed" and rules.coverage[0].reason == "error" and rules.frame.empty
    entry = policy.coverage[0]
    assert entry.status == "partial" and entry.rows == 2 and "whom each custom policy covers is unknown" in entry.detail
    custom = policy.frame.set_index("name").loc["Strict outbound (finance)"]
    assert pd.isna(custom["applies_to"]) and pd.isna(custom["enabled"])  # unknown, not "nobody"
    assert exchange.outbound_policy_for(policy, rules, "alice@contoso.com") is None  # cannot be told


# --- mailbox and inbox rules ---------------------------------------------------------------------------------------
def test_mailbox_and_a_missing_one(conn: Connection) -> None:
    pull = exchange.mailbox(conn, "alice.ng@contoso.com", CONTOSO)  # any address of the mailbox finds it
    stored = next(m for m in lines(SMALL_TENANT, "mailboxes") if m["UserPrincipalName"] == "alice@contoso.com")
    assert pull.complete and len(pull.frame) == 1
    row = pull.frame.iloc[0]
    assert row["upn"] == "alice@contoso.com" and row["user_id"] == stored["ExternalDirectoryObjectId"]
    assert row["forwarding_smtp"] == stored["ForwardingSmtpAddress"].removeprefix("smtp:")
    assert row["forwards_external"] and row["deliver_and_forward"] == stored["DeliverToMailboxAndForward"]
    assert row["addresses"].split(",")[0] == "alice@contoso.com"

    missing = exchange.mailbox(conn, "nobody@contoso.com", CONTOSO)
    assert missing.frame.empty and list(missing.frame.columns) == list(frames.empty("mailbox").columns)
    (entry,) = missing.coverage
    assert (entry.status, entry.reason) == ("unavailable", "not_found")
    assert entry.detail == "no Exchange Online mailbox for nobody@contoso.com"


def test_inbox_rules_mark_the_hidden_ones(conn: Connection) -> None:
    pull = exchange.inbox_rules(conn, "alice@contoso.com", CONTOSO)
    stored = [r for r in lines(SMALL_TENANT, "message_rules") if r["mailbox"] == "alice@contoso.com"]
    assert pull.complete and pull.coverage[0].requests == 2
    frame = pull.frame.sort_values("priority", ignore_index=True)
    assert list(frame["name"]) == [r["displayName"] for r in stored]
    assert list(frame["hidden"]) == [bool((r.get("_sandbox") or {}).get("hidden")) for r in stored]
    assert set(frame["mailbox"]) == {"alice@contoso.com"}
    backup = frame.set_index("name").loc["Backup"]
    assert backup["forward_to"] == "alice.ng.backup@gmail-mail.example"
    assert_accounted(pull)
    missing = exchange.inbox_rules(conn, "nobody@contoso.com", CONTOSO)
    assert (missing.coverage[0].status, missing.coverage[0].reason) == ("unavailable", "not_found")


def test_inbox_rules_hidden_unknown_when_the_second_call_fails(start_tenant: StartTenant) -> None:
    tenant = start_tenant(faults=[{"cmdlet": "Get-InboxRule", "calls": [2], "fault": "status", "status": 503}])
    pull = exchange.inbox_rules(connect(tenant, FAIL_FAST), "alice@contoso.com", CONTOSO)
    assert len(pull.frame) == 3 and pull.frame["hidden"].isna().all()
    assert pull.coverage[0].status == "partial" and "which of them are hidden is unknown" in pull.coverage[0].detail


def test_reader_gets_restricted_and_trace_but_not_inbox_rules(reader_conn: Connection) -> None:
    assert exchange.restricted(reader_conn).complete
    trace = message_trace_v2(reader_conn, NOW - timedelta(days=5), NOW, accepted_domains=CONTOSO)
    assert trace.complete and len(trace.frame) > 20
    rules = exchange.inbox_rules(reader_conn, "alice@contoso.com", CONTOSO)  # no exception
    (entry,) = rules.coverage
    assert (entry.status, entry.reason, entry.rows) == ("unavailable", "permission", 0) and rules.frame.empty
    assert "role does not include Get-InboxRule" in entry.detail and "Global Reader" in entry.detail


# --- message trace -------------------------------------------------------------------------------------------------
def test_trace_details_equal_the_snapshot(conn: Connection) -> None:
    trace_id, recipient = "5c1d2e3f-0000-4000-8000-000000000021", "subscriber8@list.example"
    pull = exchange.trace_details_v2(conn, trace_id, recipient)
    stored = sorted((r for r in lines(SMALL_TENANT, "message_trace_details")
                     if r["id"] == trace_id and r["recipientAddress"] == recipient), key=lambda r: r["dateTime"])
    assert pull.complete and pull.coverage[0].backend == "exchange_v2"
    assert list(pull.frame["event"]) == [r["event"] for r in stored] == ["Receive", "Deliver"]
    assert list(pull.frame["time"]) == [pd.Timestamp(r["dateTime"]) for r in stored]
    assert set(pull.frame["trace_id"]) == {trace_id} and set(pull.frame["recipient"]) == {recipient}


def test_trace_older_than_90_days_is_a_retention_entry(conn: Connection) -> None:
    start = NOW - timedelta(days=95)
    pull = message_trace_v2(conn, start, NOW, accepted_domains=CONTOSO, page_size=10)
    retention = [c for c in pull.coverage if c.reason == "retention"]
    assert len(retention) == 1 and retention[0].status == "unavailable" and retention[0].start == start
    edge = retention[0].end
    assert edge is not None and NOW - timedelta(days=90) < edge < NOW - timedelta(days=90) + timedelta(minutes=15)
    searched = [c for c in pull.coverage if c.reason != "retention"]
    assert all(c.complete for c in searched) and searched[0].start == edge and len(searched) == 9
    # the small tenant's one row from 2026-08-17 is older than 90 days: gone, and the ledger says so
    assert trace_rows(pull.frame) == trace_rows(expected_trace(SMALL_TENANT, edge, NOW, None, CONTOSO))
    assert len(pull.frame) == len(lines(SMALL_TENANT, "message_traces")) - 1
    assert_accounted(pull)


def test_trace_v2_over_a_generated_tenant_every_row_once(generated_tenant: Tenant, generated: Path) -> None:
    conn = connect(generated_tenant)
    start, end = NOW - timedelta(days=20), NOW
    pull = message_trace_v2(conn, start, end, senders=SENDERS, accepted_domains=LUCERNE, page_size=200)
    expected = expected_trace(generated, start, end, SENDERS, LUCERNE)
    assert len(expected) > 2000
    assert pull.complete and len(pull.coverage) == 2  # two 10-day slices
    middle = start + timedelta(days=10)
    assert [(c.start, c.end) for c in pull.coverage] == [(start, middle), (middle, end)]
    requests = sum(c.requests for c in pull.coverage)
    assert requests >= len(expected) // 200  # the cursor paged, 200 rows at a time
    assert conn.transport.stats.requests["exo_message_trace"] == requests
    assert trace_keys(pull.frame) == sorted(set(trace_keys(pull.frame)))  # once each
    assert trace_rows(pull.frame) == trace_rows(expected)
    assert set(pull.frame["source"]) == {"exchange_v2"} and set(pull.frame["sender"]) == set(SENDERS)
    assert list(pull.frame["received"]) == sorted(pull.frame["received"])
    assert_accounted(pull)


def test_trace_v2_whole_tenant_with_large_pages(generated_tenant: Tenant, generated: Path) -> None:
    start, end = NOW - timedelta(days=20), NOW
    pull = message_trace_v2(connect(generated_tenant), start, end, accepted_domains=LUCERNE)
    expected = expected_trace(generated, start, end, None, LUCERNE)
    assert pull.complete and len(expected) == len(lines(generated, "message_traces"))
    assert trace_rows(pull.frame) == trace_rows(expected)
    assert set(pull.frame["direction"].dropna()) == {"outbound", "inbound", "internal"}


@pytest.mark.parametrize(
    "fault",
    [
        {"fault": "throttle", "retry_after": None},
        {"fault": "status", "status": 503},
        {"fault": "reset"},
        {"fault": "truncate"},
        {"fault": "repeat_page"},
    ],
    ids=lambda f: "-".join(str(v) for v in f.values()),
)
def test_trace_v2_faults_end_in_the_same_complete_frame(start_tenant: StartTenant, generated: Path,
                                                        fault: dict[str, Any]) -> None:
    tenant = start_tenant(generated, faults=[{"cmdlet": "Get-MessageTraceV2", "calls": [2, 3], **fault}])
    start, end = NOW - timedelta(days=20), NOW
    # 1500 rows per query: each query's answer spans two InvokeCommand pages, so repeat_page has a nextLink to hit
    pull = message_trace_v2(connect(tenant), start, end, senders=SENDERS, accepted_domains=LUCERNE, page_size=1500)
    assert len(tenant.control("GET", "/faults").json()["fired"]) == 2
    assert pull.complete
    assert trace_rows(pull.frame) == trace_rows(expected_trace(generated, start, end, SENDERS, LUCERNE))
    assert_accounted(pull)


def test_trace_v2_throttled_past_the_budget_is_a_ledger_entry(start_tenant: StartTenant, generated: Path) -> None:
    tenant = start_tenant(generated, faults=[{"cmdlet": "Get-MessageTraceV2", "calls": {"from": 3},
                                              "fault": "throttle", "retry_after": None}])
    start, end = NOW - timedelta(days=20), NOW
    expected = expected_trace(generated, start, end, SENDERS, LUCERNE)
    first_slice = expected[expected["received"] <= start + timedelta(days=10)]
    assert 0 < len(first_slice) < 200  # one query reads the first slice; the second slice needs many
    pull = message_trace_v2(connect(tenant, SHORT_RETRY), start, end, senders=SENDERS, accepted_domains=LUCERNE,
                            page_size=200)  # no exception
    assert not pull.complete
    done, throttled = pull.coverage
    assert done.complete and done.rows == len(first_slice)
    assert (throttled.status, throttled.reason, throttled.rows) == ("partial", "throttled", 200)
    assert "older ones were not" in throttled.detail and "throttled past the retry budget" in throttled.detail
    assert len(pull.frame) == len(first_slice) + 200
    assert set(trace_keys(pull.frame)) < set(trace_keys(expected))
    assert_accounted(pull)

    tenant.set_faults([{"cmdlet": "Get-MessageTraceV2", "calls": "all", "fault": "throttle", "retry_after": None}])
    nothing = message_trace_v2(connect(tenant, SHORT_RETRY), start, end, senders=SENDERS, accepted_domains=LUCERNE)
    assert [(c.status, c.reason, c.rows) for c in nothing.coverage] == [("failed", "throttled", 0)] * 2
    assert nothing.frame.empty and list(nothing.frame.columns) == list(frames.empty("trace").columns)


def test_a_quote_in_an_address(start_tenant: StartTenant, tmp_path: Path) -> None:
    folder = tmp_path / "tenant_src"
    shutil.copytree(SMALL_TENANT, folder)
    address = "o'brien@contoso.com"
    with (folder / "blocked_senders.jsonl").open("a") as handle:
        handle.write(json.dumps({"SenderAddress": address, "CreatedDatetime": "2026-11-20T07:00:00Z",
                                 "Reason": "OutboundSpamLast24Hours=90;OutboundMailLast24Hours=100;"
                                           "OutboundSpamPercent=90", "TemporaryBlock": False}) + "\n")
    # the small tenant already holds the mailbox of o'brien@contoso.com (and one message from it)
    traces = [{"id": f"0b0b0b0b-0000-4000-8000-{n:012d}", "senderAddress": address,
               "recipientAddress": f"o'neil{n}@fabrikam.example", "messageId": f"<q{n}@contoso.com>",
               "receivedDateTime": f"2026-11-19T10:{n:02d}:00Z", "subject": "it's here", "size": 1000,
               "fromIP": "203.0.113.5", "toIP": "198.51.100.7", "status": "delivered"} for n in range(5)]
    with (folder / "message_traces.jsonl").open("a") as handle:
        handle.write("".join(json.dumps(t) + "\n" for t in traces))
    conn = connect(start_tenant(folder))
    restricted = exchange.restricted(conn, sender=address)
    assert restricted.complete and list(restricted.frame["sender"]) == [address]
    box = exchange.mailbox(conn, address, CONTOSO)
    assert box.complete and list(box.frame["upn"]) == [address]
    start = NOW - timedelta(days=3)
    trace = message_trace_v2(conn, start, NOW, senders=[address], accepted_domains=CONTOSO, page_size=2)
    expected = expected_trace(folder, start, NOW, [address], CONTOSO)
    assert trace.complete and len(expected) == len(traces) + 1
    assert trace_rows(trace.frame) == trace_rows(expected)
    assert "it's here" in set(trace.frame["subject"]) and set(trace.frame["direction"]) == {"outbound"}


# --- the cursor when the service does not let it move -------------------------------------------------------------
class StubTransport:
    """An in-memory Get-MessageTraceV2 that honours the window and ResultSize but IGNORES StartingRecipientAddress,
    so it cannot page inside one instant (``broken``: it also ignores the window and always sends the same page)."""

    def __init__(self, rows: list[dict[str, Any]], broken: bool = False):
        self.rows = sorted(rows, key=lambda r: (-instant(r["Received"]).timestamp(), r["RecipientAddress"]))
        self.broken = broken
        self.stats = RequestStats()
        self.sizes: list[int] = []

    def now(self) -> datetime:
        return NOW

    def invoke(self, cmdlet: str, parameters: dict[str, Any] | None = None, *, source: str | None = None,
               page_size: int | None = None) -> list[dict[str, Any]]:
        assert cmdlet == "Get-MessageTraceV2" and parameters is not None
        self.stats.count(self.stats.requests, "exo_message_trace")
        size = parameters["ResultSize"]
        self.sizes.append(size)
        if self.broken:
            return self.rows[:size]
        start, end = pd.Timestamp(parameters["StartDate"]), pd.Timestamp(parameters["EndDate"])
        return [r for r in self.rows if start <= pd.Timestamp(r["Received"]) <= end][:size]

    def invoke_pages(self, cmdlet: str, parameters: dict[str, Any] | None = None, *, source: str | None = None,
                     page_size: int | None = None) -> Iterator[list[dict[str, Any]]]:
        yield self.invoke(cmdlet, parameters, source=source, page_size=page_size)


def _stub_row(n: int, when: datetime, recipient: str) -> dict[str, Any]:
    return {"Received": when.strftime("%Y-%m-%dT%H:%M:%S.0000000+00:00"), "SenderAddress": "bulk@contoso.com",
            "RecipientAddress": recipient, "Subject": "s", "Status": "Delivered", "Size": 1, "FromIP": None,
            "ToIP": None, "MessageId": f"<{n}@contoso.com>", "MessageTraceId": f"00000000-0000-4000-8000-{n:012d}"}


def _stub_rows(tied: int) -> tuple[list[dict[str, Any]], set[str]]:
    """40 rows five days ago, ``tied`` rows in one instant three days ago, 30 rows yesterday."""
    tie = NOW - timedelta(days=3)
    rows = [_stub_row(n, NOW - timedelta(days=5, minutes=n), f"r{n:03d}@fabrikam.example") for n in range(40)]
    ties = [_stub_row(10_000 + n, tie, f"t{n:05d}@fabrikam.example") for n in range(tied)]
    rows += ties + [_stub_row(200 + n, NOW - timedelta(days=1, minutes=n), f"s{n:03d}@fabrikam.example")
                    for n in range(30)]
    return rows, {r["MessageTraceId"] for r in ties}


def test_a_stuck_cursor_searches_the_instant_alone_then_the_older_part() -> None:
    rows, _ = _stub_rows(25)  # 25 rows in one instant, pages of 10, no paging inside an instant
    stub = StubTransport(rows)
    pull = message_trace_v2(stub, NOW - timedelta(days=6), NOW, accepted_domains=CONTOSO, page_size=10)
    assert pull.complete and set(pull.frame["trace_id"]) == {r["MessageTraceId"] for r in rows}
    assert MAX_RESULT_SIZE in stub.sizes  # the instant was asked for alone, in the largest page
    tie = NOW - timedelta(days=3)
    before_tie = pd.Timestamp(tie) - TICK  # the older part ends one tick before the instant
    assert [(c.start, c.end) for c in pull.coverage] == [(tie, NOW), (tie, tie), (NOW - timedelta(days=6), before_tie)]
    assert "could not move past" in pull.coverage[0].detail
    assert len(stub.sizes) < 15
    assert_accounted(pull)


def test_an_instant_that_does_not_fit_is_a_cap_entry_and_the_pull_goes_on() -> None:
    rows, tied = _stub_rows(MAX_RESULT_SIZE + 5)
    stub = StubTransport(rows)
    pull = message_trace_v2(stub, NOW - timedelta(days=6), NOW, accepted_domains=CONTOSO, page_size=10)
    (capped,) = [c for c in pull.coverage if not c.complete]
    tie = NOW - timedelta(days=3)
    assert (capped.status, capped.reason, capped.start, capped.end) == ("partial", "cap", tie, tie)
    assert "some rows of this instant may be missing" in capped.detail
    got = set(pull.frame["trace_id"])
    assert got >= {r["MessageTraceId"] for r in rows} - tied and len(got & tied) == MAX_RESULT_SIZE
    assert len(stub.sizes) < 15
    assert_accounted(pull)


def test_rows_outside_the_window_end_the_slice_with_an_error() -> None:
    rows = [_stub_row(n, NOW - timedelta(hours=n), f"r{n:03d}@fabrikam.example") for n in range(30)]
    stub = StubTransport(rows, broken=True)
    pull = message_trace_v2(stub, NOW - timedelta(days=3), NOW, accepted_domains=CONTOSO, page_size=10)
    assert not pull.complete and len(stub.sizes) < 10
    assert any(c.reason == "error" and "outside the window" in c.detail for c in pull.coverage)
    assert len(pull.frame) == len(set(trace_keys(pull.frame)))
    assert_accounted(pull)


def test_the_query_budget_bounds_a_pull() -> None:
    rows = [_stub_row(n, NOW - timedelta(hours=n), f"r{n:03d}@fabrikam.example") for n in range(100)]
    stub = StubTransport(rows)
    pull = message_trace_v2(stub, NOW - timedelta(days=5), NOW, accepted_domains=CONTOSO, page_size=10,
                            max_queries=5)
    # each query starts again at the instant of the last row (EndDate is inclusive): 10 new rows, then 9 a query
    assert len(stub.sizes) == 5 and len(pull.frame) == 10 + 4 * 9
    ((status, reason, detail),) = [(c.status, c.reason, c.detail) for c in pull.coverage]
    assert (status, reason) == ("partial", "cap") and "query budget" in detail
    assert_accounted(pull)
    stub = StubTransport(rows)
    pull = message_trace_v2(stub, NOW - timedelta(days=25), NOW, accepted_domains=CONTOSO, page_size=10,
                            max_queries=2)
    assert len(stub.sizes) == 2 and pull.frame.empty
    assert [(c.status, c.reason) for c in pull.coverage] == [("complete", ""), ("complete", ""), ("failed", "cap")]


# --- unified audit log ---------------------------------------------------------------------------------------------
def audit_ids(frame: pd.DataFrame) -> list[str]:
    return sorted(frame["record_id"].astype(str))


def test_audit_equals_the_snapshot_across_session_pages(conn: Connection) -> None:
    stored = lines(SMALL_TENANT, "audit")
    pull = exchange.audit(conn, NOW - timedelta(days=7), NOW, page_size=3)
    assert pull.complete and len(pull.coverage) == 1 and pull.coverage[0].requests == 5  # 3+3+3+1, then empty
    assert audit_ids(pull.frame) == sorted(r["Id"] for r in stored)
    expected = frames.audit_from_records(stored).sort_values("record_id", ignore_index=True)
    got = pull.frame.sort_values("record_id", ignore_index=True)
    for column in ("operation", "user", "client_ip", "record_type", "time", "target", "parameters"):
        assert list(got[column].astype(object).fillna("")) == list(expected[column].astype(object).fillna("")), column
    alice = exchange.audit(conn, NOW - timedelta(days=7), NOW, user_ids=["alice@contoso.com"],
                           operations=["New-InboxRule", "Set-Mailbox"], record_type="ExchangeAdmin")
    assert sorted(alice.frame["operation"]) == ["New-InboxRule", "New-InboxRule", "Set-Mailbox"]
    old = exchange.audit(conn, NOW - timedelta(days=200), NOW - timedelta(days=190))
    assert [(c.status, c.reason) for c in old.coverage] == [("unavailable", "retention")] and old.frame.empty


def test_audit_session_that_skips_rows_is_searched_again(start_tenant: StartTenant) -> None:
    # the second call's answer is cut off after the service moved the session on: its retry gets the NEXT rows
    tenant = start_tenant(faults=[{"cmdlet": "Search-UnifiedAuditLog", "calls": [2], "fault": "truncate"}])
    pull = exchange.audit(connect(tenant), NOW - timedelta(days=7), NOW, page_size=3)
    assert pull.complete and audit_ids(pull.frame) == sorted(r["Id"] for r in lines(SMALL_TENANT, "audit"))
    assert_accounted(pull)


AUDIT_TOTAL = 52_000
AUDIT_DAY = NOW - timedelta(days=3)


@pytest.fixture(scope="module")
def busy_audit_tenant(tmp_path_factory: pytest.TempPathFactory, state_dir: Path) -> Iterator[Tenant]:
    """The small tenant plus 52,000 audit records of one user in one day: more than one session returns."""
    folder = tmp_path_factory.mktemp("busy-audit") / "tenant"
    shutil.copytree(SMALL_TENANT, folder)
    step = 86_000 / AUDIT_TOTAL
    with (folder / "audit.jsonl").open("a") as handle:
        handle.write("".join(
            json.dumps({"Id": f"{n:08x}-0000-4000-8000-00000000c0c0", "RecordType": 2, "Operation": "Send",
                        "CreationTime": (AUDIT_DAY + timedelta(seconds=int(n * step))).strftime("%Y-%m-%dT%H:%M:%S"),
                        "UserId": "bulk@contoso.com", "Workload": "Exchange", "ClientIP": "203.0.113.9"}) + "\n"
            for n in range(AUDIT_TOTAL)))
    process = SandboxProcess.start(folder, state_dir=state_dir)
    yield Tenant(process, folder)
    process.stop()


def test_audit_window_over_the_cap_is_split_and_complete(busy_audit_tenant: Tenant) -> None:
    conn = connect(busy_audit_tenant)
    pull = exchange.audit(conn, AUDIT_DAY - timedelta(hours=1), AUDIT_DAY + timedelta(days=1),
                          user_ids=["bulk@contoso.com"])
    assert pull.complete and len(pull.frame) == AUDIT_TOTAL
    assert audit_ids(pull.frame) == sorted(f"{n:08x}-0000-4000-8000-00000000c0c0" for n in range(AUDIT_TOTAL))
    assert len(pull.coverage) == 2 and all(c.rows < SESSION_CAP for c in pull.coverage)  # two halves
    assert pull.coverage[0].end == pull.coverage[1].start
    # the probe of the whole window stopped at its first InvokeCommand page (ResultCount said 52,000)
    assert conn.transport.stats.requests["exchange"] < 75
    assert_accounted(pull)


def test_audit_cap_at_the_narrowest_window_is_partial_and_ends(busy_audit_tenant: Tenant) -> None:
    conn = connect(busy_audit_tenant)
    start, end = AUDIT_DAY - timedelta(hours=1), AUDIT_DAY + timedelta(days=1)
    pull = exchange.audit(conn, start, end, user_ids=["bulk@contoso.com"], min_window=timedelta(days=2))
    (entry,) = pull.coverage
    assert (entry.status, entry.reason, entry.rows) == ("partial", "cap", SESSION_CAP)
    assert f"{AUDIT_TOTAL} records match" in entry.detail and (entry.start, entry.end) == (start, end)
    assert len(pull.frame) == SESSION_CAP == len(set(pull.frame["record_id"]))
    # ResultCount stays 52,000 while the session stops at 50,000: ten pages, no loop on ResultIndex < ResultCount
    assert conn.transport.stats.requests["exchange"] <= 10 * 5 + 2


def test_a_role_without_the_audit_cmdlet(start_tenant: StartTenant, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "tenant_src"
    shutil.copytree(SMALL_TENANT, folder)
    apps = json.loads((folder / "apps.json").read_text())
    helpdesk_id = "0a1b2c3d-4444-4000-8000-000000000004"
    apps.append({"clientId": helpdesk_id, "displayName": "Help desk app",
                 "secrets": [{"displayName": "test secret", "value": "helpdesk-secret-4"}],
                 "applicationPermissions": {"https://outlook.office365.com": ["Exchange.ManageAsApp"]},
                 "directoryRoles": ["Helpdesk Administrator"]})
    (folder / "apps.json").write_text(json.dumps(apps))
    tenant = start_tenant(folder)
    monkeypatch.setenv("HELPDESK_SECRET_FOR_EXCHANGE_TEST", "helpdesk-secret-4")
    settings = replace(sandbox_settings(tenant.ep), client_id=helpdesk_id,
                       credential=Credential("secret", secret_env="HELPDESK_SECRET_FOR_EXCHANGE_TEST"))
    conn = open_connection(settings, retry=FAST_RETRY)
    pull = exchange.audit(conn, NOW - timedelta(days=7), NOW)  # no exception
    (entry,) = pull.coverage
    assert (entry.status, entry.reason) == ("unavailable", "permission") and pull.frame.empty
    assert "does not include Search-UnifiedAuditLog" in entry.detail
    restricted = exchange.restricted(conn)  # Help Desk does not hold the hygiene cmdlets either
    assert (restricted.coverage[0].status, restricted.coverage[0].reason) == ("unavailable", "permission")
    assert exchange.inbox_rules(conn, "alice@contoso.com", CONTOSO).complete  # but it may read inbox rules
    trace = message_trace_v2(conn, NOW - timedelta(days=25), NOW, accepted_domains=CONTOSO)
    assert trace.complete and len(trace.coverage) == 3
