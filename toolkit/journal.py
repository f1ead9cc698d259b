"""The action journal: every remediation and unblock, written before the call (intent) and after it (outcome).

One SQLite file (WAL, synchronous FULL, owner-only 0600) per store, by default ``<store dir>/journal.sqlite3``.
Entries are append-only: triggers refuse UPDATE and DELETE (and an INSERT that would replace an entry), and each
entry carries the SHA-256 of the previous one, so an edit made around the triggers shows in :meth:`Journal.verify`.

Entry kinds: ``intent`` (before a call, or before deciding there is nothing to do; dry runs too), ``outcome`` (after
it: done, requested, nothing_to_do, dry_run, refused, failed; with the read-back), ``reconciliation`` (an intent left
without an outcome by a crash, resolved later by reading the tenant), ``verification`` (a later read-back that a
pending change took effect: an unblock), ``export`` (a case bundle written, with its manifest hash). Every entry but
an intent links to its intent; an intent is closed by one outcome or one reconciliation.

Who: the identity in the token; when: UTC on this machine and on the service's clock; why: the analyst's note and
any override justification; on what: the SHA-256 of the case's frames (:func:`evidence_digests`). No secret is ever
written: the parameters of a password reset name the method, never the password.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from toolkit.errors import ToolkitError
from toolkit.store import default_store_dir

if TYPE_CHECKING:
    from toolkit.case import Case
    from toolkit.sources.graph import UserIdentity

log = logging.getLogger(__name__)

JOURNAL_ENV = "M365_TOOLKIT_JOURNAL"
FILE_NAME = "journal.sqlite3"
SCHEMA_VERSION = 1
GENESIS = "0" * 64

EntryKind = Literal["intent", "outcome", "reconciliation", "verification", "export"]
CLOSING_KINDS = ("outcome", "reconciliation")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_id       TEXT NOT NULL UNIQUE,
    kind           TEXT NOT NULL CHECK (kind IN ('intent', 'outcome', 'reconciliation', 'verification', 'export')),
    intent_id      TEXT REFERENCES entries (entry_id),
    recorded_at    TEXT NOT NULL,
    service_time   TEXT,
    tenant_id      TEXT NOT NULL,
    actor_kind     TEXT NOT NULL,
    actor          TEXT NOT NULL,
    subject        TEXT,
    subject_id     TEXT,
    action         TEXT NOT NULL,
    target         TEXT NOT NULL,
    parameters     TEXT NOT NULL,
    note           TEXT NOT NULL,
    justification  TEXT NOT NULL,
    evidence_hash  TEXT,
    evidence       TEXT NOT NULL,
    case_path      TEXT,
    dry_run        INTEGER NOT NULL CHECK (dry_run IN (0, 1)),
    status         TEXT NOT NULL,
    verified       TEXT CHECK (verified IS NULL OR verified IN ('yes', 'no', 'pending')),
    detail         TEXT NOT NULL,
    state          TEXT,
    error          TEXT,
    prev_hash      TEXT NOT NULL,
    entry_hash     TEXT NOT NULL UNIQUE,
    CHECK ((kind IN ('intent', 'export')) = (intent_id IS NULL))
);
CREATE INDEX IF NOT EXISTS entries_intent ON entries (intent_id);
CREATE INDEX IF NOT EXISTS entries_subject ON entries (tenant_id, subject);
CREATE INDEX IF NOT EXISTS entries_target ON entries (tenant_id, action, target);
CREATE UNIQUE INDEX IF NOT EXISTS entries_one_close ON entries (intent_id)
    WHERE kind IN ('outcome', 'reconciliation');
CREATE TRIGGER IF NOT EXISTS entries_no_update BEFORE UPDATE ON entries
BEGIN SELECT RAISE(ABORT, 'the journal is append-only: an entry is never updated'); END;
CREATE TRIGGER IF NOT EXISTS entries_no_delete BEFORE DELETE ON entries
BEGIN SELECT RAISE(ABORT, 'the journal is append-only: an entry is never deleted'); END;
CREATE TRIGGER IF NOT EXISTS entries_no_replace BEFORE INSERT ON entries
WHEN EXISTS (SELECT 1 FROM entries WHERE entry_id = NEW.entry_id OR seq = NEW.seq OR entry_hash = NEW.entry_hash)
BEGIN SELECT RAISE(ABORT, 'the journal is append-only: an entry is never replaced'); END;
CREATE TRIGGER IF NOT EXISTS entries_link_intent BEFORE INSERT ON entries
WHEN NEW.intent_id IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM entries WHERE entry_id = NEW.intent_id AND kind = 'intent')
BEGIN SELECT RAISE(ABORT, 'an outcome must link to an intent in the journal'); END;
CREATE TRIGGER IF NOT EXISTS meta_no_update BEFORE UPDATE ON meta
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER IF NOT EXISTS meta_no_delete BEFORE DELETE ON meta
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
"""

