"""What every benchmark shares: where the cache lives, the machine's description, figures, and running a stage in
a child process that reports its own peak memory (so one stage's memory never counts against another)."""

from __future__ import annotations

import multiprocessing
import os
import platform
import resource
import subprocess
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
CACHE = BENCH / ".cache"
RESULTS = BENCH / "RESULTS.md"
SEED = 1
USERS = 50_000
DAYS = 30


@dataclass
class Figure:
    """One measured figure, its target (if any) and its ratio to the baseline run in the same process."""

    stage: str
    name: str
    value: float
    unit: str
    target: str = ""
    met: bool | None = None
    baseline: float | None = None
    ratio: float | None = None
    note: str = ""

    def line(self) -> str:
        text = f"[{self.stage}] {self.name}: {fmt(self.value)} {self.unit}"
        if self.baseline is not None:
            text += f" (baseline {fmt(self.baseline)} {self.unit})"
        if self.ratio is not None:
            text += f", ratio {self.ratio:.2f}x"
        if self.target:
            text += f"; target {self.target}: {'MET' if self.met else 'NOT MET'}"
        return text


@dataclass
class StageResult:
    stage: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str = ""


def fmt(value: float) -> str:
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:,.1f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """This process's resident memory now, in MB."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _child(queue: Any, func: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        result = func(*args)
        queue.put(("ok", result, peak_rss_mb()))
    except BaseException:  # report, never hang the parent
        queue.put(("error", traceback.format_exc(), peak_rss_mb()))


def in_child(func: Callable[..., Any], *args: Any, timeout: float = 600) -> tuple[Any, float]:
    """Run ``func(*args)`` in a fresh (spawned) Python process; returns its result and that process's peak RSS (MB)."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue, func, args))
    proc.start()
    try:
        status, result, peak = queue.get(timeout=timeout)
    finally:
        proc.join(timeout=30)
        if proc.is_alive():
            proc.kill()
    if status != "ok":
        raise RuntimeError(f"{getattr(func, '__name__', func)} failed in its child process:\n{result}")
    return result, peak


class Clock:
    """``with Clock() as c: ...; c.seconds``"""

    def __enter__(self) -> Clock:
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def machine() -> dict[str, str]:
    """The machine and the versions the figures were measured with."""
    import numpy
    import pandas
    import pyarrow

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kb = int(next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")).split()[1])
        memory = f"{kb / 1024 / 1024:.1f} GB"
    except (OSError, StopIteration, ValueError):
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        commit += " (with uncommitted changes)" if dirty else ""
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores (load average at start {os.getloadavg()[0]:.2f})",
        "memory": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "pandas": pandas.__version__,
        "pyarrow": pyarrow.__version__,
        "numpy": numpy.__version__,
        "commit": commit,
    }
