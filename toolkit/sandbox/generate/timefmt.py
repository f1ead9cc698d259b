"""Instants as the generator handles them (integer seconds since the epoch, UTC) and the texts each API writes.

Graph writes ``2026-11-19T22:41:07Z``, Exchange ``2026-11-19T22:41:07.0000000+00:00`` and the unified audit log
``2026-11-19T22:41:07``. Formatting millions of trace rows one ``strftime`` at a time is slow, so ``TimeTexts``
formats whole arrays from a day prefix and a table of the 86,400 times of day.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

DAY = 86_400
HOUR = 3_600
MINUTE = 60


def to_datetime(t: int) -> datetime:
    return datetime.fromtimestamp(int(t), UTC)


def from_datetime(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp())


def graph_time(t: int) -> str:
    return _TEXTS.one(int(t))


def exchange_time(t: int) -> str:
    return to_datetime(t).strftime("%Y-%m-%dT%H:%M:%S.0000000+00:00")


def audit_time(t: int) -> str:
    return to_datetime(t).strftime("%Y-%m-%dT%H:%M:%S")


def parse_graph(text: str) -> int:
    """Seconds since the epoch of a ``2026-11-19T22:41:07Z`` text."""
    return from_datetime(datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC))


def day_start(t: int) -> int:
    return int(t) - int(t) % DAY


_CLOCK: list[str] = []


def _clock() -> list[str]:
    if not _CLOCK:
        _CLOCK.extend(f"{h:02d}:{m:02d}:{s:02d}Z" for h in range(24) for m in range(60) for s in range(60))
    return _CLOCK


class TimeTexts:
    """Vectorised Graph time texts for arrays of instants."""

    def __init__(self) -> None:
        self._clock = _clock()
        self._days: dict[int, str] = {}

    def one(self, t: int) -> str:
        return self._prefix(t // DAY) + self._clock[t % DAY]

    def _prefix(self, day: int) -> str:
        text = self._days.get(day)
        if text is None:
            text = to_datetime(day * DAY).strftime("%Y-%m-%dT")
            self._days[day] = text
        return text

    def graph(self, times: np.ndarray) -> list[str]:
        days = (times // DAY).tolist()
        secs = (times % DAY).tolist()
        clock = self._clock
        prefix = self._prefix
        return [prefix(d) + clock[s] for d, s in zip(days, secs, strict=True)]


_TEXTS = TimeTexts()
