"""The live state of the simulated tenant: the snapshot's collections, their indexes, and what changed since.

Handlers read and change the tenant only through this object, under its lock, so concurrent requests see one
consistent tenant and every state change (unblock, revoke, reset, delete) happens in one place.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from toolkit.sandbox.clock import SimClock
from toolkit.sandbox.snapshot import SANDBOX_KEY, AppRegistration, Snapshot, parse_instant


def iso(value: datetime) -> str:
    """Graph's date-time text: UTC with 'Z'."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def strip_smtp(address: str) -> str:
    """'SMTP:User@X.com' -> 'user@x.com'."""
    text = address.strip()
    if ":" in text and text.split(":", 1)[0].lower() in {"smtp", "sip", "x500", "spo"}:
        text = text.split(":", 1)[1]
    return text.lower()


@dataclass
class PendingUnblock:
    sender: str
    effective_at: datetime


@dataclass
class TenantState:
    snapshot: Snapshot
    clock: SimClock
    lock: threading.RLock = field(default_factory=threading.RLock)
    unblocks_used: dict[str, int] = field(default_factory=dict)
    pending_unblocks: dict[str, PendingUnblock] = field(default_factory=dict)
    trace_times: list[datetime] = field(default_factory=list)
    _users_by_key: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.reindex()
        self.trace_times = [parse_instant(r["receivedDateTime"]) for r in self.collection("message_traces")]
        for row in self.collection("blocked_senders"):
            extra = row.get(SANDBOX_KEY) or {}
            used = int(extra.get("unblocksUsed", 0))
            if used:
                self.unblocks_used[row["SenderAddress"].lower()] = used

    # --- collections -------------------------------------------------------------------------------------------
    def collection(self, name: str) -> list[dict[str, Any]]:
        return self.snapshot.collections[name]

    @property
    def tenant_id(self) -> str:
        return self.snapshot.tenant.tenant_id

    def now(self) -> datetime:
        return self.clock.now()

    # --- directory ---------------------------------------------------------------------------------------------
    def reindex(self) -> None:
        index: dict[str, dict[str, Any]] = {}
        for user in self.collection("users"):
            keys = {user["id"].lower(), user["userPrincipalName"].lower()}
            if user.get("mail"):
                keys.add(user["mail"].lower())
            keys.update(strip_smtp(a) for a in user.get("proxyAddresses") or [])
            for key in keys:
                index.setdefault(key, user)
        self._users_by_key = index

    def find_user(self, key: str) -> dict[str, Any] | None:
        """A user by object id, UPN, mail or any proxy address (case-insensitive)."""
        return self._users_by_key.get(strip_smtp(key))

    def user_roles(self, user: dict[str, Any]) -> frozenset[str]:
        return frozenset((user.get(SANDBOX_KEY) or {}).get("roles", []))

    def find_app(self, client_id: str) -> AppRegistration | None:
        client_id = client_id.lower()
        return next((a for a in self.snapshot.apps if a.client_id == client_id), None)

    def find_mailbox(self, key: str) -> dict[str, Any] | None:
        """A mailbox by UPN, primary or secondary SMTP address, name, alias or object id."""
        wanted = strip_smtp(key)
        user = self.find_user(wanted)
        for box in self.collection("mailboxes"):
            names = {
                box["UserPrincipalName"].lower(),
                box["PrimarySmtpAddress"].lower(),
                str(box.get("Alias", "")).lower(),
                str(box.get("Name", "")).lower(),
                str(box.get("Identity", "")).lower(),
                str(box.get("ExternalDirectoryObjectId", "")).lower(),
                *(strip_smtp(a) for a in box.get("EmailAddresses") or []),
            }
            if wanted in names:
                return box
            if user is not None and user["userPrincipalName"].lower() in names:
                return box
        return None

    def inbox_rules(self, user: dict[str, Any], include_hidden: bool = False) -> list[dict[str, Any]]:
        """The user's inbox rules in execution order; hidden ones (``_sandbox.hidden``) only when asked.

        A rule's ``mailbox`` key names its owner by UPN, SMTP address or user id, all resolved the same way.
        """
        with self.lock:
            rules = [
                r for r in self.collection("message_rules")
                if self.find_user(str(r.get("mailbox", ""))) is user
                and (include_hidden or not (r.get(SANDBOX_KEY) or {}).get("hidden", False))
            ]
        return sorted(rules, key=lambda r: (int(r.get("sequence") or 0), str(r["id"])))

    # --- message trace -----------------------------------------------------------------------------------------
    def traces_between(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Trace rows received in [start, end], oldest first, found by bisection."""
        with self.lock:  # /_sandbox/send may be adding rows
            rows = self.collection("message_traces")
            lo = bisect.bisect_left(self.trace_times, start)
            hi = bisect.bisect_right(self.trace_times, end)
            return rows[lo:hi]

    def add_traces(self, rows: list[dict[str, Any]]) -> None:
        """Add message-trace rows (snapshot shape), keeping the collection in received order for bisection."""
        with self.lock:
            collection = self.collection("message_traces")
            for row in rows:
                moment = parse_instant(row["receivedDateTime"])
                at = bisect.bisect_right(self.trace_times, moment)
                self.trace_times.insert(at, moment)
                collection.insert(at, row)

    # --- restricted senders ------------------------------------------------------------------------------------
    def _release_time(self, row: dict[str, Any]) -> datetime | None:
        """A block for the day (TemporaryBlock) lifts at the next midnight UTC after it was made."""
        if not row.get("TemporaryBlock"):
            return None
        created = parse_instant(row["CreatedDatetime"])
        return (created + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)

    def active_blocks(self) -> list[dict[str, Any]]:
        """Blocked senders as Get-BlockedSenderAddress lists them now."""
        now = self.now()
        with self.lock:
            self._apply_due_unblocks(now)
            active = []
            for row in self.collection("blocked_senders"):
                release = self._release_time(row)
                if release is not None and now >= release:
                    continue
                active.append(row)
            return active

    def _apply_due_unblocks(self, now: datetime) -> None:
        due = [s for s, p in self.pending_unblocks.items() if p.effective_at <= now]
        if not due:
            return
        rows = self.collection("blocked_senders")
        rows[:] = [r for r in rows if r["SenderAddress"].lower() not in due]
        for sender in due:
            del self.pending_unblocks[sender]

    def request_unblock(self, sender: str) -> PendingUnblock:
        """Record an unblock; it takes effect after the tenant's delay. Raises LookupError or PermissionError."""
        sender = sender.lower()
        now = self.now()
        with self.lock:
            self._apply_due_unblocks(now)
            if not any(r["SenderAddress"].lower() == sender for r in self.active_blocks()):
                raise LookupError(sender)
            if sender in self.pending_unblocks:
                return self.pending_unblocks[sender]
            used = self.unblocks_used.get(sender, 0)
            if used >= self.snapshot.tenant.behaviour.max_unblocks_per_sender:
                raise PermissionError(sender)
            self.unblocks_used[sender] = used + 1
            delay = timedelta(seconds=self.snapshot.tenant.behaviour.unblock_delay_seconds)
            pending = PendingUnblock(sender, now + delay)
            self.pending_unblocks[sender] = pending
            return pending
