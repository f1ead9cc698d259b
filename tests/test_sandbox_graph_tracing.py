"""Graph message trace in the sandbox: windows, filters, paging, details, prerequisites, quota."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import READER_ID, READER_SECRET, SMALL_TENANT, StartTenant, Tenant
from toolkit.sandbox.odata import quote

NOW = "2026-11-20T12:00:00Z"
TEN_DAYS = {"$filter": f"receivedDateTime ge 2026-11-10T12:00:00Z and receivedDateTime le {NOW}"}


def snapshot_rows() -> list[dict[str, Any]]:
    return [json.loads(line) for line in (SMALL_TENANT / "message_traces.jsonl").read_text().splitlines()]


def in_window(row: dict[str, Any], start: str, end: str) -> bool:
    return start <= row["receivedDateTime"] <= end


def pull(tenant: Tenant, params: dict[str, str], token: str | None = None) -> tuple[list[dict[str, Any]], int]:
    token = token or tenant.token()
    rows: list[dict[str, Any]] = []
    response = tenant.graph("GET", "/admin/exchange/tracing/messageTraces", token=token, params=params)
    pages = 0
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        rows += body["value"]
        pages += 1
        if "@odata.nextLink" not in body:
            return rows, pages
        response = tenant.graph("GET", body["@odata.nextLink"], token=token)


def test_every_row_of_a_ten_day_window_exactly_once_across_pages(shared_tenant: Tenant) -> None:
    rows, pages = pull(shared_tenant, {**TEN_DAYS, "$top": "4"})
    expected = [r for r in snapshot_rows() if in_window(r, "2026-11-10T12:00:00Z", NOW)]
    keys = [(r["id"], r["recipientAddress"]) for r in rows]
    assert len(keys) == len(set(keys)) == len(expected)
    assert set(keys) == {(r["id"], r["recipientAddress"]) for r in expected}
    assert pages == -(-len(expected) // 4)
    times = [r["receivedDateTime"] for r in rows]
    assert times == sorted(times, reverse=True)
    assert set(rows[0]) == {"id", "senderAddress", "recipientAddress", "messageId", "receivedDateTime", "subject",
                            "size", "fromIP", "toIP", "status"}


def test_no_filter_means_the_last_48_hours(shared_tenant: Tenant) -> None:
    rows, _ = pull(shared_tenant, {})
    expected = [r for r in snapshot_rows() if in_window(r, "2026-11-18T12:00:00Z", NOW)]
    assert len(rows) == len(expected) > 0


@pytest.mark.parametrize(
    ("filter_text", "message"),
    [
        ("receivedDateTime ge 2026-11-01T00:00:00Z and receivedDateTime le 2026-11-20T00:00:00Z", "10 days"),
        ("receivedDateTime ge 2026-08-01T00:00:00Z and receivedDateTime le 2026-08-05T00:00:00Z", "90 days"),
        ("receivedDateTime ge 2026-11-19T00:00:00Z and receivedDateTime le 2026-11-23T00:00:00Z", "future"),
        ("receivedDateTime ge 2026-11-19T00:00:00Z", "Both a start"),
        ("receivedDateTime le 2026-11-19T00:00:00Z and receivedDateTime ge 2026-11-19T06:00:00Z", "earlier"),
        ("receivedDateTime gt 2026-11-19T00:00:00Z", "Unsupported filter operator 'gt'"),
        ("senderAddress eq 'a@b.c' or senderAddress eq 'd@e.f'", "or"),
        ("subject eq 'Invoice'", "Unsupported filter operator 'eq' for property 'subject'"),
        ("colour eq 'red'", "colour"),
    ],
)
def test_window_and_filter_rules_are_enforced(shared_tenant: Tenant, filter_text: str, message: str) -> None:
    response = shared_tenant.graph("GET", "/admin/exchange/tracing/messageTraces", params={"$filter": filter_text})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BadRequest"
    assert message in response.json()["error"]["message"]


@pytest.mark.parametrize(("top", "ok"), [("1", True), ("5000", True), ("0", False), ("5001", False), ("x", False)])
def test_top_limits(shared_tenant: Tenant, top: str, ok: bool) -> None:
    response = shared_tenant.graph("GET", "/admin/exchange/tracing/messageTraces", params={"$top": top})
    assert (response.status_code == 200) is ok


def test_filters_by_sender_status_and_subject(shared_tenant: Tenant) -> None:
    start = "2026-11-15T00:00:00Z"
    base = f"receivedDateTime ge {start} and receivedDateTime le {NOW}"
    rows, _ = pull(shared_tenant, {"$filter": f"{base} and senderAddress eq 'ALICE@contoso.com' and "
                                              "status eq 'filteredAsSpam'"})
    expected = [r for r in snapshot_rows() if in_window(r, start, NOW) and r["senderAddress"] == "alice@contoso.com"
                and r["status"] == "filteredAsSpam"]
    assert len(rows) == len(expected) > 0
    rows, _ = pull(shared_tenant, {"$filter": f"{base} and startswith(subject, 'Invoice overdue')"})
    assert {r["senderAddress"] for r in rows} == {"alice@contoso.com"}


def test_quotes_in_literals_cannot_change_the_filter(shared_tenant: Tenant) -> None:
    base = f"receivedDateTime ge 2026-11-15T00:00:00Z and receivedDateTime le {NOW}"
    obrien = quote("o'brien@contoso.com")
    rows, _ = pull(shared_tenant, {"$filter": f"{base} and senderAddress eq {obrien}"})
    assert [r["subject"] for r in rows] == ["Re: let's meet for lunch?"]
    lets_meet = quote("let's meet")
    rows, _ = pull(shared_tenant, {"$filter": f"{base} and contains(subject, {lets_meet})"})
    assert len(rows) == 1
    injection = quote("x' or senderAddress eq 'alice@contoso.com")
    rows, _ = pull(shared_tenant, {"$filter": f"{base} and senderAddress eq {injection}"})
    assert rows == []


def test_details_by_recipient(shared_tenant: Tenant) -> None:
    detail_rows = [json.loads(x) for x in (SMALL_TENANT / "message_trace_details.jsonl").read_text().splitlines()]
    target = detail_rows[0]
    url = (f"/admin/exchange/tracing/messageTraces/{target['id']}/getDetailsByRecipient("
           f"recipientAddress={quote(target['recipientAddress'])})")
    response = shared_tenant.graph("GET", url)
    assert response.status_code == 200, response.text
    events = response.json()["value"]
    expected = [r for r in detail_rows
                if r["id"] == target["id"] and r["recipientAddress"] == target["recipientAddress"]]
    assert [e["event"] for e in events] == [r["event"] for r in expected]
    assert all("recipientAddress" not in e for e in events)
    missing = shared_tenant.graph("GET", f"/admin/exchange/tracing/messageTraces/{target['id']}/"
                                         "getDetailsByRecipient(recipientAddress='nobody@contoso.com')")
    assert missing.status_code == 404


def test_permission_is_required(shared_tenant: Tenant) -> None:
    token = shared_tenant.token(client_id=READER_ID, credential=READER_SECRET)
    response = shared_tenant.graph("GET", "/admin/exchange/tracing/messageTraces", token=token)
    assert response.status_code == 403
    assert "ExchangeMessageTrace.Read.All" in response.json()["error"]["message"]


def test_missing_service_principal_is_the_documented_401(start_tenant: StartTenant, tmp_path: Path) -> None:
    folder = tmp_path / "no-sp"
    shutil.copytree(SMALL_TENANT, folder)
    lines = (folder / "service_principals.jsonl").read_text().splitlines()
    kept = [line for line in lines if "8bd644d1-64a1-4d4b-ae52-2e0cbf64e373" not in line]
    (folder / "service_principals.jsonl").write_text("\n".join(kept) + "\n")
    tenant = start_tenant(folder)
    response = tenant.graph("GET", "/admin/exchange/tracing/messageTraces")
    assert response.status_code == 401
    assert "service principal for App ID 8bd644d1-64a1-4d4b-ae52-2e0cbf64e373 was not found" in (
        response.json()["error"]["message"])


def test_recalled_status_only_for_clients_that_ask(start_tenant: StartTenant, tmp_path: Path) -> None:
    folder = tmp_path / "recalled"
    shutil.copytree(SMALL_TENANT, folder)
    rows = snapshot_rows()
    rows[-1]["status"] = "recalled"
    (folder / "message_traces.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    tenant = start_tenant(folder)
    target = rows[-1]["id"]
    params = {"$filter": f"id eq '{target}' and recipientAddress eq {quote(rows[-1]['recipientAddress'])}"}
    plain = tenant.graph("GET", "/admin/exchange/tracing/messageTraces", params=params).json()["value"]
    assert {r["status"] for r in plain} == {"unknownFutureValue"}
    asked = tenant.graph("GET", "/admin/exchange/tracing/messageTraces", params=params,
                         headers={"Prefer": "include-unknown-enum-members"}).json()["value"]
    assert {r["status"] for r in asked} == {"recalled"}


def test_quota_of_100_per_window_gives_429_with_retry_after(start_tenant: StartTenant) -> None:
    tenant = start_tenant(quota_scale=0.1)  # 100 requests per 30 s
    token = tenant.token()
    session = tenant.session()
    url = f"{tenant.ep.graph}/admin/exchange/tracing/messageTraces"
    codes = [session.get(url, headers={"Authorization": f"Bearer {token}"}, params={"$top": "1"}, timeout=10)
             for _ in range(101)]
    assert [c.status_code for c in codes[:100]] == [200] * 100
    throttled = codes[100]
    assert throttled.status_code == 429
    assert 0 < float(throttled.headers["Retry-After"]) <= 30
    assert throttled.json()["error"]["code"] == "TooManyRequests"
