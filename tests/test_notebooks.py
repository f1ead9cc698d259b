"""The guided notebooks, executed headless top to bottom against a sandbox tenant, as an analyst would run them.

Every notebook must run without error, show its charts, and be committed without outputs (checked here too).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from toolkit.sandbox_process import SandboxProcess

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def sandbox_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A generated tenant served once; the notebooks' connect() finds it through sandbox.json."""
    base = tmp_path_factory.mktemp("nb")
    tenant = base / "tenant"
    subprocess.run([sys.executable, "-m", "toolkit.sandbox", "generate", "--out", str(tenant), "--seed", "2",
                    "--users", "80", "--days", "21"], check=True, capture_output=True)
    home = base / "home"
    with SandboxProcess.start(tenant, state_dir=home) as process:
        info = home / "sandbox.json"
        info.write_text(json.dumps(asdict(process.endpoints)))
        info.chmod(0o600)
        env = {k: v for k, v in os.environ.items() if not k.startswith("M365_")}
        env.update({"M365_SANDBOX_HOME": str(home), "M365_SANDBOX_TENANT": str(tenant),
                    "M365_TOOLKIT_STORE": str(base / "store"), "M365_TOOLKIT_CONFIG": str(base / "none.toml")})
        yield env


def execute(path: Path, env: dict[str, str]) -> nbformat.NotebookNode:
    notebook = nbformat.read(path, as_version=4)
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # the kernel inherits this environment
    try:
        NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
                       ).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return notebook


def outputs(notebook: nbformat.NotebookNode) -> list[dict]:
    return [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]


def test_notebooks_exist_and_are_committed_without_outputs() -> None:
    names = {p.stem for p in NOTEBOOKS}
    assert {"00_start_here", "01_triage_restricted_users", "02_investigate_user", "03_outbound_spam_volume",
            "04_guided_unblock"} <= names
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") and c.get("execution_count") is None
                   for c in notebook.cells if c.cell_type == "code"), path.name
        nbformat.validate(notebook)


def test_notebooks_are_thin(tmp_path: Path) -> None:
    """Markdown that guides, and code cells of a line or two: no logic in notebooks."""
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        code = [c.source for c in notebook.cells if c.cell_type == "code"]
        assert any(c.cell_type == "markdown" for c in notebook.cells)
        for source in code:
            lines = [x for x in source.splitlines() if x.strip() and not x.strip().startswith("#")]
            assert len(lines) <= 2, f"{path.name}: a cell with logic in it:\n{source}"
            assert not any(x.lstrip().startswith(("for ", "while ", "if ", "def ", "class ")) for x in lines), source


def test_start_here_runs_and_says_the_data_is_simulated(sandbox_env: dict[str, str]) -> None:
    notebook = execute(ROOT / "notebooks" / "00_start_here.ipynb", sandbox_env)
    html = " ".join(str(o.get("data", {}).get("text/html", "")) for o in outputs(notebook))
    assert "SIMULATED DATA" in html
    assert "Preflight for" in html
    assert all(o.get("output_type") != "error" for o in outputs(notebook))


def test_outbound_volume_notebook_draws_its_charts(sandbox_env: dict[str, str]) -> None:
    notebook = execute(ROOT / "notebooks" / "03_outbound_spam_volume.ipynb", sandbox_env)
    figures = [o for o in outputs(notebook) if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(figures) == 3
    for figure in figures:
        spec = figure["data"]["application/vnd.plotly.v1+json"]
        assert spec["data"], "an empty figure"


def test_triage_notebook_shows_a_verdict_per_restricted_user(sandbox_env: dict[str, str]) -> None:
    notebook = execute(ROOT / "notebooks" / "01_triage_restricted_users.ipynb", sandbox_env)
    assert all(o.get("output_type") != "error" for o in outputs(notebook))
    html = " ".join(str(o.get("data", {}).get("text/html", "")) for o in outputs(notebook))
    truth = json.loads((Path(sandbox_env["M365_SANDBOX_TENANT"]) / "truth.json").read_text())
    import re

    for sender, label in truth["labels"].items():
        found = re.search(rf"<td>{re.escape(sender)}</td>\s*<td>(\w+)</td>", html)  # the DataFrame's row
        assert found, f"{sender} is not in the triage table"
        if label["label"] == "compromised":  # the error that counts most: a compromised account called benign
            assert found.group(1) == "compromised", (sender, label["scenario"], found.group(1))


def test_investigation_notebook_draws_every_chart_and_writes_a_report(sandbox_env: dict[str, str]) -> None:
    notebook = execute(ROOT / "notebooks" / "02_investigate_user.ipynb", sandbox_env)
    assert all(o.get("output_type") != "error" for o in outputs(notebook))
    figures = [o for o in outputs(notebook) if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(figures) == 5
    text = " ".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs(notebook))
    assert "Reasons:" in text and "Plan (" in text
    reports = list(Path(sandbox_env["M365_TOOLKIT_STORE"]).rglob("*-report.html"))
    assert reports and "<html" in reports[0].read_text()[:200]
