"""The tenant's identity: organisation, accepted domains, ids, the simulated window and the licences."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from toolkit.sandbox.generate import catalog
from toolkit.sandbox.generate.rand import Ids, pick
from toolkit.sandbox.generate.timefmt import DAY, day_start


@dataclass
class Tenant:
    tenant_id: str
    org: str
    display_name: str
    primary_domain: str
    initial_domain: str
    domains: tuple[str, ...]
    now: int
    days: int
    entra_id_p1: bool = True
    entra_id_p2: bool = True

    @property
    def start(self) -> int:
        """Midnight UTC of the first simulated day."""
        return day_start(self.now) - (self.days - 1) * DAY

    @property
    def today(self) -> int:
        """Midnight UTC of the day that holds ``now``."""
        return day_start(self.now)

    @property
    def first_day(self) -> int:
        return self.start // DAY

    @property
    def last_day(self) -> int:
        return self.now // DAY

    @property
    def system_sender(self) -> str:
        """The mailbox that sends non-delivery reports."""
        return f"{catalog.SYSTEM_SENDER_LOCAL.lower()}@{self.initial_domain}"

    def is_internal(self, address: str) -> bool:
        return address.rsplit("@", 1)[-1].lower() in self.domains


def _slug(name: str) -> str:
    return re.sub(r"[^a-z]", "", name.split()[0].lower())


def build_tenant(rng: np.random.Generator, now: int, days: int) -> Tenant:
    org = pick(rng, catalog.COMPANY_NAMES)
    slug = _slug(org)
    primary = f"{slug}.com"
    initial = f"{slug}.onmicrosoft.com"
    domains = [initial, primary]
    if rng.random() < 0.5:
        domains.append(f"{slug}-group.com")
    return Tenant(
        tenant_id=Ids(rng).uuid(),
        org=org,
        display_name=f"{org} (sandbox)",
        primary_domain=primary,
        initial_domain=initial,
        domains=tuple(domains),
        now=now,
        days=days,
    )
