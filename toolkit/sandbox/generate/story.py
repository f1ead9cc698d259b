"""A planted incident (``Story``) and what a scenario has at hand while it plans one (``PlanContext``).

A scenario picks a sender, decides what happens to it and when, and records every trace it leaves in the other
sources (sign-ins, audit records, rules, grants, risk). The restriction itself is not decided by the scenario:
``simulate`` replays the sender's mail against its effective policy, and ``finish`` writes the block, the alerts
and whatever follows it.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from toolkit.sandbox.generate import catalog
from toolkit.sandbox.generate.catalog import City, Country, SignInApp
from toolkit.sandbox.generate.limits import Block, SpamRule
from toolkit.sandbox.generate.policy import Limits, Policies
from toolkit.sandbox.generate.population import PERSON, Population, ip_in
from toolkit.sandbox.generate.rand import Ids, pick, stream
from toolkit.sandbox.generate.records import NO_RISK, SignIn, azure_ad, exchange_admin
from toolkit.sandbox.generate.signins import SignInModel
from toolkit.sandbox.generate.tenant import Tenant
from toolkit.sandbox.generate.timefmt import DAY, MINUTE
from toolkit.sandbox.generate.traces import PlannedMessage, internal_message_id, unknown_ip
from toolkit.sandbox.generate.world import World


@dataclass
class Attacker:
    """Where an attacker operates from."""

    country: Country
    city: City
    ips: list[str]
    network: str
    os: str
    browser: str


@dataclass
class Story:
    scenario: str
    label: str  # "compromised" or "benign"
    victim: int
    address: str
    limits: Limits
    spam_rule: SpamRule | None = None
    sends: list[PlannedMessage] = field(default_factory=list)  # mail the sender sends (counts toward limits)
    other_messages: list[PlannedMessage] = field(default_factory=list)  # mail to or about it (lures, replies)
    signins: list[SignIn] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    extra_alerts: list[tuple[str, int, int]] = field(default_factory=list)  # (title, created, activity) to raise
    risk_detections: list[dict[str, Any]] = field(default_factory=list)
    risky_user: dict[str, Any] | None = None
    rules: list[dict[str, Any]] = field(default_factory=list)
    auth_methods: list[dict[str, Any]] = field(default_factory=list)
    grants: list[dict[str, Any]] = field(default_factory=list)
    service_principals: list[dict[str, Any]] = field(default_factory=list)
    mailbox: dict[str, Any] = field(default_factory=dict)  # fields of the mailbox line to override
    user: dict[str, Any] = field(default_factory=dict)  # fields of the user line to override
    facts: dict[str, Any] = field(default_factory=dict)
    must_block_today: bool = False
    retries: int = 2  # sends that bounce with 5.1.8 after the block
    retry_spread: int = 3 * 3600
    unblocks_used: int = 0
    remediated: bool = False
    after_block: Callable[[Story, Block, int, PlanContext], None] | None = None
    block: Block | None = None
    block_time: int | None = None
    blocked_sender: dict[str, Any] | None = None


@dataclass
class PlanContext:
    world: World
    signin_model: SignInModel
    policies: Policies
    used: set[int]
    rng: np.random.Generator
    ids: Ids
    admins: dict[str, int]  # directory role -> a user holding it
    sp: dict[str, str]  # well-known service principals of the tenant: "graph", "exchange", "messageTrace"

    @classmethod
    def create(cls, world: World, signin_model: SignInModel, policies: Policies) -> PlanContext:
        rng = stream(world.seed, "plan")
        pop = world.pop
        admins: dict[str, int] = {}
        for u, roles in enumerate(pop.roles):
            for role in roles:
                admins.setdefault(role, u)
        sp_ids = Ids(stream(world.seed, "service-principals"))
        sp = {"graph": sp_ids.uuid(), "exchange": sp_ids.uuid(), "messageTrace": sp_ids.uuid()}
        return cls(world, signin_model, policies, set(), rng, Ids(rng), admins, sp)

    def for_scenario(self, name: str, occurrence: int) -> PlanContext:
        rng = stream(self.world.seed, "scenario", name, occurrence)
        return PlanContext(self.world, self.signin_model, self.policies, self.used, rng, Ids(rng), self.admins,
                           self.sp)

    # --- shortcuts -------------------------------------------------------------------------------------------
    @property
    def tenant(self) -> Tenant:
        return self.world.tenant

    @property
    def pop(self) -> Population:
        return self.world.pop

    @property
    def now(self) -> int:
        return self.world.tenant.now

    @property
    def today(self) -> int:
        return self.world.tenant.today

    def uniform(self, low: float, high: float) -> float:
        return float(self.rng.uniform(low, high))

    def integer(self, low: int, high: int) -> int:
        """An integer in [low, high]."""
        return int(self.rng.integers(low, high + 1))

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    # --- choosing the sender ---------------------------------------------------------------------------------
    def people(self, departments: tuple[str, ...] = (), titles: tuple[str, ...] = ()) -> list[int]:
        pop = self.pop
        return [u for u in range(1, pop.n) if int(pop.kind[u]) == PERSON
                and (not departments or pop.department[u] in departments)
                and (not titles or pop.title[u] in titles)]

    def choose(self, candidates: list[int], strict: bool | None) -> int:
        """A sender nobody else uses, held to the strict policy (True), the default one (False) or either."""
        policies = self.policies
        pool = [u for u in candidates if u not in self.used and not self.pop.roles[u]]
        if strict is False:
            pool = [u for u in pool if not policies.is_strict(self.pop.address[u])]
        if not pool:
            pool = [u for u in range(1, self.pop.n) if u not in self.used and int(self.pop.kind[u]) == PERSON
                    and not self.pop.roles[u]
                    and not (strict is False and policies.is_strict(self.pop.address[u]))]
        if not pool:
            raise ValueError("the tenant has too few users for the scenarios asked for; raise --users")
        u = pick(self.rng, pool)
        self.used.add(u)
        if strict:
            policies.add_strict(self.pop.address[u])
        return u

    def reserve(self, u: int, strict: bool) -> int:
        """Use a given sender (e.g. the one holding an admin role)."""
        self.used.add(u)
        if strict:
            self.policies.add_strict(self.pop.address[u])
        return u

    def story(self, scenario: str, label: str, victim: int, **facts: Any) -> Story:
        address = self.pop.address[victim]
        return Story(scenario=scenario, label=label, victim=victim, address=address,
                     limits=self.policies.limits(address), facts=dict(facts))

    # --- time ------------------------------------------------------------------------------------------------
    def past_day(self, most: int = 5) -> int:
        """Midnight UTC of a day before today, inside the window."""
        back = min(most, self.tenant.days - 1)
        if back < 1:
            return self.today
        return self.today - self.integer(1, back) * DAY

    def local_time(self, u: int, day: int, hour: float) -> int:
        """UTC instant of local ``hour`` on the mailbox's local calendar day starting at UTC midnight ``day``."""
        d = day // DAY
        offset = int(self.world.user_offsets(d)[u])
        return day + int(hour * 3600) - offset

    def working_time(self, u: int, t: int, first: float = 8.0, last: float = 18.0) -> int:
        """``t`` if it falls in the person's working hours (local, weekdays), else the next working morning."""
        for _ in range(8):
            day = t - t % DAY
            offset = int(self.world.user_offsets(day // DAY)[u])
            local = (t + offset) % DAY / 3600
            weekday = ((t + offset) // DAY + 3) % 7
            if weekday < 5 and first <= local < last:
                return t
            morning = (t + offset) - (t + offset) % DAY + int((first + self.uniform(0.1, 1.0)) * 3600) - offset
            t = morning if local < first and weekday < 5 else morning + DAY
        return t

    def fit_today(self, preferred: int, duration: int, margin: int = 20 * MINUTE) -> int:
        """A start today no earlier than midnight, moved earlier when ``duration`` would run past now."""
        latest = self.now - duration - margin
        return max(self.today + 5 * MINUTE, min(preferred, latest))

    # --- where people are ------------------------------------------------------------------------------------
    def usual_place(self, u: int, t: int) -> tuple[str, Country, City]:
        world, pop = self.world, self.pop
        day = (t + int(world.office_offsets(t // DAY)[int(pop.office[u])])) // DAY
        trip = world.trip_of(u, day)
        if trip is not None:
            return trip.ip, trip.country, trip.city
        office = pop.offices[int(pop.office[u])]
        if pop.service_ip[u]:
            return str(pop.service_ip[u]), office.country, office.city
        if bool(world.remote(day)[u]):
            return pop.home_ip[u], office.country, pop.home_city[u]
        return office.egress_ip, office.country, office.city

    def sender_ip(self, address: str) -> str:
        """The address an external sender's mail arrives from."""
        ext = self.world.external
        index = ext.index.get(address)
        if index is not None:
            return ext.sender_ip[int(ext.domain_of[index])]
        return unknown_ip(address.rsplit("@", 1)[-1])

    def attacker(self, victim: int) -> Attacker:
        """An attacker abroad (most often), on a hosting network, or behind a proxy in the victim's country."""
        roll = self.rng.random()
        home = self.pop.country(victim)
        if roll < 0.6:
            country = catalog.COUNTRIES[pick(self.rng, catalog.ATTACKER_COUNTRIES)]
            network = f"{country.name} (ISP)"
            ips = [ip_in(self.rng, country) for _ in range(self.integer(1, 3))]
        elif roll < 0.85:
            hosting = pick(self.rng, catalog.HOSTING)
            country = catalog.COUNTRIES[hosting.country]
            network = hosting.name
            ips = [f"{pick(self.rng, hosting.prefixes)}.{self.integer(0, 255)}.{self.integer(1, 254)}"
                   for _ in range(self.integer(1, 3))]
        else:
            country = home
            network = f"Residential proxy ({home.iso})"
            ips = [ip_in(self.rng, home) for _ in range(self.integer(2, 4))]
        os, browser = pick(self.rng, (("Windows 10", "Chrome 120.0.0"), ("Linux", "Firefox 115.0"),
                                      ("MacOs", "Chrome 119.0.0"), ("Windows 10", "Edge 118.0.2088")))
        return Attacker(country, pick(self.rng, country.cities), ips, network, os, browser)

    # --- records ---------------------------------------------------------------------------------------------
    def signin(self, u: int, t: int, app: SignInApp, ip: str, country: Country, city: City, os: str,
               browser: str, code: int = 0, details: str | None = None, risk: str = NO_RISK,
               device: tuple[str, str | None, bool | None] = ("", None, None)) -> SignIn:
        return SignIn(time=t, user=u, app=app, ip=ip, country=country, city=city, os=os, browser=browser, code=code,
                      details=details, risk=risk, device_id=device[0], device_name=device[1], managed=device[2],
                      sid=self.ids.uuid(), correlation=self.ids.uuid())

    def usual_signin(self, u: int, t: int, app: SignInApp | None = None, code: int = 0) -> SignIn:
        """A sign-in from where the person is that day, with their own laptop."""
        ip, country, city = self.usual_place(u, t)
        app = app or catalog.SIGNIN_APPS[1]
        os, browser, device_id, name, managed = self.signin_model.usual_device(u, app.client == "Browser")
        return self.signin(u, t, app, ip, country, city, os, browser, code, device=(device_id, name, managed))

    def attacker_signin(self, u: int, t: int, attacker: Attacker, ip: str, app: SignInApp, code: int = 0,
                        details: str | None = None, risk: str = NO_RISK) -> SignIn:
        legacy = app.client in ("Authenticated SMTP", "IMAP4")
        return self.signin(u, t, app, ip, attacker.country, attacker.city, "" if legacy else attacker.os,
                           "" if legacy else attacker.browser, code, details, risk)

    def message(self, t: int, sender: int, recipients: list[str], subject: str, size: int, from_ip: str,
                spam: bool = False, failed: frozenset[int] = frozenset()) -> PlannedMessage:
        host = self.pop.offices[int(self.pop.office[sender])].host
        return PlannedMessage(time=t, trace_id=self.ids.uuid(), message_id=internal_message_id(self.ids.hex(24), host),
                              sender=self.pop.address[sender], recipients=recipients, subject=subject, size=size,
                              from_ip=from_ip, spam=spam, failed=failed)

    def inbound(self, t: int, sender: str, recipient: int, subject: str, size: int, from_ip: str) -> PlannedMessage:
        domain = sender.rsplit("@", 1)[-1]
        return PlannedMessage(time=t, trace_id=self.ids.uuid(), message_id=f"<{self.ids.hex(20)}@mail.{domain}>",
                              sender=sender, recipients=[self.pop.address[recipient]], subject=subject, size=size,
                              from_ip=from_ip)

    def exchange_audit(self, t: int, operation: str, actor: int, ip: str, object_id: str,
                       parameters: list[tuple[str, str]]) -> dict[str, Any]:
        pop = self.pop
        return exchange_admin(self.ids, t, operation, self.tenant.tenant_id, pop.address[actor], pop.ids[actor], ip,
                              object_id, parameters)

    def aad_audit(self, t: int, operation: str, actor: int, ip: str, object_id: str,
                  modified: list[tuple[str, str, str]], target: list[tuple[str, int]],
                  user_agent: str = "") -> dict[str, Any]:
        pop = self.pop
        extended = [("additionalDetails", "{}"), ("extendedAuditEventCategory", "User")]
        if user_agent:
            extended.append(("UserAgent", user_agent))
        return azure_ad(self.ids, t, operation, self.tenant.tenant_id, pop.address[actor], puid(pop.ids[actor]), ip,
                        object_id, modified, target, extended)


def puid(user_id: str) -> str:
    """A stable Passport-style unique id for a user, as audit records carry it."""
    return f"10032{zlib.crc32(user_id.encode()):08X}{zlib.crc32(user_id[::-1].encode()) % 4096:03X}"
