"""The README's main command: the sandbox and JupyterLab come up together and stop together."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.conftest import SMALL_TENANT, assert_sandbox_stopped


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_lab_starts_sandbox_and_jupyterlab_then_stops_both(tmp_path: Path) -> None:
    port = free_port()
    home = tmp_path / "home"
    env = {**os.environ, "M365_SANDBOX_HOME": str(home), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"), "JUPYTER_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "toolkit.launch", "--tenant", str(SMALL_TENANT), "--no-browser", f"--port={port}",
         "--IdentityProvider.token=", "--ServerApp.password="],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        info_path = home / "sandbox.json"
        lab = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                lab = requests.get(f"http://127.0.0.1:{port}/lab", timeout=2)
                if lab.status_code == 200 and info_path.exists():
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        assert lab is not None and lab.status_code == 200
        assert "JupyterLab" in lab.text
        assert oct(info_path.stat().st_mode & 0o777) == "0o600"
        info = json.loads(info_path.read_text())
        health = requests.get(f"{info['base_url']}/_sandbox/health", verify=info["ca_bundle"], timeout=5)
        assert health.json()["tenantId"] == info["tenant_id"]
        sandbox_pid = info["pid"]
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
    assert_sandbox_stopped(sandbox_pid, info_path)
