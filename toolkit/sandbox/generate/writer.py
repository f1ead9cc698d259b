"""Writing a snapshot folder safely: everything goes to a temporary folder beside the target, which is renamed
into place only when complete, so a failure never leaves a half-written snapshot where a sandbox could load it.
Big files are streamed in time order through ``TimeOrderedSink``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import numpy as np


def check_target(out: Path) -> None:
    """The target must not exist, or be an empty folder."""
    if out.exists():
        if not out.is_dir():
            raise FileExistsError(f"{out} exists and is not a folder")
        if any(out.iterdir()):
            raise FileExistsError(f"{out} is not empty; give a new or empty folder")


class LineFile:
    """A JSON Lines file that counts its lines."""

    def __init__(self, path: Path):
        self.path = path
        self.handle: TextIO = path.open("w", encoding="utf-8", newline="\n")
        self.count = 0

    def write_lines(self, lines: Iterable[str]) -> None:
        chunk = list(lines)
        if chunk:
            self.handle.write("\n".join(chunk))
            self.handle.write("\n")
            self.count += len(chunk)

    def write_rows(self, rows: Iterable[dict[str, Any]]) -> None:
        self.write_lines(json.dumps(row) for row in rows)

    def close(self) -> None:
        self.handle.close()


class TimeOrderedSink:
    """Accepts lines in chunks, each with its instant; writes them in time order (stable within a second) up to a
    watermark, so a file that is produced day by day comes out sorted without being held in memory."""

    def __init__(self, target: LineFile):
        self.target = target
        self.times: list[np.ndarray] = []
        self.lines: list[list[str]] = []

    def add(self, times: np.ndarray, lines: list[str]) -> None:
        if len(lines):
            self.times.append(np.asarray(times, dtype=np.int64))
            self.lines.append(lines)

    def flush(self, watermark: int | None = None) -> None:
        if not self.lines:
            return
        times = np.concatenate(self.times)
        lines = [line for chunk in self.lines for line in chunk]
        order = np.argsort(times, kind="stable")
        if watermark is None:
            ready = order
            rest = np.zeros(0, dtype=np.int64)
        else:
            sorted_times = times[order]
            cut = int(np.searchsorted(sorted_times, watermark, side="left"))
            ready, rest = order[:cut], np.sort(order[cut:])
        self.target.write_lines(lines[i] for i in ready.tolist())
        self.times = [times[rest]] if rest.size else []
        self.lines = [[lines[i] for i in rest.tolist()]] if rest.size else []


class SnapshotWriter:
    """The temporary folder, its files, and the final rename."""

    def __init__(self, out: Path):
        check_target(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        self.out = out
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
        self.files: dict[str, LineFile] = {}
        self.counts: dict[str, int] = {}

    def jsonl(self, name: str) -> LineFile:
        handle = self.files.get(name)
        if handle is None:
            handle = LineFile(self.tmp / f"{name}.jsonl")
            self.files[name] = handle
        return handle

    def json(self, name: str, value: Any) -> None:
        (self.tmp / name).write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")

    def commit(self) -> dict[str, int]:
        for name, handle in self.files.items():
            handle.close()
            self.counts[name] = handle.count
        check_target(self.out)
        if self.out.exists():
            self.out.rmdir()
        os.replace(self.tmp, self.out)
        return dict(sorted(self.counts.items()))

    def abort(self) -> None:
        for handle in self.files.values():
            if not handle.handle.closed:
                handle.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> SnapshotWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if kind is not None:
            self.abort()
