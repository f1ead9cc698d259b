"""Message-trace lines (one per message and recipient, the same id for every recipient of a message) and their
detail lines, for the population's daily traffic and for the messages a scenario plants.

Details are written for every row that was not simply delivered (bounces, spam, quarantine) and for every row sent
by a labelled sender, so an analyst can open any message of the story; other delivered rows have none.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass

import numpy as np

from toolkit.sandbox.generate.records import (
    DELIVERED,
    FAILED,
    FILTERED,
    STATUS,
    detail_events,
    detail_lines,
    trace_line,
)
from toolkit.sandbox.generate.timefmt import TimeTexts
from toolkit.sandbox.generate.traffic import BOUNCE, ID_BYTES, REPLY, DayTraffic
from toolkit.sandbox.generate.world import World


@dataclass
class PlannedMessage:
    """A message a scenario sends (or the system bounces back): one trace row per recipient."""

    time: int
    trace_id: str
    message_id: str
    sender: str
    recipients: list[str]
    subject: str
    size: int
    from_ip: str
    spam: bool = False
    failed: frozenset[int] = frozenset()  # recipient positions that bounce
    note: str | None = None  # the failure text shown in the details

    def counts(self, domains: tuple[str, ...]) -> tuple[int, int]:
        """(internal, external) recipients."""
        internal = sum(1 for r in self.recipients if r.rsplit("@", 1)[-1] in domains)
        return internal, len(self.recipients) - internal

    def status(self, position: int) -> int:
        """The outbound spam verdict is the message's (every row), whatever happens to one recipient."""
        if self.spam:
            return FILTERED
        return FAILED if position in self.failed else DELIVERED


def trace_id_text(h: str) -> str:
    """A version-4 UUID text from 32 random hex digits."""
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"


def internal_message_id(raw_hex: str, host: str) -> str:
    return f"<{raw_hex[:24].upper()}@{host}.prod.outlook.com>"


def unknown_ip(domain: str) -> str:
    """A stable mail-server address for a domain the world does not list."""
    h = zlib.crc32(domain.encode())
    return f"{52 + h % 40}.{(h >> 8) % 256}.{(h >> 16) % 256}.{1 + (h >> 24) % 254}"


