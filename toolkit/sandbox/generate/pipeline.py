"""``generate_tenant``: population, scenarios, the restriction replay, then every file of the snapshot.

Order of work: build the world; let each scenario plan its story and the background noise plan theirs; replay the
restricted senders' mail (first pass over the days) to find each restriction; finish the stories; then write,
streaming the population's mail and sign-ins day by day (second pass) merged in time order with the planted ones.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.sandbox.generate import directory
from toolkit.sandbox.generate.finish import finish
from toolkit.sandbox.generate.noise import Noise, plan_noise
from toolkit.sandbox.generate.policy import build_policies
from toolkit.sandbox.generate.rand import stream
from toolkit.sandbox.generate.scenarios import SCENARIOS, resolve
from toolkit.sandbox.generate.signins import SignInModel
from toolkit.sandbox.generate.simulate import ORDER_DAY, everyday_sends, local_days, restrict
from toolkit.sandbox.generate.story import PlanContext, Story
from toolkit.sandbox.generate.timefmt import DAY, HOUR, audit_time, from_datetime, graph_time, to_datetime
from toolkit.sandbox.generate.traces import TraceFormatter
from toolkit.sandbox.generate.traffic import TrafficModel
from toolkit.sandbox.generate.truth import truth
from toolkit.sandbox.generate.world import World, build_world
from toolkit.sandbox.generate.writer import SnapshotWriter, TimeOrderedSink, check_target

log = logging.getLogger(__name__)

DEFAULT_NOW = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)
MIN_USERS, MAX_USERS = 40, 200_000
MIN_DAYS, MAX_DAYS = 3, 90


@dataclass(frozen=True)
class LabelledSender:
    address: str
    label: str
    scenario: str
    restricted: bool
    remediated: bool
    action: str | None
    reason_format: str | None


@dataclass
class GenerationReport:
    out: Path
    seed: int
    users: int
    days: int
    now: datetime
    scenarios: list[str]
    counts: dict[str, int] = field(default_factory=dict)
    labelled: list[LabelledSender] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.counts.values())

    def __str__(self) -> str:
        return self.summary()

    def summary(self) -> str:
        until = graph_time(int(self.now.timestamp()))
        lines = [f"seed {self.seed}, {self.users} users, {self.days} days to {until}"
                 f" - {self.total_rows:,} lines in {self.seconds:.1f} s"]
        lines += [f"  {name}: {count:,}" for name, count in self.counts.items()]
        lines += [f"  {s.address}: {s.label} ({s.scenario}), {s.action or 'not restricted'}"
                  f"{', remediated' if s.remediated else ''}" for s in self.labelled]
        return "\n".join(lines)


def _validate(seed: Any, users: Any, days: Any, now: datetime | None) -> None:
    def integer(name: str, value: Any, low: int, high: int | None) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an integer, got {value!r}")
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise ValueError(f"{name} must be {bound}, got {value}")

    integer("seed", seed, 0, 2**63 - 1)
    integer("users", users, MIN_USERS, MAX_USERS)
    integer("days", days, MIN_DAYS, MAX_DAYS)
    if now is not None and not isinstance(now, datetime):
        raise TypeError(f"now must be a datetime, got {now!r}")


def generate_tenant(out: Path, *, seed: int = 1, users: int = 300, days: int = 30,
                    scenarios: list[str] | None = None, now: datetime | None = None) -> GenerationReport:
    """Write a tenant snapshot for ``seed`` into ``out`` (which must not exist, or be empty).

    ``scenarios``: names from ``SCENARIOS`` (repeats plant more senders); None plants ``DEFAULT_SCENARIOS``.
    ``now``: the simulated "now" (UTC; naive means UTC); default 2026-11-20T12:00:00Z, never the wall clock.
    """
    started = time.perf_counter()
    _validate(seed, users, days, now)
    names = resolve(scenarios)
    out = Path(out)
    check_target(out)
    moment = (now or DEFAULT_NOW).replace(microsecond=0)
    now_s = from_datetime(moment)
    if now_s % DAY < 6 * HOUR:
        raise ValueError("now must be at least 06:00 UTC into its day, so today's restrictions have time to happen "
                         f"(got {graph_time(now_s)})")

    world = build_world(seed, users, days, now_s)
    signin_model = SignInModel(world)
    pop = world.pop
    finance = [pop.address[u] for u in range(pop.n) if pop.department[u] == "Finance"]
    policies = build_policies(stream(seed, "policies"), int(pop.created.min()), now_s - 200 * DAY, finance)
    ctx = PlanContext.create(world, signin_model, policies)
    occurrences: dict[str, int] = {}
    stories: list[Story] = []
    for name in names:
        k = occurrences.get(name, 0)
        occurrences[name] = k + 1
        stories.append(SCENARIOS[name].plan(ctx.for_scenario(name, k)))
    noise = plan_noise(ctx.for_scenario("noise", 0))

    model = TrafficModel(world)
    everyday = everyday_sends(world, model, [s.victim for s in stories])
    for i, story in enumerate(stories):
        block = restrict(world, story, everyday[story.victim])
        finish(ctx.for_scenario(f"{story.scenario}:finish", i), story, block)
    log.info("planned %d stories in %.1f s", len(stories), time.perf_counter() - started)

    with SnapshotWriter(out) as writer:
        _write(writer, ctx, world, model, stories, noise)
        writer.json("truth.json", truth(ctx, stories, noise, seed, users, days, names))
        counts = writer.commit()
    report = GenerationReport(
        out=out, seed=seed, users=users, days=days, now=to_datetime(now_s), scenarios=names, counts=counts,
        labelled=[LabelledSender(s.address, s.label, s.scenario, s.blocked_sender is not None, s.remediated,
                                 s.block.action if s.block else None,
                                 s.facts.get("block", {}).get("reasonFormat")) for s in stories],
        seconds=time.perf_counter() - started)
    log.info("wrote %s: %s lines in %.1f s", out, f"{report.total_rows:,}", report.seconds)
    return report


def _before_now(ctx: PlanContext, rows: list[dict[str, Any]], key: str, audit: bool = False) -> list[dict[str, Any]]:
    limit = audit_time(ctx.now) if audit else graph_time(ctx.now)
    start = audit_time(ctx.tenant.start) if audit else graph_time(ctx.tenant.start)
    return sorted((r for r in rows if start <= r[key] <= limit), key=lambda r: r[key])


def _write(writer: SnapshotWriter, ctx: PlanContext, world: World, model: TrafficModel, stories: list[Story],
           noise: Noise) -> None:
    pop = world.pop
    writer.json("tenant.json", directory.tenant_file(ctx))
    writer.json("apps.json", directory.apps())

    user_overrides: dict[int, dict[str, Any]] = {u: dict(v) for u, v in noise.user.items()}
    mailbox_overrides: dict[int, dict[str, Any]] = {u: dict(v) for u, v in noise.mailbox.items()}
    for story in stories:
        user_overrides.setdefault(story.victim, {}).update(story.user)
        mailbox_overrides.setdefault(story.victim, {}).update(story.mailbox)
    writer.jsonl("users").write_rows(directory.users(ctx, user_overrides))
    writer.jsonl("mailboxes").write_rows(directory.mailboxes(ctx, mailbox_overrides))
    methods = writer.jsonl("auth_methods")
    methods.write_rows(directory.auth_methods(ctx))
    methods.write_rows(noise.auth_methods)
    methods.write_rows(m for s in stories for m in s.auth_methods)
    writer.jsonl("service_principals").write_rows([*directory.service_principals(ctx), *noise.service_principals,
                                                   *(p for s in stories for p in s.service_principals)])
    writer.jsonl("oauth_grants").write_rows([*noise.grants, *(g for s in stories for g in s.grants)])
    writer.jsonl("outbound_policies").write_rows([ctx.policies.default, ctx.policies.strict])
    writer.jsonl("outbound_rules").write_rows([ctx.policies.rule()])
    writer.jsonl("blocked_senders").write_rows(sorted((s.blocked_sender for s in stories if s.blocked_sender),
                                                      key=lambda r: r["CreatedDatetime"]))
    writer.jsonl("alerts").write_rows(_before_now(ctx, [a for s in stories for a in s.alerts], "createdDateTime"))
    writer.jsonl("audit").write_rows(_before_now(ctx, [*noise.audit, *(a for s in stories for a in s.audit)],
                                                 "CreationTime", audit=True))
    writer.jsonl("risk_detections").write_rows(
        _before_now(ctx, [*noise.risk_detections, *(r for s in stories for r in s.risk_detections)],
                    "activityDateTime"))
    risky: dict[str, dict[str, Any]] = {r["id"]: r for r in noise.risky_users}
    risky.update({s.risky_user["id"]: s.risky_user for s in stories if s.risky_user})
    writer.jsonl("risky_users").write_rows(sorted(risky.values(), key=lambda r: r["riskLastUpdatedDateTime"]))
    order = {a: i for i, a in enumerate(pop.address)}
    rules = [*noise.rules, *(r for s in stories for r in s.rules)]
    writer.jsonl("message_rules").write_rows(sorted(rules, key=lambda r: (order[r["mailbox"]], r["sequence"])))
    _stream(writer, ctx, world, model, stories, noise)


def _stream(writer: SnapshotWriter, ctx: PlanContext, world: World, model: TrafficModel, stories: list[Story],
            noise: Noise) -> None:
    """Message traces, their details and sign-ins: planted lines first, then the population day by day."""
    tenant = world.tenant
    start, now = tenant.start, tenant.now
    traces = TimeOrderedSink(writer.jsonl("message_traces"))
    details = TimeOrderedSink(writer.jsonl("message_trace_details"))
    signins = TimeOrderedSink(writer.jsonl("sign_ins"))
    formatter = TraceFormatter(world, {s.victim for s in stories})
    signin_model = ctx.signin_model

    planted = [m for s in stories for m in (*s.sends, *s.other_messages) if start <= m.time <= now]
    t, lines, dt, dlines = formatter.planted(planted)
    traces.add(t, lines)
    details.add(dt, dlines)
    planted_signins = [x for x in (*noise.signins, *(x for s in stories for x in s.signins)) if start <= x.time <= now]
    st, slines = signin_model.planted(planted_signins)
    signins.add(st, slines)

    cuts = {s.victim: (s.block.last.time, s.block.last.order) for s in stories if s.block is not None}
    for day in local_days(world):
        traffic = model.day(day)
        keep = (traffic.time >= start) & (traffic.time <= now)
        for victim, (cut_time, cut_order) in cuts.items():
            mine = traffic.sender == victim
            if not mine.any():
                continue
            late = traffic.time > cut_time
            if cut_order[0] == 0:
                keys = day * ORDER_DAY + np.arange(traffic.messages)
                late |= (traffic.time == cut_time) & (keys > cut_order[1])
            keep &= ~(mine & late)
        t, lines, dt, dlines = formatter.day(traffic, keep)
        traces.add(t, lines)
        details.add(dt, dlines)
        st, slines = signin_model.day(day)
        inside = np.flatnonzero((st >= start) & (st <= now))
        signins.add(st[inside], [slines[i] for i in inside.tolist()])
        watermark = (day + 1) * DAY - 14 * HOUR
        for sink in (traces, details, signins):
            sink.flush(watermark)
        log.debug("day %s: %d messages", graph_time(day * DAY)[:10], int(keep.sum()))
    for sink in (traces, details, signins):
        sink.flush()