HISTORY_COLUMNS = ("recorded_at", "service_time", "kind", "action", "target", "status", "verified", "dry_run",
                   "actor", "note", "justification", "detail", "error", "evidence_hash", "entry_id", "intent_id")


class JournalError(ToolkitError):
    """The journal cannot be opened or written as required."""


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Entry:
    """One journal entry. ``seq``, ``prev_hash`` and ``entry_hash`` are set by :meth:`Journal.append`."""

    kind: EntryKind
    tenant_id: str
    actor_kind: str
    actor: str
    action: str
    target: str
    status: str
    detail: str
    intent_id: str | None = None
    subject: str | None = None
    subject_id: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""
    justification: str = ""
    evidence_hash: str | None = None
    evidence: Mapping[str, str] = field(default_factory=dict)
    case_path: str | None = None
    dry_run: bool = False
    verified: str | None = None
    state: Mapping[str, Any] | None = None
    error: str | None = None
    service_time: datetime | None = None
    recorded_at: datetime = field(default_factory=_now)
    entry_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    seq: int = 0
    prev_hash: str = ""
    entry_hash: str = ""

    def row(self) -> dict[str, Any]:
        """The column values as stored (JSON text for the mappings, ISO text for the times)."""
        return {
            "entry_id": self.entry_id, "kind": self.kind, "intent_id": self.intent_id,
            "recorded_at": _iso(self.recorded_at), "service_time": _iso(self.service_time),
            "tenant_id": self.tenant_id, "actor_kind": self.actor_kind, "actor": self.actor,
            "subject": self.subject, "subject_id": self.subject_id, "action": self.action, "target": self.target,
            "parameters": _canonical(self.parameters), "note": self.note, "justification": self.justification,
            "evidence_hash": self.evidence_hash, "evidence": _canonical(self.evidence), "case_path": self.case_path,
            "dry_run": int(self.dry_run), "status": self.status, "verified": self.verified, "detail": self.detail,
            "state": None if self.state is None else _canonical(self.state), "error": self.error,
            "prev_hash": self.prev_hash,
        }

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (times as ISO text, mappings as objects): one line of a bundle's journal.jsonl."""
        data = asdict(self)
        data["recorded_at"] = _iso(self.recorded_at)
        data["service_time"] = _iso(self.service_time)
        data["parameters"] = dict(self.parameters)
        data["evidence"] = dict(self.evidence)
        data["state"] = None if self.state is None else dict(self.state)
        return data

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Entry:
        return cls(
            kind=row["kind"], tenant_id=row["tenant_id"], actor_kind=row["actor_kind"], actor=row["actor"],
            action=row["action"], target=row["target"], status=row["status"], detail=row["detail"],
            intent_id=row["intent_id"], subject=row["subject"], subject_id=row["subject_id"],
            parameters=json.loads(row["parameters"]), note=row["note"], justification=row["justification"],
            evidence_hash=row["evidence_hash"], evidence=json.loads(row["evidence"]), case_path=row["case_path"],
            dry_run=bool(row["dry_run"]), verified=row["verified"],
            state=None if row["state"] is None else json.loads(row["state"]), error=row["error"],
            service_time=_parse(row["service_time"]), recorded_at=_parse(row["recorded_at"]) or _now(),
            entry_id=row["entry_id"], seq=int(row["seq"]), prev_hash=row["prev_hash"], entry_hash=row["entry_hash"],
        )


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"a naive datetime in the journal is ambiguous: {value!r}")
    return value.astimezone(UTC).isoformat()


