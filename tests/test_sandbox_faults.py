"""Each injected fault kind, as a client meets it on the wire; and the fault spec's own rules."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from tests.conftest import EXCHANGE_SCOPE, StartTenant, Tenant
from toolkit.sandbox.faults import FaultInjector, FaultSpecError, parse_spec

TRACES = "/v1.0/admin/exchange/tracing/messageTraces"
WINDOW = {"$filter": "receivedDateTime ge 2026-11-10T12:00:00Z and receivedDateTime le 2026-11-20T12:00:00Z"}


def traces(tenant: Tenant, token: str, url: str = "/admin/exchange/tracing/messageTraces",
           **params: Any) -> requests.Response:
    return tenant.graph("GET", url, token=token, params=params or None)


@pytest.fixture
def tenant(start_tenant: StartTenant) -> Tenant:
    return start_tenant()


@pytest.mark.parametrize(("retry_after", "header"), [(3, "3"), (1.5, "1.5"), (None, None)])
def test_throttle_with_integer_fractional_or_no_retry_after(tenant: Tenant, retry_after: Any,
                                                             header: str | None) -> None:
    token = tenant.token()
    tenant.set_faults([{"path": TRACES, "calls": [1], "fault": "throttle", "retry_after": retry_after}])
    throttled = traces(tenant, token)
    assert throttled.status_code == 429
    assert throttled.headers.get("Retry-After") == header
    body = throttled.json()["error"]
    assert body["code"] == "TooManyRequests" and body["innerError"]["code"] == "429"
    assert traces(tenant, token).status_code == 200


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors(tenant: Tenant, status: int) -> None:
    token = tenant.token()
    tenant.set_faults([{"path": TRACES, "calls": {"from": 1, "times": 2}, "fault": "status", "status": status}])
    assert [traces(tenant, token).status_code for _ in range(3)] == [status, status, 200]


def test_connection_reset_gives_no_response(tenant: Tenant) -> None:
    token = tenant.token()
    tenant.set_faults([{"path": TRACES, "calls": [1], "fault": "reset"}])
    with pytest.raises(requests.exceptions.ConnectionError):
        traces(tenant, token)
    assert traces(tenant, token).status_code == 200


def test_truncated_body_is_detected_by_the_client(tenant: Tenant) -> None:
    token = tenant.token()
    tenant.set_faults([{"path": TRACES, "calls": [1], "fault": "truncate"}])
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)):
        traces(tenant, token, **WINDOW).json()
    assert len(traces(tenant, token, **WINDOW).json()["value"]) > 0


def test_slow_answer_trips_a_client_timeout(tenant: Tenant) -> None:
    token = tenant.token()
    tenant.set_faults([{"path": TRACES, "calls": [1], "fault": "slow", "delay_s": 2}])
    session = tenant.session()
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        session.get(f"{tenant.ep.graph}/admin/exchange/tracing/messageTraces",
                    headers={"Authorization": f"Bearer {token}"}, timeout=0.5)
    assert time.monotonic() - started < 2
    assert traces(tenant, token).status_code == 200


def test_token_rejected_mid_paging_then_a_new_token_continues(tenant: Tenant) -> None:
    token = tenant.token()
    tenant.set_faults([{"path": TRACES, "calls": [2], "fault": "token_rejected"}])
    first = traces(tenant, token, **WINDOW, **{"$top": "10"}).json()
    rejected = traces(tenant, token, first["@odata.nextLink"])
    assert rejected.status_code == 401
    assert rejected.json()["error"]["code"] == "InvalidAuthenticationToken"
    second = traces(tenant, tenant.token(), first["@odata.nextLink"])
    assert second.status_code == 200
    assert {r["id"] + r["recipientAddress"] for r in second.json()["value"]}.isdisjoint(
        {r["id"] + r["recipientAddress"] for r in first["value"]})


def test_repeated_page_serves_the_previous_page_again(tenant: Tenant) -> None:
    token = tenant.token()
    tenant.set_faults([{"path": TRACES, "calls": [3], "fault": "repeat_page"}])
    page1 = traces(tenant, token, **WINDOW, **{"$top": "10"}).json()
    page2 = traces(tenant, token, page1["@odata.nextLink"]).json()
    repeated = traces(tenant, token, page2["@odata.nextLink"]).json()
    assert repeated["value"] == page2["value"]  # the client sees page 2 twice ...
    assert repeated["@odata.nextLink"] == page2["@odata.nextLink"]  # ... and its link leads on to page 3
    page3 = traces(tenant, token, repeated["@odata.nextLink"]).json()
    assert page3["value"] != page2["value"]


def test_same_next_link_twice_gives_the_same_page(tenant: Tenant) -> None:
    token = tenant.token()
    page1 = traces(tenant, token, **WINDOW, **{"$top": "10"}).json()
    again = [traces(tenant, token, page1["@odata.nextLink"]).json()["value"] for _ in range(2)]
    assert again[0] == again[1]


def test_cmdlet_faults_match_the_cmdlet_name(tenant: Tenant) -> None:
    token = tenant.token(EXCHANGE_SCOPE)
    tenant.set_faults([{"cmdlet": "Get-BlockedSenderAddress", "calls": "all", "fault": "status", "status": 503,
                        "retry_after": 2}])
    failed = tenant.invoke("Get-BlockedSenderAddress", token=token)
    assert failed.status_code == 503 and failed.headers["Retry-After"] == "2"
    assert "error" in failed.json()
    assert tenant.invoke("Get-HostedOutboundSpamFilterPolicy", token=token).status_code == 200
    fired = tenant.control("GET", "/faults").json()["fired"]
    assert fired == [{"fault": "status", "path": f"/adminapi/beta/{tenant.ep.tenant_id}/InvokeCommand",
                      "cmdlet": "Get-BlockedSenderAddress", "call": 1}]


def test_faults_given_at_start(start_tenant: StartTenant) -> None:
    tenant = start_tenant(faults=[{"path": "/v1.0/admin/exchange/*", "calls": [1], "fault": "throttle",
                                   "retry_after": 1}])
    token = tenant.token()
    assert traces(tenant, token).status_code == 429
    assert traces(tenant, token).status_code == 200


def test_control_refuses_a_bad_spec(tenant: Tenant) -> None:
    response = tenant.control("PUT", "/faults", {"faults": [{"path": TRACES, "fault": "status", "status": 418}]})
    assert response.status_code == 400
    assert "'status' must be 500, 502, 503 or 504" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ([{"fault": "reset"}], "give exactly one of 'path' or 'cmdlet'"),
        ([{"fault": "reset", "path": "x"}], "'path' must be a URL path"),
        ([{"fault": "reset", "path": "/x", "calls": [0]}], "'calls' must be"),
        ([{"fault": "reset", "path": "/x", "calls": {"from": 2, "times": 0}}], "'calls.times'"),
        ([{"fault": "slow", "path": "/x"}], "needs 'delay_s' > 0"),
        ([{"fault": "throttle", "path": "/x", "retry_after": "soon"}], "'retry_after' must be"),
        ([{"fault": "reset", "path": "/x", "colour": "red"}], "unknown field(s) colour"),
        ({"faults": [], "extra": 1}, "holds only 'faults'"),
        ("nonsense", "a fault spec is a list"),
    ],
)
def test_spec_errors_name_the_rule_and_problem(spec: Any, message: str) -> None:
    with pytest.raises(FaultSpecError) as caught:
        parse_spec(spec)
    assert message in str(caught.value)


def test_call_counting_per_rule() -> None:
    injector = FaultInjector(parse_spec([
        {"path": "/v1.0/users*", "calls": {"from": 2, "times": 2}, "fault": "status"},
        {"cmdlet": "Get-Mailbox", "calls": [1, 3], "fault": "reset"},
    ]))
    users = [injector.pick("GET", "/v1.0/users", None) for _ in range(5)]
    assert [f.kind if f else None for f in users] == [None, "status", "status", None, None]
    boxes = [injector.pick("POST", "/adminapi/beta/t/InvokeCommand", "get-mailbox") for _ in range(4)]
    assert [f.kind if f else None for f in boxes] == ["reset", None, "reset", None]
    assert injector.pick("POST", "/adminapi/beta/t/InvokeCommand", "Get-InboxRule") is None
