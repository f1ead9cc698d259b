"""Microsoft Graph sources: the user's identity, sign-ins, risk, inbox rules, MFA methods, OAuth grants, alerts
and message trace, each as a typed frame with its coverage.

Every ``$filter`` literal goes through :func:`toolkit.sandbox`-independent OData quoting (quotes doubled), so an
address such as ``o'brien@contoso.com`` is one literal and can never change the filter.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote as url_quote

from toolkit import frames
from toolkit.coverage import Coverage
from toolkit.errors import ApiError, NotFound, ToolkitError
from toolkit.sources.base import Item, KeyedRows, Pull, Retention, failed, iso, slices
from toolkit.transport import Transport

log = logging.getLogger(__name__)

USER_FIELDS = ("id,userPrincipalName,displayName,mail,proxyAddresses,accountEnabled,userType,department,jobTitle,"
               "usageLocation,createdDateTime,lastPasswordChangeDateTime,signInSessionsValidFromDateTime")
TRACE_SLICE = timedelta(days=10) - timedelta(seconds=1)
TRACE_RETENTION = timedelta(days=90)
SIGNIN_RETENTION = timedelta(days=30)
GRAPH = "graph"


class UserNotFound(ToolkitError):
    """No user answers to this name, address or id."""


def odata_quote(value: str) -> str:
    """An OData string literal: single quotes around, inner quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class UserIdentity:
    """One user under every name the services may use: object id, UPN, primary SMTP and every proxy address."""

    user_id: str
    upn: str
    display_name: str | None
    mail: str | None
    addresses: tuple[str, ...]  # lowercased, without 'smtp:', UPN and mail included

    @property
    def primary_smtp(self) -> str:
        return (self.mail or self.upn).lower()

    @classmethod
    def from_graph(cls, user: Item) -> UserIdentity:
        addresses = {str(user["userPrincipalName"]).lower()}
        if user.get("mail"):
            addresses.add(str(user["mail"]).lower())
        for proxy in user.get("proxyAddresses") or []:
            prefix, _, address = str(proxy).partition(":")
            if address and prefix.lower() == "smtp":
                addresses.add(address.lower())
        primary = str(user.get("mail") or user["userPrincipalName"]).lower()
        ordered = (primary, *sorted(addresses - {primary}))
        return cls(str(user["id"]), str(user["userPrincipalName"]).lower(), user.get("displayName"),
                   user.get("mail"), ordered)


def _user_path(key: str) -> str:
    return f"users/{url_quote(key, safe='@')}"


def resolve_user(transport: Transport, key: str) -> tuple[UserIdentity, Pull]:
    """Find the user by object id, UPN, or any of their addresses; every alias comes back with it."""
    source = "graph users"
    params = {"$select": USER_FIELDS}
    user: Item | None = None
    try:
        user = transport.graph_get(_user_path(key), source=source, params=params)
    except NotFound:
        address = key.strip().lower()
        for clause in (f"proxyAddresses/any(p:p eq {odata_quote('smtp:' + address)})",
                       f"mail eq {odata_quote(address)}"):
            found = transport.graph_get("users", source=source, params={**params, "$filter": clause})
            if found.get("value"):
                user = found["value"][0]
                break
    if user is None:
        raise UserNotFound(f"no user answers to {key!r} (tried object id, UPN, mail and proxy addresses)")
    identity = UserIdentity.from_graph(user)
    frame = frames.from_graph("users", [user])
    return identity, Pull("users", frame, [Coverage("users", source, GRAPH, "complete", rows=1, requests=1)])


