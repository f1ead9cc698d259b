"""The project's set-up files agree: conda and pip list the same packages, and CI runs the README's test command."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def names(requirements: list[str]) -> dict[str, str]:
    result = {}
    for item in requirements:
        match = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(.*)", item)
        assert match, item
        result[match.group(1).lower().replace("_", "-")] = match.group(2).replace(" ", "")
    return result


def conda_requirements() -> dict[str, str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    deps = []
    in_deps = False
    for line in lines:
        if line.startswith("dependencies:"):
            in_deps = True
            continue
        if in_deps:
            match = re.match(r"  - (\S.*)$", line)
            if match and not match.group(1).startswith(("pip", "python")):
                deps.append(match.group(1))
    return names(deps)


def test_environment_yml_matches_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip = names(project["dependencies"] + project["optional-dependencies"]["dev"])
    assert conda_requirements() == pip


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    commands = re.findall(r"^\s*(python3 run\.py \w+)\s*$", readme, flags=re.MULTILINE)
    assert "python3 run.py lab" in commands and "python3 run.py test" in commands
    assert re.search(r"^\s*(exec )?python3 run\.py test\s*$", ci, flags=re.MULTILINE)
