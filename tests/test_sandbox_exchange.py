"""The sandbox's Exchange admin API (POST /adminapi/beta/{tenant}/InvokeCommand), over real HTTPS.

Reads run against the module's shared small tenant; tests that change state, inject faults, shrink quotas or need
bigger data start their own sandbox (bigger data is generated into a copy of the small tenant).
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msal
import pytest
import requests
from conftest import (
    APP_ID,
    EXCHANGE_SCOPE,
    GRAPH_SCOPE,
    PUBLIC_ID,
    READER_ID,
    READER_SECRET,
    SMALL_TENANT,
    StartTenant,
    Tenant,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # tests/data/tenant_small/tenant.json "now"
EXO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}\+00:00$")
ENVELOPE_KEYS = ["@odata.context", "adminapi.warnings@odata.type", "@adminapi.warnings", "value"]
COMMAND_NOT_FOUND = "System.Management.Automation.CommandNotFoundException"
PARAMETER_BINDING = "System.Management.Automation.ParameterBindingException"
NOT_FOUND = "ManagementObjectNotFoundException"


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def when(text: str) -> datetime:
    """An Exchange date-time ("2026-11-20T08:30:00.0000000+00:00") as a datetime (whole seconds)."""
    assert EXO_DATETIME.match(text), text
    return datetime.fromisoformat(text[:19]).replace(tzinfo=UTC)


@dataclass
class Exo:
    """An InvokeCommand client for one sandbox and one token, on one keep-alive session."""

    tenant: Tenant
    token: str
    session: requests.Session = field(init=False)

    def __post_init__(self) -> None:
        self.session = self.tenant.session()

    def post(self, cmdlet: str | None = None, params: dict[str, Any] | None = None, *, url: str | None = None,
             prefer: str | None = None, body: Any = None, raw: bytes | None = None,
             tenant_segment: str | None = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        if prefer:
            headers["Prefer"] = prefer
        if url is None:
            base = self.tenant.ep.exchange
            if tenant_segment is not None:
                base = base.rsplit("/", 1)[0] + f"/{tenant_segment}"
            url = f"{base}/InvokeCommand"
        if raw is None:
            payload = body if body is not None else {"CmdletInput": {"CmdletName": cmdlet,
                                                                     "Parameters": params or {}}}
            raw = json.dumps(payload).encode()
        return self.session.post(url, data=raw, headers=headers, timeout=60)

    def ok(self, cmdlet: str, params: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        response = self.post(cmdlet, params, **kwargs)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def rows(self, cmdlet: str, params: dict[str, Any] | None = None, prefer: str | None = None) -> list[dict]:
        """Every row of one cmdlet call, following nextLinks with the same body."""
        return [row for page in self.pages(cmdlet, params, prefer) for row in page["value"]]

    def pages(self, cmdlet: str, params: dict[str, Any] | None = None, prefer: str | None = None) -> Iterator[dict]:
        page = self.ok(cmdlet, params, prefer=prefer)
        yield page
        while "@odata.nextLink" in page:
            page = self.ok(cmdlet, params, url=page["@odata.nextLink"])
            yield page


def error_of(response: requests.Response, status: int, text: str) -> str:
    """The error message, after checking the status and the Exchange error shape."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["message"] == error["details"][0]["message"]
    assert text in error["message"], error["message"]
    return str(error["message"])


def delegated_token(tenant: Tenant, upn: str, scope: str = EXCHANGE_SCOPE) -> str:
    app = msal.PublicClientApplication(PUBLIC_ID, authority=tenant.ep.authority, instance_discovery=False,
                                       http_client=tenant.session(), http_cache={})
    flow = app.initiate_device_flow(scopes=[scope])
    assert "user_code" in flow, flow
    tenant.control("POST", "/device/approve", {"user_code": flow["user_code"], "user": upn}).raise_for_status()
    result = app.acquire_token_by_device_flow(flow)
    assert "access_token" in result, result
    return str(result["access_token"])


@pytest.fixture(scope="module")
def exo(shared_tenant: Tenant) -> Exo:
    return Exo(shared_tenant, shared_tenant.token(EXCHANGE_SCOPE))


@pytest.fixture(scope="module")
def reader(shared_tenant: Tenant) -> Exo:
    return Exo(shared_tenant, shared_tenant.token(EXCHANGE_SCOPE, READER_ID, READER_SECRET))


def copy_tenant(tmp_path: Path, name: str = "tenant_src") -> Path:
    folder = tmp_path / name
    shutil.copytree(SMALL_TENANT, folder)
    return folder


# --- envelope, tenant, body ----------------------------------------------------------------------------------------
def test_envelope_and_active_blocks(exo: Exo) -> None:
    response = exo.post("Get-BlockedSenderAddress")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json;odata.metadata=minimal")
    assert int(response.headers["Rate-Limit-Limit"]) == 30000
    assert int(response.headers["Rate-Limit-Remaining"]) < 30000
    body = response.json()
    assert list(body) == ENVELOPE_KEYS  # no nextLink: one page
    assert body["@odata.context"].endswith(
        f"/adminapi/beta/{exo.tenant.ep.tenant_id}/$metadata#Collection(Exchange.GenericHashTable)")
    assert body["adminapi.warnings@odata.type"] == "#Collection(String)"
    assert body["@adminapi.warnings"] == []
    by_sender = {row["SenderAddress"]: row for row in body["value"]}
    # carol's block for the day (created 2026-11-18) lifted at midnight UTC; bob's (today) and alice's still hold
    assert set(by_sender) == {"alice@contoso.com", "bob@contoso.com"}
    bob = by_sender["bob@contoso.com"]
    assert bob["TemporaryBlock"] is True and by_sender["alice@contoso.com"]["TemporaryBlock"] is False
    assert bob["CreatedDatetime"] == "2026-11-20T09:05:00.0000000+00:00"
    assert EXO_DATETIME.match(bob["ChangedDatetime"])
    assert bob["Reason"].startswith("EmailSendingLimitExceeded;")
    assert "_sandbox" not in bob and "unblocksUsed" not in json.dumps(bob)


