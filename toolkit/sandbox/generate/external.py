"""The world outside the tenant: partner domains and their people, consumer mailboxes, bulk senders.

Each external address has an index; trace rows refer to it as ``n_users + index``. Each domain has one mail
server address for outbound delivery (``toIP``) and one for the mail it sends in (``fromIP``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from toolkit.sandbox.generate import catalog


@dataclass
class ExternalWorld:
    addresses: list[str]
    domain_of: np.ndarray  # address index -> domain index
    domains: list[str]
    domain_kind: list[str]  # partner kind, "consumer" or "bulk"
    mx_ip: list[str]  # per domain
    sender_ip: list[str]  # per domain
    by_kind: dict[str, np.ndarray]  # partner kind -> address indices
    consumers: np.ndarray  # address indices of consumer mailboxes
    bulk: np.ndarray  # address indices of bulk senders

    def __post_init__(self) -> None:
        self.address_json = [json.dumps(a) for a in self.addresses]
        self.index = {a: i for i, a in enumerate(self.addresses)}

    @property
    def size(self) -> int:
        return len(self.addresses)


def _ip(rng: np.random.Generator, prefixes: tuple[str, ...]) -> str:
    prefix = prefixes[int(rng.integers(0, len(prefixes)))]
    return f"{prefix}.{int(rng.integers(0, 256))}.{int(rng.integers(1, 255))}"


#: Mail hosts for partner domains: (share, prefixes). Most partners are on Exchange Online or Google.
_MX = ((0.55, ("52.101", "104.47", "40.107")), (0.30, ("142.250", "209.85", "172.217")),
       (0.15, ("35.170", "18.232", "63.128", "195.130")))


def build_external(rng: np.random.Generator, users: int) -> ExternalWorld:
    per_kind = max(4, min(400, 4 + users // 60))
    addresses: list[str] = []
    domain_of: list[int] = []
    domains: list[str] = []
    domain_kind: list[str] = []
    mx_ip: list[str] = []
    sender_ip: list[str] = []
    by_kind: dict[str, list[int]] = {}
    used: set[str] = set()
    first, last = catalog.FIRST_NAMES, catalog.LAST_NAMES
    shares = np.array([s for s, _ in _MX])

    def add_domain(name: str, kind: str) -> int:
        host = _MX[int(rng.choice(len(_MX), p=shares))][1]
        domains.append(name)
        domain_kind.append(kind)
        ip = _ip(rng, host)
        mx_ip.append(ip)
        sender_ip.append(ip if rng.random() < 0.5 else _ip(rng, host))
        return len(domains) - 1

    for kind, suffixes in catalog.PARTNER_SUFFIXES.items():
        members: list[int] = []
        for _ in range(per_kind):
            for _attempt in range(20):
                name = (f"{catalog.PARTNER_PREFIXES[int(rng.integers(0, len(catalog.PARTNER_PREFIXES)))]}"
                        f"{suffixes[int(rng.integers(0, len(suffixes)))]}")
                if name not in used:
                    break
                name = f"{name}{int(rng.integers(2, 99))}"
                if name not in used:
                    break
            used.add(name)
            d = add_domain(f"{name}.example", kind)
            people = int(rng.integers(3, 25))
            seen: set[str] = set()
            for _ in range(people):
                local = (f"{first[int(rng.integers(0, len(first)))]}."
                         f"{last[int(rng.integers(0, len(last)))]}").lower()
                if local in seen:
                    continue
                seen.add(local)
                members.append(len(addresses))
                addresses.append(f"{local}@{domains[d]}")
                domain_of.append(d)
        by_kind[kind] = members

    consumer_domains = [add_domain(name, "consumer") for name in catalog.CONSUMER_DOMAINS]
    consumers: list[int] = []
    count = max(50, min(30_000, users // 2))
    seen_consumers: set[str] = set()
    for _ in range(count):
        f = first[int(rng.integers(0, len(first)))].lower()
        lst = last[int(rng.integers(0, len(last)))].lower()
        style = int(rng.integers(0, 3))
        local = f"{f}.{lst}" if style == 0 else f"{f}{lst}{int(rng.integers(1, 99))}" if style == 1 else f"{f[0]}{lst}"
        address = f"{local}@{catalog.CONSUMER_DOMAINS[int(rng.integers(0, len(consumer_domains)))]}"
        if address in seen_consumers:
            continue
        seen_consumers.add(address)
        consumers.append(len(addresses))
        addresses.append(address)
        domain_of.append(consumer_domains[catalog.CONSUMER_DOMAINS.index(address.split("@")[1])])

    bulk: list[int] = []
    for sender in catalog.BULK_SENDERS:
        d = add_domain(sender.split("@")[1], "bulk")
        bulk.append(len(addresses))
        addresses.append(sender)
        domain_of.append(d)

    return ExternalWorld(
        addresses=addresses,
        domain_of=np.array(domain_of, dtype=np.int32),
        domains=domains,
        domain_kind=domain_kind,
        mx_ip=mx_ip,
        sender_ip=sender_ip,
        by_kind={k: np.array(v, dtype=np.int32) for k, v in by_kind.items()},
        consumers=np.array(consumers, dtype=np.int32),
        bulk=np.array(bulk, dtype=np.int32),
    )
