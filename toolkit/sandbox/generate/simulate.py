"""The first pass: what did each story's sender send, everyday mail and planted runs together, and when (if at
all) was it restricted? The answer decides what the second pass writes (nothing the sender sent after the
restriction exists) and what the block's ``Reason`` says.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np

from toolkit.sandbox.generate.limits import Block, Send, SpamRule, reachable_threshold, replay
from toolkit.sandbox.generate.sending import sends_of
from toolkit.sandbox.generate.story import Story
from toolkit.sandbox.generate.traces import trace_id_text
from toolkit.sandbox.generate.traffic import TrafficModel, internal_counts
from toolkit.sandbox.generate.world import World

log = logging.getLogger(__name__)

#: Orders everyday messages of one sender across days: (0, day * ORDER_DAY + index within the day).
ORDER_DAY = 10_000_000


class GenerationError(RuntimeError):
    """A scenario could not plant what it promises (a bug, or a tenant too small for it)."""


def local_days(world: World) -> range:
    """Every local day that can put mail inside the window (time zones reach 14 hours either side)."""
    return range(world.tenant.first_day - 1, world.tenant.last_day + 2)


def everyday_sends(world: World, model: TrafficModel, senders: Iterable[int]) -> dict[int, list[Send]]:
    """The everyday messages of ``senders`` inside the window, as the limits see them."""
    wanted = np.array(sorted(set(senders)), dtype=np.int64)
    out: dict[int, list[Send]] = {int(u): [] for u in wanted}
    if wanted.size == 0:
        return out
    start, now, n = world.tenant.start, world.tenant.now, world.pop.n
    for day in local_days(world):
        traffic = model.day(day)
        hit = np.flatnonzero(np.isin(traffic.sender, wanted) & (traffic.time >= start) & (traffic.time <= now))
        if hit.size == 0:
            continue
        internal, external = internal_counts(traffic, n)
        for i in hit.tolist():
            tid = trace_id_text(traffic.ids[i, :16].tobytes().hex())
            out[int(traffic.sender[i])].append(Send(int(traffic.time[i]), (0, day * ORDER_DAY + i), tid,
                                                    int(internal[i]), int(external[i]), False))
    return out


def restrict(world: World, story: Story, everyday: list[Send]) -> Block:
    """Replay the sender's mail; keep only the planted messages sent up to the restriction."""
    tenant = world.tenant
    planted = sorted((m for m in story.sends if tenant.start <= m.time <= tenant.now), key=lambda m: m.time)
    sends = sorted(everyday + sends_of(planted, tenant.domains), key=lambda s: (s.time, s.order))
    block = replay(sends, story.limits, story.spam_rule)
    for min_percent in (None, 20):
        if block is not None or story.spam_rule is None:
            break
        rule = story.spam_rule if min_percent is None else SpamRule(story.spam_rule.threshold, min_percent)
        reach = reachable_threshold(sends, rule)
        if reach >= 2:
            story.spam_rule = SpamRule(min(rule.threshold, reach), rule.min_percent)
            block = replay(sends, story.limits, story.spam_rule)
    if block is None:
        raise GenerationError(f"scenario {story.scenario} planted no restriction for {story.address}")
    if block.temporary and block.last.time // 86_400 != tenant.now // 86_400:
        raise GenerationError(f"scenario {story.scenario}: a BlockUserForToday restriction of {story.address} fell "
                              "before today and would already be lifted")
    cut = (block.last.time, block.last.order)
    story.sends = [m for i, m in enumerate(planted) if (m.time, (1, i)) <= cut]
    log.debug("%s: %s restricted at %s (%s)", story.scenario, story.address, block.last.time, block.trigger)
    return block
