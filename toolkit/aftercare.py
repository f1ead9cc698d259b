"""After an unblock: is the block gone, and is the user sending like before the incident or bursting again?

    care = aftercare(ctx, tenant, case, hours=3)       # one check now
    watch = Watch(lambda: aftercare(ctx, tenant, case, hours=1), duration=timedelta(hours=3),
                  every=timedelta(minutes=10), on_check=print)
    watch.start()                                      # checks in the background until the time is up
    watch.stop()                                       # or until stopped; watch.checks holds every result

A burst is more recipients in the window than three times the user's usual count for such a window before the
incident, and at least 20. The usual count comes from the case's own trace before the burst (the median recipients per
day over the case's days before it, scaled to the window), so it is the user's own baseline, not a tenant-wide one.
A check whose message trace is incomplete fails instead of answering "no burst".
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from toolkit.action_core import ReadFailed
from toolkit.action_mail import UnblockCheck, check_unblock

log = logging.getLogger(__name__)

#: A burst: more than this many times the usual recipients for the window ...
BURST_FACTOR = 3.0
#: ... and at least this many recipients.
BURST_FLOOR = 20


@dataclass(frozen=True)
class Aftercare:
    """One check after an unblock."""

    check: UnblockCheck
    hours: int
    recent_recipients: int
    baseline_recipients: float  # usual recipients in a window of ``hours`` before the incident
    burst: bool
    at: datetime | None = None  # the service's time of the check

    @property
    def in_effect(self) -> bool:
        return self.check.in_effect

    def describe(self) -> str:
        lines = [self.check.detail,
                 f"Recipients in the last {self.hours} h: {self.recent_recipients} "
                 f"(usual for {self.hours} h: {self.baseline_recipients:.0f})."]
        if self.burst:
            lines.append("WARNING: the burst has resumed. The account may still be controlled by someone else: "
                         "block sign-in and investigate again before it is restricted again.")
        else:
            lines.append("No burst: sending looks normal.")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.describe()


def usual_recipients(trace: pd.DataFrame | None, addresses: Iterable[str], hours: int, start: datetime,
                     before: datetime) -> float:
    """The median number of recipients per day the user reached (from any of ``addresses``) over the whole days
    from ``start`` up to ``before`` (the start of the incident's burst), scaled to ``hours`` hours. Days without mail
    count as zero; the burst itself never counts."""
    first, last = pd.Timestamp(start).floor("D"), pd.Timestamp(before).floor("D")
    days = pd.date_range(first, last, freq="D", inclusive="left")
    if not len(days):
        return 0.0
    if trace is None or trace.empty or "sender" not in trace:
        return 0.0
    names = {a.lower() for a in addresses}
    received = pd.to_datetime(trace["received"], utc=True)
    mine = trace["sender"].astype(str).str.lower().isin(names) & (received >= first) & (received < last)
    per_day = received[mine].dt.floor("D").value_counts().reindex(days, fill_value=0)
    return float(per_day.median()) * hours / 24


def is_burst(recent: int, baseline: float) -> bool:
    return recent > max(BURST_FACTOR * baseline, BURST_FLOOR)


def aftercare(ctx: Any, tenant: Any, case: Any, hours: int = 3, *, burst_start: datetime | None = None) -> Aftercare:
    """Read the Restricted entities list again (journaling when the unblock took effect), and count the case
    user's recipients (from any of their addresses) in the last ``hours`` hours of message trace against their
    usual count before ``burst_start`` (default: the evidence profile's, 24 hours before the restriction).

    Raises ``ReadFailed`` when the message trace cannot be read completely: "no burst" must never stand for "could
    not look".
    """
    if hours < 1:
        raise ValueError(f"hours must be at least 1, got {hours}")
    user = case.user
    sender = (user.primary_smtp or user.upn).lower()
    addresses = tuple(dict.fromkeys(a.lower() for a in (sender, user.upn, *user.addresses) if a))
    check = check_unblock(ctx, sender)
    end = tenant.now()
    pull = tenant.trace(end - timedelta(hours=hours), end, senders=addresses)
    if not pull.complete:
        gaps = "; ".join(c.sentence() for c in pull.coverage if not c.complete)
        raise ReadFailed(f"the message trace of the last {hours} h could not be read, so a resumed burst would not "
                         f"be seen: {gaps}")
    recent = pull.frame
    count = int(recent["sender"].astype(str).str.lower().isin(addresses).sum()) if len(recent) else 0
    if burst_start is None:
        from toolkit.evidence.profile import build_profile

        burst_start = build_profile(case).burst_start
    baseline = usual_recipients(case.frames.get("trace"), addresses, hours, case.start, burst_start)
    return Aftercare(check, hours, count, baseline, is_burst(count, baseline), at=end)


@dataclass
class Watch:
    """Repeat a check every ``every`` for ``duration`` in a background thread; ``on_check`` gets each result (an
    :class:`Aftercare`, or the exception a check raised), ``on_end`` is called when the watch ends (time up or
    stopped). The first check runs at once, the last at the end."""

    check: Callable[[], Aftercare]
    duration: timedelta
    every: timedelta
    on_check: Callable[[Aftercare | Exception], None] | None = None
    on_end: Callable[[], None] | None = None
    checks: list[Aftercare] = field(default_factory=list)
    errors: list[Exception] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.every <= timedelta(0) or self.duration < timedelta(0):
            raise ValueError(f"a watch needs a positive interval and a duration, got every={self.every}, "
                             f"duration={self.duration}")

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def burst_seen(self) -> bool:
        return any(c.burst for c in self.checks)

    def start(self) -> Watch:
        if self.running:
            raise RuntimeError("the watch is already running")
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="aftercare-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the watch to end; True when it has."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    def _once(self) -> None:
        try:
            result: Aftercare | Exception = self.check()
        except Exception as exc:  # a failed check is reported, and the watch goes on
            log.warning("aftercare check failed: %s", exc)
            self.errors.append(exc)
            result = exc
        else:
            self.checks.append(result)
            if result.burst:
                log.warning("aftercare: the burst has resumed (%d recipients in %d h)", result.recent_recipients,
                            result.hours)
        if self.on_check is not None:
            try:
                self.on_check(result)
            except Exception:  # the watcher's display must not end the watch
                log.exception("aftercare display failed")

    def _loop(self) -> None:
        seconds, step = self.duration.total_seconds(), self.every.total_seconds()
        waited = 0.0
        self._once()
        while waited < seconds and not self._stop.is_set():
            pause = min(step, seconds - waited)
            if self._stop.wait(pause):
                break
            waited += pause
            self._once()
        if self.on_end is not None:
            try:
                self.on_end()
            except Exception:
                log.exception("aftercare display failed")


__all__ = ["BURST_FACTOR", "BURST_FLOOR", "Aftercare", "Watch", "aftercare", "is_burst", "usual_recipients"]
