"""``python -m toolkit triage``: JSON Lines and the table, on tests/data/tenant_small."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SMALL_TENANT = Path(__file__).parent / "data" / "tenant_small"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "toolkit", "triage", *args], capture_output=True, text=True,
                          timeout=240)


def test_json_lines_one_per_restricted_user() -> None:
    done = _run("--tenant", str(SMALL_TENANT), "--json")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert {r["user"]: r["verdict"] for r in rows} == {"alice@contoso.com": "compromised",
                                                      "bob@contoso.com": "benign"}
    for row in rows:
        assert {"user", "verdict", "confidence", "reasons", "next_step"} <= set(row)
        assert 0 < row["confidence"] < 1 and row["reasons"] and row["next_step"]
    alice = next(r for r in rows if r["user"] == "alice@contoso.com")
    assert alice["next_step"] == "Reset the password" and alice["block_type"] == "BlockUser"
    bob = next(r for r in rows if r["user"] == "bob@contoso.com")
    assert bob["release_at"] == "2026-11-21T00:00:00+00:00"
    assert "SIMULATED DATA" in done.stderr  # the banner goes to stderr, never into the JSON


def test_the_table() -> None:
    done = _run("--tenant", str(SMALL_TENANT))
    assert done.returncode == 0, done.stderr
    assert "alice@contoso.com  COMPROMISED" in done.stdout and "bob@contoso.com  BENIGN" in done.stdout
    assert "next: Reset the password" in done.stdout


def test_a_folder_that_is_not_a_tenant() -> None:
    done = _run("--tenant", str(SMALL_TENANT / "nothing-here"))
    assert done.returncode == 2 and "not a tenant snapshot folder" in done.stderr
