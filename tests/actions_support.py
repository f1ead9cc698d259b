"""Helpers for the action, journal and bundle tests: connections to a sandbox as the broad app, the read-only app
and a signed-in administrator, and read-backs that go around the toolkit (straight to the sandbox's API)."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from tests.conftest import PUBLIC_ID, READER_ID, READER_SECRET, SMALL_TENANT, Tenant
from toolkit.action_core import ActionContext
from toolkit.case import Case
from toolkit.connection import Connection, open_connection, sandbox_settings
from toolkit.journal import Journal
from toolkit.settings import Credential

READER_ENV = "M365_TEST_READER_SECRET"
USER_FIELDS = "id,userPrincipalName,accountEnabled,lastPasswordChangeDateTime,signInSessionsValidFromDateTime"


def app_connection(tenant: Tenant) -> Connection:
    return open_connection(sandbox_settings(tenant.ep))


def reader_connection(tenant: Tenant) -> Connection:
    os.environ[READER_ENV] = READER_SECRET
    settings = replace(sandbox_settings(tenant.ep), client_id=READER_ID,
                       credential=Credential("secret", secret_env=READER_ENV))
    return open_connection(settings)


def admin_connection(tenant: Tenant, user: str = "admin@contoso.com") -> Connection:
    """A delegated connection (device code), approved through the control API as ``user``."""

    def prompt(flow: dict[str, Any]) -> None:
        tenant.control("POST", "/device/approve", {"user_code": flow["user_code"], "user": user}).raise_for_status()

    settings = replace(sandbox_settings(tenant.ep), client_id=PUBLIC_ID, credential=Credential("device_code"))
    return open_connection(settings, prompt=prompt)


def context(connection: Connection, journal_path: Path, case: Case | None = None) -> ActionContext:
    return ActionContext(connection, Journal(journal_path), case, verify_wait=0.05)


def user(tenant: Tenant, upn: str) -> dict[str, Any]:
    response = tenant.graph("GET", f"/users/{upn}", params={"$select": USER_FIELDS})
    response.raise_for_status()
    return dict(response.json())


def rules(tenant: Tenant, upn: str) -> dict[str, dict[str, Any]]:
    response = tenant.graph("GET", f"/users/{upn}/mailFolders/inbox/messageRules")
    response.raise_for_status()
    return {r["id"]: r for r in response.json()["value"]}


def exchange_rules(tenant: Tenant, upn: str, hidden: bool = True) -> list[dict[str, Any]]:
    parameters: dict[str, Any] = {"Mailbox": upn}
    if hidden:
        parameters["IncludeHidden"] = True
    response = tenant.invoke("Get-InboxRule", parameters)
    response.raise_for_status()
    return list(response.json()["value"])


def mailbox(tenant: Tenant, upn: str) -> dict[str, Any]:
    response = tenant.invoke("Get-Mailbox", {"Identity": upn})
    response.raise_for_status()
    return dict(response.json()["value"][0])


def grant_exists(tenant: Tenant, grant_id: str) -> bool:
    return tenant.graph("GET", f"/oauth2PermissionGrants/{grant_id}").status_code == 200


def blocked(tenant: Tenant) -> set[str]:
    response = tenant.invoke("Get-BlockedSenderAddress")
    response.raise_for_status()
    return {r["SenderAddress"].lower() for r in response.json()["value"]}


def sandbox_state(tenant: Tenant) -> dict[str, Any]:
    response = tenant.control("GET", "/state")
    response.raise_for_status()
    return dict(response.json())


def tenant_copy(tmp_path: Path, change: dict[str, dict[str, Any]]) -> Path:
    """A copy of the small tenant with some blocked senders' ``_sandbox`` attributes changed."""
    folder = tmp_path / "tenant_changed"
    shutil.copytree(SMALL_TENANT, folder)
    path = folder / "blocked_senders.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for row in rows:
        extra = change.get(row["SenderAddress"].lower())
        if extra:
            row.setdefault("_sandbox", {}).update(extra)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def requests_sent(connection: Connection) -> int:
    return sum(connection.transport.stats.requests.values())
