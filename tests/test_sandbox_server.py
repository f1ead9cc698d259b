"""The sandbox as a program: its start-up line, its CA, refusing bad input, and stopping cleanly on signals."""

from __future__ import annotations

import json
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.conftest import GRAPH_SCOPE, SMALL_TENANT, Tenant
from toolkit.sandbox_process import SandboxProcess, SandboxStartError


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "toolkit.sandbox", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_startup_line_names_every_service(shared_tenant: Tenant) -> None:
    ep = shared_tenant.ep
    assert ep.base_url.startswith("https://127.0.0.1:")
    assert ep.authority == f"{ep.base_url}/{ep.tenant_id}"
    assert ep.graph == f"{ep.base_url}/v1.0"
    assert ep.exchange == f"{ep.base_url}/adminapi/beta/{ep.tenant_id}"
    assert Path(ep.ca_bundle).is_file()
    assert "control_key" not in repr(ep)


def test_tls_is_verified_against_the_sandbox_ca_only(shared_tenant: Tenant) -> None:
    health = f"{shared_tenant.ep.base_url}/_sandbox/health"
    assert shared_tenant.session().get(health, timeout=10).json()["status"] == "ok"
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(health, timeout=10, verify=True)  # the system store does not know the sandbox CA


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_ca_persists_with_owner_only_key_and_tokens_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state"
    port = free_port()
    with SandboxProcess.start(SMALL_TENANT, state_dir=state, port=port) as first:
        token = Tenant(first, SMALL_TENANT).token(GRAPH_SCOPE)
        ca_before = Path(first.endpoints.ca_bundle).read_bytes()
    for name in ("sandbox-ca.key", "token-signing.key"):
        assert stat.S_IMODE((state / name).stat().st_mode) == 0o600
    with SandboxProcess.start(SMALL_TENANT, state_dir=state, port=port) as second:
        assert Path(second.endpoints.ca_bundle).read_bytes() == ca_before
        # a token a client cached before the restart still verifies: same signing key, same issuer
        response = Tenant(second, SMALL_TENANT).graph("GET", "/admin/exchange/tracing/messageTraces", token=token)
        assert response.status_code == 200
    with SandboxProcess.start(SMALL_TENANT, state_dir=state) as elsewhere:
        # served from another address the issuer differs, and a foreign issuer is refused as Entra would
        response = Tenant(elsewhere, SMALL_TENANT).graph("GET", "/admin/exchange/tracing/messageTraces",
                                                         token=token)
        assert response.status_code == 401


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stops_cleanly_on_signals(tmp_path: Path, sig: signal.Signals) -> None:
    state = tmp_path / "state"
    proc = subprocess.Popen([sys.executable, "-m", "toolkit.sandbox", "serve", "--tenant", str(SMALL_TENANT),
                             "--state-dir", str(state)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = json.loads(proc.stdout.readline())
    assert line["status"] == "listening" and line["pid"] == proc.pid
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_bad_snapshot_is_refused_at_start(tmp_path: Path) -> None:
    folder = tmp_path / "tenant"
    shutil.copytree(SMALL_TENANT, folder)
    with (folder / "sign_ins.jsonl").open("a") as handle:
        handle.write('{"id": "x", "createdDateTime": "2026-11-20T00:00:00Z"}\n')
    lines = sum(1 for _ in (folder / "sign_ins.jsonl").open())
    result = run_cli("serve", "--tenant", str(folder), "--state-dir", str(tmp_path / "s"))
    assert result.returncode == 2
    assert f"sign_ins.jsonl, line {lines}: missing required field 'userPrincipalName'" in result.stderr
    assert result.stdout == ""
    with pytest.raises(SandboxStartError, match="missing required field 'userPrincipalName'"):
        SandboxProcess.start(folder, state_dir=tmp_path / "s")


def test_bad_fault_spec_and_options_are_refused(tmp_path: Path) -> None:
    bad = run_cli("serve", "--tenant", str(SMALL_TENANT), "--faults", '[{"path": "/x", "fault": "explode"}]')
    assert bad.returncode == 2 and "fault rule #1: 'fault' must be one of" in bad.stderr
    missing = run_cli("serve", "--tenant", str(SMALL_TENANT), "--faults", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "fault spec file not found" in missing.stderr
    scale = run_cli("serve", "--tenant", str(SMALL_TENANT), "--quota-scale", "0")
    assert scale.returncode == 2 and "--quota-scale must be positive" in scale.stderr


def test_fault_spec_from_a_file(tmp_path: Path) -> None:
    spec = tmp_path / "faults.json"
    spec.write_text(json.dumps({"faults": [{"path": "/v1.0/admin/exchange/tracing/messageTraces", "calls": [1],
                                            "fault": "status", "status": 504}]}))
    with SandboxProcess.start(SMALL_TENANT, state_dir=tmp_path / "s", faults=str(spec)) as process:
        tenant = Tenant(process, SMALL_TENANT)
        token = tenant.token()
        assert tenant.graph("GET", "/admin/exchange/tracing/messageTraces", token=token).status_code == 504
        assert tenant.graph("GET", "/admin/exchange/tracing/messageTraces", token=token).status_code == 200


def test_check_command_reports_counts(tmp_path: Path) -> None:
    result = run_cli("check", "--tenant", str(SMALL_TENANT))
    assert result.returncode == 0
    assert "users 7" in result.stdout and "message_traces 73" in result.stdout


def test_latency_is_added(tmp_path: Path) -> None:
    import time

    with SandboxProcess.start(SMALL_TENANT, state_dir=tmp_path / "s", latency_ms=300) as process:
        session = Tenant(process, SMALL_TENANT).session()
        start = time.monotonic()
        session.get(f"{process.endpoints.base_url}/_sandbox/health", timeout=10)
        assert time.monotonic() - start >= 0.3


def test_latency_per_megabyte_grows_with_the_body(tmp_path: Path) -> None:
    """A page of 73 trace rows (tens of kilobytes) at 20 s per megabyte waits a few hundred milliseconds more than a
    health check, which is a few dozen bytes."""
    import time

    with SandboxProcess.start(SMALL_TENANT, state_dir=tmp_path / "s", latency_ms_per_mb=20_000) as process:
        tenant = Tenant(process, SMALL_TENANT)
        token = tenant.token()
        start = time.monotonic()
        page = tenant.graph("GET", "/admin/exchange/tracing/messageTraces?$top=5000", token=token)
        waited = time.monotonic() - start
        assert page.status_code == 200 and len(page.content) > 10_000
        assert waited >= len(page.content) / 1e6 * 20.0 * 0.95


def test_negative_latency_is_refused() -> None:
    result = run_cli("serve", "--tenant", str(SMALL_TENANT), "--latency-ms-per-mb", "-1")
    assert result.returncode == 2 and "cannot be negative" in result.stderr


def test_port_option_binds_that_port(tmp_path: Path) -> None:
    port = free_port()
    with SandboxProcess.start(SMALL_TENANT, state_dir=tmp_path / "s", port=port) as process:
        assert process.endpoints.base_url == f"https://127.0.0.1:{port}"
        assert process.running
    assert not process.running
