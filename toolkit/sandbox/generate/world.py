"""Everything the generator knows before it writes a line: tenant, population, the outside world, time zones,
who works from home on which day, who travels where, and the subject lines.

The day-by-day generators (traffic, sign-ins) read from here; the scenarios add to ``trips`` while they plan.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np

from toolkit.sandbox.generate import catalog
from toolkit.sandbox.generate.catalog import City, Country
from toolkit.sandbox.generate.external import ExternalWorld, build_external
from toolkit.sandbox.generate.population import Population, build_population
from toolkit.sandbox.generate.rand import stream
from toolkit.sandbox.generate.tenant import Tenant, build_tenant
from toolkit.sandbox.generate.timefmt import DAY, HOUR


@dataclass(frozen=True)
class Trip:
    """A person working away from home: signs in and mails from the destination, on its hours."""

    user: int
    first_day: int  # epoch day numbers, inclusive
    last_day: int
    country: Country
    city: City
    ip: str
    labelled: bool = False


@dataclass
class Subjects:
    """Subject lines, each JSON-encoded once, with their reply and bounce forms; grouped by who sends them."""

    text: list[str] = field(default_factory=list)
    groups: dict[str, np.ndarray] = field(default_factory=dict)

    def add_group(self, name: str, lines: list[str]) -> None:
        start = len(self.text)
        self.text.extend(lines)
        self.groups[name] = np.arange(start, len(self.text), dtype=np.int32)

    def finish(self) -> None:
        self.json = [json.dumps(s) for s in self.text]
        self.reply_json = [json.dumps(f"RE: {s}") for s in self.text]
        self.bounce_json = [json.dumps(f"Undeliverable: {s}") for s in self.text]


@dataclass
class World:
    seed: int
    tenant: Tenant
    external: ExternalWorld
    pop: Population
    subjects: Subjects
    trips: list[Trip] = field(default_factory=list)
    _offsets: dict[int, np.ndarray] = field(default_factory=dict)
    _remote: dict[int, np.ndarray] = field(default_factory=dict)

    # --- time zones --------------------------------------------------------------------------------------------
    def office_offsets(self, day: int) -> np.ndarray:
        """Seconds east of UTC of each office on epoch day ``day`` (at local noon)."""
        cached = self._offsets.get(day)
        if cached is None:
            noon = datetime.fromtimestamp(day * DAY + 12 * HOUR, UTC)
            cached = np.array([_offset(o.country.tz, noon) for o in self.pop.offices], dtype=np.int64)
            self._offsets[day] = cached
        return cached

    def offset_of(self, tz: str, day: int) -> int:
        return _offset(tz, datetime.fromtimestamp(day * DAY + 12 * HOUR, UTC))

    def user_offsets(self, day: int) -> np.ndarray:
        offsets = self.office_offsets(day)[self.pop.office]
        for trip in self.trips_on(day):
            offsets[trip.user] = self.offset_of(trip.country.tz, day)
        return offsets

    # --- where people are --------------------------------------------------------------------------------------
    def remote(self, day: int) -> np.ndarray:
        """Who works from home on ``day`` (the same answer for mail and sign-ins)."""
        cached = self._remote.get(day)
        if cached is None:
            rng = stream(self.seed, "presence", day)
            cached = rng.random(self.pop.n) < self.pop.remote_p
            if len(self._remote) > 64:
                self._remote.clear()
            self._remote[day] = cached
        return cached

    def active(self, day: int) -> np.ndarray:
        """Who is at work on local day ``day`` (the same answer for mail and sign-ins)."""
        rng = stream(self.seed, "active", day)
        weekend = (day + 3) % 7 >= 5
        return rng.random(self.pop.n) < (self.pop.weekend_p if weekend else self.pop.weekday_p)

    def ips_on(self, day: int) -> list[str]:
        """The public address each mailbox sends and signs in from on local day ``day``."""
        pop = self.pop
        remote = self.remote(day).tolist()
        ips = [svc if svc else (pop.home_ip[u] if remote[u] else pop.offices[int(pop.office[u])].egress_ip)
               for u, svc in enumerate(pop.service_ip)]
        for trip in self.trips_on(day):
            ips[trip.user] = trip.ip
        return ips

    def trips_on(self, day: int) -> list[Trip]:
        return [t for t in self.trips if t.first_day <= day <= t.last_day]

    def trip_of(self, user: int, day: int) -> Trip | None:
        return next((t for t in self.trips if t.user == user and t.first_day <= day <= t.last_day), None)



def _offset(tz: str, when: datetime) -> int:
    delta = when.astimezone(ZoneInfo(tz)).utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


def _numbered(rng: np.random.Generator, templates: tuple[str, ...], variants: int, **values: str) -> list[str]:
    out = []
    for template in templates:
        if "{n}" in template:
            for _ in range(variants):
                out.append(template.format(n=int(rng.integers(10_000, 99_999)), **values))
        else:
            out.append(template.format(**values) if values else template)
    return out


def build_subjects(rng: np.random.Generator, org: str) -> Subjects:
    subjects = Subjects()
    subjects.add_group("internal", list(catalog.INTERNAL_SUBJECTS))
    for profile, templates in catalog.EXTERNAL_SUBJECTS.items():
        subjects.add_group(f"external:{profile}", _numbered(rng, templates, 6))
    subjects.add_group("inbound", _numbered(rng, catalog.INBOUND_SUBJECTS, 8))
    subjects.add_group("erp", [f"Invoice INV-{int(rng.integers(100_000, 999_999))} from {org}" for _ in range(60)]
                       + [f"Order confirmation SO-{int(rng.integers(10_000, 99_999))}" for _ in range(30)])
    subjects.add_group("crm", [f"New lead assigned: {int(rng.integers(1000, 9999))}" for _ in range(20)]
                       + [f"Opportunity {int(rng.integers(1000, 9999))} moved to next stage" for _ in range(20)])
    subjects.add_group("monitoring", [f"[Alert] Disk usage above 90% on SRV{int(rng.integers(10, 99))}"
                                      for _ in range(10)]
                       + ["Backup job completed successfully", "Backup job completed with warnings",
                          "Certificate expires in 30 days", "Nightly sync finished"])
    subjects.add_group("scanner", ["Message from KM_C450i", "Scanned from a Xerox Multifunction Printer",
                                   "Scan to email", "Scanned image from MX-3071", "Attached Image"])
    subjects.add_group("shared", _numbered(rng, ("Re: Case {n}", "Your enquiry {n}", "Order {n} update",
                                                 "Thank you for contacting {org}"), 8, org=org))
    subjects.finish()
    return subjects


def build_world(seed: int, users: int, days: int, now: int) -> World:
    tenant = build_tenant(stream(seed, "tenant"), now, days)
    external = build_external(stream(seed, "external"), users)
    pop = build_population(stream(seed, "population"), tenant, users, external)
    subjects = build_subjects(stream(seed, "subjects"), tenant.org)
    return World(seed=seed, tenant=tenant, external=external, pop=pop, subjects=subjects)