def _collect(transport: Transport, kind: str, source: str, path: str, params: dict[str, str], key: str = "id",
             start: datetime | None = None, end: datetime | None = None,
             headers: dict[str, str] | None = None) -> tuple[list[Item], Coverage]:
    """All pages of one Graph listing, deduplicated by ``key``, with its coverage entry."""
    rows = KeyedRows(key=lambda item: item.get(key))
    before = sum(transport.stats.requests.values())
    try:
        for page in transport.graph_pages(path, source=source, params=params, headers=headers):
            rows.add(page)
    except ApiError as exc:
        requests = sum(transport.stats.requests.values()) - before
        return rows.items(), failed(kind, source, GRAPH, exc, rows=len(rows.rows), start=start, end=end,
                                    requests=requests)
    requests = sum(transport.stats.requests.values()) - before
    return rows.items(), Coverage(kind, source, GRAPH, "complete", rows=len(rows.rows), start=start, end=end,
                                  requests=requests)


def _clip(kind: str, source: str, start: datetime, end: datetime, now: datetime,
          retention: timedelta, what: str) -> tuple[datetime, list[Coverage]]:
    """Clip a window to the service's retention, recording the clipped part as a gap (never a silent clip)."""
    edge = Retention(kind, source, GRAPH, retention, what, asked_start=start, asked_end=end)
    clipped = edge.clip(now, start)
    gap = edge.entry()
    return clipped, [gap] if gap is not None else []


def signins(transport: Transport, user: UserIdentity, start: datetime, end: datetime) -> Pull:
    source = "graph auditLogs/signIns"
    coverage: list[Coverage] = []
    start, gaps = _clip("signins", source, start, end, transport.now(), SIGNIN_RETENTION, "the sign-in log")
    coverage += gaps
    flt = (f"userId eq {odata_quote(user.user_id)} and createdDateTime ge {iso(start)} "
           f"and createdDateTime le {iso(end)}")
    items, entry = _collect(transport, "signins", source, "auditLogs/signIns", {"$filter": flt, "$top": "1000"},
                            start=start, end=end)
    coverage.append(entry)
    return Pull("signins", frames.from_graph("signins", items), coverage)


def risky_user(transport: Transport, user: UserIdentity) -> Pull:
    source = "graph identityProtection/riskyUsers"
    try:
        item = transport.graph_get(f"identityProtection/riskyUsers/{user.user_id}", source=source)
        items = [item]
    except NotFound:
        items = []  # never flagged: no risk record, a complete answer
    except ApiError as exc:
        return Pull("risky_users", frames.empty("risky_users"), [failed("risky_users", source, GRAPH, exc)])
    return Pull("risky_users", frames.from_graph("risky_users", items),
                [Coverage("risky_users", source, GRAPH, "complete", rows=len(items), requests=1)])


def risk_detections(transport: Transport, user: UserIdentity, start: datetime, end: datetime) -> Pull:
    source = "graph identityProtection/riskDetections"
    flt = (f"userId eq {odata_quote(user.user_id)} and detectedDateTime ge {iso(start)} "
           f"and detectedDateTime le {iso(end)}")
    items, entry = _collect(transport, "risk_detections", source, "identityProtection/riskDetections",
                            {"$filter": flt, "$top": "500"}, start=start, end=end)
    return Pull("risk_detections", frames.from_graph("risk_detections", items), [entry])


def risky_users_all(transport: Transport) -> Pull:
    """Every user Identity Protection has a risk record for (the tenant-wide listing, 500 a page)."""
    source = "graph identityProtection/riskyUsers"
    items, entry = _collect(transport, "risky_users", source, "identityProtection/riskyUsers", {"$top": "500"})
    return Pull("risky_users", frames.from_graph("risky_users", items), [entry])


def risk_detections_all(transport: Transport, start: datetime, end: datetime) -> Pull:
    """Every risk detection of the tenant detected in [start, end]."""
    source = "graph identityProtection/riskDetections"
    flt = f"detectedDateTime ge {iso(start)} and detectedDateTime le {iso(end)}"
    items, entry = _collect(transport, "risk_detections", source, "identityProtection/riskDetections",
                            {"$filter": flt, "$top": "500"}, start=start, end=end)
    return Pull("risk_detections", frames.from_graph("risk_detections", items), [entry])


