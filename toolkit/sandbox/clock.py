"""The simulated "now": the snapshot's moment, moving forward with real time, and advanced on request by tests."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta


class SimClock:
    """Time inside the simulated tenant. Data windows, block releases and unblock delays use it."""

    def __init__(self, start: datetime, rate: float = 1.0):
        self._start = start
        self._origin = time.monotonic()
        self._offset = 0.0
        self._rate = rate
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            elapsed = (time.monotonic() - self._origin) * self._rate + self._offset
        return self._start + timedelta(seconds=elapsed)

    def advance(self, seconds: float) -> datetime:
        """Move the simulated time forward (never back) and return the new now."""
        if seconds < 0:
            raise ValueError(f"the clock only moves forward; got {seconds} seconds")
        with self._lock:
            self._offset += seconds
        return self.now()
