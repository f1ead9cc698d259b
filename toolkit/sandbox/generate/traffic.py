"""The population's ordinary mail for one local working day, drawn in a handful of vectorised steps.

A day is generated for every mailbox's *local* date: messages fall in its working hours in its own time zone
(or the destination's, when travelling), so the UTC instants of one local day spread over about two UTC days.
The same day always draws the same mail (its own random stream), which lets the generator run it twice: once to
learn what the restricted senders sent (``simulate``), once to write it (``TrafficFormatter``).

Addresses are integer codes: ``0..n-1`` the tenant's mailboxes, ``n + i`` external address ``i``, and
``n + n_external`` the system mailbox that sends non-delivery reports.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toolkit.sandbox.generate.population import (
    EXTERNAL_CONTACTS,
    INTERNAL_CONTACTS,
    PERSON,
    SCANNER,
    SHARED,
)
from toolkit.sandbox.generate.rand import stream
from toolkit.sandbox.generate.records import DELIVERED, FAILED, FILTERED, QUARANTINED
from toolkit.sandbox.generate.timefmt import DAY, HOUR
from toolkit.sandbox.generate.world import World

NEW, REPLY, BOUNCE = 0, 1, 2
#: Random bytes per message: 16 for the trace id, 12 for the Message-ID (unrelated to each other, as in reality).
ID_BYTES = 28

#: Chance that an outbound external recipient bounces (address no longer exists).
BOUNCE_RATE = 0.008
#: Chance that a person answers an internal one-to-one message / a message from an external contact.
INTERNAL_REPLY = 0.30
EXTERNAL_REPLY = 0.35


def _zipf(size: int, exponent: float = 0.9) -> np.ndarray:
    weights = 1.0 / np.arange(1, size + 1) ** exponent
    return weights / weights.sum()


ZIPF_INTERNAL = _zipf(INTERNAL_CONTACTS)
ZIPF_EXTERNAL = _zipf(EXTERNAL_CONTACTS)


def weekday(day: int) -> int:
    """0 = Monday for an epoch day number (1970-01-01 was a Thursday)."""
    return (day + 3) % 7


@dataclass
class DayTraffic:
    day: int
    time: np.ndarray  # per message, UTC seconds
    sender: np.ndarray  # per message, address code
    subject: np.ndarray  # per message, subject index
    form: np.ndarray  # per message, NEW / REPLY / BOUNCE
    size: np.ndarray  # per message, bytes
    ids: np.ndarray  # per message, ID_BYTES random bytes: the trace id (16), then the Message-ID
    r_msg: np.ndarray  # per row, message index
    r_rcpt: np.ndarray  # per row, recipient code
    r_status: np.ndarray  # per row, status index

    @property
    def messages(self) -> int:
        return int(self.time.size)


class SubjectRanges:
    """Per mailbox, the contiguous range of subject indices it writes from (internal / external mail)."""

    def __init__(self, world: World):
        pop, groups = world.pop, world.subjects.groups
        n = pop.n
        self.int_start = np.zeros(n, dtype=np.int64)
        self.int_len = np.zeros(n, dtype=np.int64)
        self.ext_start = np.zeros(n, dtype=np.int64)
        self.ext_len = np.zeros(n, dtype=np.int64)
        for u in range(n):
            kind = int(pop.kind[u])
            if kind == PERSON:
                internal, external = "internal", f"external:{pop.profile[u]}"
            elif kind == SHARED:
                internal = external = "shared"
            elif kind == SCANNER:
                internal = external = "scanner"
            else:
                internal = external = str(pop.service_kind[u])
            gi, ge = groups[internal], groups[external]
            self.int_start[u], self.int_len[u] = gi[0], gi.size
            self.ext_start[u], self.ext_len[u] = ge[0], ge.size
        inbound = groups["inbound"]
        self.inbound = (int(inbound[0]), int(inbound.size))


class TrafficModel:
    """Draws DayTraffic for a world."""

    def __init__(self, world: World):
        self.world = world
        self.subjects = SubjectRanges(world)
        pop = world.pop
        self.n = pop.n
        self.n_ext = world.external.size
        self.system = self.n + self.n_ext
        self.is_person = pop.kind == PERSON
        self.replies = (pop.kind == PERSON) | (pop.kind == SHARED)
        self.unknown_senders = np.concatenate([world.external.bulk, world.external.consumers])

    def day(self, day: int) -> DayTraffic:
        world, pop, n = self.world, self.world.pop, self.n
        rng = stream(world.seed, "traffic", day)
        weekend = weekday(day) >= 5
        midnight = day * DAY - world.user_offsets(day)  # UTC instant of each mailbox's local midnight
        active = world.active(day)

        # 1. new messages from each mailbox
        scale = np.where(self.is_person, 0.35, 1.0) if weekend else 1.0
        counts = rng.poisson(pop.send_rate * active * scale)
        sender = np.repeat(np.arange(n, dtype=np.int64), counts)
        k = sender.size
        morning = rng.random(k) < 0.55  # a mid-morning and a mid-afternoon peak, a dip at lunch
        shape = np.where(morning, rng.beta(2.2, 5.0, size=k), rng.beta(5.0, 2.2, size=k))
        local = pop.start_s[sender] + shape * pop.span_s[sender]
        late = rng.random(k) < pop.evening[sender]
        local = np.where(late, pop.start_s[sender] + pop.span_s[sender] + rng.random(k) * 4 * HOUR, local)
        time = midnight[sender] + local.astype(np.int64)

        extra = np.minimum(rng.poisson(pop.extra_rcpt[sender]), 14)
        r_msg = np.repeat(np.arange(k, dtype=np.int64), 1 + extra)
        rs = sender[r_msg]
        external = rng.random(r_msg.size) < pop.ext_share[rs]
        ci = rng.choice(INTERNAL_CONTACTS, size=r_msg.size, p=ZIPF_INTERNAL)
        ce = rng.choice(EXTERNAL_CONTACTS, size=r_msg.size, p=ZIPF_EXTERNAL)
        rcpt = np.where(external, n + pop.ext_contacts[rs, ce], pop.int_contacts[rs, ci]).astype(np.int64)
        key = r_msg * (self.system + 1) + rcpt
        _, keep = np.unique(key, return_index=True)
        r_msg, rcpt = r_msg[keep], rcpt[keep]
        has_ext = np.bincount(r_msg, weights=(rcpt >= n), minlength=k) > 0
        pick = rng.random(k)
        subject = np.where(has_ext,
                           self.subjects.ext_start[sender] + (pick * self.subjects.ext_len[sender]).astype(np.int64),
                           self.subjects.int_start[sender] + (pick * self.subjects.int_len[sender]).astype(np.int64))
        size = np.clip(rng.lognormal(pop.size_mu[sender], 0.8), 2_000, 25_000_000).astype(np.int64)
        bounced = (rcpt >= n) & (rng.random(rcpt.size) < BOUNCE_RATE)
        r_status = np.where(bounced, FAILED, DELIVERED)
        form = np.full(k, NEW)

        # 2. mail in from outside
        in_counts = rng.poisson(pop.inbound_rate * (0.3 if weekend else 1.0))
        in_rcpt = np.repeat(np.arange(n, dtype=np.int64), in_counts)
        q = in_rcpt.size
        known = rng.random(q) < 0.75
        contact = pop.ext_contacts[in_rcpt, rng.choice(EXTERNAL_CONTACTS, size=q, p=ZIPF_EXTERNAL)]
        stranger = self.unknown_senders[rng.integers(0, self.unknown_senders.size, size=q)]
        in_sender = n + np.where(known, contact, stranger).astype(np.int64)
        in_local = np.where(rng.random(q) < 0.9, rng.uniform(6 * HOUR, 20 * HOUR, size=q),
                            rng.uniform(0, DAY - 1, size=q))
        in_time = midnight[in_rcpt] + in_local.astype(np.int64)
        roll = rng.random(q)
        in_status = np.where(known,
                             np.where(roll < 0.010, FILTERED, np.where(roll < 0.012, QUARANTINED, DELIVERED)),
                             np.where(roll < 0.30, FILTERED, np.where(roll < 0.34, QUARANTINED, DELIVERED)))
        inbound = self.subjects.inbound
        in_subject = inbound[0] + (rng.random(q) * inbound[1]).astype(np.int64)
        in_size = np.clip(rng.lognormal(10.5, 0.9, size=q), 3_000, 20_000_000).astype(np.int64)
        cc = known & (rng.random(q) < 0.12) & self.replies[in_rcpt]
        cc_msg = np.flatnonzero(cc)
        cc_rcpt = pop.int_contacts[in_rcpt[cc_msg], rng.integers(0, INTERNAL_CONTACTS, size=cc_msg.size)]
        cc_keep = cc_rcpt != in_rcpt[cc_msg]
        in_r_msg = np.concatenate([np.arange(q, dtype=np.int64), cc_msg[cc_keep]])
        in_r_rcpt = np.concatenate([in_rcpt, cc_rcpt[cc_keep].astype(np.int64)])
        in_r_status = np.concatenate([in_status, in_status[cc_msg[cc_keep]]])

        # 3. replies: to one-to-one internal mail, and to external contacts
        single = np.bincount(r_msg, minlength=k) == 1
        first_rcpt = np.full(k, -1, dtype=np.int64)
        first_rcpt[r_msg] = rcpt
        answer = (single & (first_rcpt >= 0) & (first_rcpt < n) & self.replies[np.clip(first_rcpt, 0, n - 1)]
                  & (rng.random(k) < INTERNAL_REPLY))
        a_idx = np.flatnonzero(answer)
        ext_answer = known & (in_status == DELIVERED) & self.replies[in_rcpt] & (rng.random(q) < EXTERNAL_REPLY)
        e_idx = np.flatnonzero(ext_answer)
        delay_a = np.clip(rng.lognormal(np.log(40 * 60), 1.0, size=a_idx.size), 60, 8 * HOUR).astype(np.int64)
        delay_e = np.clip(rng.lognormal(np.log(60 * 60), 1.0, size=e_idx.size), 120, 10 * HOUR).astype(np.int64)
        rep_sender = np.concatenate([first_rcpt[a_idx], in_rcpt[e_idx]])
        rep_rcpt = np.concatenate([sender[a_idx], in_sender[e_idx]])
        rep_time = np.concatenate([time[a_idx] + delay_a, in_time[e_idx] + delay_e])
        rep_subject = np.concatenate([subject[a_idx], in_subject[e_idx]])
        reps = rep_sender.size
        rep_size = np.clip(rng.lognormal(10.0, 0.7, size=reps), 2_000, 10_000_000).astype(np.int64)

        # 4. bounces for the outbound recipients that failed
        b_rows = np.flatnonzero(r_status == FAILED)
        b_msg = r_msg[b_rows]
        b_time = time[b_msg] + rng.integers(2, 40, size=b_rows.size)

        # assemble: new, inbound, replies, bounces
        offsets = np.cumsum([0, k, q, reps])
        all_time = np.concatenate([time, in_time, rep_time, b_time])
        all_sender = np.concatenate([sender, in_sender, rep_sender, np.full(b_rows.size, self.system)])
        all_subject = np.concatenate([subject, in_subject, rep_subject, subject[b_msg]])
        all_form = np.concatenate([form, np.full(q, NEW), np.full(reps, REPLY), np.full(b_rows.size, BOUNCE)])
        all_size = np.concatenate([size, in_size, rep_size,
                                   rng.integers(8_000, 40_000, size=b_rows.size)])
        rep_status = np.where((rep_rcpt >= n) & (rng.random(reps) < BOUNCE_RATE / 2), FAILED, DELIVERED)
        rows_msg = np.concatenate([r_msg, in_r_msg + offsets[1], np.arange(reps) + offsets[2],
                                   np.arange(b_rows.size) + offsets[3]])
        rows_rcpt = np.concatenate([rcpt, in_r_rcpt, rep_rcpt, sender[b_msg]])
        rows_status = np.concatenate([r_status, in_r_status, rep_status, np.full(b_rows.size, DELIVERED)])
        ids = rng.integers(0, 256, size=(all_time.size, ID_BYTES), dtype=np.uint8)
        return DayTraffic(day, all_time.astype(np.int64), all_sender.astype(np.int64), all_subject.astype(np.int64),
                          all_form.astype(np.int8), all_size, ids, rows_msg.astype(np.int64),
                          rows_rcpt.astype(np.int64), rows_status.astype(np.int8))


def internal_counts(traffic: DayTraffic, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per message, how many of its recipients are in the tenant and how many outside."""
    k = traffic.messages
    internal = np.bincount(traffic.r_msg, weights=traffic.r_rcpt < n, minlength=k).astype(np.int64)
    total = np.bincount(traffic.r_msg, minlength=k).astype(np.int64)
    return internal, total - internal

