"""Planning a run of messages (a spam burst, a newsletter, a mail merge, an invoice run) and its recipients.

Exchange Online accepts at most 30 messages a minute from one sender, so messages are never closer than two
seconds; a run reaches many recipients by putting many on one message (Bcc) instead.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from toolkit.sandbox.generate import catalog
from toolkit.sandbox.generate.limits import Block, Send, SpamRule, replay
from toolkit.sandbox.generate.policy import Limits
from toolkit.sandbox.generate.population import PERSON, SHARED
from toolkit.sandbox.generate.rand import pick
from toolkit.sandbox.generate.story import PlanContext, Story
from toolkit.sandbox.generate.timefmt import DAY, HOUR, MINUTE
from toolkit.sandbox.generate.traces import PlannedMessage

MIN_GAP = 2  # seconds: 30 messages per minute


def run(ctx: PlanContext, sender: int, start: int, batches: list[list[str]], mean_gap: float,
        subject: Callable[[int, list[str]], str], from_ips: list[str], size_mu: float = 10.0,
        spam_share: float = 0.0, fail_rate: float = 0.0) -> list[PlannedMessage]:
    """One message per batch, ``mean_gap`` seconds apart on average, spam verdicts rising through the run."""
    rng = ctx.rng
    m = len(batches)
    gaps = np.maximum(MIN_GAP, rng.exponential(mean_gap, size=m)).astype(np.int64)
    gaps[0] = 0
    times = start + np.cumsum(gaps)
    spam = np.zeros(m, dtype=bool)
    count = round(spam_share * m)
    if count:
        weights = np.linspace(0.3, 1.0, m)
        spam[rng.choice(m, size=min(count, m), replace=False, p=weights / weights.sum())] = True
    sizes = np.clip(rng.lognormal(size_mu, 0.4, size=m), 1_500, 30_000_000).astype(np.int64)
    switch = max(1, m // max(1, len(from_ips)))
    domains = ctx.tenant.domains
    out = []
    for i, recipients in enumerate(batches):
        failed = frozenset(j for j, r in enumerate(recipients)
                           if r.rsplit("@", 1)[-1] not in domains and rng.random() < fail_rate)
        out.append(ctx.message(int(times[i]), sender, recipients, subject(i, recipients), int(sizes[i]),
                               from_ips[min(len(from_ips) - 1, i // switch)], bool(spam[i]), failed))
    return out


def batches(recipients: list[str], low: int, high: int, rng: np.random.Generator) -> list[list[str]]:
    """Split recipients into messages of ``low``..``high`` recipients each."""
    out, i = [], 0
    while i < len(recipients):
        size = int(rng.integers(low, high + 1))
        out.append(recipients[i:i + size])
        i += size
    return out


def spam_targets(ctx: PlanContext, victim: int, count: int) -> list[str]:
    """The victim's own external contacts first, then harvested addresses at consumer and partner domains."""
    ext = ctx.world.external
    own = [ext.addresses[i] for i in dict.fromkeys(ctx.pop.ext_contacts[victim].tolist())]
    seen = set(own)
    out = list(own[:count])
    rng = ctx.rng
    while len(out) < count:
        roll = rng.random()
        if roll < 0.3:
            address = ext.addresses[int(rng.integers(0, ext.size))]
        else:
            first = pick(rng, catalog.FIRST_NAMES).lower()
            last = pick(rng, catalog.LAST_NAMES).lower()
            domain = pick(rng, catalog.CONSUMER_DOMAINS) if roll < 0.85 else f"{pick(rng, catalog.PARTNER_PREFIXES)}" \
                f"-{pick(rng, ('mail', 'corp', 'biz', 'online'))}.example"
            address = f"{first}.{last}{int(rng.integers(1, 999))}@{domain}"
        if address not in seen:
            seen.add(address)
            out.append(address)
    return out


def new_contacts(ctx: PlanContext, count: int, kinds: tuple[str, ...] = ("customer", "distributor")) -> list[str]:
    """External people the sender has not mailed before (conference leads, a purchased list)."""
    rng = ctx.rng
    ext = ctx.world.external
    pool = np.concatenate([ext.by_kind[k] for k in kinds] + [ext.consumers])
    picked = [ext.addresses[i] for i in dict.fromkeys(pool[rng.permutation(pool.size)[:count]].tolist())]
    seen = set(picked)
    while len(picked) < count:
        first = pick(rng, catalog.FIRST_NAMES).lower()
        last = pick(rng, catalog.LAST_NAMES).lower()
        address = f"{first}.{last}@{pick(rng, catalog.PARTNER_PREFIXES)}{pick(rng, ('group', 'co', 'inc'))}.example"
        if address not in seen:
            seen.add(address)
            picked.append(address)
    return picked