def _parse(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(prev_hash: str, row: Mapping[str, Any]) -> str:
    """The chained hash of one entry: SHA-256 over the previous hash and the entry's stored columns."""
    body = {k: v for k, v in row.items() if k not in ("seq", "entry_hash", "prev_hash")}
    return hashlib.sha256(f"{prev_hash}\n{_canonical(body)}".encode()).hexdigest()


def default_journal_path(store_dir: Path | None = None) -> Path:
    explicit = os.environ.get(JOURNAL_ENV)
    if explicit and store_dir is None:
        return Path(explicit)
    return (store_dir or default_store_dir()) / FILE_NAME


def _owner_only(path: Path) -> None:
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
    if path.stat().st_mode & 0o077:
        log.warning("journal %s was readable by others; tightened to owner-only", path)
        os.chmod(path, 0o600)


class Journal:
    """The append-only action journal in one SQLite file."""

    def __init__(self, path: Path | None = None, *, store_dir: Path | None = None):
        self.path = Path(path) if path is not None else default_journal_path(store_dir)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            _owner_only(self.path)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(f"cannot open the journal {self.path}: {exc}") from None
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA recursive_triggers=ON")
        self._db.executescript(SCHEMA)
        version = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if version is None:
            self._db.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif int(version["value"]) != SCHEMA_VERSION:
            raise JournalError(f"{self.path}: journal schema {version['value']}; this toolkit writes {SCHEMA_VERSION}")
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                os.chmod(side, 0o600)

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r})"

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------------------------------
    def append(self, entry: Entry) -> Entry:
        """Write one entry (durably, before returning); returns it with its sequence number and hashes."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                last = self._db.execute("SELECT entry_hash FROM entries ORDER BY seq DESC LIMIT 1").fetchone()
                prev = last["entry_hash"] if last else GENESIS
                row = replace(entry, prev_hash=prev).row()
                digest = entry_hash(prev, row)
                columns = [*row, "entry_hash"]
                cursor = self._db.execute(
                    f"INSERT INTO entries ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
                    [*row.values(), digest])
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise JournalError(f"cannot write to the journal {self.path}: {exc}") from None
        stored = replace(entry, prev_hash=prev, entry_hash=digest, seq=int(cursor.lastrowid or 0))
        log.info("journal: %s %s %s -> %s%s", stored.kind, stored.action, stored.target, stored.status,
                 " (dry run)" if stored.dry_run else "")
        return stored

    # -- reading ---------------------------------------------------------------------------------------------------
    def _select(self, where: str = "1=1", args: Iterable[Any] = ()) -> list[Entry]:
        with self._lock:
            rows = self._db.execute(f"SELECT * FROM entries WHERE {where} ORDER BY seq", tuple(args)).fetchall()
        return [Entry.from_row(dict(r)) for r in rows]

    def entries(self, *, tenant_id: str | None = None, action: str | None = None, target: str | None = None,
                kinds: Iterable[str] | None = None) -> list[Entry]:
        """Entries in the order written, filtered by tenant, action kind, target (case-insensitive) and entry kind."""
        clauses, args = ["1=1"], []
        if tenant_id is not None:
            clauses.append("tenant_id = ?")
            args.append(tenant_id)
        if action is not None:
            clauses.append("action = ?")
            args.append(action)
        if target is not None:
            clauses.append("lower(target) = lower(?)")
            args.append(target)
        if kinds is not None:
            wanted = list(kinds)
            clauses.append(f"kind IN ({', '.join('?' for _ in wanted)})")
            args.extend(wanted)
        return self._select(" AND ".join(clauses), args)

    def get(self, entry_id: str) -> Entry | None:
        found = self._select("entry_id = ?", (entry_id,))
        return found[0] if found else None

    def linked(self, intent_id: str) -> list[Entry]:
        """The entries that link to an intent (its outcome or reconciliation, and any verification)."""
        return self._select("intent_id = ?", (intent_id,))

    def closing(self, intent_id: str) -> Entry | None:
        """The outcome or reconciliation that closed an intent, if any."""
        return next((e for e in self.linked(intent_id) if e.kind in CLOSING_KINDS), None)

    def pending(self, tenant_id: str | None = None) -> list[Entry]:
        """Intents (not dry runs) with no outcome and no reconciliation: a crash came between intent and outcome."""
        where = ("kind = 'intent' AND dry_run = 0 AND NOT EXISTS (SELECT 1 FROM entries AS o WHERE "
                 "o.intent_id = entries.entry_id AND o.kind IN ('outcome', 'reconciliation'))")
        args: list[Any] = []
        if tenant_id is not None:
            where += " AND tenant_id = ?"
            args.append(tenant_id)
        return self._select(where, args)

    def unblocks_used(self, tenant_id: str, sender: str) -> int:
        """How many unblocks of ``sender`` this journal recorded as accepted by the service (its own count only:
        unblocks made elsewhere, in the portal or by another toolkit, are not in it)."""
        accepted = [e for e in self.entries(tenant_id=tenant_id, action="unblock", target=sender.lower(),
                                            kinds=CLOSING_KINDS)
                    if not e.dry_run and e.status in ("requested", "applied")]
        return len(accepted)

    def for_subject(self, names: Iterable[str], tenant_id: str | None = None) -> list[Entry]:
        """Entries about any of ``names`` (UPN, addresses, object id), matched on subject, subject id or target."""
        wanted = sorted({n.strip().lower() for n in names if n and n.strip()})
        if not wanted:
            return []
        marks = ", ".join("?" for _ in wanted)
        match = (f"(lower(coalesce(subject, '')) IN ({marks}) OR lower(coalesce(subject_id, '')) IN ({marks}) "
                 f"OR lower(target) IN ({marks}))")
        args: list[Any] = [*wanted, *wanted, *wanted]
        if tenant_id is not None:
            match += " AND tenant_id = ?"
            args.append(tenant_id)
        # An outcome's subject is its intent's: entries linked to a matched intent belong to the history too.
        return self._select(f"({match}) OR intent_id IN (SELECT entry_id FROM entries WHERE {match})", [*args, *args])

    def entries_for(self, case_or_user: Case | UserIdentity | str) -> list[Entry]:
        names, tenant = _names_of(case_or_user)
        return self.for_subject(names, tenant)

    def history(self, case_or_user: Case | UserIdentity | str) -> pd.DataFrame:
        """The journal entries about a case's user (or a user, by address or id) as a DataFrame, oldest first."""
        return history_frame(self.entries_for(case_or_user))

    # -- integrity -------------------------------------------------------------------------------------------------
    def verify(self) -> list[str]:
        """Recompute the hash chain; one sentence per entry that was changed, removed or inserted around it."""
        problems: list[str] = []
        expected = GENESIS
        previous_seq = 0
        with self._lock:
            rows = [dict(r) for r in self._db.execute("SELECT * FROM entries ORDER BY seq").fetchall()]
        for row in rows:
            stored = Entry.from_row(row).row()
            if row["prev_hash"] != expected:
                problems.append(f"entry {row['seq']} ({row['entry_id']}) does not follow entry {previous_seq}: an "
                                "entry before it was removed, replaced or inserted")
            if entry_hash(row["prev_hash"], stored) != row["entry_hash"]:
                problems.append(f"entry {row['seq']} ({row['entry_id']}) was changed after it was written")
            expected = row["entry_hash"]
            previous_seq = row["seq"]
        return problems


