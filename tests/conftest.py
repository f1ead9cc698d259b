"""Shared fixtures: a sandbox tenant in a child process, reached over real HTTPS, and msal tokens from it."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msal
import pytest
import requests

from toolkit.sandbox_process import SandboxEndpoints, SandboxProcess
from toolkit.transport import Session, session_trusting

DATA = Path(__file__).parent / "data"
SMALL_TENANT = DATA / "tenant_small"
CERTS = DATA / "certs"

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
EXCHANGE_SCOPE = "https://outlook.office365.com/.default"

#: App registrations of tests/data/tenant_small/apps.json
APP_ID = "0a1b2c3d-1111-4000-8000-000000000001"  # app-only, broad permissions, secret + certificate
APP_SECRET = "sandbox-app-secret-1"
READER_ID = "0a1b2c3d-2222-4000-8000-000000000002"  # app-only, read-only, Global Reader (hashed secret)
READER_SECRET = "sandbox-reader-secret-2"
PUBLIC_ID = "0a1b2c3d-3333-4000-8000-000000000003"  # public client for the device code flow
PFX_PATH = CERTS / "app.pfx"
PFX_PASSPHRASE = "sandbox-test"


@dataclass
class Tenant:
    """A running sandbox and the helpers tests use against it."""

    process: SandboxProcess
    dir: Path

    @property
    def ep(self) -> SandboxEndpoints:
        return self.process.endpoints

    def session(self) -> Session:
        return session_trusting(self.ep.ca_bundle)

    def app(self, client_id: str = APP_ID, credential: Any = APP_SECRET) -> msal.ConfidentialClientApplication:
        """A fresh msal app (fresh http cache, so a cached 429/400 never leaks between tests)."""
        return msal.ConfidentialClientApplication(
            client_id, client_credential=credential, authority=self.ep.authority, instance_discovery=False,
            http_client=self.session(), http_cache={},
        )

    def token(self, scope: str = GRAPH_SCOPE, client_id: str = APP_ID, credential: Any = APP_SECRET) -> str:
        result = self.app(client_id, credential).acquire_token_for_client(scopes=[scope])
        assert "access_token" in result, result
        return str(result["access_token"])

    def graph(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        """Call a Graph path (``/users``...) or a full URL (a nextLink) with an app-only token by default."""
        url = path if path.startswith("https://") else f"{self.ep.graph}{path}"
        headers = {"Authorization": f"Bearer {token or self.token()}", **kwargs.pop("headers", {})}
        return self.session().request(method, url, headers=headers, timeout=30, **kwargs)

    def invoke(self, cmdlet: str, parameters: dict[str, Any] | None = None, token: str | None = None,
               url: str | None = None) -> requests.Response:
        """POST an InvokeCommand body (to ``url`` when following a nextLink)."""
        body = {"CmdletInput": {"CmdletName": cmdlet, "Parameters": parameters or {}}}
        headers = {
            "Authorization": f"Bearer {token or self.token(EXCHANGE_SCOPE)}",
            "X-AnchorMailbox": f"UPN:SystemMailbox{{bb558c35-97f1-4cb9-8ff7-d53741dc928c}}@{self.ep.tenant_domain}",
        }
        return self.session().post(url or f"{self.ep.exchange}/InvokeCommand", json=body, headers=headers,
                                   timeout=30)

    def control(self, method: str, path: str, body: Any = None) -> requests.Response:
        return self.session().request(method, f"{self.ep.control}{path}", json=body,
                                      headers={"X-Sandbox-Key": self.ep.control_key}, timeout=30)

    def advance(self, seconds: float) -> str:
        response = self.control("POST", "/clock", {"advance_seconds": seconds})
        response.raise_for_status()
        return str(response.json()["now"])

    def set_faults(self, rules: list[dict[str, Any]]) -> None:
        self.control("PUT", "/faults", {"faults": rules}).raise_for_status()


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One CA and signing key for the whole run (made on first use, as for a user)."""
    return tmp_path_factory.mktemp("sandbox-state")


StartTenant = Callable[..., Tenant]


@pytest.fixture
def start_tenant(tmp_path: Path, state_dir: Path) -> Iterator[StartTenant]:
    """Start a private sandbox (a copy of the small tenant unless given another folder); stopped after the test."""
    started: list[Tenant] = []

    def start(tenant_dir: Path | None = None, **options: Any) -> Tenant:
        folder = tmp_path / f"tenant{len(started)}"
        shutil.copytree(tenant_dir or SMALL_TENANT, folder)
        process = SandboxProcess.start(folder, state_dir=state_dir, **options)
        tenant = Tenant(process, folder)
        started.append(tenant)
        return tenant

    yield start
    for tenant in started:
        tenant.process.stop()


@pytest.fixture(scope="module")
def shared_tenant(tmp_path_factory: pytest.TempPathFactory, state_dir: Path) -> Iterator[Tenant]:
    """A read-mostly sandbox shared by one test module (tests that change state use ``start_tenant``)."""
    folder = tmp_path_factory.mktemp("shared") / "tenant"
    shutil.copytree(SMALL_TENANT, folder)
    process = SandboxProcess.start(folder, state_dir=state_dir)
    yield Tenant(process, folder)
    process.stop()


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The toolkit connected to the small tenant through ``toolkit.connect`` (a sandbox of its own for the module)."""
    from toolkit.connection import _started
    from toolkit.tenant import connect

    tenant = connect(sandbox_tenant=SMALL_TENANT, store_dir=tmp_path_factory.mktemp("store"), quiet=True)
    yield tenant
    for process in _started:
        process.stop()
    _started.clear()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium through Playwright, for the module (skipped without it, failed with M365_REQUIRE_BROWSER=1)."""
    from tests.browser_support import chromium, require_browser

    require_browser()
    with chromium() as started:
        yield started


def assert_sandbox_stopped(pid: int, info_path: Path, seconds: float = 10) -> None:
    """The sandbox process ``pid`` has exited (or is a zombie) and its ``sandbox.json`` is gone."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
        time.sleep(0.2)
    status = Path(f"/proc/{pid}/status")
    assert not status.exists() or "zombie" in status.read_text()
    assert not info_path.exists()
