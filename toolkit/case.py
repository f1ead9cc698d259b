"""One investigation: the frames for one user, the coverage ledger, and where it is stored.

A case is collected once (``Tenant.investigate``) and stored as Parquet; reopening it (``Case.load``) needs no
network, so every analysis, chart and report can run offline over it, and a test can replay it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from toolkit import frames
from toolkit.coverage import Ledger
from toolkit.sources.graph import UserIdentity
from toolkit.store import default_store_dir, read_case, safe_name, write_case

log = logging.getLogger(__name__)

#: The kinds a full investigation collects, in the order they are pulled.
CASE_KINDS = ("users", "restricted", "policy", "policy_rules", "mailbox", "trace", "signins", "risky_users",
              "risk_detections", "rules", "auth_methods", "grants", "alerts", "audit")


@dataclass
class Case:
    """The evidence about one user over one window."""

    user: UserIdentity
    tenant_id: str
    start: datetime
    end: datetime
    frames: dict[str, pd.DataFrame]
    ledger: Ledger
    simulated: bool = False
    accepted_domains: tuple[str, ...] = ()
    collected: datetime = field(default_factory=lambda: datetime.now(UTC))
    path: Path | None = None

    def __post_init__(self) -> None:
        for kind in CASE_KINDS:
            self.frames.setdefault(kind, frames.empty(kind))

    def __getattr__(self, name: str) -> pd.DataFrame:
        # case.trace, case.signins ... (only for frame kinds; anything else is a normal AttributeError)
        if name in CASE_KINDS or name == "trace_details":
            frames_ = self.__dict__.get("frames", {})
            if name in frames_:
                return frames_[name]
        raise AttributeError(name)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k} {len(v)}" for k, v in self.frames.items() if len(v))
        where = " SIMULATED" if self.simulated else ""
        return (f"Case({self.user.upn}{where}, {self.start:%Y-%m-%d} to {self.end:%Y-%m-%d}, {sizes}; "
                f"{len(self.ledger.gaps())} gap(s))")

    def gaps(self) -> list[str]:
        """What could not be collected, in plain words."""
        return [entry.sentence() for entry in self.ledger.gaps()]

    def meta(self) -> dict[str, Any]:
        return {
            "user": {"user_id": self.user.user_id, "upn": self.user.upn, "display_name": self.user.display_name,
                     "mail": self.user.mail, "addresses": list(self.user.addresses)},
            "tenant_id": self.tenant_id,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "simulated": self.simulated,
            "accepted_domains": list(self.accepted_domains),
            "collected": self.collected.isoformat(),
        }

    def save(self, store_dir: Path | None = None) -> Path:
        """Store the case as Parquet under ``store_dir/<tenant>/<user>/<collected>``; returns the folder."""
        root = store_dir or default_store_dir()
        folder = root / safe_name(self.tenant_id) / safe_name(self.user.upn) / self.collected.strftime(
            "%Y%m%dT%H%M%S%fZ")
        self.path = write_case(folder, self.frames, self.ledger.to_frame(), self.meta())
        return self.path

    @classmethod
    def load(cls, path: Path) -> Case:
        """Reopen a stored case (offline), every frame validated against the contract."""
        stored = read_case(path)
        meta = stored.meta
        user = meta["user"]
        identity = UserIdentity(user["user_id"], user["upn"], user.get("display_name"), user.get("mail"),
                                tuple(user["addresses"]))
        loaded = {kind: frames.validate(kind, frame) for kind, frame in stored.frames.items()}
        return cls(
            user=identity,
            tenant_id=meta["tenant_id"],
            start=datetime.fromisoformat(meta["start"]),
            end=datetime.fromisoformat(meta["end"]),
            frames=loaded,
            ledger=Ledger.from_frame(stored.ledger),
            simulated=bool(meta.get("simulated")),
            accepted_domains=tuple(meta.get("accepted_domains", [])),
            collected=datetime.fromisoformat(meta["collected"]),
            path=path,
        )

    @classmethod
    def latest(cls, tenant_id: str, user: str, store_dir: Path | None = None) -> Case | None:
        """The most recently collected stored case for this user, or None."""
        folder = (store_dir or default_store_dir()) / safe_name(tenant_id) / safe_name(user)
        if not folder.is_dir():
            return None
        candidates = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        return cls.load(candidates[-1]) if candidates else None
