"""From files to frames and a ledger: read every file (all or nothing), work out whose case it is, keep the rows about
that user in the window, convert them with the same converters as a live pull, and account for every source.

Rows of one kind from several files are merged by the frame's key; where two files give the same row, the richer
format wins (Graph JSON over Get-MessageTraceV2 over the extended report over the enhanced over the summary). Summary
rows, which carry no trace id, are dropped when a file with ids gives the same message and recipient at the same
second. Rules come from a rule listing when one is given, else from the audit log's history (and say so).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import pandas as pd

from toolkit import frames
from toolkit.coverage import Coverage, Ledger
from toolkit.sources.exports.accounts import BACKEND, entry, no_file, not_carried, unavailable
from toolkit.sources.exports.detect import open_source, read_source
from toolkit.sources.exports.history import Matcher, replay
from toolkit.sources.exports.merging import drop_summary_duplicates, hidden_rule_ids, merge
from toolkit.sources.exports.model import FileResult, Formulas, Item, Source
from toolkit.sources.exports.selection import (
    Contribution,
    accepted_domains_of,
    contributions,
    instant_of,
    keep,
    lower,
    resolve_identity,
    selector,
    while_reading,
    window,
)
from toolkit.sources.graph import UserIdentity

log = logging.getLogger(__name__)

#: The kinds an offline case accounts for, as a live investigation collects them.
CASE_KINDS = ("users", "restricted", "policy", "policy_rules", "mailbox", "trace", "signins", "risky_users",
              "risk_detections", "rules", "auth_methods", "grants", "alerts", "audit")


@dataclass
class Opened:
    """What a set of exported files gives: frames by kind, the ledger, and whose and which window they are."""

    files: list[FileResult]
    frames: dict[str, pd.DataFrame]
    ledger: Ledger
    identity: UserIdentity | None
    start: datetime
    end: datetime
    tenant_id: str
    accepted_domains: tuple[str, ...]
    not_carried: dict[str, set[str]] = field(default_factory=dict)


@dataclass
class _Build:
    """The state of one assembly: the files, whose, when, and what has been built so far."""

    results: list[FileResult]
    identity: UserIdentity | None
    matcher: Matcher | None
    start: datetime
    end: datetime
    domains: tuple[str, ...]
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    ledger: Ledger = field(default_factory=Ledger)

    def contributions(self, kind: str) -> tuple[list[Contribution], dict[int, str]]:
        found = contributions(self.results, kind)
        why = keep(kind, found, selector(kind, self.identity, self.matcher), self.start, self.end)
        return found, why

    def account(self, kind: str, found: list[Contribution], why: dict[int, str], extra: Sequence[str] = ()) -> None:
        for n, c in enumerate(found):
            self.ledger.add(entry(kind, c, self.start, self.end, why.get(n, ""), extra))

    def simple(self, kind: str, converter: Callable[[list[Item]], pd.DataFrame]) -> None:
        found, why = self.contributions(kind)
        if not found:
            self.ledger.add(unavailable(kind, self.start, self.end, no_file(kind)))
            return
        self.frames[kind] = merge(kind, found, converter)
        self.account(kind, found, why)


def _trace(b: _Build) -> None:
    found, why = b.contributions("trace")
    if not found:
        b.ledger.add(unavailable("trace", b.start, b.end, no_file("trace")))
        return
    notes = drop_summary_duplicates(found)
    frame = merge("trace", found, lambda items: frames.from_graph("trace", items, accepted_domains=b.domains or None,
                                                                     dedupe=True))
    frame["source"] = pd.Categorical(["file"] * len(frame), dtype=frame["source"].dtype)
    b.frames["trace"] = frames.validate("trace", frame)
    for n, c in enumerate(found):
        b.ledger.add(entry("trace", c, b.start, b.end, why.get(n, ""), [notes[n]] if n in notes else []))
    details, dwhy = b.contributions("trace_details")
    if details:
        kept = {(lower(t), lower(r)) for t, r in zip(frame["trace_id"], frame["recipient"], strict=True)}
        seen: set[tuple[str, str, str, str]] = set()
        for c in details:
            pairs = [(i, line) for i, line in zip(c.items, c.lines, strict=True)
                     if (lower(i.get("id")), lower(i.get("recipientAddress"))) in kept]
            unique = []
            for i, line in pairs:
                ident = (lower(i.get("id")), lower(i.get("recipientAddress")), str(i.get("dateTime")),
                         str(i.get("event")))
                if ident not in seen:
                    seen.add(ident)
                    unique.append((i, line))
            c.items, c.lines = [i for i, _ in unique], [line for _, line in unique]
        details_frame = merge("trace_details", details, lambda items: frames.from_graph("trace_details", items))
        details_frame["source"] = pd.Categorical(["file"] * len(details_frame), dtype=details_frame["source"].dtype)
        b.frames["trace_details"] = frames.validate("trace_details", details_frame)
        b.account("trace_details", details, dwhy)


def _rules(b: _Build) -> None:
    live, why = b.contributions("rules")
    listings = [c for c in live if c.result.format.name == "exo_inbox_rules_json"]
    if listings and len(listings) < len(live):
        for c in live:
            if c not in listings:
                b.ledger.add(Coverage("rules", c.result.source_text, BACKEND, "complete", rows=0, start=b.start,
                                      end=b.end, detail="not used: the Get-InboxRule listing gives these rules too, "
                                                        "hidden ones included"))
        why = {n: why.get(live.index(c), "") for n, c in enumerate(listings)}
        live = listings
    if live:
        hidden = hidden_rule_ids(live)
        owner = b.identity.primary_smtp if b.identity is not None else "unknown"

        def converter(items: list[Item]) -> pd.DataFrame:
            graph = [i for i in items if "displayName" in i and "Name" not in i]
            exo = [i for i in items if i not in graph]
            parts = []
            if exo:
                mailbox = owner if b.identity is not None else [lower(i.get("MailboxOwnerId")) or "unknown"
                                                                for i in exo]
                parts.append(frames.from_exchange("rules", exo, mailbox=mailbox, accepted_domains=b.domains or None,
                                                  hidden_rule_ids=hidden, dedupe=True))
            if graph:
                parts.append(frames.from_graph("rules", graph, mailbox=owner, accepted_domains=b.domains or None,
                                               dedupe=True))
            return frames.concat("rules", parts, dedupe=True)

        b.frames["rules"] = merge("rules", live, converter)
        for n, c in enumerate(live):
            if c.result.format.name == "graph_message_rules_json":
                extra = ["Graph lists no hidden rule: rules hidden from Outlook are not in this file"]
            elif hidden is None:
                extra = ["whether a rule is hidden is not told by one Get-InboxRule listing (give the listings with "
                         "and without -IncludeHidden)"]
            else:
                extra = ["hidden rules told from the listings with and without -IncludeHidden"]
            b.ledger.add(entry("rules", c, b.start, b.end, why.get(n, ""), extra))
        return
    _history(b)


def _audit_records(b: _Build) -> tuple[list[Item], list[str]]:
    records: list[Item] = []
    names: list[str] = []
    for r in b.results:
        if r.items.get("audit"):
            records.extend(r.items["audit"])
            names.append(r.display)
    return records, names


def _history(b: _Build) -> None:
    records, names = _audit_records(b)
    if not records:
        b.ledger.add(unavailable("rules", b.start, b.end, no_file("rules")))
        if "mailbox" not in b.frames:
            b.ledger.add(unavailable("mailbox", b.start, b.end, no_file("mailbox")))
        return
    if b.identity is None or b.matcher is None:
        detail = "rules and forwarding history from the audit log need a user (open the files for one user)"
        b.ledger.add(unavailable("rules", b.start, b.end, detail))
        if "mailbox" not in b.frames:
            b.ledger.add(unavailable("mailbox", b.start, b.end, detail))
        return
    timed = [r for r in records if (t := instant_of(r, "audit")) is not None and t <= b.end]
    history = replay(timed, b.identity, b.matcher)
    source = f"inbox-rule history from the audit log: {', '.join(names)}"
    frame = frames.from_exchange("rules", history.rules, mailbox=b.identity.primary_smtp,
                                 accepted_domains=b.domains or None, dedupe=True)
    if history.client_conditions:
        frame["conditions"] = [history.client_conditions.get(str(r), c)
                               for r, c in zip(frame["rule_id"], frame["conditions"], strict=True)]
        frame = frames.validate("rules", frame)
    b.frames["rules"] = frame
    parts = ["history from the audit log (New-InboxRule, Set-InboxRule, Enable-/Disable-/Remove-InboxRule, "
             "UpdateInboxRules), not a live read: a rule made before the log begins and never changed since is "
             "missing", f"{history.rule_records} inbox-rule record(s) for this mailbox"]
    if history.removed:
        parts.append(f"removed, so left out (see the audit frame): {', '.join(map(repr, history.removed))}")
    if history.partial:
        parts.append(f"known only from later changes (their other settings are unknown): "
                     f"{', '.join(map(repr, history.partial))}")
    parts.append("not in this export: [rule_id, priority, hidden, in_error]")
    b.ledger.add(Coverage("rules", source, BACKEND, "partial", rows=len(frame), start=b.start, end=b.end,
                          reason="unsupported", detail="; ".join(parts)))
    if "mailbox" in b.frames:
        return
    if history.mailbox is None:
        b.ledger.add(unavailable("mailbox", b.start, b.end, no_file("mailbox") + "; the audit log shows no "
                                                                                   "forwarding change for it"))
        return
    mailbox = frames.from_exchange("mailbox", [history.mailbox], accepted_domains=b.domains or None)
    b.frames["mailbox"] = mailbox
    b.ledger.add(Coverage("mailbox", f"forwarding history from the audit log: {', '.join(names)}", BACKEND,
                          "partial", rows=1, start=b.start, end=b.end, reason="unsupported",
                          detail=f"forwarding as {history.forwarding_records} Set-Mailbox record(s) left it (last "
                                 f"change {history.last}), not a live read; not in this export: [addresses, "
                                 "recipient_type, recipient_limits, created]"))


def _mailbox(b: _Build) -> None:
    found, why = b.contributions("mailbox")
    if found:
        b.frames["mailbox"] = merge("mailbox", found, lambda items: frames.from_exchange(
            "mailbox", items, accepted_domains=b.domains or None, dedupe=True))
        b.account("mailbox", found, why)


def _alerts(b: _Build) -> None:
    found, why = b.contributions("alerts")
    if not found:
        b.ledger.add(unavailable("alerts", b.start, b.end, no_file("alerts")))
        return
    frame = merge("alerts", found, lambda items: frames.from_graph("alerts", items, dedupe=True))
    if b.identity is not None and len(frame):
        names = set(b.identity.addresses) | {b.identity.upn}
        mentions = frame["users"].fillna("").map(
            lambda text: bool(names & {u.strip().lower() for u in str(text).split(",")}))
        frame = frame[mentions.astype(bool)].reset_index(drop=True)
    b.frames["alerts"] = frame
    for n, c in enumerate(found):
        found_entry = entry("alerts", c, b.start, b.end, why.get(n, ""),
                       ["only the alerts whose evidence names the user"] if b.identity is not None else [])
        if b.identity is not None:
            ids = {lower(i.get("id")) for i in c.items}
            found_entry = replace(found_entry, rows=sum(1 for a in frame["alert_id"] if lower(a) in ids))
        b.ledger.add(found_entry)


def _auth_methods(b: _Build) -> None:
    found, why = b.contributions("auth_methods")
    if not found:
        b.ledger.add(unavailable("auth_methods", b.start, b.end, no_file("auth_methods")))
        return
    if b.identity is None or not b.identity.user_id:
        b.ledger.add(unavailable("auth_methods", b.start, b.end, "the methods do not say whose they are and the "
                                                                  "user's object id is unknown (add a users or "
                                                                  "sign-ins file)"))
        return
    identity = b.identity
    b.frames["auth_methods"] = merge("auth_methods", found, lambda items: frames.from_graph(
        "auth_methods", items, user_id=identity.user_id, upn=identity.upn, dedupe=True))
    b.account("auth_methods", found, why)


def _grants(b: _Build) -> None:
    found, why = b.contributions("grants")
    if not found:
        b.ledger.add(unavailable("grants", b.start, b.end, no_file("grants")))
        return
    principals = [i for c in contributions(b.results, "service_principals") for i in c.items]
    b.frames["grants"] = merge("grants", found, lambda items: frames.from_graph(
        "grants", items, service_principals=principals, dedupe=True))
    b.account("grants", found, why, [] if principals else ["no servicePrincipals file: the apps are not named"])


def _policy(b: _Build) -> None:
    rules = [i for c in contributions(b.results, "policy_rules") for i in c.items]
    b.simple("policy", lambda items: frames.from_exchange("policy", items, rules=rules, dedupe=True))
    b.simple("policy_rules", lambda items: frames.from_exchange("policy_rules", items, dedupe=True))


def _tenant_id(results: Sequence[FileResult]) -> str:
    ids = Counter(lower(i.get("OrganizationId")) for r in results for i in r.items.get("audit", [])
                  if i.get("OrganizationId") and "$" not in str(i.get("OrganizationId")))
    return ids.most_common(1)[0][0] if ids else "offline"


def _read_all(sources: list[Source], user: str | None) -> tuple[list[FileResult], UserIdentity | None]:
    """Read every file; for a user, in the order that lets each file keep only that user's rows as it is read: the
    directory files first (the user's aliases and object id), then the sign-ins (the object id, if no directory file
    gave it), then the rest. Results come back in the files' order."""
    if not user:
        return [read_source(source) for source in sources], None
    read: dict[int, FileResult] = {}
    stages = (lambda s: bool({"users", "mailbox"} & set(s.format.kinds)),
              lambda s: "signins" in s.format.kinds,
              lambda s: True)
    identity = resolve_identity(user, [])
    for stage in stages:
        keep = while_reading(identity, Matcher.of(identity))
        for n, source in enumerate(sources):
            if n not in read and stage(source):
                read[n] = read_source(source, keep)
        identity = resolve_identity(user, list(read.values()))
    return [read[n] for n in range(len(sources))], identity


