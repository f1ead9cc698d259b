"""truth.json: what really happened, never served. One label per planted sender with the facts an evidence engine
can be measured against, the tenant-wide settings that shape the evidence, and the background noise."""

from __future__ import annotations

from typing import Any

from toolkit.sandbox.generate.noise import Noise
from toolkit.sandbox.generate.policy import SERVICE_DEFAULTS
from toolkit.sandbox.generate.story import PlanContext, Story
from toolkit.sandbox.generate.timefmt import graph_time

GENERATOR = "toolkit.sandbox.generate"
VERSION = 1


def truth(ctx: PlanContext, stories: list[Story], noise: Noise, seed: int, users: int, days: int,
          scenarios: list[str]) -> dict[str, Any]:
    tenant = ctx.tenant
    labels: dict[str, Any] = {}
    for story in stories:
        labels[story.address] = {
            "label": story.label,
            "scenario": story.scenario,
            "restricted": story.blocked_sender is not None,
            "remediated": story.remediated,
            "kind": ctx.pop.profile[story.victim],
            "userId": ctx.pop.ids[story.victim],
            **story.facts,
        }
    return {
        "generator": GENERATOR,
        "version": VERSION,
        "seed": seed,
        "users": users,
        "days": days,
        "now": graph_time(tenant.now),
        "windowStart": graph_time(tenant.start),
        "scenarios": scenarios,
        "licences": {"entraIdP1": tenant.entra_id_p1, "entraIdP2": tenant.entra_id_p2},
        "serviceDefaults": dict(SERVICE_DEFAULTS),
        "policies": {"default": ctx.policies.default_limits.as_dict(),
                     "strict": ctx.policies.strict_limits.as_dict(),
                     "strictMembers": len(ctx.policies.strict_members)},
        "systemSender": tenant.system_sender,
        "labels": labels,
        "noise": noise.facts,
    }
