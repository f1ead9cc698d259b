"""After the restriction: the blocked-sender entry, the alerts at their times, the sends that bounce with 5.1.8,
and the story's own aftermath (an admin's clean-up)."""

from __future__ import annotations

from typing import Any

from toolkit.sandbox.generate.limits import Block
from toolkit.sandbox.generate.records import alert
from toolkit.sandbox.generate.story import PlanContext, Story
from toolkit.sandbox.generate.timefmt import MINUTE, exchange_time, graph_time, parse_graph
from toolkit.sandbox.generate.traces import PlannedMessage, internal_message_id

RESTRICTED_NDR = "550 5.1.8 Access denied, bad outbound sender"


def finish(ctx: PlanContext, story: Story, block: Block) -> None:
    story.block = block
    blocked_at = block.last.time + ctx.integer(5, 40)
    story.block_time = blocked_at
    row: dict[str, Any] = {"SenderAddress": story.address, "Reason": block.reason(),
                           "CreatedDatetime": exchange_time(blocked_at), "ChangedDatetime": exchange_time(blocked_at),
                           "TemporaryBlock": block.temporary}
    if story.unblocks_used:
        row["_sandbox"] = {"unblocksUsed": story.unblocks_used}
    story.blocked_sender = row
    _bounces(ctx, story, blocked_at)
    if story.after_block is not None:
        story.after_block(story, block, blocked_at, ctx)
    _alerts(ctx, story, block, blocked_at)
    story.facts["block"] = {
        "action": block.action, "temporary": block.temporary, "trigger": block.trigger,
        "reasonFormat": "sendingLimit" if block.trigger == "limit" else "outboundSpam",
        "limit": block.limit, "exceedingLimitType": block.exceeding_type if block.trigger == "limit" else None,
        "created": graph_time(blocked_at), "lastMessageTraceId": block.last.trace_id,
        "lastMessage": graph_time(block.last.time), "internalToday": block.internal_today,
        "externalToday": block.external_today, "spam24h": block.spam_24h, "mail24h": block.mail_24h,
        "policy": story.limits.as_dict(),
        "spamRule": ({"threshold": story.spam_rule.threshold, "minPercent": story.spam_rule.min_percent}
                     if story.spam_rule else None),
    }
    if story.sends:
        story.facts["window"] = {"start": story.facts.get("compromised") or graph_time(story.sends[0].time),
                                 "end": graph_time(blocked_at)}


def _bounces(ctx: PlanContext, story: Story, blocked_at: int) -> None:
    """Sends after the restriction are refused; the sender gets a non-delivery report for each."""
    if not story.sends:
        return
    latest = ctx.now - MINUTE
    subject = story.sends[-1].subject
    host = ctx.pop.offices[int(ctx.pop.office[story.victim])].host
    for _ in range(story.retries):
        t = blocked_at + ctx.integer(60, max(120, story.retry_spread))
        if t > latest:
            continue
        story.other_messages.append(PlannedMessage(
            time=t, trace_id=ctx.ids.uuid(), message_id=internal_message_id(ctx.ids.hex(24), host),
            sender=ctx.tenant.system_sender, recipients=[story.address], subject=f"Undeliverable: {subject}",
            size=ctx.integer(9_000, 30_000), from_ip="", note=f"Delivered the non-delivery report: {RESTRICTED_NDR}"))


def _alerts(ctx: PlanContext, story: Story, block: Block, blocked_at: int) -> None:
    pop = ctx.pop
    u = story.victim
    tenant_id = ctx.tenant.tenant_id
    first = story.sends[0].time if story.sends else block.last.time
    resolved = parse_graph(story.facts["passwordReset"]) if story.remediated else None
    status = "resolved" if story.remediated else "new"
    incident = ctx.integer(100, 99_999)

    def raise_alert(title: str, created: int, first_at: int, last_at: int) -> None:
        created = min(created, ctx.now - 30)
        done = resolved if resolved and resolved > created else None
        story.alerts.append(alert(ctx.ids, tenant_id, title, created, first_at, last_at, pop.address[u], pop.ids[u],
                                  incident, status if done else "new", done))

    for title, created, activity in story.extra_alerts:
        raise_alert(title, created, activity, activity)
    if block.warning is not None:
        created = min(block.warning + ctx.integer(2 * MINUTE, 8 * MINUTE), blocked_at + 10)
        raise_alert("Suspicious email sending patterns detected", created, first, block.warning)
    if block.trigger == "limit":
        raise_alert("Email sending limit exceeded", blocked_at + ctx.integer(20, 90), first, block.last.time)
    raise_alert("User restricted from sending email", blocked_at + ctx.integer(30, 120), first, block.last.time)
    story.facts["alertIds"] = [a["id"] for a in story.alerts]
