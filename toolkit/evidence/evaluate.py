"""Measure the evidence engine against labelled generated tenants.

    python -m toolkit.evidence.evaluate --seeds 20 [--first 1] [--users 300] [--days 30] [--workers 2]

For each seed it generates a tenant (``python -m toolkit.sandbox generate``; every 4th seed with ``--scenarios all``,
which adds the tenant-wide ``evidence_missing`` story), serves it with the sandbox over HTTPS, triages every
restricted user through the client exactly as an analyst would, and compares each verdict with ``truth.json``.
It prints a confusion matrix per scenario and in total, and exits 1 when a target is missed:

- no compromised account called benign;
- at least 97 % of the restricted users given the right verdict (``inconclusive`` counts as right only where the
  truth says evidence was missing);
- ``inconclusive`` only where the truth says evidence was missing (a licence switched off).

It imports nothing from ``toolkit.sandbox``: the generator and the server run as programs, as they would for a user.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from toolkit.connection import open_connection, sandbox_settings
from toolkit.evidence.triage import triage
from toolkit.sandbox_process import SandboxProcess
from toolkit.tenant import Tenant

log = logging.getLogger(__name__)

TARGET_RIGHT = 0.97
VERDICTS = ("compromised", "benign", "inconclusive")
ALL_EVERY = 4  # every 4th seed adds the tenant-wide evidence_missing story


@dataclass(frozen=True)
class Outcome:
    """One labelled restricted user: the truth and the verdict."""

    seed: int
    user: str
    scenario: str
    label: str
    evidence_missing: bool
    verdict: str
    confidence: float

    @property
    def right(self) -> bool:
        return self.verdict == self.label or (self.verdict == "inconclusive" and self.evidence_missing)


@dataclass
class SeedRun:
    seed: int
    outcomes: list[Outcome] = field(default_factory=list)
    unlabelled: list[str] = field(default_factory=list)
    not_triaged: list[str] = field(default_factory=list)
    generate_seconds: float = 0.0
    triage_seconds: float = 0.0


@dataclass(frozen=True)
class Report:
    """The evaluation's result: the table and whether the targets were met."""

    runs: tuple[SeedRun, ...]
    users: int
    days: int
    wall_seconds: float

    @property
    def outcomes(self) -> pd.DataFrame:
        rows = [{**asdict(o), "right": o.right} for run in self.runs for o in run.outcomes]
        return pd.DataFrame(rows, columns=["seed", "user", "scenario", "label", "evidence_missing", "verdict",
                                           "confidence", "right"])

    def failures(self) -> list[str]:
        frame = self.outcomes
        problems = []
        if not len(frame):
            return ["no restricted user was evaluated"]
        wrong_benign = int(((frame["label"] == "compromised") & (frame["verdict"] == "benign")).sum())
        if wrong_benign:
            problems.append(f"{wrong_benign} compromised account(s) called benign (target 0)")
        right = float(frame["right"].mean())
        if right < TARGET_RIGHT:
            problems.append(f"{right:.1%} right (target {TARGET_RIGHT:.0%}), short by {TARGET_RIGHT - right:.1%}")
        stray = int(((frame["verdict"] == "inconclusive") & ~frame["evidence_missing"]).sum())
        if stray:
            problems.append(f"{stray} inconclusive verdict(s) where no evidence was missing (target 0)")
        missed = [u for run in self.runs for u in run.not_triaged]
        if missed:
            problems.append(f"{len(missed)} labelled restricted user(s) missing from the triage: {', '.join(missed)}")
        return problems

    def markdown(self) -> str:
        frame = self.outcomes
        seeds = sorted(run.seed for run in self.runs)
        lines = [f"Seeds {_ranges(seeds)} ({len(seeds)} tenants of {self.users} users over {self.days} days; every "
                 f"{ALL_EVERY}th seed with the tenant-wide `evidence_missing` story), {len(frame)} restricted users.",
                 "", "| scenario | truth | users | compromised | benign | inconclusive | right |",
                 "|---|---|---:|---:|---:|---:|---:|"]
        for (scenario, label), rows in frame.groupby(["scenario", "label"], sort=True):
            counts = rows["verdict"].value_counts()
            lines.append(f"| {scenario} | {label} | {len(rows)} | " + " | ".join(
                str(int(counts.get(v, 0))) for v in VERDICTS) + f" | {rows['right'].mean():.0%} |")
        for label, rows in frame.groupby("label", sort=True):
            counts = rows["verdict"].value_counts()
            lines.append(f"| **all {label}** | {label} | {len(rows)} | " + " | ".join(
                str(int(counts.get(v, 0))) for v in VERDICTS) + f" | {rows['right'].mean():.1%} |")
        counts = frame["verdict"].value_counts()
        lines.append(f"| **total** | | {len(frame)} | " + " | ".join(str(int(counts.get(v, 0))) for v in VERDICTS)
                     + f" | {frame['right'].mean():.1%} |")
        missing = frame[frame["evidence_missing"]]
        wrong_benign = int(((frame["label"] == "compromised") & (frame["verdict"] == "benign")).sum())
        stray = int(((frame["verdict"] == "inconclusive") & ~frame["evidence_missing"]).sum())
        lines += ["", f"- compromised called benign: {wrong_benign} (target 0)",
                  f"- right: {frame['right'].mean():.1%} (target at least {TARGET_RIGHT:.0%}; `inconclusive` counts "
                  "as right only where the truth says evidence was missing)",
                  f"- inconclusive where no evidence was missing: {stray} (target 0); in the tenants without the "
                  f"licences: {int((missing['verdict'] == 'inconclusive').sum())} of {len(missing)} inconclusive, "
                  f"{int((missing['verdict'] == missing['label']).sum())} given their true label",
                  f"- time: generating {sum(r.generate_seconds for r in self.runs):.0f} s, collecting and triaging "
                  f"{sum(r.triage_seconds for r in self.runs):.0f} s "
                  f"({sum(r.triage_seconds for r in self.runs) / max(len(frame), 1):.1f} s per user), "
                  f"{self.wall_seconds:.0f} s wall clock"]
        unlabelled = [u for run in self.runs for u in run.unlabelled]
        if unlabelled:
            lines.append(f"- restricted users without a label (not scored): {len(unlabelled)}")
        return "\n".join(lines)


