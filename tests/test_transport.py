"""The transport against the sandbox over HTTPS: paging, every fault kind, retries, pacing and typed errors."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.conftest import StartTenant, Tenant
from toolkit.connection import Connection, open_connection, sandbox_settings
from toolkit.errors import BadRequest, ConnectionFailed, NotFound, PermissionDenied, ServiceUnavailable, Throttled
from toolkit.transport import FAIL_FAST, Quota, QuotaPacer, RetryPolicy, parse_retry_after, service_of

TRACES = "/v1.0/admin/exchange/tracing/messageTraces"
WINDOW = {"$filter": "receivedDateTime ge 2026-11-10T12:00:00Z and receivedDateTime le 2026-11-20T12:00:00Z",
          "$top": "10"}
FAST_RETRY = RetryPolicy(max_attempts=6, max_total_wait=20, backoff_base=0.05, backoff_max=0.2)


def connect(tenant: Tenant, retry: RetryPolicy = FAST_RETRY) -> Connection:
    return open_connection(sandbox_settings(tenant.ep), retry=retry)


def all_trace_keys(conn: Connection) -> list[tuple[str, str]]:
    pages = conn.transport.graph_pages("admin/exchange/tracing/messageTraces", source="trace", params=WINDOW)
    return [(r["id"], r["recipientAddress"]) for page in pages for r in page]


@pytest.fixture
def tenant(start_tenant: StartTenant) -> Tenant:
    return start_tenant()


@pytest.fixture(scope="module")
def baseline(shared_tenant: Tenant) -> list[tuple[str, str]]:
    keys = all_trace_keys(connect(shared_tenant))
    assert len(keys) == len(set(keys)) > 20
    return keys


def test_graph_paging_follows_next_links(shared_tenant: Tenant, baseline: list[tuple[str, str]]) -> None:
    conn = connect(shared_tenant)
    pages = list(conn.transport.graph_pages("admin/exchange/tracing/messageTraces", source="trace", params=WINDOW))
    assert all(len(p) == 10 for p in pages[:-1]) and len(pages) == -(-len(baseline) // 10)


@pytest.mark.parametrize(
    "fault",
    [
        {"fault": "throttle", "retry_after": 1},
        {"fault": "throttle", "retry_after": 0.25},
        {"fault": "throttle", "retry_after": None},
        {"fault": "status", "status": 500},
        {"fault": "status", "status": 503, "retry_after": 1},
        {"fault": "status", "status": 504},
        {"fault": "reset"},
        {"fault": "truncate"},
        {"fault": "token_rejected", "calls": [2, 4]},  # once per request: a second refusal is real
        {"fault": "repeat_page"},
    ],
    ids=lambda f: "-".join(str(v) for k, v in f.items() if k != "calls"),
)
def test_every_fault_kind_ends_in_complete_data_exactly_once(tenant: Tenant, baseline: list[tuple[str, str]],
                                                            fault: dict[str, Any]) -> None:
    tenant.set_faults([{"path": TRACES, "calls": [2, 3], **fault}])  # mid-paging, by default twice in a row
    conn = connect(tenant)
    keys = all_trace_keys(conn)
    assert keys == baseline
    fired = tenant.control("GET", "/faults").json()["fired"]
    assert len(fired) == 2


def test_slow_answer_is_retried_after_the_client_timeout(tenant: Tenant, baseline: list[tuple[str, str]]) -> None:
    tenant.set_faults([{"path": TRACES, "calls": [2], "fault": "slow", "delay_s": 3}])
    conn = connect(tenant)
    conn.transport.timeout = 1.0
    assert all_trace_keys(conn) == baseline
    assert conn.transport.stats.retries.get("message_trace") == 1


def test_throttling_past_the_budget_is_a_typed_error(tenant: Tenant) -> None:
    tenant.set_faults([{"path": TRACES, "calls": "all", "fault": "throttle", "retry_after": 0.2}])
    conn = connect(tenant, RetryPolicy(max_attempts=3, max_total_wait=5))
    with pytest.raises(Throttled) as caught:
        all_trace_keys(conn)
    assert caught.value.status == 429 and caught.value.source == "trace"
    assert caught.value.request_id
    assert conn.transport.stats.throttled["message_trace"] == 3


def test_wait_cap_stops_retrying_before_a_long_retry_after(tenant: Tenant) -> None:
    tenant.set_faults([{"path": TRACES, "calls": "all", "fault": "status", "status": 503, "retry_after": 30}])
    conn = connect(tenant, RetryPolicy(max_attempts=10, max_total_wait=5))
    with pytest.raises(ServiceUnavailable):
        all_trace_keys(conn)
    assert conn.transport.stats.requests["message_trace"] == 1  # never slept 30 s against a 5 s cap


def test_fail_fast_retries_nothing(tenant: Tenant) -> None:
    tenant.set_faults([{"path": TRACES, "calls": [1], "fault": "reset"}])
    conn = connect(tenant, FAIL_FAST)
    with pytest.raises(ConnectionFailed):
        all_trace_keys(conn)


def test_errors_are_typed_and_name_source_and_request_id(shared_tenant: Tenant) -> None:
    conn = connect(shared_tenant, FAIL_FAST)
    with pytest.raises(BadRequest) as bad:
        conn.transport.graph_get("admin/exchange/tracing/messageTraces", source="trace",
                                 params={"$filter": "subject eq 'x'"})
    assert bad.value.code == "BadRequest" and "trace: HTTP 400" in str(bad.value)
    assert bad.value.request_id and bad.value.request_id in str(bad.value)
    with pytest.raises(NotFound):
        conn.transport.graph_get("users/nobody@contoso.com", source="users")
    with pytest.raises(NotFound):
        conn.transport.invoke("Get-Mailbox", {"Identity": "nobody@contoso.com"})


def test_permission_and_licence_errors_differ(start_tenant: StartTenant, tmp_path: Any) -> None:
    import json
    import shutil

    from tests.conftest import SMALL_TENANT
    from toolkit.errors import LicenceRequired

    folder = tmp_path / "no-p1"
    shutil.copytree(SMALL_TENANT, folder)
    info = json.loads((folder / "tenant.json").read_text())
    info["licences"] = {"entraIdP1": False, "entraIdP2": False}
    (folder / "tenant.json").write_text(json.dumps(info))
    apps = json.loads((folder / "apps.json").read_text())
    apps[0]["applicationPermissions"]["https://graph.microsoft.com"].remove("SecurityAlert.Read.All")
    (folder / "apps.json").write_text(json.dumps(apps))
    conn = connect(start_tenant(folder), FAIL_FAST)
    with pytest.raises(LicenceRequired):
        conn.transport.graph_get("auditLogs/signIns", source="signins")
    with pytest.raises(PermissionDenied) as denied:
        conn.transport.graph_get("security/alerts_v2", source="alerts")
    assert not isinstance(denied.value, LicenceRequired)


def test_invoke_pages_re_post_the_body(shared_tenant: Tenant) -> None:
    conn = connect(shared_tenant)
    pages = list(conn.transport.invoke_pages("Get-Mailbox", {"ResultSize": "Unlimited"}, page_size=2))
    rows = [r["PrimarySmtpAddress"] for page in pages for r in page]
    assert len(pages) == 4 and len(rows) == len(set(rows)) == 7


def test_exchange_repeated_page_is_skipped(tenant: Tenant) -> None:
    tenant.set_faults([{"cmdlet": "Get-Mailbox", "calls": [3], "fault": "repeat_page"}])
    conn = connect(tenant)
    rows = [r["PrimarySmtpAddress"] for r in conn.transport.invoke("Get-Mailbox", {"ResultSize": "Unlimited"},
                                                                       page_size=2)]
    assert len(rows) == len(set(rows)) == 7


def test_no_token_in_any_log_line(tenant: Tenant, caplog: pytest.LogCaptureFixture) -> None:
    tenant.set_faults([{"path": TRACES, "calls": [1], "fault": "token_rejected"},
                       {"path": TRACES, "calls": [2], "fault": "throttle", "retry_after": 0.1}])
    with caplog.at_level(logging.DEBUG):
        conn = connect(tenant)
        all_trace_keys(conn)
        token = conn.tokens.token("graph")
        logging.getLogger("toolkit.test").info("a careless line with %s and Bearer %s", token, token)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "retrying with a fresh token" in text  # the log did capture the transport's lines
    assert token not in text
    assert "eyJ" not in text
    assert tenant.ep.demo_client_secret not in text
    assert token not in repr(conn) and token not in repr(conn.tokens) and token not in repr(conn.transport)


def test_pacer_waits_before_the_window_fills() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = QuotaPacer({"message_trace": Quota(3, 10.0)}, sleep=sleep, clock=lambda: now[0])
    for _ in range(3):
        assert pacer.acquire("message_trace") == 0.0
    now[0] = 4.0
    assert pacer.acquire("message_trace") == pytest.approx(10 * 1.02 + 0.05 - 4 + 0.001)
    assert pacer.acquire("other-service") == 0.0  # unknown services are not paced
    scaled = QuotaPacer({"message_trace": Quota(1, 10.0)}, scale=0.1, sleep=sleep, clock=lambda: now[0])
    scaled.acquire("message_trace")
    assert scaled.acquire("message_trace") == pytest.approx(1 * 1.02 + 0.05 + 0.001)


def test_pacing_keeps_a_fast_client_under_the_sandbox_quota(start_tenant: StartTenant) -> None:
    tenant = start_tenant(quota_scale=0.02)  # 100 requests per 6 s
    conn = connect(tenant, FAIL_FAST)  # any 429 would raise
    for _ in range(130):
        conn.transport.graph_get("admin/exchange/tracing/messageTraces", source="trace", params={"$top": "1"})
    assert conn.transport.stats.throttled == {}
    assert conn.transport.pacer.waited > 0


@pytest.mark.parametrize(("value", "seconds"), [("3", 3.0), ("2.128", 2.128), ("", None), (None, None),
                                                ("soon", None), ("-1", None)])
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value) == seconds


def test_retry_delay_prefers_the_server_and_backs_off_otherwise() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_max=8.0)
    assert policy.delay(1, 2.5) == 2.5
    assert 0.5 <= policy.delay(1, None) <= 1.0
    assert 4.0 <= policy.delay(4, None) <= 8.0
    assert policy.delay(10, None) <= 8.0
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


@pytest.mark.parametrize(("url", "cmdlet", "bucket"), [
    ("https://x/v1.0/admin/exchange/tracing/messageTraces", None, "message_trace"),
    ("https://x/v1.0/auditLogs/signIns", None, "reports"),
    ("https://x/v1.0/identityProtection/riskDetections", None, "identity_protection"),
    ("https://x/v1.0/security/alerts_v2", None, "security"),
    ("https://x/v1.0/users/a@b.c/mailFolders/inbox/messageRules", None, "outlook"),
    ("https://x/v1.0/users", None, "directory"),
    ("https://x/adminapi/beta/t/InvokeCommand", "Get-MessageTraceV2", "exo_message_trace"),
    ("https://x/adminapi/beta/t/InvokeCommand", "Get-Mailbox", "exchange"),
])
def test_service_buckets(url: str, cmdlet: str | None, bucket: str) -> None:
    assert service_of(url, cmdlet) == bucket


def test_service_clock_comes_from_the_date_header(shared_tenant: Tenant) -> None:
    from datetime import UTC, datetime, timedelta

    conn = connect(shared_tenant)
    simulated = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # the small tenant's now
    assert abs(conn.transport.now() - simulated) < timedelta(minutes=5)


def test_counting_sees_only_its_own_threads_requests(shared_tenant: Tenant,
                                                      baseline: list[tuple[str, str]]) -> None:
    """Four threads page the same listing through one transport: each block counts its own pages, and the shared
    totals add up to all of them (none lost to a race)."""
    from concurrent.futures import ThreadPoolExecutor

    conn = connect(shared_tenant)
    before = sum(conn.transport.stats.requests.values())

    def pages() -> tuple[int, int]:
        with conn.transport.counting() as count:
            got = list(conn.transport.graph_pages("admin/exchange/tracing/messageTraces", source="trace",
                                                  params=WINDOW))
        return len(got), count()

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: pages(), range(4)))
    assert all(n_pages == counted == -(-len(baseline) // 10) for n_pages, counted in results)
    assert sum(conn.transport.stats.requests.values()) - before == sum(c for _, c in results)