def inbox_rules(transport: Transport, user: UserIdentity, accepted_domains: Sequence[str]) -> Pull:
    """Inbox rules as Graph shows them (hidden rules are not among them; Exchange's Get-InboxRule shows those)."""
    source = "graph messageRules"
    path = f"{_user_path(user.user_id)}/mailFolders/inbox/messageRules"
    items, entry = _collect(transport, "rules", source, path, {})
    frame = frames.from_graph("rules", items, mailbox=user.primary_smtp, accepted_domains=accepted_domains)
    return Pull("rules", frame, [entry])


def auth_methods(transport: Transport, user: UserIdentity) -> Pull:
    source = "graph authentication/methods"
    items, entry = _collect(transport, "auth_methods", source, f"{_user_path(user.user_id)}/authentication/methods",
                            {})
    return Pull("auth_methods", frames.from_graph("auth_methods", items, user_id=user.user_id, upn=user.upn), [entry])


def grants(transport: Transport, user: UserIdentity) -> Pull:
    """The user's OAuth consents, with the consented apps named from their service principals."""
    source = "graph oauth2PermissionGrants"
    items, entry = _collect(transport, "grants", source, f"{_user_path(user.user_id)}/oauth2PermissionGrants", {})
    principals: list[Item] = []
    for sp_id in sorted({str(g.get(k)) for g in items for k in ("clientId", "resourceId") if g.get(k)}):
        try:
            principals.append(transport.graph_get(f"servicePrincipals/{sp_id}", source="graph servicePrincipals"))
        except ApiError as exc:  # the grant stays; only its app name is missing
            log.info("service principal %s not readable: %s", sp_id, exc)
    return Pull("grants", frames.from_graph("grants", items, service_principals=principals), [entry])


def alerts(transport: Transport, start: datetime, end: datetime, user: UserIdentity | None = None) -> Pull:
    """Defender alerts created in the window; with ``user``, those whose evidence names one of their addresses."""
    source = "graph security/alerts_v2"
    flt = f"createdDateTime ge {iso(start)} and createdDateTime le {iso(end)}"
    items, entry = _collect(transport, "alerts", source, "security/alerts_v2", {"$filter": flt}, start=start,
                            end=end)
    frame = frames.from_graph("alerts", items)
    if user is not None and len(frame):
        names = set(user.addresses) | {user.upn}
        mentions = frame["users"].fillna("").map(
            lambda text: bool(names & {u.strip().lower() for u in str(text).split(",")}))
        frame = frame[mentions.astype(bool)].reset_index(drop=True)
        entry = Coverage(entry.kind, entry.source, entry.backend, entry.status, rows=len(frame), start=start,
                         end=end, reason=entry.reason, detail=entry.detail, requests=entry.requests)
    return Pull("alerts", frame, [entry])


#: Queries of one message-trace pull run this many at a time by default: each query is a chain of nextLink pages
#: (every page waits for the one before), so with a second or more of latency per 5,000-row page one chain cannot
#: use the quota (100 requests per 5 minutes), and a few can.
TRACE_WORKERS = 4
#: A tenant-wide pull (no address) is cut into at least this many time slices, so that many chains can run at once.
TRACE_PARTS = 4


@dataclass(frozen=True)
class _TraceQuery:
    lower: datetime
    upper: datetime
    clause: str


def _trace_queries(start: datetime, end: datetime, clauses: Sequence[str]) -> list[_TraceQuery]:
    """The queries of a pull: 10-day slices per address clause; a tenant-wide pull (no clause) is cut into at least
    ``TRACE_PARTS`` slices, so its pages can be fetched by that many chains at once."""
    width = TRACE_SLICE
    if not clauses and end > start:
        width = min(TRACE_SLICE, max(timedelta(minutes=1), (end - start) / TRACE_PARTS))
    return [_TraceQuery(lower, upper, clause) for lower, upper in slices(start, end, width)
            for clause in (clauses or [""])]


