"""Graph inbox message rules of the sandbox (list, get, PATCH, DELETE) over real HTTPS, compared row for row with
``message_rules.jsonl``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import msal
import pytest

from tests.conftest import (
    EXCHANGE_SCOPE,
    GRAPH_SCOPE,
    PUBLIC_ID,
    READER_ID,
    READER_SECRET,
    SMALL_TENANT,
    StartTenant,
    Tenant,
)

ALICE = "00000003-aaaa-4bbb-8ccc-000000000003"
RULES = "/users/{user}/mailFolders/inbox/messageRules"
ACCESS_DENIED = "Access is denied. Check credentials and try again."
NOT_FOUND = "The specified object was not found in the store."
HIDDEN_RULE = "AQAAAJ5dZqC="


def snapshot_rules(mailbox: str) -> list[dict[str, Any]]:
    """The rules Graph should show for a mailbox: hidden ones left out, link and simulation keys stripped."""
    text = (SMALL_TENANT / "message_rules.jsonl").read_text(encoding="utf-8")
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    mine = [r for r in lines if r["mailbox"] == mailbox and not r.get("_sandbox", {}).get("hidden")]
    mine.sort(key=lambda r: r["sequence"])
    return [{k: v for k, v in r.items() if k not in {"mailbox", "_sandbox"}} for r in mine]


def error_of(response: Any) -> tuple[int, str, str]:
    body = response.json()["error"]
    return response.status_code, body["code"], body["message"]


def without_context(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "@odata.context"}


@pytest.fixture(scope="module")
def app_token(shared_tenant: Tenant) -> str:
    return shared_tenant.token()


@pytest.fixture(scope="module")
def reader_token(shared_tenant: Tenant) -> str:
    return shared_tenant.token(GRAPH_SCOPE, READER_ID, READER_SECRET)


def delegated_token(tenant: Tenant, user: str) -> str:
    app = msal.PublicClientApplication(PUBLIC_ID, authority=tenant.ep.authority, instance_discovery=False,
                                       http_client=tenant.session(), http_cache={})
    flow = app.initiate_device_flow(scopes=[GRAPH_SCOPE])
    tenant.control("POST", "/device/approve", {"user_code": flow["user_code"], "user": user}).raise_for_status()
    result = app.acquire_token_by_device_flow(flow, exit_condition=lambda f: True)
    assert "access_token" in result, result
    return str(result["access_token"])


@pytest.mark.parametrize("path", [
    "/users/alice@contoso.com/mailFolders/inbox/messageRules",
    f"/users/{ALICE}/mailFolders/Inbox/messageRules",
    "/users/alice@contoso.com/mailFolders('inbox')/messageRules",
    "/users/Alice@Contoso.com/MailFolders('Inbox')/messageRules",
])
def test_list_rules_matches_the_snapshot_without_hidden_rules(shared_tenant: Tenant, app_token: str,
                                                              path: str) -> None:
    response = shared_tenant.graph("GET", path, token=app_token)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["@odata.context"] == (f"https://graph.microsoft.com/v1.0/$metadata#users('{ALICE}')/"
                                      "mailFolders('inbox')/messageRules")
    assert body["value"] == snapshot_rules("alice@contoso.com")
    assert HIDDEN_RULE not in {r["id"] for r in body["value"]}
    assert "@odata.nextLink" not in body


def test_other_mailboxes_and_the_quoted_upn(shared_tenant: Tenant, app_token: str) -> None:
    carol = shared_tenant.graph("GET", RULES.format(user="carol@contoso.com"), token=app_token).json()
    assert carol["value"] == snapshot_rules("carol@contoso.com") and len(carol["value"]) == 1
    for user in ("o'brien@contoso.com", "o%27brien%40contoso.com"):
        response = shared_tenant.graph("GET", RULES.format(user=user), token=app_token)
        assert response.status_code == 200 and response.json()["value"] == []


def test_top_pages_the_rules_once_each_and_select_narrows(shared_tenant: Tenant, app_token: str) -> None:
    url: str | None = RULES.format(user="alice@contoso.com") + "?$top=1"
    seen = []
    while url:
        body = shared_tenant.graph("GET", url, token=app_token).json()
        assert len(body["value"]) == 1
        seen += body["value"]
        url = body.get("@odata.nextLink")
    assert seen == snapshot_rules("alice@contoso.com")
    narrow = shared_tenant.graph("GET", RULES.format(user="alice@contoso.com"), token=app_token,
                                 params={"$select": "displayName,isEnabled"}).json()
    assert narrow["value"] == [{"displayName": r["displayName"], "isEnabled": r["isEnabled"]}
                               for r in snapshot_rules("alice@contoso.com")]


def test_get_one_rule_and_not_found(shared_tenant: Tenant, app_token: str) -> None:
    expected = snapshot_rules("alice@contoso.com")[1]
    path = RULES.format(user="alice@contoso.com") + f"/{expected['id']}"
    body = shared_tenant.graph("GET", path, token=app_token).json()
    assert body["@odata.context"].endswith("mailFolders('inbox')/messageRules/$entity")
    assert without_context(body) == expected
    for rule_id in ("AQAAAJ5dZqZ=", HIDDEN_RULE, expected["id"].lower()):
        missing = shared_tenant.graph("GET", RULES.format(user="alice@contoso.com") + f"/{rule_id}", token=app_token)
        assert error_of(missing) == (404, "ErrorItemNotFound", NOT_FOUND)
    # Carol's rule is not in Alice's mailbox.
    carol_rule = snapshot_rules("carol@contoso.com")[0]["id"]
    other = shared_tenant.graph("GET", RULES.format(user="alice@contoso.com") + f"/{carol_rule}", token=app_token)
    assert error_of(other) == (404, "ErrorItemNotFound", NOT_FOUND)


def test_errors_for_unknown_user_filter_and_audience(shared_tenant: Tenant, app_token: str) -> None:
    unknown = shared_tenant.graph("GET", RULES.format(user="nobody@contoso.com"), token=app_token)
    assert error_of(unknown)[:2] == (404, "ErrorInvalidUser")
    filtered = shared_tenant.graph("GET", RULES.format(user="alice@contoso.com"), token=app_token,
                                   params={"$filter": "isEnabled eq true"})
    assert error_of(filtered)[:2] == (400, "BadRequest")
    exo = shared_tenant.token(EXCHANGE_SCOPE)
    wrong = shared_tenant.graph("GET", RULES.format(user="alice@contoso.com"), token=exo)
    assert error_of(wrong) == (401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")


def test_read_only_permission_reads_but_cannot_change(shared_tenant: Tenant, reader_token: str) -> None:
    path = RULES.format(user="alice@contoso.com")
    assert shared_tenant.graph("GET", path, token=reader_token).json()["value"] == snapshot_rules("alice@contoso.com")
    rule = f"{path}/AQAAAJ5dZqA="
    patched = shared_tenant.graph("PATCH", rule, token=reader_token, json={"isEnabled": False})
    assert error_of(patched) == (403, "ErrorAccessDenied", ACCESS_DENIED)
    deleted = shared_tenant.graph("DELETE", rule, token=reader_token)
    assert error_of(deleted) == (403, "ErrorAccessDenied", ACCESS_DENIED)


def test_signed_in_admin_sees_only_their_own_mailbox(shared_tenant: Tenant) -> None:
    token = delegated_token(shared_tenant, "admin@contoso.com")
    own = shared_tenant.graph("GET", RULES.format(user="admin@contoso.com"), token=token)
    assert own.status_code == 200 and own.json()["value"] == []
    other = shared_tenant.graph("GET", RULES.format(user="alice@contoso.com"), token=token)
    assert error_of(other) == (403, "ErrorAccessDenied", ACCESS_DENIED)


PATCH_ERRORS = [
    ({"colour": "red"}, "RequestBodyRead",
     "The property 'colour' does not exist on type 'microsoft.graph.messageRule'"),
    ({"hasError": True}, "ErrorInvalidPropertyRequest", "hasError"),
    ({"id": "AQAAAJ5dZqZ="}, "ErrorInvalidPropertyRequest", "id"),
    ({"isEnabled": "no"}, "ErrorInvalidRequest", "isEnabled"),
    ({"sequence": 0}, "ErrorInvalidRequest", "sequence"),
    ({"displayName": "  "}, "ErrorInvalidRequest", "displayName"),
    ({"conditions": {"subjectLooksLike": ["x"]}}, "RequestBodyRead", "messageRulePredicates"),
    ({"conditions": {"subjectContains": "invoice"}}, "ErrorInvalidRequest", "conditions.subjectContains"),
    ({"actions": {"forwardTo": ["evil@example.com"]}}, "ErrorInvalidRequest", "actions.forwardTo"),
    ({"actions": {"teleport": True}}, "RequestBodyRead", "messageRuleActions"),
    ({"actions": {"markImportance": "urgent"}}, "ErrorInvalidRequest", "markImportance"),
]


@pytest.mark.parametrize(("body", "code", "text"), PATCH_ERRORS)
def test_patch_refuses_bad_bodies(shared_tenant: Tenant, app_token: str, body: dict[str, Any], code: str,
                                  text: str) -> None:
    path = RULES.format(user="alice@contoso.com") + "/AQAAAJ5dZqA="
    status, got_code, message = error_of(shared_tenant.graph("PATCH", path, token=app_token, json=body))
    assert (status, got_code) == (400, code)
    assert text in message


def test_patch_updates_and_reads_back(start_tenant: StartTenant) -> None:
    tenant = start_tenant()
    token = tenant.token()
    path = RULES.format(user="alice@contoso.com") + "/AQAAAJ5dZqB="
    original = without_context(tenant.graph("GET", path, token=token).json())
    response = tenant.graph("PATCH", path, token=token, json={"isEnabled": False, "displayName": "Backup (disabled)"})
    assert response.status_code == 200
    expected = {**original, "isEnabled": False, "displayName": "Backup (disabled)"}
    assert without_context(response.json()) == expected
    assert without_context(tenant.graph("GET", path, token=token).json()) == expected
    # A complex property is replaced as a whole.
    actions = {"markImportance": "high"}
    replaced = tenant.graph("PATCH", path, token=token, json={"actions": actions, "sequence": 5})
    assert replaced.json()["actions"] == actions
    listed = tenant.graph("GET", RULES.format(user="alice@contoso.com"), token=token).json()["value"]
    assert [r["id"] for r in listed] == ["AQAAAJ5dZqA=", "AQAAAJ5dZqB="]
    assert listed[1] == {**expected, "actions": actions, "sequence": 5}
    hidden = tenant.graph("PATCH", RULES.format(user="alice@contoso.com") + f"/{HIDDEN_RULE}", token=token,
                          json={"isEnabled": False})
    assert error_of(hidden) == (404, "ErrorItemNotFound", NOT_FOUND)
    # Other mailboxes are untouched.
    assert tenant.graph("GET", RULES.format(user="carol@contoso.com"), token=token).json()["value"] == snapshot_rules(
        "carol@contoso.com")


def _inbox_rule_names(tenant: Tenant) -> list[str] | None:
    """Names from Exchange's Get-InboxRule for alice, or None while the Exchange side has no such cmdlet."""
    response = tenant.invoke("Get-InboxRule", {"Mailbox": "alice@contoso.com"})
    if response.status_code == 404 and "No such endpoint" in response.text:
        return None  # the Exchange admin API routes are not there
    text = response.text
    if response.status_code >= 400 and ("CommandNotFound" in text or "is not recognized" in text):
        return None
    assert response.status_code == 200, text
    return [str(r.get("Name")) for r in response.json()["value"]]


