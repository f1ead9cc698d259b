"""The coverage ledger: for every pull, what was asked, what came back, and whether it is the whole answer.

An investigation is only as good as its gaps are honest. Each entry says which source and back end answered, for
which window, how many rows, and, when the answer is not complete, why in plain words: a licence or permission is
missing, the service throttled past the retry budget, the window reaches past retention, a cap was hit, or a call
failed. The evidence engine reads the ledger to say what it could not see.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Literal

import pandas as pd

Status = Literal["complete", "partial", "unavailable", "failed"]
Reason = Literal["", "licence", "permission", "throttled", "retention", "cap", "not_found", "error", "unsupported"]


@dataclass(frozen=True)
class Coverage:
    """One pull's account of itself."""

    kind: str  # the frame kind it fed ("trace", "signins", ...)
    source: str  # what was called, e.g. "graph auditLogs/signIns"
    backend: str  # "graph", "exchange", "exchange_v2", "file", "cache"
    status: Status
    rows: int = 0
    start: datetime | None = None
    end: datetime | None = None
    reason: Reason = ""
    detail: str = ""  # the plain-words explanation (and the request id when a call failed)
    requests: int = 0

    @property
    def complete(self) -> bool:
        return self.status == "complete"

    def sentence(self) -> str:
        window = ""
        if self.start is not None and self.end is not None:
            window = f" {self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} UTC"
        if self.complete:
            return f"{self.kind}: {self.rows} rows from {self.source}{window}, complete."
        because = f" ({self.detail})" if self.detail else ""
        return f"{self.kind}: {self.status}{window} from {self.source}, {self.rows} rows{because}."


@dataclass
class Ledger:
    """All coverage entries of one case or pull."""

    entries: list[Coverage] = field(default_factory=list)

    def add(self, entry: Coverage) -> Coverage:
        self.entries.append(entry)
        return entry

    def extend(self, other: Ledger) -> None:
        self.entries.extend(other.entries)

    def __iter__(self) -> Iterator[Coverage]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def for_kind(self, kind: str) -> list[Coverage]:
        return [e for e in self.entries if e.kind == kind]

    def gaps(self) -> list[Coverage]:
        """Entries that are not complete: the evidence that is missing or partial."""
        return [e for e in self.entries if not e.complete]

    def to_frame(self) -> pd.DataFrame:
        columns = [f for f in Coverage.__dataclass_fields__]
        frame = pd.DataFrame([asdict(e) for e in self.entries], columns=columns)
        for name in ("start", "end"):
            frame[name] = pd.to_datetime(frame[name], utc=True)
        frame["rows"] = frame["rows"].astype("int64")
        frame["requests"] = frame["requests"].astype("int64")
        return frame

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Ledger:
        entries = []
        for record in frame.to_dict("records"):
            for name in ("start", "end"):
                value = record.get(name)
                record[name] = None if value is None or pd.isna(value) else pd.Timestamp(value).to_pydatetime()
            entries.append(Coverage(**record))
        return cls(entries)
