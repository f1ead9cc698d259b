"""When does Exchange Online restrict a sender? Replays a sender's messages in order against the effective outbound
policy and the outbound spam filter, and returns the restriction with the counts its ``Reason`` reports.

Rules (the generator's model of the service, see docs/scenarios.md):
- sending limits: recipients in a sliding hour (internal and external separately) and recipients on the UTC day;
  the message that goes over a limit is still sent and is the block's ``Last MessagetraceId``; the policy's action
  decides the block (BlockUserForToday: lifted at the next UTC midnight; BlockUser: until an admin removes it);
- outbound spam: once ``threshold`` messages of the last 24 hours were spam and they are at least ``min_percent`` of
  the sender's messages in those 24 hours, the sender is restricted until an admin removes it, whatever the policy.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from toolkit.sandbox.generate.policy import Limits
from toolkit.sandbox.generate.timefmt import DAY, HOUR

#: Spam messages in 24 hours at which "Suspicious email sending patterns detected" fires, as a share of the
#: restriction threshold.
WARNING_SHARE = 0.5


@dataclass(frozen=True)
class Send:
    """One message as the limits see it. ``order`` breaks ties within a second (the population's mail first)."""

    time: int
    order: tuple[int, int]
    trace_id: str
    internal: int
    external: int
    spam: bool

    @property
    def recipients(self) -> int:
        return self.internal + self.external


@dataclass(frozen=True)
class SpamRule:
    threshold: int  # spam messages in 24 hours
    min_percent: int


@dataclass(frozen=True)
class Block:
    trigger: str  # "limit" or "spam"
    limit: str | None  # "external_hour", "internal_hour" or "day"
    last: Send
    internal_today: int
    external_today: int
    spam_24h: int
    mail_24h: int
    warning: int | None  # when the spam share first looked suspicious
    action: str
    temporary: bool

    @property
    def exceeding_type(self) -> str:
        if self.limit == "internal_hour":
            return "Internal"
        if self.limit == "external_hour":
            return "External"
        return "External" if self.external_today >= self.internal_today else "Internal"

    @property
    def spam_percent(self) -> int:
        return int(100 * self.spam_24h / self.mail_24h + 0.5) if self.mail_24h else 0

    def reason(self) -> str:
        """The ``Reason`` of Get-BlockedSenderAddress, in the sending-limit or the outbound-spam format."""
        if self.trigger == "limit":
            return (f"EmailSendingLimitExceeded;InternalRecipientCountToday={self.internal_today};"
                    f"ExternalRecipientCountToday={self.external_today};ExceedingLimitType={self.exceeding_type};"
                    f"Last MessagetraceId={self.last.trace_id};LastMessageRcptCount={self.last.recipients};")
        return (f"OutboundSpamLast24Hours={self.spam_24h};OutboundMailLast24Hours={self.mail_24h};"
                f"OutboundSpamPercent={self.spam_percent};Last Spam Message MessagetraceId:{self.last.trace_id}")


def replay(sends: list[Send], limits: Limits, spam: SpamRule | None) -> Block | None:
    """The first restriction the sends earn, or None. ``sends`` must be sorted by (time, order)."""
    hour: deque[Send] = deque()
    day_window: deque[Send] = deque()
    hour_int = hour_ext = 0
    spam_count = 0
    today, today_int, today_ext = -1, 0, 0
    warning: int | None = None
    warn_at = max(2, int(spam.threshold * WARNING_SHARE)) if spam else 0
    for send in sends:
        hour.append(send)
        hour_int += send.internal
        hour_ext += send.external
        while hour[0].time <= send.time - HOUR:
            old = hour.popleft()
            hour_int -= old.internal
            hour_ext -= old.external
        day_window.append(send)
        spam_count += send.spam
        while day_window[0].time <= send.time - DAY:
            spam_count -= day_window.popleft().spam
        if send.time // DAY != today:
            today, today_int, today_ext = send.time // DAY, 0, 0
        today_int += send.internal
        today_ext += send.external

        limit = None
        if hour_ext > limits.external_per_hour:
            limit = "external_hour"
        elif hour_int > limits.internal_per_hour:
            limit = "internal_hour"
        elif today_int + today_ext > limits.per_day:
            limit = "day"
        if spam and warning is None and spam_count >= warn_at:
            warning = send.time
        if limit is not None and limits.action != "Alert":
            return Block("limit", limit, send, today_int, today_ext, spam_count, len(day_window), warning,
                         limits.action, limits.temporary)
        if (spam and send.spam and spam_count >= spam.threshold
                and 100 * spam_count >= spam.min_percent * len(day_window)):
            return Block("spam", None, send, today_int, today_ext, spam_count, len(day_window), warning,
                         "BlockUser", False)
    return None


def reachable_threshold(sends: list[Send], spam: SpamRule) -> int:
    """The highest spam count the sends reach while the spam share holds (0 when none): a threshold that fires."""
    window: deque[Send] = deque()
    count = best = 0
    for send in sends:
        window.append(send)
        count += send.spam
        while window[0].time <= send.time - DAY:
            count -= window.popleft().spam
        if send.spam and 100 * count >= spam.min_percent * len(window):
            best = max(best, count)
    return best
