"""Request quotas per service, sized to the documented limits, with windows that ``--quota-scale`` shrinks.

Each bucket is a sliding window log: at most ``limit`` accepted requests in any ``window`` seconds, per key
(the tenant, or the tenant and mailbox for Outlook). A request past the limit gets 429; ``Retry-After`` tells when
the oldest request leaves the window, except for services that really send none (Identity Protection).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class QuotaSpec:
    name: str
    limit: int
    window_seconds: float
    sends_retry_after: bool = True


#: Documented limits (m365-apis.md section 7 and 3.2); ones marked UNVERIFIED are our best reading.
SPECS: dict[str, QuotaSpec] = {
    "message_trace": QuotaSpec("message_trace", 100, 300.0),  # Graph list + detail share it, per tenant
    "exo_message_trace": QuotaSpec("exo_message_trace", 100, 300.0),  # Get-MessageTraceV2/DetailV2
    # UNVERIFIED: whether the Graph and cmdlet message-trace quotas are one bucket; we keep them apart.
    "reports": QuotaSpec("reports", 5, 10.0),  # identity and access reports (signIns)
    "identity_protection": QuotaSpec("identity_protection", 1, 1.0, sends_retry_after=False),
    "security": QuotaSpec("security", 150, 60.0),
    "outlook": QuotaSpec("outlook", 10_000, 600.0),  # per app per mailbox
    "directory": QuotaSpec("directory", 3_000, 10.0),  # UNVERIFIED: directory token bucket, indicative
    # UNVERIFIED: the capture shows Rate-Limit-Limit 30000 with an ISO reset time; the window is not documented.
    "exchange": QuotaSpec("exchange", 30_000, 3600.0),
}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: float | None  # seconds until a request would be accepted (None when allowed)
    remaining: int
    reset_in: float
    spec: QuotaSpec

    def retry_after_header(self, scale: float) -> str | None:
        """The header value: whole seconds at real scale, fractional when windows are scaled down."""
        if self.allowed or not self.spec.sends_retry_after or self.retry_after is None:
            return None
        if scale >= 1.0:
            return str(max(1, math.ceil(self.retry_after)))
        return f"{max(0.001, self.retry_after):.3f}"


class Quotas:
    """All buckets of one sandbox."""

    def __init__(self, scale: float = 1.0, specs: dict[str, QuotaSpec] | None = None):
        if scale <= 0:
            raise ValueError(f"quota scale must be positive, got {scale}")
        self.scale = scale
        self._specs = specs or SPECS
        self._logs: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, service: str, key: str = "") -> Decision:
        """Count one request against ``service`` for ``key`` if the window has room."""
        spec = self._specs[service]
        window = spec.window_seconds * self.scale
        now = time.monotonic()
        with self._lock:
            log = self._logs.setdefault((service, key), deque())
            while log and log[0] <= now - window:
                log.popleft()
            if len(log) >= spec.limit:
                wait = log[0] + window - now
                return Decision(False, wait, 0, wait, spec)
            log.append(now)
            reset = log[0] + window - now
            return Decision(True, None, spec.limit - len(log), reset, spec)

    def reset(self) -> None:
        with self._lock:
            self._logs.clear()