def open_files(files: Iterable[str | Path], *, user: str | None = None, start: datetime | None = None,
               end: datetime | None = None, days: int | float | None = None,
               accepted_domains: Iterable[str] | None = None, formulas: Formulas = "refuse") -> Opened:
    """Read exported files into frames and a coverage ledger.

    Every file's format is told from its content. ``user`` keeps the rows about that user (as a live investigation
    of them would: mail they sent, their sign-ins, the audit records they made, their rules and mailbox);
    ``start``/``end`` (tz-aware) or ``days`` (back from the newest row) bound the window. ``accepted_domains``
    decide mail direction (else a Get-AcceptedDomain file, else the user's own domains).

    All or nothing: any problem in any file raises :class:`ExportFormatError` naming the file, the line and the
    problem, and nothing is returned.
    """
    paths: list[Path] = []
    for f in files:
        p = Path(f)
        if p not in paths:
            paths.append(p)
    if not paths:
        raise ValueError("no files given")
    if formulas not in ("refuse", "keep"):
        raise ValueError(f"formulas must be 'refuse' or 'keep', got {formulas!r}")
    results, identity = _read_all([open_source(p, formulas=formulas) for p in paths], user)
    matcher = Matcher.of(identity) if identity is not None else None
    first, last = window(results, start, end, days)
    b = _Build(results, identity, matcher, first, last, accepted_domains_of(accepted_domains, results, identity))
    b.simple("users", lambda items: frames.from_graph("users", items, dedupe=True))
    b.simple("restricted", lambda items: frames.from_exchange("restricted", items, dedupe=True))
    _policy(b)
    _mailbox(b)
    _trace(b)
    b.simple("signins", lambda items: frames.from_graph("signins", items, dedupe=True))
    b.simple("risky_users", lambda items: frames.from_graph("risky_users", items, dedupe=True))
    b.simple("risk_detections", lambda items: frames.from_graph("risk_detections", items, dedupe=True))
    _rules(b)
    _auth_methods(b)
    _grants(b)
    _alerts(b)
    b.simple("audit", lambda items: frames.audit_from_records(items, dedupe=True))
    if "mailbox" not in b.frames and not b.ledger.for_kind("mailbox"):
        b.ledger.add(unavailable("mailbox", first, last, no_file("mailbox")))
    for kind in CASE_KINDS:
        b.frames.setdefault(kind, frames.empty(kind))
    return Opened(results, b.frames, b.ledger, identity, first, last, _tenant_id(results), b.domains,
                  not_carried(b.ledger))