def whole_company(ctx: PlanContext, exclude: int) -> list[str]:
    pop = ctx.pop
    return [pop.address[u] for u in range(pop.n) if u != exclude and int(pop.kind[u]) in (PERSON, SHARED)]


def first_name_of(address: str) -> str:
    local = address.split("@", 1)[0]
    head = local.split(".", 1)[0].rstrip("0123456789")
    return head.capitalize() or "there"


def sends_of(messages: list[PlannedMessage], domains: tuple[str, ...]) -> list[Send]:
    out = []
    for i, msg in enumerate(messages):
        internal, external = msg.counts(domains)
        out.append(Send(msg.time, (1, i), msg.trace_id, internal, external, msg.spam))
    return out


def estimate(ctx: PlanContext, messages: list[PlannedMessage], limits: Limits,
             spam: SpamRule | None) -> Block | None:
    """The block these messages alone would earn (the sender's own mail only adds to it)."""
    return replay(sends_of(messages, ctx.tenant.domains), limits, spam)


def spam_rule(ctx: PlanContext, messages: list[PlannedMessage], low: int, high: int) -> SpamRule:
    """The outbound spam filter's patience for this run: a threshold in [low, high] spam messages and a minimum
    spam share comfortably under the run's own."""
    spam = sum(m.spam for m in messages)
    share = 100 * spam / max(1, len(messages))
    high = max(3, min(high, int(spam * 0.6)))
    return SpamRule(ctx.integer(min(low, high), high), ctx.integer(25, max(26, int(share) - 15)))


def could_hit_limits(ctx: PlanContext, messages: list[PlannedMessage], limits: Limits) -> bool:
    """Whether the run, plus a margin for the sender's everyday mail, could go over a sending limit."""
    margin = Limits(limits.policy, int(limits.external_per_hour * 0.9) - 30, int(limits.internal_per_hour * 0.9) - 30,
                    int(limits.per_day * 0.9) - 60, "BlockUser")
    return replay(sends_of(messages, ctx.tenant.domains), margin, None) is not None


def shift(messages: list[PlannedMessage], delta: int) -> None:
    for msg in messages:
        msg.time += delta


def squeeze(messages: list[PlannedMessage], start: int, factor: float) -> None:
    """Compress a run in time around its start (when it must finish before now)."""
    for msg in messages:
        msg.time = start + int((msg.time - start) * factor)


def place(ctx: PlanContext, story: Story, messages: list[PlannedMessage], spam: SpamRule | None,
          preferred: Callable[[int], int] | None = None, day: int | None = None) -> int:
    """Put a run (planned from time 0) on the calendar and hand it to the story; returns its start.

    A run that could go over a sending limit of a BlockUserForToday policy must happen today (that block lifts at
    the next UTC midnight, so only today's is still listed); others go on ``day`` (midnight UTC) or, when not
    given, today or a recent day. A run today is squeezed, when needed, so that its restriction comes before now.
    """
    limits = story.limits
    story.spam_rule = spam
    forced = limits.temporary and could_hit_limits(ctx, messages, limits)
    if day is None:
        day = ctx.today if ctx.chance(0.4) else ctx.past_day()
    on_today = forced or day == ctx.today
    block = estimate(ctx, messages, limits, spam)
    span = (block.last.time if block else messages[-1].time) + 60
    if on_today:
        room = ctx.now - ctx.today - 40 * MINUTE
        if span > room * 0.9:
            squeeze(messages, 0, room * 0.9 / span)
            span = int(room * 0.9)
        want = preferred(ctx.today) if preferred else ctx.today + ctx.integer(30 * MINUTE, 8 * HOUR)
        start = ctx.fit_today(want, span)
    else:  # inside its UTC day when it fits: the daily count restarts at midnight
        latest = max(day, day + DAY - span - 10 * MINUTE)
        start = min(preferred(day) if preferred else day + ctx.integer(0, latest - day), latest)
    shift(messages, start)
    story.must_block_today = forced
    story.sends = messages
    return start
