"""The main job: the sandbox tenant (when no real tenant is configured) and JupyterLab on ``notebooks/``; with
``--app``, the guided unblock alone as a web page (Voila) for helpdesk staff who never open a notebook.

    python run.py lab [--tenant DIR] [--notebooks DIR] [JupyterLab options...]
    python run.py app [--tenant DIR] [--notebooks DIR] [--port N] [Voila options...]

The sandbox runs as a separate process; where it listens is written to ``sandbox.json`` in the sandbox state
folder (owner-only, it holds the control key) and passed to the kernels in ``M365_SANDBOX_INFO``, so notebooks
(and the page) can reach it. Both servers listen on 127.0.0.1 only and ask for a token. Everything stops together
on Ctrl+C.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from toolkit.sandbox_process import SandboxProcess, default_tenant, info_path, state_dir

log = logging.getLogger("toolkit.launch")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
INFO_ENV = "M365_SANDBOX_INFO"
#: The notebook the helpdesk page serves: a title, the connection banner and the wizard; Voila hides its code.
APP_NOTEBOOK = "app_guided_unblock.ipynb"
#: How long a server may take to stop (and stop its kernels) after Ctrl+C before it is terminated.
STOP_GRACE_S = 20.0


def write_info(process: SandboxProcess) -> Path:
    """Record where the sandbox listens, readable by the owner only."""
    path = info_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(asdict(process.endpoints), handle, indent=2)
    os.replace(path.with_suffix(".tmp"), path)
    return path


def _running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def lab_command(notebooks: Path, extra: list[str]) -> list[str]:
    """JupyterLab on ``notebooks``, on 127.0.0.1; ``extra`` (JupyterLab's own options) come last and win."""
    command = [sys.executable, "-m", "jupyterlab", f"--notebook-dir={notebooks}", "--ServerApp.ip=127.0.0.1",
               *extra]
    if _running_as_root() and "--allow-root" not in extra:
        log.warning("Running as root: passing --allow-root to JupyterLab")
        command.append("--allow-root")
    return command


def app_command(notebooks: Path, extra: list[str]) -> list[str]:
    """Voila serving the wizard notebook alone: code hidden, on 127.0.0.1, a token (``$JUPYTER_TOKEN`` or a
    generated one, printed in the address Voila logs), no browser opened. ``extra`` (Voila's options) win."""
    return [sys.executable, "-m", "voila", str(notebooks / APP_NOTEBOOK), "--no-browser", "--Voila.ip=127.0.0.1",
            "--strip_sources=True", "--token", *extra]


def run_until_stopped(command: list[str], env: dict[str, str]) -> int:
    """Run a server until it exits; on Ctrl+C give it time to stop its kernels, then make sure it is gone.

    A terminal's Ctrl+C reaches the server too; a SIGINT sent to this process alone does not, so the server is
    asked with SIGTERM (both JupyterLab and Voila stop cleanly on it) when it is still running after a moment."""
    proc = subprocess.Popen(command, env=env)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        log.info("Stopping ...")
        for ask, wait in ((None, 2.0), (signal.SIGTERM, STOP_GRACE_S), (signal.SIGKILL, 5.0)):
            if ask is not None and proc.poll() is None:
                proc.send_signal(ask)
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
            except KeyboardInterrupt:  # a second Ctrl+C: stop now
                proc.kill()
                proc.wait()
                break
        return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python run.py lab|app", description=__doc__.splitlines()[0])
    parser.add_argument("--tenant", type=Path, default=None, help="a tenant snapshot folder (default: the demo)")
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOKS,
                        help="the notebooks folder (default: the project's notebooks/)")
    parser.add_argument("--app", action="store_true",
                        help=f"serve the guided unblock alone as a web page (Voila on {APP_NOTEBOOK})")
    args, server_args = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    notebooks = args.notebooks.resolve()
    if args.app and not (notebooks / APP_NOTEBOOK).is_file():
        parser.error(f"{notebooks / APP_NOTEBOOK} does not exist")
    tenant = args.tenant or default_tenant()
    signal.signal(signal.SIGTERM, _interrupt)  # a service manager's stop is a Ctrl+C: everything stops together
    with SandboxProcess.start(tenant, state_dir=state_dir()) as sandbox:
        info = write_info(sandbox)
        log.info("Sandbox tenant (SIMULATED data) %s at %s", sandbox.endpoints.tenant_domain,
                 sandbox.endpoints.base_url)
        log.info("Device-code sign-ins are approved at %s", sandbox.endpoints.device_login)
        env = {**os.environ, INFO_ENV: str(info)}
        if args.app:
            log.info("The guided unblock page: open the address Voila prints below (it carries the token)")
            command = app_command(notebooks, server_args)
        else:
            command = lab_command(notebooks, server_args)
        try:
            return run_until_stopped(command, env)
        finally:
            info.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
