"""Identity Protection read once for the whole tenant, then sliced per user.

Identity Protection allows about one request per second per tenant and sends no Retry-After (m365-apis.md 5.2, 7),
so reading risky users and risk detections user by user makes them the slowest part of a triage of many restricted
users: two paced requests each. A triage reads both listings once and gives each investigation its slice; the
slice's coverage says where it came from, and is as complete as the tenant-wide read was.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import pandas as pd

from toolkit.coverage import Coverage
from toolkit.sources import graph
from toolkit.sources.base import Pull
from toolkit.sources.graph import UserIdentity
from toolkit.transport import Transport

log = logging.getLogger(__name__)

#: An investigation that starts a little after the read still uses it (detections arriving in between are missed,
#: and the coverage says when the read was made).
SLACK = timedelta(minutes=15)


@dataclass(frozen=True)
class RiskSnapshot:
    """The tenant's risky users and its risk detections in [start, end], read at ``end``."""

    start: datetime
    end: datetime
    risky: Pull
    detections: Pull

    @classmethod
    def read(cls, transport: Transport, start: datetime, end: datetime) -> RiskSnapshot:
        snapshot = cls(start, end, graph.risky_users_all(transport), graph.risk_detections_all(transport, start, end))
        log.info("Identity Protection read once for the tenant: %d risky users, %d detections",
                 len(snapshot.risky.frame), len(snapshot.detections.frame))
        return snapshot

    def covers(self, start: datetime, end: datetime) -> bool:
        return self.start <= start and end <= self.end + SLACK

    def risky_user(self, user: UserIdentity) -> Pull:
        frame = self.risky.frame
        mine = frame[frame["user_id"].astype(str).str.lower() == user.user_id.lower()].reset_index(drop=True)
        return Pull("risky_users", mine, [self._slice(c, len(mine)) for c in self.risky.coverage])

    def risk_detections(self, user: UserIdentity, start: datetime, end: datetime) -> Pull:
        frame = self.detections.frame
        when = frame["detected_time"]
        keep = ((frame["user_id"].astype(str).str.lower() == user.user_id.lower())
                & (when >= pd.Timestamp(start)) & (when <= pd.Timestamp(end)))
        mine = frame[keep].reset_index(drop=True)
        return Pull("risk_detections", mine, [self._slice(c, len(mine), start, min(end, self.end))
                                              for c in self.detections.coverage])

    def _slice(self, entry: Coverage, rows: int, start: datetime | None = None,
               end: datetime | None = None) -> Coverage:
        note = f"this user's part of a tenant-wide read at {self.end:%Y-%m-%d %H:%M} UTC"
        return replace(entry, rows=rows, requests=0, start=start or entry.start, end=end or entry.end,
                       source=f"{entry.source} (tenant-wide)",
                       detail=f"{entry.detail}; {note}" if entry.detail else note)


__all__ = ["SLACK", "RiskSnapshot"]
