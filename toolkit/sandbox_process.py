"""Start the sandbox tenant as a separate process and learn where it listens (client side).

The client side meets the sandbox only over HTTPS, as it meets Microsoft; this module only runs
``python -m toolkit.sandbox serve`` and reads the one JSON line it prints.
"""

from __future__ import annotations

import json
import logging
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


TENANT_ENV = "M365_SANDBOX_TENANT"
DEMO_SEED = 1
#: Bumped when the generator's output changes (apps, scenarios), so an existing install makes the demo tenant anew.
DEMO_VERSION = 2


def state_dir() -> Path:
    """Where the sandbox keeps its CA, signing key, generated tenants and ``sandbox.json``."""
    explicit = os.environ.get("M365_SANDBOX_HOME")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "m365-spam-toolkit" / "sandbox"


def info_path() -> Path:
    """The file that says where a running sandbox listens (written by the launcher, read by ``connect()``)."""
    explicit = os.environ.get("M365_SANDBOX_INFO")
    return Path(explicit) if explicit else state_dir() / "sandbox.json"


def default_tenant() -> Path:
    """The demo tenant: ``$M365_SANDBOX_TENANT`` if set, else the generated demo (made on first use)."""
    explicit = os.environ.get(TENANT_ENV)
    if explicit:
        return Path(explicit)
    demo = state_dir() / "tenants" / f"demo-seed-{DEMO_SEED}-v{DEMO_VERSION}"
    if not (demo / "tenant.json").exists():
        log.warning("generating the demo tenant in %s (first run only)", demo)
        demo.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "toolkit.sandbox", "generate", "--out", str(demo),
                        "--seed", str(DEMO_SEED)], check=True, stdout=subprocess.DEVNULL)
    return demo


class SandboxStartError(RuntimeError):
    """The sandbox process did not come up; the message carries what it printed."""


@dataclass(frozen=True)
class SandboxEndpoints:
    """Where a running sandbox serves each service (from its start-up line)."""

    base_url: str
    authority: str
    graph: str
    exchange: str
    device_login: str
    control: str
    ca_bundle: str
    tenant_id: str
    tenant_domain: str
    pid: int
    control_key: str = field(repr=False)
    quota_scale: float = 1.0
    demo_client_id: str | None = None
    demo_client_secret: str | None = field(default=None, repr=False)

    @classmethod
    def from_line(cls, data: dict[str, Any]) -> SandboxEndpoints:
        return cls(
            base_url=data["base_url"], authority=data["authority"], graph=data["graph"], exchange=data["exchange"],
            device_login=data["device_login"], control=data["control"], ca_bundle=data["ca_bundle"],
            tenant_id=data["tenant_id"], tenant_domain=data["tenant_domain"], pid=int(data["pid"]),
            control_key=data["control_key"], quota_scale=float(data.get("quota_scale", 1.0)),
            demo_client_id=(data.get("demo_app") or {}).get("client_id"),
            demo_client_secret=(data.get("demo_app") or {}).get("client_secret"),
        )


class SandboxProcess:
    """A sandbox server running in a child process; stop it with ``stop()`` or a ``with`` block."""

    def __init__(self, proc: subprocess.Popen[str], endpoints: SandboxEndpoints, log_path: Path):
        self._proc = proc
        self.endpoints = endpoints
        self.log_path = log_path  # the server's stderr (its log)

    def __repr__(self) -> str:
        return f"SandboxProcess(pid={self._proc.pid}, base_url={self.endpoints.base_url!r})"

    @classmethod
    def start(cls, tenant_dir: str | Path, *, port: int = 0, latency_ms: float = 0.0,
              faults: str | list[dict[str, Any]] | None = None, quota_scale: float = 1.0,
              state_dir: str | Path | None = None, timeout: float = 60.0,
              log_level: str = "WARNING", latency_ms_per_mb: float = 0.0) -> SandboxProcess:
        """Start ``python -m toolkit.sandbox serve`` and wait for its start-up line.

        ``latency_ms`` is added to every response and ``latency_ms_per_mb`` per megabyte of its body (realistic
        pulls for benchmarks); ``quota_scale`` multiplies every quota window.
        """
        command = [sys.executable, "-m", "toolkit.sandbox", "serve", "--tenant", str(tenant_dir),
                   "--port", str(port), "--latency-ms", str(latency_ms), "--quota-scale", str(quota_scale),
                   "--log-level", log_level]
        if latency_ms_per_mb:
            command += ["--latency-ms-per-mb", str(latency_ms_per_mb)]
        if faults is not None:
            command += ["--faults", faults if isinstance(faults, str) else json.dumps(faults)]
        if state_dir is not None:
            command += ["--state-dir", str(state_dir)]
        handle, name = tempfile.mkstemp(prefix="m365-sandbox-", suffix=".log")
        log_path = Path(name)
        with os.fdopen(handle, "w") as log_file:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log_file, text=True,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert proc.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        line = ""
        while time.monotonic() < deadline:
            if selector.select(timeout=0.1):
                line = proc.stdout.readline()
                break
            if proc.poll() is not None:
                break
        selector.close()
        if not line:
            proc.kill()
            proc.wait()
            err = log_path.read_text(errors="replace").strip()[-2000:]
            raise SandboxStartError(f"the sandbox did not start (exit {proc.poll()}): {err or 'no output'}")
        try:
            endpoints = SandboxEndpoints.from_line(json.loads(line))
        except (ValueError, KeyError) as exc:
            proc.kill()
            raise SandboxStartError(f"the sandbox printed an unexpected start-up line: {line[:200]!r}") from exc
        log.info("sandbox tenant %s started at %s (simulated data)", endpoints.tenant_id, endpoints.base_url)
        return cls(proc, endpoints, log_path)

    @property
    def running(self) -> bool:
        return self._proc.poll() is None

    def stop(self, timeout: float = 10.0) -> int:
        """Ask the server to stop (SIGTERM), wait, and return its exit code."""
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        return int(self._proc.returncode)

    def log_text(self) -> str:
        """What the server has logged so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
