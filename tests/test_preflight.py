"""The preflight names what a credential will not see, and why, before any pull."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import SMALL_TENANT, StartTenant, Tenant
from toolkit.connection import open_connection, sandbox_settings
from toolkit.preflight import NEEDS, run_preflight


def test_full_credential_sees_everything(shared_tenant: Tenant) -> None:
    result = run_preflight(open_connection(sandbox_settings(shared_tenant.ep)))
    assert result.unavailable() == []
    assert {c.kind for c in result.checks} == set(NEEDS)
    assert result.simulated and "SIMULATED" in result.summary()


def test_evidence_poor_tenant_names_the_missing_licence_and_permission(start_tenant: StartTenant,
                                                                        tmp_path: Path) -> None:
    folder = tmp_path / "poor"
    shutil.copytree(SMALL_TENANT, folder)
    info = json.loads((folder / "tenant.json").read_text())
    info["licences"] = {"entraIdP1": False, "entraIdP2": False}
    (folder / "tenant.json").write_text(json.dumps(info))
    apps = json.loads((folder / "apps.json").read_text())
    apps[0]["applicationPermissions"]["https://graph.microsoft.com"].remove("SecurityAlert.Read.All")
    (folder / "apps.json").write_text(json.dumps(apps))
    lines = (folder / "service_principals.jsonl").read_text().splitlines()
    (folder / "service_principals.jsonl").write_text(
        "\n".join(x for x in lines if "8bd644d1-64a1-4d4b-ae52-2e0cbf64e373" not in x) + "\n")
    result = run_preflight(open_connection(sandbox_settings(start_tenant(folder).ep)))
    signins = result.check("signins")
    assert signins.status == "unavailable" and signins.reason == "licence"
    assert "Entra ID P1" in signins.fix
    assert result.check("risky_users").reason == "licence" and "P2" in result.check("risky_users").fix
    alerts = result.check("alerts")
    assert alerts.reason == "permission" and "SecurityAlert.Read.All" in alerts.fix
    trace = result.check("trace")
    assert trace.status == "limited" and "Get-MessageTraceV2" in trace.detail
    assert result.check("restricted").status == "available"
    summary = result.summary()
    assert "signins" in summary and "MISSING" in summary and "Entra ID P1" in summary
    frame = result.to_frame()
    assert set(frame.loc[frame["status"] == "unavailable", "kind"]) >= {"signins", "risky_users", "alerts"}


def test_reader_credential_lacks_the_exchange_role_for_nothing_and_graph_permissions(shared_tenant: Tenant,
                                                                                    monkeypatch) -> None:
    from dataclasses import replace

    from tests.conftest import READER_ID, READER_SECRET
    from toolkit.settings import Credential

    monkeypatch.setenv("READER_SECRET_FOR_TEST", READER_SECRET)
    settings = replace(sandbox_settings(shared_tenant.ep), client_id=READER_ID,
                       credential=Credential("secret", secret_env="READER_SECRET_FOR_TEST"))
    result = run_preflight(open_connection(settings))
    assert result.check("users").status == "available"
    assert result.check("restricted").status == "available"  # Global Reader may read blocked senders
    missing = {c.kind for c in result.unavailable()}
    assert {"signins", "trace", "alerts", "auth_methods", "grants"} <= missing
    assert all(c.reason == "permission" for c in result.unavailable())