def _names_of(case_or_user: Case | UserIdentity | str) -> tuple[list[str], str | None]:
    user = getattr(case_or_user, "user", None)
    if user is not None:  # a Case
        return [user.user_id, user.upn, *user.addresses], str(case_or_user.tenant_id)  # type: ignore[union-attr]
    if isinstance(case_or_user, str):
        return [case_or_user], None
    return [case_or_user.user_id, case_or_user.upn, *case_or_user.addresses], None


def history_frame(entries: Iterable[Entry]) -> pd.DataFrame:
    records = []
    for e in entries:
        records.append({
            "recorded_at": e.recorded_at, "service_time": e.service_time, "kind": e.kind, "action": e.action,
            "target": e.target, "status": e.status, "verified": e.verified, "dry_run": e.dry_run,
            "actor": f"{e.actor_kind} {e.actor}", "note": e.note, "justification": e.justification,
            "detail": e.detail, "error": e.error, "evidence_hash": e.evidence_hash, "entry_id": e.entry_id,
            "intent_id": e.intent_id,
        })
    frame = pd.DataFrame(records, columns=list(HISTORY_COLUMNS))
    for name in ("recorded_at", "service_time"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    frame["dry_run"] = frame["dry_run"].astype("bool")
    return frame


def history(case_or_user: Case | UserIdentity | str, journal: Journal | None = None) -> pd.DataFrame:
    """A case's (or user's) history from ``journal``, or from the default journal when none is given."""
    if journal is not None:
        return journal.history(case_or_user)
    with Journal() as opened:
        return opened.history(case_or_user)


# --- the evidence a decision rested on ---------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """A cell as a JSON value that reads the same whatever dtype carried it."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | datetime):
        stamp = pd.Timestamp(value)
        return (stamp.tz_convert("UTC") if stamp.tzinfo else stamp).isoformat()
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        try:
            value = value.item()
        except (ValueError, TypeError):
            return str(value)
    if isinstance(value, float):
        return None if math.isnan(value) else repr(value)
    if isinstance(value, bool | int | str):
        return value
    return str(value)


def frame_digest(frame: pd.DataFrame) -> str:
    """SHA-256 of a frame's columns and rows, independent of row order and of the dtypes that carry the values."""
    digest = hashlib.sha256(_canonical([str(c) for c in frame.columns]).encode())
    lines = sorted(_canonical([_plain(v) for v in row]) for row in frame.itertuples(index=False, name=None))
    for line in lines:
        digest.update(b"\n" + line.encode())
    return digest.hexdigest()


def evidence_digests(case: Case) -> dict[str, str]:
    """One digest per frame of the case, and one for its coverage ledger (what could not be seen)."""
    digests = {kind: frame_digest(frame) for kind, frame in sorted(case.frames.items())}
    digests["ledger"] = frame_digest(case.ledger.to_frame())
    return digests


def evidence_hash(digests: Mapping[str, str]) -> str:
    """One SHA-256 over the per-frame digests (sorted by kind)."""
    text = "\n".join(f"{kind}:{digests[kind]}" for kind in sorted(digests))
    return hashlib.sha256(text.encode()).hexdigest()


def case_evidence(case: Case) -> tuple[str, dict[str, str]]:
    """The case's evidence hash and its per-frame digests."""
    digests = evidence_digests(case)
    return evidence_hash(digests), digests


__all__ = ["Entry", "Journal", "JournalError", "case_evidence", "default_journal_path", "evidence_digests",
           "evidence_hash", "frame_digest", "history", "history_frame"]