def test_blocked_sender_filter(exo: Exo) -> None:
    rows = exo.ok("Get-BlockedSenderAddress", {"SenderAddress": "BOB@contoso.com"})["value"]
    assert [r["SenderAddress"] for r in rows] == ["bob@contoso.com"]
    assert exo.ok("Get-BlockedSenderAddress", {"SenderAddress": "carol@contoso.com"})["value"] == []
    message = error_of(exo.post("Get-BlockedSenderAddress", {"SenderAddress": "not-an-address"}), 400,
                       PARAMETER_BINDING)
    assert "isn't correct" in message


def test_tenant_segment_accepts_id_and_domains_only(exo: Exo) -> None:
    for segment in ("CONTOSO.COM", "contoso.onmicrosoft.com", exo.tenant.ep.tenant_id.upper()):
        assert exo.post("Get-BlockedSenderAddress", tenant_segment=segment).status_code == 200
    error_of(exo.post("Get-BlockedSenderAddress", tenant_segment="fabrikam.com"), 404, "fabrikam.com")


def test_malformed_bodies_unknown_cmdlets_and_parameters(exo: Exo) -> None:
    error_of(exo.post(raw=b"{not json"), 400, "not valid JSON")
    error_of(exo.post(body={"CmdletName": "Get-Mailbox"}), 400, "'CmdletInput' is missing")
    error_of(exo.post(body={"CmdletInput": {"Parameters": {}}}), 400, "'CmdletName' is missing")
    error_of(exo.post(body={"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": ["x"]}}), 400,
             "'Parameters' must be an object")
    message = error_of(exo.post("Get-MailboxX"), 400, COMMAND_NOT_FOUND)
    assert "The term 'Get-MailboxX' is not recognized as a name of a cmdlet" in message
    message = error_of(exo.post("Get-Mailbox", {"Identity": "alice", "Bogus": 1}), 400, PARAMETER_BINDING)
    assert message.endswith("A parameter cannot be found that matches parameter name 'Bogus'.")
    error_of(exo.post("Remove-BlockedSenderAddress", {}), 400,
             "missing mandatory parameters: SenderAddress.")
    error_of(exo.post("Get-Mailbox", {"identity": "alice", "Identity": "bob"}), 400, "specified more than once")
    error_of(exo.post("Set-Mailbox", {"Identity": "alice", "LitigationHoldEnabled": True}), 400,
             "does not simulate the parameter 'LitigationHoldEnabled' of Set-Mailbox")
    error_of(exo.post("Set-Mailbox", {"Identity": "alice", "DeliverToMailboxAndForward": "yes"}), 400,
             "Boolean parameters accept only Boolean values")
    # names are case-insensitive, as in PowerShell, and common parameters are accepted
    rows = exo.ok("get-mailbox", {"IDENTITY": "alice", "ErrorAction": "Stop"})["value"]
    assert [r["PrimarySmtpAddress"] for r in rows] == ["alice@contoso.com"]


# --- access --------------------------------------------------------------------------------------------------------
def test_graph_token_is_rejected(shared_tenant: Tenant) -> None:
    graph = Exo(shared_tenant, shared_tenant.token(GRAPH_SCOPE))
    error_of(graph.post("Get-BlockedSenderAddress"), 401, "Invalid audience")


def test_global_reader_reads_but_cannot_write(reader: Exo) -> None:
    senders = {r["SenderAddress"] for r in reader.ok("Get-BlockedSenderAddress")["value"]}
    assert "alice@contoso.com" in senders
    assert reader.ok("Get-MessageTraceV2", {"ResultSize": 1})["value"]
    for cmdlet, params in (("Remove-BlockedSenderAddress", {"SenderAddress": "alice@contoso.com"}),
                           ("Set-Mailbox", {"Identity": "alice", "ForwardingSmtpAddress": None}),
                           ("Get-InboxRule", {"Mailbox": "alice@contoso.com"})):
        error_of(reader.post(cmdlet, params), 400, f"The term '{cmdlet}' is not recognized")
    # the refused removal changed nothing
    assert "alice@contoso.com" in {r["SenderAddress"] for r in reader.ok("Get-BlockedSenderAddress")["value"]}


def test_delegated_callers_by_role(shared_tenant: Tenant) -> None:
    admin = Exo(shared_tenant, delegated_token(shared_tenant, "admin@contoso.com"))
    assert admin.ok("Get-BlockedSenderAddress")["value"]
    analyst = Exo(shared_tenant, delegated_token(shared_tenant, "analyst@contoso.com"))  # Security Reader
    assert analyst.ok("Get-BlockedSenderAddress")["value"]
    error_of(analyst.post("Remove-BlockedSenderAddress", {"SenderAddress": "bob@contoso.com"}), 400,
             COMMAND_NOT_FOUND)
    plain_user = Exo(shared_tenant, delegated_token(shared_tenant, "carol@contoso.com"))
    error_of(plain_user.post("Get-BlockedSenderAddress"), 403, "isn't assigned to any management roles")