def _ranges(values: Sequence[int]) -> str:
    if not values:
        return "none"
    parts, start, prev = [], values[0], values[0]
    for value in [*values[1:], None]:
        if value is not None and value == prev + 1:
            prev = value
            continue
        parts.append(f"{start}-{prev}" if prev != start else f"{start}")
        if value is not None:
            start = prev = value
    return ", ".join(parts)


def generate(folder: Path, seed: int, users: int, days: int) -> dict[str, object]:
    """Generate one tenant (as a program) and return its truth; a folder already generated is reused."""
    if (folder / "tenant.json").is_file() and (folder / "truth.json").is_file():
        return json.loads((folder / "truth.json").read_text())  # type: ignore[no-any-return]
    command = [sys.executable, "-m", "toolkit.sandbox", "generate", "--out", str(folder), "--seed", str(seed),
               "--users", str(users), "--days", str(days)]
    if seed % ALL_EVERY == 0:
        command += ["--scenarios", "all"]
    subprocess.run(command, check=True, capture_output=True, text=True)
    truth: dict[str, object] = json.loads((folder / "truth.json").read_text())
    return truth


def run_seed(seed: int, users: int, days: int, workdir: Path, investigate_days: int = 14) -> SeedRun:
    """Generate, serve, triage and score one seed."""
    run = SeedRun(seed)
    folder = workdir / f"tenant-s{seed}-u{users}-d{days}"
    started = time.perf_counter()
    truth = generate(folder, seed, users, days)
    run.generate_seconds = time.perf_counter() - started
    licences = truth.get("licences") or {}
    missing = isinstance(licences, dict) and not all(bool(v) for v in licences.values())
    labels: dict[str, dict[str, object]] = truth.get("labels", {})  # type: ignore[assignment]
    started = time.perf_counter()
    process = SandboxProcess.start(folder, quota_scale=0.01, state_dir=workdir / f"state-{seed}")
    try:
        tenant = Tenant(open_connection(sandbox_settings(process.endpoints)), quiet=True)
        table = triage(tenant, days=investigate_days)
    finally:
        process.stop()
    run.triage_seconds = time.perf_counter() - started
    triaged = {row["user"]: row for row in table.to_dict("records")}
    for user, label in labels.items():
        if not label.get("restricted", True):
            continue
        row = triaged.get(user.lower())
        if row is None:
            run.not_triaged.append(f"{user} (seed {seed})")
            continue
        run.outcomes.append(Outcome(seed, user.lower(), str(label["scenario"]), str(label["label"]), missing,
                                    str(row["verdict"]), float(row["confidence"])))
    run.unlabelled = sorted(set(triaged) - {u.lower() for u in labels})
    log.info("seed %d: %d users, %.0f s", seed, len(run.outcomes), run.generate_seconds + run.triage_seconds)
    return run


def evaluate(seeds: Sequence[int], *, users: int = 300, days: int = 30, workers: int = 1,
             workdir: Path | None = None) -> Report:
    """Run every seed (``workers`` at a time) and gather the report."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="m365-evaluate-") as scratch:
        root = workdir or Path(scratch)
        root.mkdir(parents=True, exist_ok=True)
        if workers <= 1:
            runs = [run_seed(seed, users, days, root) for seed in seeds]
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                runs = list(pool.map(run_seed, seeds, [users] * len(seeds), [days] * len(seeds),
                                     [root] * len(seeds)))
    return Report(tuple(runs), users, days, time.perf_counter() - started)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m toolkit.evidence.evaluate",
                                     description="Measure the evidence engine on labelled generated tenants.")
    parser.add_argument("--seeds", type=int, required=True, help="how many seeds")
    parser.add_argument("--first", type=int, default=1, help="the first seed (default 1)")
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--workers", type=int, default=1, help="tenants evaluated at once")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the generated tenants in this folder (and reuse those already there)")
    parser.add_argument("--outcomes", type=Path, default=None, help="also write every outcome as CSV here")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("toolkit.connection", "toolkit.tenant", "toolkit.sources"):
        logging.getLogger(noisy).setLevel(logging.ERROR)  # the sandbox banner and per-user gaps, once per tenant
    seeds = list(range(args.first, args.first + args.seeds))
    report = evaluate(seeds, users=args.users, days=args.days, workers=args.workers, workdir=args.keep)
    sys.stdout.write(report.markdown() + "\n")
    if args.outcomes is not None:
        report.outcomes.to_csv(args.outcomes, index=False)
    problems = report.failures()
    if problems:
        sys.stdout.write("TARGETS MISSED: " + "; ".join(problems) + "\n")
        return 1
    sys.stdout.write("All targets met.\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
