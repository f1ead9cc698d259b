"""Opening a connection: real tenant settings when configured, else the built-in sandbox tenant.

``connect()`` resolves settings (arguments, environment, config file). When nothing is configured it uses the
sandbox: a running one (the launcher's ``sandbox.json``) if it answers, else it starts the demo tenant in a child
process that lives as long as this Python process. Either way it says plainly when the data is simulated.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkit.auth import DeviceCodePrompt, TokenProvider, register_secret
from toolkit.errors import ConfigurationError
from toolkit.sandbox_process import SandboxEndpoints, SandboxProcess, default_tenant, info_path, state_dir
from toolkit.settings import Credential, Endpoints, Settings, load_settings
from toolkit.transport import QuotaPacer, RetryPolicy, Transport, session_trusting

log = logging.getLogger(__name__)

SANDBOX_SECRET_ENV = "M365_SANDBOX_CLIENT_SECRET"
GRAPH_AUDIENCE = "https://graph.microsoft.com"
EXCHANGE_AUDIENCE = "https://outlook.office365.com"
SIMULATED_BANNER = "SIMULATED DATA: connected to the built-in sandbox tenant, not a real Microsoft 365 tenant."

_started: list[SandboxProcess] = []


@dataclass
class Connection:
    """Settings, tokens and transport of one tenant."""

    settings: Settings
    tokens: TokenProvider
    transport: Transport

    @property
    def simulated(self) -> bool:
        return self.settings.simulated

    def __repr__(self) -> str:
        what = "sandbox (SIMULATED)" if self.simulated else f"tenant {self.settings.tenant}"
        return f"Connection({what}, client_id={self.settings.client_id!r})"


def _alive(endpoints: SandboxEndpoints) -> bool:
    try:
        os.kill(endpoints.pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        reply = session_trusting(endpoints.ca_bundle).get(f"{endpoints.base_url}/_sandbox/health", timeout=5)
        return reply.status_code == 200 and reply.json().get("tenantId") == endpoints.tenant_id
    except Exception:  # not answering (or not a sandbox): start our own
        return False


def running_sandbox() -> SandboxEndpoints | None:
    """The sandbox the launcher started, if it is still answering."""
    path = info_path()
    if not path.exists():
        return None
    try:
        endpoints = SandboxEndpoints(**json.loads(path.read_text()))
    except (ValueError, TypeError):
        log.warning("ignoring unreadable sandbox info in %s", path)
        return None
    return endpoints if _alive(endpoints) else None


def start_sandbox(tenant_dir: Path | None = None, **options: Any) -> SandboxEndpoints:
    """Start a sandbox for this process (stopped when it exits)."""
    process = SandboxProcess.start(tenant_dir or default_tenant(), state_dir=state_dir(), **options)
    _started.append(process)
    atexit.register(process.stop)
    return process.endpoints


def sandbox_settings(endpoints: SandboxEndpoints) -> Settings:
    """Settings for a sandbox: its addresses, its CA, and the demo app it announces."""
    if not endpoints.demo_client_id or not endpoints.demo_client_secret:
        raise ConfigurationError("the sandbox tenant has no app-only registration with a plain secret to sign in "
                                 "with; add one to its apps.json or configure a credential")
    os.environ[SANDBOX_SECRET_ENV] = endpoints.demo_client_secret
    register_secret(endpoints.demo_client_secret)
    return Settings(
        tenant=endpoints.tenant_id,
        client_id=endpoints.demo_client_id,
        credential=Credential("secret", secret_env=SANDBOX_SECRET_ENV),
        tenant_domain=endpoints.tenant_domain,
        endpoints=Endpoints(
            authority=endpoints.authority,
            graph=endpoints.graph,
            exchange=endpoints.exchange,
            graph_audience=GRAPH_AUDIENCE,
            exchange_audience=EXCHANGE_AUDIENCE,
            ca_bundle=endpoints.ca_bundle,
            public_authority=False,
        ),
        simulated=True,
        quota_scale=endpoints.quota_scale,
        token_cache=None,
    )


def anchor_mailbox(settings: Settings, tokens: TokenProvider) -> str:
    """The X-AnchorMailbox header: the signed-in user, or the tenant's system mailbox for app-only calls."""
    identity = tokens.identity()
    if identity.kind == "user":
        return f"UPN:{identity.name}"
    return f"UPN:SystemMailbox{{bb558c35-97f1-4cb9-8ff7-d53741dc928c}}@{settings.anchor_domain}"


def open_connection(settings: Settings, *, retry: RetryPolicy | None = None,
                    prompt: DeviceCodePrompt | None = None) -> Connection:
    """Tokens and a transport for resolved settings."""
    endpoints = settings.resolved_endpoints()
    session = session_trusting(endpoints.ca_bundle)
    tokens = TokenProvider(settings, prompt=prompt, http_client=session)
    transport = Transport(
        tokens,
        graph_base=endpoints.graph,
        exchange_base=endpoints.exchange,
        anchor_mailbox=anchor_mailbox(settings, tokens),
        session=session,
        retry=retry,
        pacer=QuotaPacer(scale=settings.quota_scale),
    )
    transport.calibrate(f"{endpoints.authority}/v2.0/.well-known/openid-configuration")
    return Connection(settings, tokens, transport)


def connect_settings(sandbox_tenant: Path | None = None, **overrides: Any) -> Settings:
    """Resolve what to connect to; the sandbox (running, or started now) when nothing is configured."""
    settings = load_settings(**overrides)
    if settings is not None and sandbox_tenant is None:
        return settings
    endpoints = None if sandbox_tenant is not None else running_sandbox()
    if endpoints is None:
        endpoints = start_sandbox(sandbox_tenant)
    log.warning(SIMULATED_BANNER)
    return sandbox_settings(endpoints)