def message_traces(transport: Transport, start: datetime, end: datetime, *, senders: Iterable[str] = (),
                   recipients: Iterable[str] = (), accepted_domains: Sequence[str] = (),
                   page_size: int = 5000, workers: int = TRACE_WORKERS) -> Pull:
    """Graph message trace over any window: 10-day slices within the last 90 days, one query per address per slice
    (Graph takes no 'or'), every row once (keyed by trace id and recipient).

    Queries run ``workers`` at a time (the transport's pacer keeps them all within the quota); a tenant-wide pull is
    cut into at least ``TRACE_PARTS`` time slices. Rows, coverage and their order are the same whatever ``workers``.
    """
    if page_size < 1 or page_size > 5000:
        raise ValueError(f"page_size must be 1 to 5000, got {page_size}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    source = "graph messageTraces"
    coverage: list[Coverage] = []
    start, gaps = _clip("trace", source, start, end, transport.now(), TRACE_RETENTION, "message trace")
    coverage += gaps
    clauses = [f"senderAddress eq {odata_quote(a.lower())}" for a in senders]
    clauses += [f"recipientAddress eq {odata_quote(a.lower())}" for a in recipients]
    queries = _trace_queries(start, end, clauses)

    def run(query: _TraceQuery) -> tuple[list[Item], ApiError | None, int]:
        window = f"receivedDateTime ge {iso(query.lower)} and receivedDateTime le {iso(query.upper)}"
        flt = f"{window} and {query.clause}" if query.clause else window
        items: list[Item] = []
        with transport.counting() as count:
            try:
                for page in transport.graph_pages("admin/exchange/tracing/messageTraces", source=source,
                                                  params={"$filter": flt, "$top": str(page_size)}):
                    items.extend(page)
            except ApiError as exc:
                return items, exc, count()
        return items, None, count()

    if workers > 1 and len(queries) > 1:
        with ThreadPoolExecutor(max_workers=min(workers, len(queries)), thread_name_prefix="trace") as pool:
            results = list(pool.map(run, queries))
    else:
        results = [run(query) for query in queries]
    rows = KeyedRows(key=lambda item: (str(item.get("id")).lower(), str(item.get("recipientAddress")).lower()))
    for query, (items, error, requests) in zip(queries, results, strict=True):
        label = f"{source} ({query.clause or 'all senders'})"
        new = rows.add(items)
        if error is not None:
            coverage.append(failed("trace", label, GRAPH, error, rows=new, start=query.lower, end=query.upper,
                                   requests=requests))
        else:
            coverage.append(Coverage("trace", label, GRAPH, "complete", rows=new, start=query.lower,
                                     end=query.upper, requests=requests))
    frame = frames.from_graph("trace", rows.items(), accepted_domains=accepted_domains)
    if rows.repeats or rows.conflicts:
        log.info("%s: %d repeated and %d changed rows folded into %d", source, rows.repeats, rows.conflicts,
                 len(rows.rows))
    return Pull("trace", frame, coverage)


def trace_details(transport: Transport, trace_id: str, recipient: str) -> Pull:
    source = "graph getDetailsByRecipient"
    path = (f"admin/exchange/tracing/messageTraces/{trace_id}/getDetailsByRecipient("
            f"recipientAddress={url_quote(odata_quote(recipient.lower()), safe='@')})")
    items, entry = _collect(transport, "trace_details", source, path, {}, key="dateTime")
    frame = frames.from_graph("trace_details", items, recipient=recipient.lower(), trace_id=trace_id)
    return Pull("trace_details", frame, [entry])


def users(transport: Transport, params: dict[str, Any] | None = None) -> Pull:
    """Tenant users (for tenant-wide views), every page."""
    items, entry = _collect(transport, "users", "graph users", "users",
                            {"$select": USER_FIELDS, "$top": "999", **(params or {})})
    return Pull("users", frames.from_graph("users", items), [entry])
