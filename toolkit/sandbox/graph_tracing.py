"""Graph message trace: ``/admin/exchange/tracing/messageTraces`` and ``getDetailsByRecipient``.

What the real API enforces (m365-apis.md section 3.1): the message-trace service principal must exist in the
tenant (401 otherwise), a query covers at most 10 days and starts at most 90 days back, both time bounds are
required for a custom range (no filter: the last 48 hours), the end may not be in the future, ``$top`` is 1..5000
(default 1000), and list and detail calls share 100 requests per 5 minutes per tenant.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from starlette.responses import Response

from toolkit.sandbox.access import GRAPH, requirement
from toolkit.sandbox.app import Ctx, Route, route
from toolkit.sandbox.errors import ServiceError
from toolkit.sandbox.graph_listing import Listing, list_response
from toolkit.sandbox.odata import FieldSpec, FilterRules, ODataError, parse_filter
from toolkit.sandbox.snapshot import served

MESSAGE_TRACE_APP_ID = "8bd644d1-64a1-4d4b-ae52-2e0cbf64e373"
MAX_SPAN = timedelta(days=10)
MAX_AGE = timedelta(days=90)
DEFAULT_SPAN = timedelta(hours=48)
TRACE_FIELDS = ("id", "senderAddress", "recipientAddress", "messageId", "receivedDateTime", "subject", "size",
                "fromIP", "toIP", "status")
#: Members added after the enum was published; served only to clients that ask for them (evolvable enums).
EVOLVED_STATUS = frozenset({"recalled"})

_EQ = frozenset({"eq"})
RULES = FilterRules(
    fields={
        "id": FieldSpec("string", _EQ),
        "senderAddress": FieldSpec("string", _EQ),
        "recipientAddress": FieldSpec("string", _EQ),
        "messageId": FieldSpec("string", _EQ),
        "receivedDateTime": FieldSpec("datetime", frozenset({"ge", "le"})),
        "subject": FieldSpec("string", frozenset({"contains", "startswith", "endswith"})),
        "fromIP": FieldSpec("string", _EQ),
        "toIP": FieldSpec("string", _EQ),
        "status": FieldSpec("enum", _EQ),
    },
    # UNVERIFIED: the docs show only 'and' combinations; we refuse 'or' and 'not' rather than guess their meaning.
    allow_and=True,
)

LISTING = Listing(
    context="admin/exchange/tracing/messageTraces",
    rules=RULES,
    max_top=5000,
    default_top=1000,
    allow_select=True,
)

NEED = requirement(
    GRAPH,
    application="ExchangeMessageTrace.Read.All",
    delegated="ExchangeMessageTrace.Read.All",
    # Delegated callers must also be Exchange admins (office365itpros); the exact role list is UNVERIFIED.
    user_roles="Global Administrator,Exchange Administrator,Global Reader,Security Administrator,Security Reader,"
    "Compliance Administrator",
    denied_code="Forbidden",
    denied_message="Missing role permissions on the request. API requires one of 'ExchangeMessageTrace.Read.All'.",
)


def _require_service_principal(ctx: Ctx) -> None:
    principals = ctx.state.collection("service_principals")
    if not any(sp.get("appId", "").lower() == MESSAGE_TRACE_APP_ID for sp in principals):
        raise ServiceError(
            401,
            "Unauthorized",
            f"Service principal-less Authentication failed: the service principal for App ID {MESSAGE_TRACE_APP_ID} "
            "was not found. Please create a service principal for this app in your tenant. Provisioning may take "
            "several hours to complete.",
        )


def _window(ctx: Ctx, filter_text: str | None) -> tuple[datetime, datetime]:
    """The receivedDateTime bounds of a query, checked against the service's window rules."""
    now = ctx.state.now()
    if filter_text is None:
        return now - DEFAULT_SPAN, now
    try:
        parsed = parse_filter(filter_text, RULES)
    except ODataError as exc:
        raise ServiceError(400, "BadRequest", f"Invalid filter clause: {exc.message}") from None
    terms = parsed.and_terms() or []
    lower = [t.value for t in terms if t.field == "receivedDateTime" and t.op == "ge"]
    upper = [t.value for t in terms if t.field == "receivedDateTime" and t.op == "le"]
    if len(lower) > 1 or len(upper) > 1:
        raise ServiceError(400, "BadRequest", "Specify receivedDateTime at most once as 'ge' and once as 'le'.")
    if not lower and not upper:
        return now - DEFAULT_SPAN, now
    if not lower or not upper:
        raise ServiceError(400, "BadRequest", "Both a start (receivedDateTime ge) and an end (receivedDateTime le) "
                                              "are required for a custom date range.")
    start, end = lower[0], upper[0]
    if start > end:
        raise ServiceError(400, "BadRequest", "The start date must be earlier than the end date.")
    if end > now + timedelta(minutes=5):  # a little leeway for clock skew between client and service
        raise ServiceError(400, "BadRequest", "The end date can't be in the future.")
    if start < now - MAX_AGE:
        raise ServiceError(400, "BadRequest", "The start date can't be older than 90 days.")
    if end - start > MAX_SPAN:
        raise ServiceError(400, "BadRequest", "The date range can't exceed 10 days.")
    return start, end


