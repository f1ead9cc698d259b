"""The people and mailboxes of the tenant, and how each of them mails.

Everything the daily traffic needs per mailbox is a numpy array (rates, hours, shares, correspondents), so a day of
mail for 50,000 mailboxes is a handful of vectorised draws. Strings (names, addresses) are plain lists.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from toolkit.sandbox.generate import catalog
from toolkit.sandbox.generate.catalog import City, Country
from toolkit.sandbox.generate.external import ExternalWorld
from toolkit.sandbox.generate.rand import pick, uuid_strings
from toolkit.sandbox.generate.tenant import Tenant
from toolkit.sandbox.generate.timefmt import DAY, HOUR

PERSON, SHARED, SERVICE, SCANNER = 0, 1, 2, 3
KIND_NAMES = {PERSON: "person", SHARED: "shared", SERVICE: "service", SCANNER: "scanner"}

INTERNAL_CONTACTS = 12
EXTERNAL_CONTACTS = 10

#: Directory roles handed to the IT department, in order (the tenant's own "admin" holds Global Administrator).
IT_ROLES = ("Exchange Administrator", "Security Administrator", "Security Reader", "Helpdesk Administrator",
            "Global Reader", "User Administrator")

#: Minimum people per department, so every scenario finds a victim even in a small tenant.
MINIMUM = {"Sales": 3, "Marketing": 2, "Finance": 3, "IT": 3, "Executive": 2, "Customer Support": 2,
           "Human Resources": 1, "Operations": 1}

SHARED_NAMES = (("info", "Info"), ("support", "Customer Support"), ("sales", "Sales Enquiries"),
                ("billing", "Billing"), ("careers", "Careers"), ("accounts-payable", "Accounts Payable"),
                ("reception", "Reception"), ("events", "Events"), ("press", "Press Office"), ("orders", "Orders"))
SERVICE_NAMES = (("noreply-erp", "ERP Notifications", "erp"), ("crm-notifications", "CRM Notifications", "crm"),
                 ("monitoring", "Monitoring Alerts", "monitoring"), ("noreply-portal", "Customer Portal", "erp"),
                 ("hr-system", "HR System", "crm"), ("backup-alerts", "Backup Alerts", "monitoring"))


@dataclass(frozen=True)
class Office:
    index: int
    country: Country
    city: City
    egress_ip: str
    host: str  # Exchange Online server that Message-IDs name


@dataclass
class Population:
    n: int
    ids: list[str]
    address: list[str]  # UPN = primary SMTP address, lower case
    alias: list[str]
    display: list[str]
    name: list[str]  # Exchange Name (unique)
    given: list[str | None]
    surname: list[str | None]
    department: list[str | None]
    title: list[str | None]
    kind: np.ndarray
    profile: list[str]
    service_kind: list[str | None]
    office: np.ndarray
    offices: list[Office]
    home_city: list[City]
    home_ip: list[str]
    service_ip: list[str | None]
    desktop_os: list[str]
    browser: list[str]
    mobile_os: list[str | None]
    roles: list[tuple[str, ...]]
    created: np.ndarray
    password_changed: np.ndarray
    secondary: list[list[str]]  # secondary SMTP addresses
    # mail behaviour (per active day, local hours in seconds)
    send_rate: np.ndarray
    ext_share: np.ndarray
    extra_rcpt: np.ndarray
    inbound_rate: np.ndarray
    weekday_p: np.ndarray
    weekend_p: np.ndarray
    evening: np.ndarray
    start_s: np.ndarray
    span_s: np.ndarray
    remote_p: np.ndarray
    size_mu: np.ndarray
    int_contacts: np.ndarray
    ext_contacts: np.ndarray
    address_json: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.address_json = [json.dumps(a) for a in self.address]
        self.index = {a: i for i, a in enumerate(self.address)}

    def of_kind(self, kind: int) -> list[int]:
        return np.flatnonzero(self.kind == kind).tolist()

    def country(self, u: int) -> Country:
        return self.offices[int(self.office[u])].country

    def tz(self, u: int) -> str:
        return self.country(u).tz



def ip_in(rng: np.random.Generator, country: Country) -> str:
    prefix = pick(rng, country.prefixes)
    return f"{prefix}.{int(rng.integers(0, 256))}.{int(rng.integers(1, 255))}"


def _addresses(rng: np.random.Generator, countries: list[Country]) -> list[str]:
    """One public address per entry, inside its country's prefixes."""
    n = len(countries)
    picks = rng.integers(0, 1 << 30, size=n).tolist()
    third = rng.integers(0, 256, size=n).tolist()
    fourth = rng.integers(1, 255, size=n).tolist()
    return [f"{c.prefixes[picks[i] % len(c.prefixes)]}.{third[i]}.{fourth[i]}" for i, c in enumerate(countries)]