# --- paging --------------------------------------------------------------------------------------------------------
def test_small_pages_serve_every_row_once_and_refuse_a_changed_body(exo: Exo) -> None:
    params = {"StartDate": iso(NOW - timedelta(days=10)), "EndDate": iso(NOW), "ResultSize": 5000}
    whole = exo.ok("Get-MessageTraceV2", params)
    assert "@odata.nextLink" not in whole
    expected = [(r["MessageTraceId"], r["RecipientAddress"]) for r in whole["value"]]
    assert len(expected) > 20 and len(set(expected)) == len(expected)
    pages = list(exo.pages("Get-MessageTraceV2", params, prefer="odata.maxpagesize=7"))
    assert len(pages) == -(-len(expected) // 7)
    assert all(len(p["value"]) == 7 for p in pages[:-1])
    assert [(r["MessageTraceId"], r["RecipientAddress"]) for p in pages for r in p["value"]] == expected
    first = exo.post("Get-MessageTraceV2", params, prefer="odata.maxpagesize=7")
    assert first.headers["Preference-Applied"] == "odata.maxpagesize=7"
    next_link = first.json()["@odata.nextLink"]
    again = [exo.ok("Get-MessageTraceV2", params, url=next_link)["value"] for _ in range(2)]
    assert again[0] == again[1] == pages[1]["value"]  # the same nextLink twice: the same page
    changed = dict(params, ResultSize=4999)
    error_of(exo.post("Get-MessageTraceV2", changed, url=next_link), 400, "same body")
    error_of(exo.post("Get-BlockedSenderAddress", url=next_link), 400, "same body")


def test_repeat_page_fault_serves_the_previous_page(start_tenant: StartTenant) -> None:
    tenant = start_tenant(faults=[{"cmdlet": "Get-MessageTraceV2", "calls": [2], "fault": "repeat_page"}])
    client = Exo(tenant, tenant.token(EXCHANGE_SCOPE))
    params = {"ResultSize": 30}
    first = client.ok("Get-MessageTraceV2", params, prefer="odata.maxpagesize=10")
    repeated = client.ok("Get-MessageTraceV2", params, url=first["@odata.nextLink"])
    assert repeated["value"] == first["value"]
    assert repeated["@odata.nextLink"] == first["@odata.nextLink"]
    second = client.ok("Get-MessageTraceV2", params, url=repeated["@odata.nextLink"])
    assert second["value"] and second["value"] != first["value"]


# --- outbound spam policy and mailboxes ----------------------------------------------------------------------------
def test_outbound_spam_policy_and_rule(exo: Exo) -> None:
    policies = exo.ok("Get-HostedOutboundSpamFilterPolicy")["value"]
    assert {p["Name"] for p in policies} == {"Default", "Strict outbound (finance)"}
    default = exo.ok("Get-HostedOutboundSpamFilterPolicy", {"Identity": "default"})["value"]
    assert len(default) == 1 and default[0]["IsDefault"] is True
    assert default[0]["ActionWhenThresholdReached"] == "BlockUserForToday"
    assert EXO_DATETIME.match(default[0]["WhenCreated"])
    assert default[0]["BccSuspiciousOutboundAdditionalRecipients@odata.type"] == "#Collection(String)"
    error_of(exo.post("Get-HostedOutboundSpamFilterPolicy", {"Identity": "Nope"}), 404,
             "The operation couldn't be performed because object 'Nope' couldn't be found on '")
    rules = exo.ok("Get-HostedOutboundSpamFilterRule")["value"]
    assert [(r["Name"], r["HostedOutboundSpamFilterPolicy"], r["From"]) for r in rules] == [
        ("Strict outbound (finance)", "Strict outbound (finance)", ["alice@contoso.com"])]
    assert exo.ok("Get-HostedOutboundSpamFilterRule", {"State": "Disabled"})["value"] == []


def test_get_mailbox(exo: Exo) -> None:
    alice = exo.ok("Get-Mailbox", {"Identity": "alice.ng@contoso.com"})["value"]
    assert len(alice) == 1
    assert alice[0]["ForwardingSmtpAddress"] == "smtp:alice.ng.backup@gmail-mail.example"
    assert alice[0]["DeliverToMailboxAndForward"] is True
    assert alice[0]["ForwardingAddress"] is None and alice[0]["RecipientLimits"] == "500"
    assert exo.ok("Get-Mailbox", {"Identity": "o'brien@contoso.com"})["value"][0]["Alias"] == "o'brien"
    error_of(exo.post("Get-Mailbox", {"Identity": "nobody@contoso.com"}), 404,
             "object 'nobody@contoso.com' couldn't be found on")
    two = exo.ok("Get-Mailbox", {"ResultSize": 2})
    assert len(two["value"]) == 2
    assert two["@adminapi.warnings"] == ["There are more results available than are currently displayed. To view "
                                         "them, increase the value for the ResultSize parameter."]
    everything = exo.ok("Get-Mailbox", {"ResultSize": "Unlimited"})
    assert len(everything["value"]) == 7 and everything["@adminapi.warnings"] == []
    error_of(exo.post("Get-Mailbox", {"ResultSize": 0}), 400, "Cannot bind parameter 'ResultSize'")


def test_set_mailbox_forwarding_reads_back(start_tenant: StartTenant) -> None:
    tenant = start_tenant()
    client = Exo(tenant, tenant.token(EXCHANGE_SCOPE))
    cleared = client.ok("Set-Mailbox", {"Identity": "alice@contoso.com", "ForwardingSmtpAddress": None,
                                        "ForwardingAddress": None, "DeliverToMailboxAndForward": False})
    assert cleared["value"] == [] and cleared["@adminapi.warnings"] == []
    alice = client.ok("Get-Mailbox", {"Identity": "alice"})["value"][0]
    assert (alice["ForwardingSmtpAddress"], alice["ForwardingAddress"], alice["DeliverToMailboxAndForward"]) == (
        None, None, False)
    assert EXO_DATETIME.match(alice["WhenChanged"])
    again = client.ok("Set-Mailbox", {"Identity": "alice@contoso.com", "ForwardingSmtpAddress": None})
    assert again["@adminapi.warnings"] == ["The command completed successfully but no settings of 'Alice Ng' have "
                                           "been modified."]
    client.ok("Set-Mailbox", {"Identity": "bob@contoso.com", "ForwardingSmtpAddress": "Bob.Home@Example.net",
                              "ForwardingAddress": "carol@contoso.com"})
    bob = client.ok("Get-Mailbox", {"Identity": "bob"})["value"][0]
    assert bob["ForwardingSmtpAddress"] == "smtp:Bob.Home@Example.net"
    assert bob["ForwardingAddress"] == "Carol Jones"
    error_of(client.post("Set-Mailbox", {"Identity": "bob", "ForwardingAddress": "ghost@contoso.com"}), 404,
             'Couldn\'t find object "ghost@contoso.com"')
    error_of(client.post("Set-Mailbox", {"Identity": "ghost@contoso.com", "ForwardingSmtpAddress": None}), 404,
             NOT_FOUND)


# --- inbox rules ---------------------------------------------------------------------------------------------------
def test_inbox_rules_hidden_only_with_include_hidden(exo: Exo) -> None:
    visible = exo.ok("Get-InboxRule", {"Mailbox": "alice@contoso.com"})["value"]
    assert [r["Name"] for r in visible] == [".", "Backup"]
    every = exo.ok("Get-InboxRule", {"Mailbox": "alice@contoso.com", "IncludeHidden": True})["value"]
    assert [r["Name"] for r in every] == [".", "Backup", "Hidden cleanup"]
    dot, backup, hidden = every
    assert dot["SubjectOrBodyContainsWords"] == ["invoice", "payment", "spam", "undeliverable"]
    assert dot["MoveToFolder"] == "alice@contoso.com:\\RSS Feeds"
    assert dot["MarkAsRead"] is True and dot["StopProcessingRules"] is True and dot["Priority"] == 1
    assert "move the message to folder 'RSS Feeds'" in dot["Description"]
    assert backup["ForwardTo"] == ['"Alice" [SMTP:alice.ng.backup@gmail-mail.example]']
    assert hidden["DeleteMessage"] is True
    assert hidden["FromAddressContainsWords"] == ["postmaster", "mailer-daemon"]
    assert dot["MailboxOwnerId"] == "Alice Ng"
    assert dot["Identity"] == f"Alice Ng\\{dot['RuleIdentity']}" and isinstance(dot["RuleIdentity"], int)
    by_name = exo.ok("Get-InboxRule", {"Mailbox": "alice", "Identity": "backup"})["value"]
    assert [r["RuleIdentity"] for r in by_name] == [backup["RuleIdentity"]]
    by_identity = exo.ok("Get-InboxRule", {"Mailbox": "alice", "Identity": backup["Identity"]})["value"]
    assert [r["Name"] for r in by_identity] == ["Backup"]
    carol = exo.ok("Get-InboxRule", {"Mailbox": "carol@contoso.com"})["value"]
    assert carol[0]["From"] == ['"Client" [SMTP:client1@fabrikam.example]']
    error_of(exo.post("Get-InboxRule", {"Mailbox": "ghost@contoso.com"}), 404, NOT_FOUND)
    error_of(exo.post("Get-InboxRule", {"Mailbox": "alice", "Identity": "No such rule"}), 404, NOT_FOUND)
    error_of(exo.post("Get-InboxRule", {}), 400, "Mailbox parameter is required")


def test_rule_deleted_through_graph_is_gone(start_tenant: StartTenant) -> None:
    tenant = start_tenant()
    client = Exo(tenant, tenant.token(EXCHANGE_SCOPE))
    names = [r["Name"] for r in client.ok("Get-InboxRule", {"Mailbox": "alice@contoso.com"})["value"]]
    assert "Backup" in names
    deleted = tenant.graph("DELETE", "/users/alice@contoso.com/mailFolders/inbox/messageRules/AQAAAJ5dZqB=")
    assert deleted.status_code == 204, deleted.text
    names = [r["Name"] for r in client.ok("Get-InboxRule", {"Mailbox": "alice@contoso.com"})["value"]]
    assert names == ["."]


# --- restricted senders: the unblock -------------------------------------------------------------------------------
def test_unblock_takes_effect_after_the_delay(start_tenant: StartTenant) -> None:
    tenant = start_tenant()
    client = Exo(tenant, tenant.token(EXCHANGE_SCOPE))
    removed = client.ok("Remove-BlockedSenderAddress", {"SenderAddress": "alice@contoso.com"})
    assert removed["value"] == []
    listed = {r["SenderAddress"] for r in client.ok("Get-BlockedSenderAddress")["value"]}
    assert "alice@contoso.com" in listed  # pending: the removal takes up to the tenant's delay (120 s here)
    state = tenant.control("GET", "/state").json()
    assert state["unblocksUsed"]["alice@contoso.com"] == 1 and "alice@contoso.com" in state["pendingUnblocks"]
    tenant.advance(121)
    listed = {r["SenderAddress"] for r in client.ok("Get-BlockedSenderAddress")["value"]}
    assert listed == {"bob@contoso.com"}
    error_of(client.post("Remove-BlockedSenderAddress", {"SenderAddress": "alice@contoso.com"}), 404,
             "isn't on the list of restricted senders")
    # bob had used 1 of his 2 unblocks; this one is the second
    client.ok("Remove-BlockedSenderAddress", {"SenderAddress": "bob@contoso.com", "Reason": "newsletter"})
    assert tenant.control("GET", "/state").json()["unblocksUsed"]["bob@contoso.com"] == 2


def test_unblock_limit_needs_microsoft_support(start_tenant: StartTenant, tmp_path: Path) -> None:
    folder = copy_tenant(tmp_path)
    path = folder / "blocked_senders.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for line in lines:
        if line["SenderAddress"] == "bob@contoso.com":
            line["_sandbox"]["unblocksUsed"] = 2  # the example tenant allows 2 (maxUnblocksPerSender)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    tenant = start_tenant(folder)
    client = Exo(tenant, tenant.token(EXCHANGE_SCOPE))
    message = error_of(client.post("Remove-BlockedSenderAddress", {"SenderAddress": "bob@contoso.com"}), 400,
                       "unblocked too many times")
    assert "Microsoft Support" in message
    assert "bob@contoso.com" in {r["SenderAddress"] for r in client.ok("Get-BlockedSenderAddress")["value"]}
    assert tenant.control("GET", "/state").json()["pendingUnblocks"] == {}


# --- message trace -------------------------------------------------------------------------------------------------
def test_message_trace_v2_rows_and_filters(exo: Exo) -> None:
    recent = exo.ok("Get-MessageTraceV2")["value"]  # no dates: the last 48 hours of the simulated now
    received = [when(r["Received"]) for r in recent]
    assert recent and all(NOW - timedelta(hours=48) <= t <= NOW + timedelta(hours=1) for t in received)
    keys = [(-t.timestamp(), r["RecipientAddress"].lower()) for t, r in zip(received, recent, strict=True)]
    assert keys == sorted(keys)  # Received descending, then RecipientAddress ascending
    row = recent[0]
    assert list(row) == ["Received", "SenderAddress", "RecipientAddress", "Subject", "Status", "ToIP", "FromIP",
                         "Size", "MessageId", "MessageTraceId@odata.type", "MessageTraceId"]
    window = {"StartDate": iso(NOW - timedelta(days=9)), "EndDate": iso(NOW)}
    quoted = exo.ok("Get-MessageTraceV2", {**window, "SenderAddress": ["o'brien@contoso.com"]})["value"]
    assert [(r["RecipientAddress"], r["Subject"]) for r in quoted] == [("counsel@lawfirm.example",
                                                                       "Re: let's meet for lunch?")]
    by_subject = exo.ok("Get-MessageTraceV2", {**window, "Subject": "LET'S MEET"})["value"]
    assert [r["SenderAddress"] for r in by_subject] == ["o'brien@contoso.com"]
    assert exo.ok("Get-MessageTraceV2", {**window, "Subject": "Re:", "SubjectFilterType": "StartsWith"})["value"]
    assert not exo.ok("Get-MessageTraceV2", {**window, "Subject": "Re:", "SubjectFilterType": "EndsWith"})["value"]
    spam = exo.ok("Get-MessageTraceV2", {**window, "Status": "filteredasspam"})["value"]
    assert spam and {r["Status"] for r in spam} == {"FilteredAsSpam"}
    all_statuses = {r["Status"] for r in exo.ok("Get-MessageTraceV2", window)["value"]}
    assert all_statuses == {"Delivered", "FilteredAsSpam"}
    two = exo.ok("Get-MessageTraceV2", {**window, "RecipientAddress": ["subscriber8@list.example",
                                                                       "SUBSCRIBER9@list.example"]})["value"]
    assert sorted(r["RecipientAddress"] for r in two) == ["subscriber8@list.example", "subscriber9@list.example"]
    one_message = exo.ok("Get-MessageTraceV2", {**window, "MessageTraceId": two[0]["MessageTraceId"].upper()})
    assert {r["MessageTraceId"] for r in one_message["value"]} == {two[0]["MessageTraceId"]}
    by_message_id = exo.ok("Get-MessageTraceV2", {**window, "MessageId": "<msg35.o'brien@contoso.com>"})["value"]
    assert len(by_message_id) == 1
    from_ip = exo.ok("Get-MessageTraceV2", {**window, "FromIP": "10.0.0.9"})["value"]
    assert {r["SenderAddress"] for r in from_ip} == {"o'brien@contoso.com"}
    limited = exo.ok("Get-MessageTraceV2", {**window, "ResultSize": 3})
    assert len(limited["value"]) == 3
    assert limited["@adminapi.warnings"][0].startswith("There are more results")


def test_message_trace_v2_window_and_argument_errors(exo: Exo) -> None:
    def refused(params: dict[str, Any], text: str) -> None:
        error_of(exo.post("Get-MessageTraceV2", params), 400, text)

    refused({"StartDate": iso(NOW - timedelta(days=11)), "EndDate": iso(NOW)}, "can't be more than 10 days")
    refused({"StartDate": iso(NOW - timedelta(days=95)), "EndDate": iso(NOW - timedelta(days=89))},
            "can't be older than 90 days")
    refused({"StartDate": iso(NOW), "EndDate": iso(NOW - timedelta(days=1))}, "must be earlier than the EndDate")
    refused({"StartDate": iso(NOW - timedelta(days=1))}, "Specify both StartDate and EndDate")
    refused({"StartDate": "yesterday", "EndDate": iso(NOW)}, "String was not recognized as a valid DateTime")
    refused({"ResultSize": 0}, "less than the minimum allowed range of 1")
    refused({"ResultSize": 5001}, "greater than the maximum allowed range of 5000")
    refused({"Status": "Bounced"}, "does not belong to the set")
    refused({"SubjectFilterType": "Regex", "Subject": "x"}, "does not belong to the set")
    refused({"MessageTraceId": "nope"}, "Guid should contain 32 digits")
    # US-style dates as PowerShell reads them are accepted, and the window check still applies
    assert exo.post("Get-MessageTraceV2", {"StartDate": "11/18/2026", "EndDate": "11/20/2026 12:00"}).ok


def _generated_traces(count: int, start: datetime, sender: str) -> list[dict[str, Any]]:
    """Three rows per minute: two recipients, and a second message to the second one in the same instant."""
    rows = []
    for n in range(count):
        instant = start + timedelta(minutes=n // 3)
        recipient = f"r{(n // 3) % 41:02d}{'a' if n % 3 == 0 else 'b'}@ext.example"
        rows.append({"id": str(uuid.UUID(int=n + 1)), "senderAddress": sender, "recipientAddress": recipient,
                     "messageId": f"<gen{n}@contoso.com>", "receivedDateTime": iso(instant),
                     "subject": f"Generated {n}", "size": 1000 + n, "fromIP": "10.9.9.9", "toIP": "52.1.1.1",
                     "status": "delivered"})
    return rows


def _trace_until_done(client: Exo, params: dict[str, Any], size: int) -> tuple[list[dict], int]:
    """The documented loop: re-query with EndDate and StartingRecipientAddress of the last row until a short page."""
    rows: list[dict] = []
    query = dict(params, ResultSize=size)
    calls = 0
    while True:
        page = client.rows("Get-MessageTraceV2", query)
        calls += 1
        rows += page
        if len(page) < size:
            return rows, calls
        query = dict(query, EndDate=page[-1]["Received"], StartingRecipientAddress=page[-1]["RecipientAddress"])


def test_message_trace_v2_cursor_returns_every_row_once(start_tenant: StartTenant, tmp_path: Path) -> None:
    folder = copy_tenant(tmp_path)
    sender = "bulk@contoso.com"
    generated = _generated_traces(12_000, NOW - timedelta(days=9), sender)
    with (folder / "message_traces.jsonl").open("a") as handle:
        handle.write("".join(json.dumps(row) + "\n" for row in generated))
    tenant = start_tenant(folder)
    client = Exo(tenant, tenant.token(EXCHANGE_SCOPE))
    window = {"StartDate": iso(NOW - timedelta(days=9, hours=1)), "EndDate": iso(NOW), "SenderAddress": sender}
    expected = sorted((r["id"], r["recipientAddress"]) for r in generated)

    rows, calls = _trace_until_done(client, window, 5000)
    keys = [(r["MessageTraceId"], r["RecipientAddress"]) for r in rows]
    assert calls == 3 and len(keys) == len(set(keys)) and sorted(keys) == expected
    order = [(-when(r["Received"]).timestamp(), r["RecipientAddress"]) for r in rows]
    assert order == sorted(order)

    # Small pages cut between rows of the same instant, and inside ties (same instant, same recipient).
    narrow = dict(window, StartDate=iso(NOW - timedelta(days=9)),
                  EndDate=iso(NOW - timedelta(days=9) + timedelta(minutes=39)))
    rows, calls = _trace_until_done(client, narrow, 7)
    keys = [(r["MessageTraceId"], r["RecipientAddress"]) for r in rows]
    assert len(keys) == len(set(keys)) == 120 and calls >= 120 // 8
    assert sorted(keys) == sorted((r["id"], r["recipientAddress"]) for r in generated[:120])


def test_message_trace_detail_v2(exo: Exo) -> None:
    trace_id = "5c1d2e3f-0000-4000-8000-000000000021"
    events = exo.ok("Get-MessageTraceDetailV2", {"MessageTraceId": trace_id,
                                                 "RecipientAddress": "subscriber8@list.example"})["value"]
    assert [e["Event"] for e in events] == ["Receive", "Deliver"]
    assert {e["SenderAddress"] for e in events} == {"bob@contoso.com"}
    assert {e["RecipientAddress"] for e in events} == {"subscriber8@list.example"}
    assert events[0]["Date"] == "2026-11-20T08:20:00.0000000+00:00"
    assert events[1]["Detail"] == "The message was delivered." and events[0]["MessageId"] == "<msg33.bob@contoso.com>"
    delivered = exo.ok("Get-MessageTraceDetailV2", {"MessageTraceId": trace_id, "Event": "deliver",
                                                    "RecipientAddress": "subscriber8@list.example"})["value"]
    assert [e["Event"] for e in delivered] == ["Deliver"]
    other = exo.ok("Get-MessageTraceDetailV2", {"MessageTraceId": trace_id,
                                                "RecipientAddress": "nobody@list.example"})["value"]
    assert other == []
    error_of(exo.post("Get-MessageTraceDetailV2", {"MessageTraceId": trace_id}), 400,
             "missing mandatory parameters: RecipientAddress.")


def test_message_trace_quota_is_its_own_bucket(start_tenant: StartTenant) -> None:
    tenant = start_tenant(quota_scale=0.05)  # 100 queries per 15 s instead of per 5 minutes
    client = Exo(tenant, tenant.token(EXCHANGE_SCOPE))
    throttled = None
    for _ in range(130):
        response = client.post("Get-MessageTraceV2", {"ResultSize": 1})
        if response.status_code == 429:
            throttled = response
            break
        assert response.status_code == 200, response.text
        assert "Rate-Limit-Limit" not in response.headers  # those belong to the "exchange" bucket
    assert throttled is not None, "no 429 after 130 message-trace queries"
    assert float(throttled.headers["Retry-After"]) > 0
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    other = client.post("Get-BlockedSenderAddress")
    assert other.status_code == 200 and "Rate-Limit-Remaining" in other.headers


# --- unified audit log ---------------------------------------------------------------------------------------------
def test_search_unified_audit_log(exo: Exo) -> None:
    window = {"StartDate": "2026-11-19T00:00:00Z", "EndDate": "2026-11-20T00:00:00Z"}
    rows = exo.ok("Search-UnifiedAuditLog", window)["value"]
    assert len(rows) == 10
    assert [r["ResultIndex"] for r in rows] == list(range(1, 11)) and {r["ResultCount"] for r in rows} == {10}
    assert [r["CreationDate"] for r in rows] == sorted((r["CreationDate"] for r in rows), reverse=True)
    first = rows[0]
    assert first["RecordType"] == "ExchangeAdmin" and first["Operations"] == "Set-Mailbox"
    record = json.loads(first["AuditData"])
    assert record["Id"] == first["Identity"] and record["RecordType"] == 1 and record["UserId"] == first["UserIds"]
    admin = exo.ok("Search-UnifiedAuditLog", {**window, "RecordType": "exchangeadmin"})["value"]
    assert len(admin) == 4 and {r["RecordType"] for r in admin} == {"ExchangeAdmin"}
    items = exo.ok("Search-UnifiedAuditLog", {**window, "RecordType": "ExchangeItem"})["value"]
    assert len(items) == 6 and {r["Operations"] for r in items} == {"Send"}
    set_mailbox = exo.ok("Search-UnifiedAuditLog", {**window, "Operations": ["set-mailbox", "New-InboxRule"],
                                                    "UserIds": "alice@contoso.com"})["value"]
    assert sorted(r["Operations"] for r in set_mailbox) == ["New-InboxRule", "New-InboxRule", "Set-Mailbox"]
    free = exo.ok("Search-UnifiedAuditLog", {**window, "FreeText": "GMAIL-MAIL.example"})["value"]
    assert len(free) == 2
    by_ip = exo.ok("Search-UnifiedAuditLog", {**window, "IPAddresses": "81.2.69.170"})["value"]
    assert [r["UserIds"] for r in by_ip] == ["admin@contoso.com"]
    assert len(exo.ok("Search-UnifiedAuditLog", {**window, "ResultSize": 3})["value"]) == 3
    error_of(exo.post("Search-UnifiedAuditLog", {"StartDate": "2026-11-19"}), 400,
             "missing mandatory parameters: EndDate.")
    error_of(exo.post("Search-UnifiedAuditLog", {**window, "RecordType": "Bogus"}), 400,
             "Unable to match the identifier name Bogus")
    error_of(exo.post("Search-UnifiedAuditLog", {"StartDate": "2026-04-01", "EndDate": "2026-04-02"}), 400,
             "retention")
    error_of(exo.post("Search-UnifiedAuditLog", {**window, "SessionCommand": "ReturnLargeSet"}), 400,
             "requires the SessionId")
    error_of(exo.post("Search-UnifiedAuditLog", {**window, "ResultSize": 5001}), 400, "maximum allowed range")


def test_audit_session_stops_at_fifty_thousand(start_tenant: StartTenant, tmp_path: Path) -> None:
    folder = copy_tenant(tmp_path)
    total = 50_500
    first = NOW - timedelta(days=5)
    lines = [json.dumps({"Id": f"{n:08x}-0000-4000-8000-00000000b0b0", "RecordType": 50,
                         "CreationTime": (first + timedelta(seconds=5 * n)).strftime("%Y-%m-%dT%H:%M:%S"),
                         "Operation": "MailItemsAccessed", "UserId": "bulk@contoso.com", "Workload": "Exchange",
                         "ClientIP": "203.0.113.9"}) for n in range(total)]
    with (folder / "audit.jsonl").open("a") as handle:
        handle.write("\n".join(lines) + "\n")
    tenant = start_tenant(folder)
    client = Exo(tenant, tenant.token(EXCHANGE_SCOPE))
    search = {"StartDate": iso(NOW - timedelta(days=6)), "EndDate": iso(NOW), "UserIds": "bulk@contoso.com",
              "ResultSize": 5000}

    # without a session every call is the first page (100 rows by default)
    plain = {k: v for k, v in search.items() if k != "ResultSize"}
    once, twice = (client.rows("Search-UnifiedAuditLog", plain) for _ in range(2))
    assert len(once) == 100 and [r["Identity"] for r in once] == [r["Identity"] for r in twice]
    assert once[0]["ResultCount"] == total

    session = dict(search, SessionId=str(uuid.uuid4()), SessionCommand="ReturnLargeSet")
    seen: list[str] = []
    indexes: list[int] = []
    calls = 0
    while True:  # Hawk's loop, stopping on an empty page
        rows = client.rows("Search-UnifiedAuditLog", session)
        calls += 1
        if not rows:
            break
        assert {r["ResultCount"] for r in rows} == {total}  # every match, though the session stops at 50,000
        seen += [r["Identity"] for r in rows]
        indexes += [r["ResultIndex"] for r in rows]
        assert calls <= 11
    assert calls == 11 and len(seen) == len(set(seen)) == 50_000
    assert indexes == list(range(1, 50_001))
    assert client.rows("Search-UnifiedAuditLog", session) == []  # and it stays empty
    other = dict(session, SessionId=str(uuid.uuid4()), SessionCommand="ReturnNextPreviewPage")
    assert len(client.rows("Search-UnifiedAuditLog", other)) == 5000
    assert client.rows("Search-UnifiedAuditLog", other) == []  # the preview stops at 5,000


# --- accepted domains ----------------------------------------------------------------------------------------------
def test_get_accepted_domain(exo: Exo, reader: Exo) -> None:
    rows = exo.ok("Get-AcceptedDomain")["value"]
    assert [r["DomainName"] for r in rows] == ["contoso.onmicrosoft.com", "contoso.com"]  # tenant.json's order
    assert {r["DomainType"] for r in rows} == {"Authoritative"}
    # tenant.json names no default accepted domain: the first one that is not *.onmicrosoft.com is it
    assert [r["Default"] for r in rows] == [False, True]
    assert all(r["Name"] == r["Identity"] == r["DomainName"] for r in rows)
    assert [r["InitialDomain"] for r in rows] == [True, False]
    one = exo.ok("Get-AcceptedDomain", {"Identity": "CONTOSO.com"})["value"]
    assert [r["DomainName"] for r in one] == ["contoso.com"]
    error_of(exo.post("Get-AcceptedDomain", {"Identity": "fabrikam.com"}), 404, NOT_FOUND)
    error_of(exo.post("Get-AcceptedDomain", {"ResultSize": 10}), 400, "does not simulate the parameter 'ResultSize'")
    assert reader.ok("Get-AcceptedDomain")["value"] == rows  # a read cmdlet: Global Reader may run it


def test_get_accepted_domain_without_a_custom_domain(start_tenant: StartTenant, tmp_path: Path) -> None:
    folder = copy_tenant(tmp_path)
    info = json.loads((folder / "tenant.json").read_text())
    info["domains"] = ["contoso.onmicrosoft.com"]
    (folder / "tenant.json").write_text(json.dumps(info))
    tenant = start_tenant(folder)
    rows = Exo(tenant, tenant.token(EXCHANGE_SCOPE)).ok("Get-AcceptedDomain")["value"]
    assert [(r["DomainName"], r["Default"]) for r in rows] == [("contoso.onmicrosoft.com", True)]


def test_hidden_rule_disabled_then_removed_by_identity(start_tenant: StartTenant) -> None:
    tenant = start_tenant()
    client = Exo(tenant, tenant.token(EXCHANGE_SCOPE))
    every = client.ok("Get-InboxRule", {"Mailbox": "alice@contoso.com", "IncludeHidden": True})["value"]
    hidden = next(r for r in every if r["Name"] == "Hidden cleanup")
    assert hidden["Enabled"] is True
    identity = f"alice@contoso.com\\{hidden['RuleIdentity']}"
    assert client.ok("Disable-InboxRule", {"Identity": identity, "Confirm": False})["value"] == []
    again = client.ok("Get-InboxRule", {"Mailbox": "alice", "Identity": str(hidden["RuleIdentity"]),
                                        "IncludeHidden": True})["value"]
    assert [r["Enabled"] for r in again] == [False]
    # disabling twice changes nothing and says so, as Exchange does
    twice = client.ok("Disable-InboxRule", {"Mailbox": "alice", "Identity": str(hidden["RuleIdentity"])})
    assert "no settings" in " ".join(twice.get("@adminapi.warnings", []))
    error_of(client.post("Remove-InboxRule", {"Identity": str(hidden["RuleIdentity"])}), 400,
             "Mailbox parameter is required")
    error_of(client.post("Remove-InboxRule", {"Mailbox": "alice", "Identity": "99"}), 404, NOT_FOUND)
    assert client.ok("Remove-InboxRule", {"Mailbox": "alice@contoso.com",
                                          "Identity": str(hidden["RuleIdentity"]), "Confirm": False})["value"] == []
    names = [r["Name"] for r in client.ok("Get-InboxRule", {"Mailbox": "alice", "IncludeHidden": True})["value"]]
    assert names == [".", "Backup"]  # the visible rules are untouched


def test_global_reader_cannot_change_inbox_rules(reader: Exo, exo: Exo) -> None:
    for cmdlet in ("Disable-InboxRule", "Remove-InboxRule"):
        error_of(reader.post(cmdlet, {"Mailbox": "alice", "Identity": "Backup"}), 400,
                 f"The term '{cmdlet}' is not recognized")
    names = [r["Name"] for r in exo.ok("Get-InboxRule", {"Mailbox": "alice", "IncludeHidden": True})["value"]]
    assert "Backup" in names and "Hidden cleanup" in names


def test_admin_cmdlets_are_audited_at_the_simulated_now(start_tenant: StartTenant) -> None:
    tenant = start_tenant()
    client = Exo(tenant, tenant.token(EXCHANGE_SCOPE))
    now = tenant.advance(0)
    client.ok("Set-Mailbox", {"Identity": "alice@contoso.com", "ForwardingSmtpAddress": None})
    client.ok("Remove-BlockedSenderAddress", {"SenderAddress": "alice@contoso.com", "Reason": "remediated"})
    client.ok("Disable-InboxRule", {"Mailbox": "alice", "Identity": "Backup"})
    window = {"StartDate": now[:10] + "T00:00:00Z", "EndDate": now}
    rows = client.ok("Search-UnifiedAuditLog", {**window, "Operations": [
        "Set-Mailbox", "Remove-BlockedSenderAddress", "Disable-InboxRule"]})["value"]
    assert sorted(r["Operations"] for r in rows) == ["Disable-InboxRule", "Remove-BlockedSenderAddress",
                                                         "Set-Mailbox"]
    unblock = json.loads(next(r for r in rows if r["Operations"] == "Remove-BlockedSenderAddress")["AuditData"])
    assert unblock["RecordType"] == 1 and unblock["ObjectId"] == "alice@contoso.com"
    assert {"Name": "SenderAddress", "Value": "alice@contoso.com"} in unblock["Parameters"]
    assert unblock["UserId"] == APP_ID  # an app-only caller is recorded by its client id
    mailbox = json.loads(next(r for r in rows if r["Operations"] == "Set-Mailbox")["AuditData"])
    assert {"Name": "ForwardingSmtpAddress", "Value": ""} in mailbox["Parameters"]
