"""The ledger of an offline case: an entry per file and kind (its encoding, the rows kept and why others were left
out, the columns that export does not carry, its quirks), and "no file given" for every kind no file fed.

The columns are written ``not in this export: [a, b]`` so :func:`not_carried` can read them back from any ledger,
stored cases included.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from toolkit.coverage import Coverage, Ledger
from toolkit.sources.exports.detect import FORMATS
from toolkit.sources.exports.selection import Contribution

BACKEND = "file"
_NOT_CARRIED = re.compile(r"not in this export: \[([^\]]*)\]")


def not_carried(ledger: Ledger) -> dict[str, set[str]]:
    """Per frame kind, the columns some file of the case does not carry (as the ledger names them)."""
    out: dict[str, set[str]] = {}
    for record in ledger:
        for match in _NOT_CARRIED.finditer(record.detail):
            out.setdefault(record.kind, set()).update(c.strip() for c in match.group(1).split(",") if c.strip())
    return out


def feeds(kind: str) -> str:
    titles = [f.title for f in FORMATS if kind in f.kinds]
    if kind in ("rules", "mailbox"):
        titles.append("an audit log export (for its history)")
    return "; ".join(titles) if titles else "none"


def entry(kind: str, c: Contribution, start: datetime, end: datetime, why: str, extra: Sequence[str] = (),
           *, partial: bool = False) -> Coverage:
    result = c.result
    missing = tuple(result.missing.get(kind, ()))
    parts = [result.encoding, f"{len(c.items)} of {c.read} row(s) kept"]
    if why:
        parts.append(f"left out: {why}")
    if missing:
        parts.append(f"not in this export: [{', '.join(missing)}]")
    parts += [n for n in (*result.notes, *extra) if n]
    archive = any("archived" in n for n in result.notes)
    status = "partial" if missing or partial or archive else "complete"
    return Coverage(kind, result.source_text, BACKEND, status, rows=len(c.items), start=start, end=end,
                    reason="unsupported" if missing else "", detail="; ".join(parts))


def unavailable(kind: str, start: datetime, end: datetime, detail: str) -> Coverage:
    return Coverage(kind, "exported files", BACKEND, "unavailable", start=start, end=end, reason="not_found",
                    detail=detail)


def no_file(kind: str) -> str:
    return f"no file given (accepted for {kind}: {feeds(kind)})"
