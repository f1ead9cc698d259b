"""connect(): real settings when configured, else the sandbox (reused when running), always saying so."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

import pytest

from tests.conftest import SMALL_TENANT, Tenant
from toolkit import connection
from toolkit.connection import SIMULATED_BANNER, connect_settings, open_connection, running_sandbox


@pytest.fixture
def sandbox_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("M365_TENANT", "M365_CLIENT_ID", "M365_SANDBOX_INFO"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("M365_TOOLKIT_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("M365_SANDBOX_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("M365_SANDBOX_TENANT", str(SMALL_TENANT))
    return tmp_path / "home"


def test_nothing_configured_starts_the_sandbox_and_says_so(sandbox_home: Path,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        settings = connect_settings()
    try:
        assert settings.simulated
        assert SIMULATED_BANNER in caplog.text
        conn = open_connection(settings)
        assert "SIMULATED" in repr(conn)
        users = conn.transport.graph_get("users", source="users")["value"]
        assert any(u["userPrincipalName"] == "alice@contoso.com" for u in users)
    finally:
        for process in connection._started:
            process.stop()
        connection._started.clear()


def test_a_running_sandbox_is_reused(sandbox_home: Path, shared_tenant: Tenant) -> None:
    sandbox_home.mkdir(parents=True, exist_ok=True)
    (sandbox_home / "sandbox.json").write_text(json.dumps(asdict(shared_tenant.ep)))
    found = running_sandbox()
    assert found is not None and found.base_url == shared_tenant.ep.base_url
    settings = connect_settings()
    assert settings.resolved_endpoints().graph == shared_tenant.ep.graph
    assert connection._started == []


def test_a_stale_info_file_is_ignored(sandbox_home: Path, shared_tenant: Tenant) -> None:
    sandbox_home.mkdir(parents=True, exist_ok=True)
    stale = {**asdict(shared_tenant.ep), "pid": 999_999_999}
    (sandbox_home / "sandbox.json").write_text(json.dumps(stale))
    assert running_sandbox() is None
    (sandbox_home / "sandbox.json").write_text("not json")
    assert running_sandbox() is None


def test_configured_tenant_is_used_as_is(sandbox_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("M365_TENANT", "contoso.onmicrosoft.com")
    monkeypatch.setenv("M365_CLIENT_ID", "11111111-2222-3333-4444-555555555555")
    settings = connect_settings()
    assert not settings.simulated and settings.credential.kind == "device_code"
    assert settings.resolved_endpoints().graph == "https://graph.microsoft.com/v1.0"
