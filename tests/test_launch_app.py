"""The README's helpdesk command (``python3 run.py app``): the sandbox and the Voila page come up together on
127.0.0.1, the page asks for the token, shows the wizard and no code or secret, and both stop on Ctrl+C.

What an HTTP client can see: the page as Voila rendered it (markdown, the cells' outputs, the widgets' text form).
The browser suite (tests/test_browser_unblock.py) drives the widgets themselves."""

from __future__ import annotations

import html
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.conftest import SMALL_TENANT, assert_sandbox_stopped
from tests.test_launch import free_port

TOKEN = secrets.token_hex(16)  # for a server that lives for this test only


def cell_outputs(page: str) -> list[dict]:
    """The outputs Voila embedded in the page, one JSON object each."""
    found = re.findall(r'<script type="application/vnd\.voila\.cell-output\+json">\s*(.*?)\s*</script>', page, re.S)
    return [json.loads(text) for text in found]


def test_app_serves_the_wizard_page_then_stops_with_the_sandbox(tmp_path: Path) -> None:
    port = free_port()
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("M365_", "JUPYTER_"))}
    env.update({"M365_SANDBOX_HOME": str(home), "M365_TOOLKIT_STORE": str(tmp_path / "store"),
                "M365_TOOLKIT_CONFIG": str(tmp_path / "none.toml"), "JUPYTER_TOKEN": TOKEN,
                "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
                "JUPYTER_DATA_DIR": str(tmp_path / "data")})
    log = tmp_path / "launch.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "toolkit.launch", "--app", "--tenant", str(SMALL_TENANT), f"--port={port}"],
            env=env, stdout=subprocess.DEVNULL, stderr=err, text=True, start_new_session=True,
        )
    info_path = home / "sandbox.json"
    base = f"http://127.0.0.1:{port}"
    try:
        refused = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            try:
                refused = requests.get(f"{base}/", timeout=2, allow_redirects=False)
                if info_path.exists():
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        assert refused is not None and refused.status_code in (302, 403), "the page must ask for the token"
        assert "/login" in refused.headers.get("Location", "")

        response = requests.get(f"{base}/", params={"token": TOKEN}, timeout=120)  # runs the notebook
        assert response.status_code == 200
        page = response.text
        info = json.loads(info_path.read_text())
        assert oct(info_path.stat().st_mode & 0o777) == "0o600"

        assert "Unblock a restricted user" in page  # the helpdesk instructions (markdown)
        outputs = cell_outputs(page)
        assert outputs and not [o for o in outputs if o.get("output_type") == "error"], outputs
        shown = " ".join(html.unescape(str(o.get("data", {}).get("text/html", ""))) for o in outputs)
        assert "SIMULATED DATA" in shown and info["tenant_id"] in shown
        wizard = [o for o in outputs if str(o.get("data", {}).get("text/plain", "")).startswith("UnblockWizard(")]
        assert len(wizard) == 1 and "application/vnd.jupyter.widget-view+json" in wizard[0]["data"]
        assert "unblock_wizard(" not in page and "toolkit.connect" not in page, "code is shown to helpdesk staff"
        secrets_shown = [name for name, value in (("control key", info["control_key"]), ("token", TOKEN),
                                                  ("client secret", info["demo_client_secret"])) if value in page]
        assert not secrets_shown, f"the page shows the {secrets_shown}"  # names only: a failure must not leak them

        health = requests.get(f"{info['base_url']}/_sandbox/health", verify=info["ca_bundle"], timeout=5)
        assert health.json()["tenantId"] == info["tenant_id"]
        sandbox_pid = info["pid"]
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl+C in the terminal
        proc.wait(timeout=40)
    assert_sandbox_stopped(sandbox_pid, info_path)
    assert proc.returncode == 0
    token_logged = TOKEN in log.read_text()
    assert not token_logged, "the token reached the log"