def test_delete_removes_the_rule_everywhere(start_tenant: StartTenant) -> None:
    tenant = start_tenant()
    token = tenant.token()
    path = RULES.format(user="alice@contoso.com") + "/AQAAAJ5dZqB="
    names_before = _inbox_rule_names(tenant)
    deleted = tenant.graph("DELETE", path, token=token)
    assert deleted.status_code == 204 and deleted.content == b""
    assert error_of(tenant.graph("GET", path, token=token)) == (404, "ErrorItemNotFound", NOT_FOUND)
    listed = tenant.graph("GET", RULES.format(user="alice@contoso.com"), token=token).json()["value"]
    assert listed == snapshot_rules("alice@contoso.com")[:1]
    assert error_of(tenant.graph("DELETE", path, token=token)) == (404, "ErrorItemNotFound", NOT_FOUND)
    names_after = _inbox_rule_names(tenant)
    if names_before is not None and names_after is not None:
        assert "Backup" in names_before and "." in names_after
        assert "Backup" not in names_after


def test_user_without_a_mailbox(start_tenant: StartTenant, tmp_path: Path) -> None:
    folder = tmp_path / "no-mailbox"
    shutil.copytree(SMALL_TENANT, folder)
    lines = (folder / "mailboxes.jsonl").read_text(encoding="utf-8").splitlines()
    kept = [line for line in lines if '"carol@contoso.com"' not in line]
    assert len(kept) == len(lines) - 1
    (folder / "mailboxes.jsonl").write_text("\n".join(kept) + "\n", encoding="utf-8")
    tenant = start_tenant(folder)
    response = tenant.graph("GET", RULES.format(user="carol@contoso.com"))
    assert error_of(response) == (404, "MailboxNotEnabledForRESTAPI",
                                  "The mailbox is either inactive, soft-deleted, or is hosted on-premise.")
