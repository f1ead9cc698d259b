#!/usr/bin/env python3
"""One entry point for a fresh clone: creates `.venv` when missing (or stale), then runs the job.

    python3 run.py lab      start the sandbox tenant (when no real tenant is configured) and JupyterLab
    python3 run.py app      the guided unblock alone as a web page (Voila), for helpdesk staff
    python3 run.py test     run the whole test suite (what CI runs)
    python3 run.py bench    run the benchmarks and write bench/RESULTS.md

Only the standard library is used here, so it works before anything is installed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".installed-from"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")


def _requirements_hash() -> str:
    digest = hashlib.sha256()
    for name in ("pyproject.toml",):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def ensure_venv() -> None:
    """Create the virtual environment and install the project into it when missing or out of date."""
    if sys.version_info < (3, 11):  # noqa: UP036 - this file must run on an older python3 to say so
        sys.exit(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}.")
    wanted = _requirements_hash()
    if PY.exists() and STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    if not PY.exists():
        print(f"Creating the virtual environment in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    print("Installing the toolkit and its dependencies (first run only) ...", flush=True)
    subprocess.run([str(PY), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
    subprocess.run([str(PY), "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[dev]"], check=True)
    STAMP.write_text(wanted + "\n")


def foreground(command: list[str]) -> int:
    """Run a long-lived job: Ctrl+C reaches the child too and it stops on its own, so wait for it (subprocess.run
    would kill it a moment later, leaving the sandbox's state behind). A second Ctrl+C terminates it."""
    proc = subprocess.Popen(command, cwd=ROOT)
    interrupts = 0
    while True:
        try:
            return proc.wait()
        except KeyboardInterrupt:
            interrupts += 1
            if interrupts > 1:
                proc.terminate()


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"lab", "app", "test", "bench"}:
        print(__doc__)
        return 2
    ensure_venv()
    command, rest = argv[0], argv[1:]
    if command == "test":
        lint = subprocess.run([str(PY), "-m", "ruff", "check", str(ROOT)], cwd=ROOT)
        tests = subprocess.run([str(PY), "-m", "pytest", *rest], cwd=ROOT)
        return lint.returncode or tests.returncode
    if command == "bench":
        return subprocess.run([str(PY), "-m", "bench", *rest], cwd=ROOT).returncode
    if command == "app":
        return foreground([str(PY), "-m", "toolkit.launch", "--app", *rest])
    return foreground([str(PY), "-m", "toolkit.launch", *rest])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
