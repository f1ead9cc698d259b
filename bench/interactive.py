"""Interactive: the notebooks' own cells, executed in a fresh (cold) Jupyter kernel against the default sandbox
tenant, as an analyst runs them; each cell timed.

- Triage: ``01_triage_restricted_users`` from its first cell to the triage table on screen (imports, connect,
  ``tenant.triage``, the table widget).
- Reopen: ``02_investigate_user`` is run once (it investigates the first restricted user and stores the case); then
  a new cold kernel runs the same notebook with the investigation cell reopening that case from the cache
  (``tenant.open_case(user)``): connect, reopen, gaps, assessment, report; the charts after it are reported too.

The sandbox runs as ``python3 run.py lab`` runs it (no added latency), its start-up not timed.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.common import CACHE, ROOT, Figure, StageResult, in_child

TRIAGE_TARGET_S = 5.0
REOPEN_TARGET_S = 2.0


def execute(path: Path, replace: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a notebook's code cells in a new kernel; (kernel start seconds, [(source, seconds)])."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        for old, new in (replace or {}).items():
            if cell.cell_type == "code" and old in cell.source:
                cell.source = cell.source.replace(old, new)
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}})
    timings: list[tuple[str, float]] = []
    started = time.perf_counter()
    with client.setup_kernel():
        kernel = time.perf_counter() - started
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                continue
            t = time.perf_counter()
            client.execute_cell(cell, index)
            timings.append((cell.source, time.perf_counter() - t))
    return {"kernel_s": kernel, "cells": timings}


def upto(cells: list[tuple[str, float]], marker: str) -> float:
    total = 0.0
    for source, seconds in cells:
        total += seconds
        if marker in source:
            return total
    raise ValueError(f"no cell holds {marker!r}")


def measure(tenant: str) -> dict[str, Any]:
    """(child) Serve the default tenant, then run the notebooks in cold kernels."""
    from toolkit.sandbox_process import SandboxProcess

    base = CACHE / "interactive"
    shutil.rmtree(base, ignore_errors=True)
    home = base / "home"
    home.mkdir(parents=True)
    store = base / "store"
    with SandboxProcess.start(Path(tenant), state_dir=home) as process:
        info = home / "sandbox.json"
        info.write_text(json.dumps(asdict(process.endpoints)))
        info.chmod(0o600)
        for key in [k for k in os.environ if k.startswith("M365_")]:
            del os.environ[key]
        os.environ.update({"M365_SANDBOX_HOME": str(home), "M365_SANDBOX_TENANT": tenant,
                           "M365_TOOLKIT_STORE": str(store), "M365_TOOLKIT_CONFIG": str(base / "none.toml")})
        notebooks = ROOT / "notebooks"
        triage = execute(notebooks / "01_triage_restricted_users.ipynb")
        investigate = execute(notebooks / "02_investigate_user.ipynb")
        stored = [p.name for p in store.glob("*/*") if p.is_dir()]
        if len(stored) != 1:
            raise RuntimeError(f"expected one stored case after notebook 02, found {stored}")
        user = stored[0]
        reopen = execute(notebooks / "02_investigate_user.ipynb", {
            "user = None": f"user = {user!r}",
            "case = tenant.investigate(user, days=days)": "case = tenant.open_case(user)",
        })
    return {"triage": triage, "investigate": investigate, "reopen": reopen, "user": user}


def run(quick: bool = False) -> StageResult:
    from bench import data

    result = StageResult("interactive")
    tenant = data.demo_tenant()
    m, _ = in_child(measure, str(tenant))
    triage_s = upto(m["triage"]["cells"], "ui.triage_table")
    reopen_s = upto(m["reopen"]["cells"], "assessment.report()")
    reopen_all = sum(s for _, s in m["reopen"]["cells"])
    live_s = upto(m["investigate"]["cells"], "assessment.report()")
    result.figures += [
        Figure("interactive", "cold kernel: notebook 01 cells up to the triage table", triage_s, "s",
               target=f"< {TRIAGE_TARGET_S:g} s", met=triage_s < TRIAGE_TARGET_S,
               note=f"kernel start {m['triage']['kernel_s']:.1f} s before it"),
        Figure("interactive", "cold kernel: notebook 02 reopened from the cache, up to the report", reopen_s, "s",
               target=f"< {REOPEN_TARGET_S:g} s", met=reopen_s < REOPEN_TARGET_S,
               note=f"kernel start {m['reopen']['kernel_s']:.1f} s before it"),
        Figure("interactive", "cold kernel: notebook 02 as committed (investigating live), up to the report",
               live_s, "s"),
        Figure("interactive", "cold kernel: notebook 02 reopened, every cell incl. charts and HTML report",
               reopen_all, "s"),
    ]
    for name in ("triage", "reopen"):
        cells = "; ".join(f"`{src.splitlines()[-1][:48]}` {sec:.2f} s" for src, sec in m[name]["cells"])
        result.notes.append(f"{name} cells: {cells}")
    listed = sum(1 for line in (tenant / "blocked_senders.jsonl").read_text().splitlines() if line.strip())
    cells = m["reopen"]["cells"]

    def cell(marker: str) -> float:
        return sum(sec for src, sec in cells if marker in src)
    result.notes.append(f"Reopened user: {m['user']}; tenant {tenant.name} (the default sandbox tenant).")
    result.notes.append(
        f"Why triage misses 5 s: `tenant.triage` investigates each of the {listed} listed users live, about 20 "
        "requests each, two of them to Identity Protection (risky user, risk detections), which allows 1 request "
        f"per second per tenant: the quota alone needs about {2 * listed} s, and the evidence engine about 0.5-1 s "
        "per user after that. Reaching 5 s needs one tenant-wide risk pull shared by the investigations, or a "
        "triage table from stored cases. Reopen, in this run: importing toolkit and plotly "
        f"{cell('import'):.2f} s, connect {cell('toolkit.connect()'):.2f} s, reopening the case "
        f"{cell('open_case'):.2f} s, the assessment {cell('tenant.assess'):.2f} s.")
    return result
