"""The main job: the sandbox tenant (when no real tenant is configured) and JupyterLab on ``notebooks/``.

    python run.py lab [JupyterLab options...]

The sandbox runs as a separate process; where it listens is written to ``sandbox.json`` in the sandbox state
folder (owner-only, it holds the control key) and passed to JupyterLab's kernels in ``M365_SANDBOX_INFO``, so
notebooks can reach it. Everything stops together on Ctrl+C.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from toolkit.sandbox_process import SandboxProcess, default_tenant, info_path, state_dir

log = logging.getLogger("toolkit.launch")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
INFO_ENV = "M365_SANDBOX_INFO"


def write_info(process: SandboxProcess) -> Path:
    """Record where the sandbox listens, readable by the owner only."""
    path = info_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(asdict(process.endpoints), handle, indent=2)
    os.replace(path.with_suffix(".tmp"), path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python run.py lab", description=__doc__.splitlines()[0])
    parser.add_argument("--tenant", type=Path, default=None, help="a tenant snapshot folder (default: the demo)")
    args, lab_args = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    tenant = args.tenant or default_tenant()
    with SandboxProcess.start(tenant, state_dir=state_dir()) as sandbox:
        info = write_info(sandbox)
        log.info("Sandbox tenant (SIMULATED data) %s at %s", sandbox.endpoints.tenant_domain,
                 sandbox.endpoints.base_url)
        log.info("Device-code sign-ins are approved at %s", sandbox.endpoints.device_login)
        env = {**os.environ, INFO_ENV: str(info)}
        command = [sys.executable, "-m", "jupyterlab", f"--notebook-dir={NOTEBOOKS}", "--ServerApp.ip=127.0.0.1",
                   *lab_args]
        if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in lab_args:
            log.warning("Running as root: passing --allow-root to JupyterLab")
            command.append("--allow-root")
        try:
            return subprocess.run(command, env=env).returncode
        except KeyboardInterrupt:
            return 0
        finally:
            info.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
