"""Serve the sandbox over HTTPS on 127.0.0.1 with uvicorn, announce it in one JSON line, stop on SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from toolkit.sandbox.app import CONNECTIONS, Sandbox, SandboxConfig, build_app, build_sandbox
from toolkit.sandbox.faults import FaultInjector, FaultRule
from toolkit.sandbox.snapshot import load_snapshot
from toolkit.sandbox.tls import issue_server_certificate

log = logging.getLogger(__name__)


class TrackedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, remembering each connection's transport so a fault can drop it."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.client:
            CONNECTIONS[(self.client[0], self.client[1])] = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self.client:
            CONNECTIONS.pop((self.client[0], self.client[1]), None)
        super().connection_lost(exc)


class SandboxServer(uvicorn.Server):
    """uvicorn's server that ends with exit code 0 on SIGINT/SIGTERM and drops idle keep-alive connections at once."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for connection in list(self.server_state.connections):
            if getattr(connection, "cycle", None) is None or connection.cycle.response_complete:
                transport = getattr(connection, "transport", None)
                if transport is not None:
                    transport.abort()
        await super().shutdown(sockets)


def announcement(sandbox: Sandbox, ca_bundle: Path) -> dict[str, Any]:
    """What the server prints once it listens: where each service is and how to trust it."""
    base = sandbox.base_url
    tenant = sandbox.tenant_id
    return {
        "status": "listening",
        "pid": os.getpid(),
        "tenant_id": tenant,
        "tenant_domain": sandbox.snapshot.tenant.default_domain,
        "base_url": base,
        "authority": f"{base}/{tenant}",
        "graph": f"{base}/v1.0",
        "exchange": f"{base}/adminapi/beta/{tenant}",
        "device_login": f"{base}/_sandbox/devicelogin",
        "control": f"{base}/_sandbox",
        "control_key": sandbox.control_key,
        "ca_bundle": str(ca_bundle),
        "simulated_now": sandbox.state.now().isoformat(),
        "quota_scale": sandbox.quotas.scale,
        "latency_ms": sandbox.config.latency_ms,
        "latency_ms_per_mb": sandbox.config.latency_ms_per_mb,
        "demo_app": demo_app(sandbox),
    }


def demo_app(sandbox: Sandbox) -> dict[str, str] | None:
    """The app-only registration the toolkit signs in with by default: the first confidential app with a plain
    secret and application permissions. A sandbox secret, not a real one; announced so a client needs no set-up."""
    for app in sandbox.snapshot.apps:
        plain = next((s.value for s in app.secrets if s.value), None)
        if not app.public_client and plain and app.application_permissions:
            return {"client_id": app.client_id, "client_secret": plain, "display_name": app.display_name}
    return None


async def _serve(server: SandboxServer, sock: socket.socket, on_ready: Any) -> None:
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            await task
            return
        await asyncio.sleep(0.02)
    on_ready()
    await task


def serve(tenant_dir: Path, state_dir: Path, port: int = 0, latency_ms: float = 0.0,
          quota_scale: float = 1.0, faults: list[FaultRule] | None = None, out: TextIO = sys.stdout,
          latency_ms_per_mb: float = 0.0) -> None:
    """Load the snapshot (refusing a bad one), bind, print the announcement line, serve until a signal."""
    snapshot = load_snapshot(tenant_dir)
    config = SandboxConfig(tenant_dir=tenant_dir, state_dir=state_dir, latency_ms=latency_ms,
                           latency_ms_per_mb=latency_ms_per_mb, quota_scale=quota_scale)
    sandbox = build_sandbox(config, snapshot, FaultInjector(faults))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    sock.set_inheritable(True)
    bound = sock.getsockname()[1]
    config.base_url = f"https://127.0.0.1:{bound}"
    sandbox.tokens.issuer = f"{config.base_url}/{sandbox.tenant_id}/v2.0"
    with tempfile.TemporaryDirectory(prefix="m365-sandbox-") as run_dir:
        cert = issue_server_certificate(state_dir, Path(run_dir))
        uv_config = uvicorn.Config(
            build_app(sandbox),
            ssl_certfile=str(cert.cert_file),
            ssl_keyfile=str(cert.key_file),
            http=TrackedH11Protocol,  # type: ignore[arg-type]
            lifespan="off",
            log_level="warning",
            access_log=False,
            date_header=False,  # the app sends Date itself: the simulated now
            timeout_keep_alive=30,
            timeout_graceful_shutdown=3,
        )
        server = SandboxServer(uv_config)

        def ready() -> None:
            out.write(json.dumps(announcement(sandbox, cert.ca_bundle)) + "\n")
            out.flush()
            log.info("sandbox tenant %s listening on %s", sandbox.tenant_id, config.base_url)

        asyncio.run(_serve(server, sock, ready))
    log.info("sandbox stopped")