class TraceFormatter:
    def __init__(self, world: World, labelled: set[int]):
        self.world = world
        pop, ext = world.pop, world.external
        self.n = pop.n
        self.system = pop.n + ext.size
        self.labelled = labelled
        system_json = json.dumps(world.tenant.system_sender)
        self.addr_json = [*pop.address_json, *ext.address_json, system_json]
        self.ext_to_ip = [ext.mx_ip[d] for d in ext.domain_of.tolist()]
        self.ext_from_ip = [ext.sender_ip[d] for d in ext.domain_of.tolist()]
        self.hosts = [pop.offices[int(o)].host for o in pop.office.tolist()]
        self.ext_domain = [a.split("@", 1)[1] for a in ext.addresses]
        self.times = TimeTexts()
        self.by_address = {a: i for i, a in enumerate(pop.address)}
        self.ext_index = ext.index

    # --- the population's day -------------------------------------------------------------------------------
    def day(self, traffic: DayTraffic, keep: np.ndarray) -> tuple[np.ndarray, list[str], np.ndarray, list[str]]:
        world, n, system = self.world, self.n, self.system
        subjects = world.subjects
        ips = world.ips_on(traffic.day)
        msgs = np.flatnonzero(keep)
        rows = np.flatnonzero(keep[traffic.r_msg])
        r_msg = traffic.r_msg[rows]
        local = np.full(traffic.messages, -1, dtype=np.int64)
        local[msgs] = np.arange(msgs.size)
        r_local = local[r_msg].tolist()

        hexes = traffic.ids[msgs].tobytes().hex()
        width = 2 * ID_BYTES
        m_hex = [hexes[i * width:(i + 1) * width] for i in range(msgs.size)]
        tids = [trace_id_text(h) for h in m_hex]
        senders = traffic.sender[msgs].tolist()
        forms = traffic.form[msgs].tolist()
        subj_idx = traffic.subject[msgs].tolist()
        first_rcpt = np.full(traffic.messages, 0, dtype=np.int64)
        first_rcpt[traffic.r_msg[::-1]] = traffic.r_rcpt[::-1]
        bounce_host = first_rcpt[msgs].tolist()
        mids, sjson, fips, subjs = [], [], [], []
        addr_json, hosts, ext_from = self.addr_json, self.hosts, self.ext_from_ip
        for h, s, f, si, bh in zip(m_hex, senders, forms, subj_idx, bounce_host, strict=True):
            if s < n:
                mids.append(f"<{h[32:].upper()}@{hosts[s]}.prod.outlook.com>")
                fips.append(ips[s])
            elif s == system:
                mids.append(f"<{h[32:].upper()}@{hosts[bh if bh < n else 0]}.prod.outlook.com>")
                fips.append("")
            else:
                mids.append(f"<{h[32:48]}.{h[48:]}@mail.{self.ext_domain[s - n]}>")
                fips.append(ext_from[s - n])
            sjson.append(addr_json[s])
            subjs.append(subjects.reply_json[si] if f == REPLY else subjects.bounce_json[si] if f == BOUNCE
                         else subjects.json[si])
        sizes = traffic.size[msgs].tolist()
        times_text = self.times.graph(traffic.time[msgs])
        rcpts = traffic.r_rcpt[rows].tolist()
        status = traffic.r_status[rows].tolist()
        to_ip = self.ext_to_ip
        lines = [
            trace_line(tids[m], sjson[m], addr_json[r], mids[m], times_text[m], subjs[m], sizes[m], fips[m],
                       to_ip[r - n] if n <= r < system else "", STATUS[st])
            for m, r, st in zip(r_local, rcpts, status, strict=True)
        ]
        row_times = traffic.time[r_msg]

        detail_rows = [i for i, (m, st) in enumerate(zip(r_local, status, strict=True))
                       if st != DELIVERED or senders[m] in self.labelled]
        d_times: list[int] = []
        d_lines: list[str] = []
        msg_times = traffic.time[msgs].tolist()
        for i in detail_rows:
            m, r = r_local[i], rcpts[i]
            external = n <= r < system
            events = detail_events(status[i], external, to_ip[r - n] if external else "")
            for line in detail_lines(tids[m], addr_json[r], mids[m], msg_times[m], events):
                d_times.append(msg_times[m])
                d_lines.append(line)
        return row_times, lines, np.array(d_times, dtype=np.int64), d_lines

    # --- planted messages -----------------------------------------------------------------------------------
    def address_json(self, address: str) -> str:
        u = self.by_address.get(address)
        if u is not None:
            return self.addr_json[u]
        e = self.ext_index.get(address)
        if e is not None:
            return self.addr_json[self.n + e]
        return json.dumps(address)

    def to_ip(self, address: str) -> str:
        domain = address.rsplit("@", 1)[-1]
        if domain in self.world.tenant.domains:
            return ""
        e = self.ext_index.get(address)
        return self.ext_to_ip[e] if e is not None else unknown_ip(domain)

    def planted(self, messages: list[PlannedMessage]) -> tuple[np.ndarray, list[str], np.ndarray, list[str]]:
        times: list[int] = []
        lines: list[str] = []
        d_times: list[int] = []
        d_lines: list[str] = []
        for msg in messages:
            received = self.times.one(msg.time)
            sender = self.address_json(msg.sender)
            subject = json.dumps(msg.subject)
            for position, rcpt in enumerate(msg.recipients):
                status = msg.status(position)
                rcpt_json = self.address_json(rcpt)
                to_ip = self.to_ip(rcpt)
                times.append(msg.time)
                lines.append(trace_line(msg.trace_id, sender, rcpt_json, msg.message_id, received, subject,
                                        msg.size, msg.from_ip, to_ip, STATUS[status]))
                for line in detail_lines(msg.trace_id, rcpt_json, msg.message_id, msg.time,
                                         detail_events(status, bool(to_ip), to_ip, msg.note)):
                    d_times.append(msg.time)
                    d_lines.append(line)
        return (np.array(times, dtype=np.int64), lines, np.array(d_times, dtype=np.int64), d_lines)