def _offices(rng: np.random.Generator, users: int) -> list[Office]:
    count = 1 + min(4, users // 120)
    codes = rng.choice(len(catalog.OFFICE_COUNTRIES), size=count, replace=False).tolist()
    offices = []
    for i, code_index in enumerate(codes):
        country = catalog.COUNTRIES[catalog.OFFICE_COUNTRIES[code_index]]
        city = country.cities[0] if i == 0 else pick(rng, country.cities)
        region = catalog.REGION_OF.get(country.code, "eur")
        host = f"{pick(rng, catalog.SERVER_PREFIXES[region])}{int(rng.integers(1000, 9999))}.{region}prd0{i + 1}"
        offices.append(Office(i, country, city, ip_in(rng, country), host))
    return offices


def _department_plan(rng: np.random.Generator, persons: int) -> list[str]:
    plan: list[str] = []
    for name, count in MINIMUM.items():
        plan += [name] * count
    names = [d.name for d in catalog.DEPARTMENTS]
    shares = np.array([d.share for d in catalog.DEPARTMENTS])
    rest = max(0, persons - len(plan))
    plan += [names[i] for i in rng.choice(len(names), size=rest, p=shares / shares.sum()).tolist()]
    plan = plan[:persons]
    order = rng.permutation(len(plan)).tolist()
    return [plan[i] for i in order]


class _Names:
    """Unique aliases and Exchange names."""

    def __init__(self) -> None:
        self.aliases: set[str] = set()
        self.names: set[str] = set()

    def alias(self, base: str) -> str:
        base = base.lower().replace(" ", "")
        candidate, k = base, 1
        while candidate in self.aliases:
            k += 1
            candidate = f"{base}{k}"
        self.aliases.add(candidate)
        return candidate

    def name(self, display: str) -> str:
        candidate, k = display, 1
        while candidate in self.names:
            k += 1
            candidate = f"{display} {k}"
        self.names.add(candidate)
        return candidate


def build_population(rng: np.random.Generator, tenant: Tenant, users: int, external: ExternalWorld) -> Population:
    offices = _offices(rng, users)
    shared_n = max(2, round(users * 0.012))
    service_n = max(2, round(users * 0.006))
    scanner_n = max(1, round(users * 0.006))
    persons_n = users - 1 - shared_n - service_n - scanner_n
    if persons_n < sum(MINIMUM.values()):
        raise ValueError(f"--users must be at least {users - persons_n + sum(MINIMUM.values())}, got {users}")

    names = _Names()
    office_weights = np.array([0.55] + [0.45 / max(1, len(offices) - 1)] * (len(offices) - 1))
    office_weights /= office_weights.sum()

    rows: list[dict] = []

    def person(first: str, last: str, department: str, title: str, office: int) -> dict:
        display = f"{first} {last}".replace("-", " ") if last != "Van-Dijk" else f"{first} van Dijk"
        return {"kind": PERSON, "given": first, "surname": last, "display": display,
                "alias": names.alias(f"{first}.{last}"), "department": department, "title": title,
                "office": office}

    rows.append({"kind": PERSON, "given": None, "surname": None, "display": "IT Admin", "alias": names.alias("admin"),
                 "department": "IT", "title": "Administrator", "office": 0, "admin": True})

    departments = {d.name: d for d in catalog.DEPARTMENTS}
    apostrophes = max(1, persons_n // 250)
    plan = _department_plan(rng, persons_n)
    firsts = rng.integers(0, len(catalog.FIRST_NAMES), size=persons_n).tolist()
    lasts = rng.integers(0, len(catalog.LAST_NAMES), size=persons_n).tolist()
    person_offices = rng.choice(len(offices), size=persons_n, p=office_weights).tolist()
    title_picks = rng.integers(0, 1 << 30, size=persons_n).tolist()
    for i, department in enumerate(plan):
        first = catalog.FIRST_NAMES[firsts[i]]
        last = (catalog.APOSTROPHE_NAMES[i % len(catalog.APOSTROPHE_NAMES)] if i < apostrophes
                else catalog.LAST_NAMES[lasts[i]])
        titles = departments[department].titles
        rows.append(person(first, last, department, titles[title_picks[i] % len(titles)], person_offices[i]))

    for i in range(shared_n):
        local, display = _shared_name(i, offices)
        rows.append({"kind": SHARED, "given": None, "surname": None, "display": display, "alias": names.alias(local),
                     "department": None, "title": None, "office": i % len(offices), "shared": SHARED_NAMES[
                         i % len(SHARED_NAMES)][0]})
    for i in range(service_n):
        local, display, service = SERVICE_NAMES[i % len(SERVICE_NAMES)]
        suffix = f"-{i // len(SERVICE_NAMES) + 1}" if i >= len(SERVICE_NAMES) else ""
        rows.append({"kind": SERVICE, "given": None, "surname": None, "display": f"{display}{suffix.replace('-', ' ')}",
                     "alias": names.alias(f"{local}{suffix}"), "department": None, "title": None,
                     "office": i % len(offices), "service": service})
    for i in range(scanner_n):
        office = i % len(offices)
        city = offices[office].city.name.lower().replace(" ", "")
        rows.append({"kind": SCANNER, "given": None, "surname": None,
                     "display": f"Scanner {offices[office].city.name} {i // len(offices) + 1}",
                     "alias": names.alias(f"scanner-{city}-{i // len(offices) + 1}"), "department": None,
                     "title": None, "office": office, "service": "scanner"})

    n = len(rows)
    ids = uuid_strings(rng, n)
    kind = np.array([r["kind"] for r in rows], dtype=np.int8)
    office = np.array([r["office"] for r in rows], dtype=np.int16)
    address = [f"{r['alias']}@{tenant.primary_domain}" for r in rows]
    third_domain = (rng.random(n) < 0.3).tolist()
    secondary = []
    for i, r in enumerate(rows):
        extra = [f"{r['alias']}@{tenant.initial_domain}"]
        if len(tenant.domains) > 2 and r["kind"] == PERSON and third_domain[i]:
            extra.append(f"{r['alias']}@{tenant.domains[2]}")
        secondary.append(extra)

    profile = []
    for r in rows:
        if r["kind"] == PERSON:
            prof = departments[r["department"]].profile
            profile.append("executive" if r["title"] == "Executive Assistant" else prof)
        else:
            profile.append(KIND_NAMES[r["kind"]])

    roles: list[tuple[str, ...]] = [()] * n
    roles[0] = ("Global Administrator",)
    it_people = [i for i, r in enumerate(rows) if r["department"] == "IT" and i != 0]
    for role, who in zip(IT_ROLES, it_people, strict=False):
        roles[who] = (role,)

    city_picks = rng.integers(0, 1 << 30, size=n).tolist()
    home_ip = _addresses(rng, [offices[r["office"]].country for r in rows])
    home_city = [offices[r["office"]].country.cities[city_picks[i] % len(offices[r["office"]].country.cities)]
                 for i, r in enumerate(rows)]
    service_ip: list[str | None] = []
    for r in rows:
        if r["kind"] == SERVICE:
            service_ip.append(ip_in(rng, offices[r["office"]].country))
        elif r["kind"] == SCANNER:
            service_ip.append(offices[r["office"]].egress_ip)
        else:
            service_ip.append(None)
    desktop = [catalog.DESKTOP_OS[i] for i in rng.integers(0, len(catalog.DESKTOP_OS), size=n).tolist()]
    browser_picks = rng.integers(0, 2, size=n).tolist()
    browser = [catalog.BROWSERS[os][browser_picks[i]] for i, os in enumerate(desktop)]
    mobile_picks = rng.integers(0, len(catalog.MOBILE_OS), size=n).tolist()
    has_mobile = (rng.random(n) < 0.8).tolist()
    mobile = [catalog.MOBILE_OS[mobile_picks[i]] if has_mobile[i] else None for i in range(n)]

    now = tenant.now
    created = now - (rng.uniform(120, 2500, size=n) * DAY).astype(np.int64)
    changed = np.maximum(created + DAY, tenant.start - (rng.uniform(2, 200, size=n) * DAY).astype(np.int64))

    behaviour = _behaviour(rng, rows, profile)
    int_contacts = _internal_contacts(rng, rows, kind, office)
    ext_contacts = _external_contacts(rng, rows, profile, departments, external)

    return Population(
        n=n, ids=ids, address=address, alias=[r["alias"] for r in rows], display=[r["display"] for r in rows],
        name=_unique_names(rows), given=[r["given"] for r in rows],
        surname=[r["surname"] for r in rows], department=[r["department"] for r in rows],
        title=[r["title"] for r in rows], kind=kind, profile=profile,
        service_kind=[r.get("service") or r.get("shared") for r in rows], office=office, offices=offices,
        home_city=home_city, home_ip=home_ip, service_ip=service_ip, desktop_os=desktop, browser=browser,
        mobile_os=mobile, roles=roles, created=created, password_changed=changed, secondary=secondary,
        int_contacts=int_contacts, ext_contacts=ext_contacts, **behaviour,
    )


def _shared_name(i: int, offices: list[Office]) -> tuple[str, str]:
    local, display = SHARED_NAMES[i % len(SHARED_NAMES)]
    round_ = i // len(SHARED_NAMES)
    if round_ == 0:
        return local, display
    office = offices[round_ % len(offices)]
    return f"{local}-{office.country.iso.lower()}{round_}", f"{display} {office.country.iso} {round_}"


def _unique_names(rows: list[dict]) -> list[str]:
    names = _Names()
    return [names.name(r["display"]) for r in rows]


def _behaviour(rng: np.random.Generator, rows: list[dict], profile: list[str]) -> dict[str, np.ndarray]:
    n = len(rows)
    out = {k: np.zeros(n) for k in ("send_rate", "ext_share", "extra_rcpt", "inbound_rate", "weekday_p",
                                    "weekend_p", "evening", "start_s", "span_s", "remote_p", "size_mu")}
    mult = rng.lognormal(0.0, 0.45, size=n)
    ext_mult = rng.lognormal(0.0, 0.35, size=n)
    in_mult = rng.lognormal(0.0, 0.4, size=n)
    start = np.clip(rng.normal(8.4, 0.6, size=n), 6.5, 10.5) * HOUR
    span = np.clip(rng.normal(8.6, 0.6, size=n), 7.0, 10.5) * HOUR
    remote = rng.uniform(0.05, 0.6, size=n)
    for i, r in enumerate(rows):
        kind = r["kind"]
        out["size_mu"][i] = 10.2
        out["remote_p"][i] = remote[i]
        out["start_s"][i], out["span_s"][i] = start[i], span[i]
        if kind == PERSON:
            p = catalog.PROFILES[profile[i]]
            admin = r.get("admin", False)
            out["send_rate"][i] = (0.15 if admin else p.sends) * mult[i]
            out["ext_share"][i] = float(np.clip(p.external_share * ext_mult[i], 0.02, 0.9))
            out["extra_rcpt"][i] = p.extra_recipients
            out["inbound_rate"][i] = (0.2 if admin else p.inbound) * in_mult[i]
            out["weekday_p"][i] = 0.9
            out["weekend_p"][i] = p.weekend
            out["evening"][i] = p.evening
        elif kind == SHARED:
            busy = r["shared"] in ("support", "info", "orders", "sales")
            out["send_rate"][i] = (1.5 if busy else 0.25) * mult[i]
            out["ext_share"][i] = 0.9
            out["extra_rcpt"][i] = 0.05
            out["inbound_rate"][i] = (3.0 if busy else 0.6) * in_mult[i]
            out["weekday_p"][i], out["weekend_p"][i], out["evening"][i] = 1.0, 0.3, 0.03
            out["remote_p"][i] = 0.0
        elif kind == SERVICE:
            service = r["service"]
            out["weekday_p"][i] = 1.0
            out["remote_p"][i] = 0.0
            out["extra_rcpt"][i] = 0.0
            if service == "erp":
                out["send_rate"][i] = float(rng.uniform(10, 45))
                out["ext_share"][i] = 1.0
                out["weekend_p"][i] = 0.0
                out["start_s"][i], out["span_s"][i] = 5 * HOUR, 3 * HOUR
            elif service == "crm":
                out["send_rate"][i] = float(rng.uniform(6, 22))
                out["ext_share"][i] = 0.0
                out["weekend_p"][i] = 0.0
                out["start_s"][i], out["span_s"][i] = 7 * HOUR, 11 * HOUR
            else:
                out["send_rate"][i] = float(rng.uniform(3, 11))
                out["ext_share"][i] = 0.0
                out["weekend_p"][i] = 1.0
                out["start_s"][i], out["span_s"][i] = 0.0, 23.9 * HOUR
            out["inbound_rate"][i] = 0.1
        else:  # scanner
            out["send_rate"][i] = float(rng.uniform(2, 15))
            out["ext_share"][i] = 0.02
            out["weekday_p"][i], out["weekend_p"][i], out["evening"][i] = 1.0, 0.02, 0.0
            out["remote_p"][i] = 0.0
            out["size_mu"][i] = 13.3
            out["inbound_rate"][i] = 0.0
    return out


def _internal_contacts(rng: np.random.Generator, rows: list[dict], kind: np.ndarray,
                       office: np.ndarray) -> np.ndarray:
    """Each mailbox's usual internal correspondents: mostly its department, some anyone."""
    n = len(rows)
    persons = np.flatnonzero(kind == PERSON)
    contacts = persons[rng.integers(0, len(persons), size=(n, INTERNAL_CONTACTS))]
    by_department: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        if r["kind"] == PERSON:
            by_department.setdefault(r["department"], []).append(i)
    same = INTERNAL_CONTACTS * 7 // 12
    for members_list in by_department.values():
        members = np.array(members_list)
        if len(members) < 2:
            continue
        picks = members[rng.integers(0, len(members), size=(len(members), same))]
        contacts[members, :same] = picks
    for i, r in enumerate(rows):
        service = r.get("service")
        if service == "scanner":
            local = persons[office[persons] == office[i]]
            pool = local if len(local) else persons
            contacts[i] = pool[rng.integers(0, len(pool), size=INTERNAL_CONTACTS)]
        elif service in ("crm", "monitoring"):
            department = "Sales" if service == "crm" else "IT"
            pool = np.array(by_department.get(department, persons.tolist()))
            contacts[i] = pool[rng.integers(0, len(pool), size=INTERNAL_CONTACTS)]
    own = contacts == np.arange(n)[:, None]
    if own.any():
        replacement = persons[rng.integers(0, len(persons), size=int(own.sum()))]
        contacts[own] = replacement
        still = contacts == np.arange(n)[:, None]
        contacts[still] = persons[0] if persons[0] != 0 else persons[-1]
    return contacts.astype(np.int32)


def _external_contacts(rng: np.random.Generator, rows: list[dict], profile: list[str],
                       departments: dict[str, catalog.Department], external: ExternalWorld) -> np.ndarray:
    """Each mailbox's usual external correspondents: a few partner companies, people next to each other."""
    n = len(rows)
    out = np.zeros((n, EXTERNAL_CONTACTS), dtype=np.int32)
    offsets = np.arange(EXTERNAL_CONTACTS)
    for i, r in enumerate(rows):
        if r["kind"] == PERSON:
            kinds = departments[r["department"]].partner_kinds
            pool = np.concatenate([external.by_kind[k] for k in kinds])
            if profile[i] == "support":
                pool = np.concatenate([pool, external.consumers])
        elif r["kind"] == SHARED:
            pool = np.concatenate([external.consumers, external.by_kind["customer"]])
        elif r.get("service") == "erp":
            pool = np.concatenate([external.by_kind["customer"], external.by_kind["distributor"]])
        else:
            pool = external.by_kind["supplier"]
        if r["kind"] == SHARED or r.get("service") == "erp":
            out[i] = pool[rng.integers(0, len(pool), size=EXTERNAL_CONTACTS)]
        else:
            start = int(rng.integers(0, len(pool)))
            out[i] = pool[(start + offsets) % len(pool)]
    return out