def _projector(ctx: Ctx) -> Any:
    prefer = ctx.request.headers.get("prefer", "").lower()
    evolvable = "include-unknown-enum-members" in prefer

    def project(row: dict[str, Any]) -> dict[str, Any]:
        item = {k: row.get(k) for k in TRACE_FIELDS}
        if not evolvable and item["status"] in EVOLVED_STATUS:
            item["status"] = "unknownFutureValue"
        return item

    return project


def list_traces(ctx: Ctx) -> Response:
    _require_service_principal(ctx)
    query = ctx.query()

    def rows() -> list[dict[str, Any]]:
        filter_text = query.get("$filter")
        start, end = _window(ctx, filter_text)
        window = ctx.state.traces_between(start, end)
        if filter_text is not None:
            matches = parse_filter(filter_text, RULES).matches
            window = [r for r in window if matches(r)]
        # UNVERIFIED: the order of results; we serve newest first, as Get-MessageTraceV2 does.
        return window[::-1]

    return list_response(ctx, rows, LISTING, _projector(ctx), prefiltered=True)


_DETAILS = re.compile(r"^getDetailsByRecipient\(recipientAddress='(?P<address>(?:[^']|'')*)'\)$", re.IGNORECASE)


def trace_details(ctx: Ctx) -> Response:
    _require_service_principal(ctx)
    found = _DETAILS.match(ctx.params["function"])
    if found is None:
        raise ServiceError(400, "BadRequest", f"Resource not found for the segment '{ctx.params['function']}'.")
    address = found.group("address").replace("''", "'").lower()
    trace_id = ctx.params["trace_id"].lower()
    if not any(r["id"].lower() == trace_id and r["recipientAddress"].lower() == address
               for r in ctx.state.collection("message_traces")):
        raise ServiceError(404, "NotFound", f"No message trace '{ctx.params['trace_id']}' for recipient '{address}'.")
    details = [
        served(r, "message_trace_details")
        for r in ctx.state.collection("message_trace_details")
        if r["id"].lower() == trace_id and r["recipientAddress"].lower() == address
    ]
    details.sort(key=lambda r: r.get("dateTime") or "")
    listing = Listing(context="Collection(microsoft.graph.exchangeMessageTraceDetail)", rules=None,
                      max_top=1000, default_top=1000, allow_select=True)
    return list_response(ctx, details, listing, lambda r: r)


def _quota(ctx: Ctx) -> tuple[str, str]:
    return "message_trace", ctx.state.tenant_id


def routes() -> list[Route]:
    return [
        route("GET", "/v1.0/admin/exchange/tracing/messageTraces", list_traces, "graph", NEED, _quota),
        route("GET", "/v1.0/admin/exchange/tracing/messageTraces/{trace_id}/{function}", trace_details, "graph",
              NEED, _quota),
    ]
