"""Run the benchmarks, print every figure with its ratio to the baseline run in the same process, and write
``bench/RESULTS.md``.

    python3 run.py bench                      # everything (first run also generates the 50,000-user tenant)
    python -m bench --only pull,tenant-wide   # some stages
    python -m bench --quick                   # smaller pulls and conversions (a smoke run; RESULTS.md says so)
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench.common import RESULTS, Clock, Figure, StageResult, fmt, in_child, machine

STAGES = ("pull", "normalise", "tenant-wide", "triage", "interactive")


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def prepare(stages: set[str]) -> tuple[Path, StageResult]:
    """The cached data the stages need, built when missing; what it cost."""
    from bench import data

    result = StageResult("setup")
    with Clock() as clock:
        big = data.big_tenant()
    result.figures.append(Figure("setup", "50,000-user tenant (generate, or reuse the cached one)", clock.seconds,
                                 "s", note=big.name))
    if stages & {"tenant-wide", "triage"} and not (data.frames_dir(big) / "meta.json").exists():
        with Clock() as clock:
            built, peak = in_child(data.build_frames, str(big))
        note = (f"read JSON {built['read_json_s']:.1f} s, convert {built['convert_s']:.1f} s, write "
                f"{built['write_s']:.1f} s; peak {peak:,.0f} MB")
        result.figures.append(Figure("setup", f"Parquet cache from the snapshot ({built['rows']:,.0f} trace rows)",
                                     clock.seconds, "s", note=note))
    if "triage" in stages and not (data.store_dir(big) / "investigated.json").exists():
        with Clock() as clock:
            in_child(data.build_triage_store, str(big))
        result.figures.append(Figure("setup", "triage store (investigate every restricted user)", clock.seconds,
                                     "s"))
    return big, result


def run_stage(name: str, func: Callable[[], StageResult]) -> StageResult:
    say(f"\n== {name}")
    started = time.perf_counter()
    try:
        result = func()
    except Exception:  # one failed stage must not hide the others' figures
        result = StageResult(name, error=traceback.format_exc())
    result.seconds = time.perf_counter() - started
    for figure in result.figures:
        say("  " + figure.line())
    for note in result.notes:
        if not note.startswith("PROFILE:"):
            say("  - " + note)
    if result.error:
        say(f"  ERROR: {result.error}")
    say(f"  ({result.seconds:.1f} s)")
    return result


def markdown(results: list[StageResult], info: dict[str, str], total: float, quick: bool, argv: list[str]) -> str:
    lines = ["# Benchmark results", "",
             f"Written by `python3 run.py bench{' ' + ' '.join(argv) if argv else ''}` on "
             f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; the whole run took {total / 60:.1f} minutes"
             f"{' (QUICK: reduced sizes, not the figures of record)' if quick else ''}.", "",
             "Ratios compare two runs made in the same benchmark process on the same data, one after the other: "
             "this machine is shared and noisy, so absolute seconds vary from run to run more than ratios do.", "",
             "## Machine", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in info.items()]
    lines += ["", "## Figures", "", "| stage | figure | value | baseline | ratio | target | met |",
              "|---|---|---:|---:|---:|---|---|"]
    for result in results:
        for f in result.figures:
            met = "" if f.met is None else ("yes" if f.met else "**no**")
            lines.append(f"| {f.stage} | {f.name}{' (' + f.note + ')' if f.note else ''} | {fmt(f.value)} {f.unit} | "
                         f"{'' if f.baseline is None else fmt(f.baseline) + ' ' + f.unit} | "
                         f"{'' if f.ratio is None else f'{f.ratio:.2f}x'} | {f.target} | {met} |")
    lines += ["", "## Notes", ""]
    for result in results:
        for note in result.notes:
            if not note.startswith("PROFILE:"):
                lines.append(f"- **{result.stage}**: {note}")
        if result.error:
            lines.append(f"- **{result.stage}** FAILED: `{result.error.strip().splitlines()[-1]}`")
        lines.append(f"- **{result.stage}** took {result.seconds:.1f} s.")
    profiles = [(r.stage, n.removeprefix("PROFILE:")) for r in results for n in r.notes if n.startswith("PROFILE:")]
    if profiles:
        from bench.profile_notes import CHANGES

        lines += ["", "## Profile of the slowest stage", "",
                  "The pull and the notebook triage are the longest stages, but they wait (on the quota, by "
                  "design); the slowest stage that computes is the tenant-wide aggregation, profiled here.", ""]
        for stage, text in profiles:
            lines += [f"cProfile of the toolkit's side of the **{stage}** stage in this run (cumulative time):", "",
                      "```", text.strip(), "```", ""]
        lines += [CHANGES]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(STAGES), help=f"comma-separated stages: {', '.join(STAGES)}")
    parser.add_argument("--quick", action="store_true", help="smaller sizes: a smoke run, not the figures of record")
    parser.add_argument("--no-write", action="store_true", help="print the figures, leave bench/RESULTS.md alone")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    stages = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = stages - set(STAGES)
    if unknown:
        parser.error(f"unknown stage(s) {', '.join(sorted(unknown))}; the stages are {', '.join(STAGES)}")
    started = time.perf_counter()
    info = machine()
    say("Machine: " + "; ".join(f"{k} {v}" for k, v in info.items()))
    from bench import interactive, normalise, pull, tenant_wide, triage

    results: list[StageResult] = []
    holder: dict[str, Path] = {}

    def setup() -> StageResult:
        big, result = prepare(stages)
        holder["big"] = big
        return result

    results.append(run_stage("setup", setup))
    if "big" not in holder:
        sys.stderr.write("setup failed; nothing else can run\n")
        return 1
    big = holder["big"]
    plan: list[tuple[str, Callable[[], StageResult]]] = [
        ("pull", lambda: pull.run(big, args.quick)),
        ("normalise", lambda: normalise.run(big, args.quick)),
        ("tenant-wide", lambda: tenant_wide.run(big, args.quick)),
        ("triage", lambda: triage.run(big, args.quick)),
        ("interactive", lambda: interactive.run(args.quick)),
    ]
    for name, func in plan:
        if name in stages:
            results.append(run_stage(name, func))
    total = time.perf_counter() - started
    say(f"\nAll done in {total / 60:.1f} minutes.")
    if not args.no_write:
        RESULTS.write_text(markdown(results, info, total, args.quick, argv if argv is not None else sys.argv[1:]),
                           encoding="utf-8")
        say(f"Wrote {RESULTS}")
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
