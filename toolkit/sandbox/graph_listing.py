"""Graph collection responses: ``$filter``, ``$select``, ``$top``, ``$orderby``, ``$count`` and nextLink paging.

Each Graph list endpoint declares a :class:`Listing` (what it supports, its page-size limits) and hands its rows to
:func:`list_response`. Unsupported query options are a 400, never silently ignored, as Graph does for the
resources the toolkit calls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from toolkit.sandbox.app import Ctx, json_response
from toolkit.sandbox.errors import ServiceError
from toolkit.sandbox.odata import FilterRules, ODataError, parse_datetime, parse_filter
from toolkit.sandbox.paging import SkipTokenInvalid

Row = dict[str, Any]
KNOWN_OPTIONS = frozenset({"$filter", "$select", "$top", "$skiptoken", "$orderby", "$count", "$skip", "$expand",
                           "$search", "$format"})


@dataclass(frozen=True)
class Listing:
    """What one Graph list endpoint accepts.

    ``top_over_max``: "reject" answers 400 for a ``$top`` above ``max_top``; "clamp" serves ``max_top``.
    ``orderby``: accepted ``$orderby`` values, e.g. {"createdDateTime desc", "createdDateTime"}.
    """

    context: str
    rules: FilterRules | None
    max_top: int
    default_top: int
    top_over_max: str = "reject"
    min_top: int = 1
    orderby: frozenset[str] = frozenset()
    allow_skip: bool = False
    allow_count: bool = False
    allow_select: bool = True
    filter_error_code: str = "BadRequest"
    top_error_code: str = "BadRequest"
    top_error_message: str = "Invalid page size specified: '{top}'. Must be between {min} and {max} inclusive."


def bad_request(message: str, code: str = "BadRequest") -> ServiceError:
    return ServiceError(400, code, message)


def _top(query: dict[str, str], listing: Listing) -> int:
    text = query.get("$top")
    if text is None:
        return listing.default_top
    try:
        top = int(text)
    except ValueError:
        raise bad_request(f"Invalid value '{text}' for query option $top: an integer is expected.") from None
    if top < listing.min_top or top > listing.max_top:
        if top > listing.max_top and listing.top_over_max == "clamp":
            return listing.max_top
        raise bad_request(listing.top_error_message.format(top=text, min=listing.min_top, max=listing.max_top),
                          listing.top_error_code)
    return top


def _selector(query: dict[str, str], listing: Listing) -> Callable[[Row], Row] | None:
    text = query.get("$select")
    if text is None:
        return None
    if not listing.allow_select:
        raise bad_request("Query option '$select' is not supported on this resource.")
    fields = [f.strip() for f in text.split(",") if f.strip()]
    if not fields:
        raise bad_request("Invalid $select: an empty list of properties.")

    def select(row: Row) -> Row:
        lowered = {k.lower(): k for k in row}
        picked: Row = {}
        for name in fields:
            key = lowered.get(name.lower())
            if key is not None:
                picked[key] = row[key]
        if "@odata.type" in row:
            picked["@odata.type"] = row["@odata.type"]
        return picked

    return select


def filter_rows(rows: Sequence[Row], text: str | None, listing: Listing) -> Sequence[Row]:
    """Apply ``$filter`` (400 for anything the endpoint does not support)."""
    if text is None:
        return rows
    if listing.rules is None:
        raise bad_request("Query option '$filter' is not supported on this resource.")
    try:
        parsed = parse_filter(text, listing.rules)
    except ODataError as exc:
        raise bad_request(f"Invalid filter clause: {exc.message}", listing.filter_error_code) from None
    return [r for r in rows if parsed.matches(r)]


def _order(rows: Sequence[Row], text: str | None, listing: Listing) -> Sequence[Row]:
    if text is None:
        return rows
    normal = " ".join(text.split())
    if normal not in listing.orderby:
        allowed = ", ".join(sorted(listing.orderby)) or "none"
        raise bad_request(f"Unsupported $orderby '{text}'. Supported: {allowed}.")
    name, _, direction = normal.partition(" ")

    def key(row: Row) -> tuple[int, Any]:
        value = row.get(name)
        if value is None:
            return (0, "")
        if isinstance(value, str) and _looks_like_instant(value):
            return (1, parse_datetime(value))  # '...:00Z' and '...:00.5Z' do not sort as text
        return (1, str(value).lower())

    return sorted(rows, key=key, reverse=direction.lower() == "desc")


def _looks_like_instant(text: str) -> bool:
    return len(text) >= 20 and text[4] == "-" and text[10] in "Tt" and text[13] == ":"


def list_response(
    ctx: Ctx,
    rows: Sequence[Row] | Callable[[], Sequence[Row]],
    listing: Listing,
    project: Callable[[Row], Row],
    *,
    prefiltered: bool = False,
) -> Response:
    """A Graph collection page for ``rows`` (or a callable producing them, skipped when paging on).

    ``project`` turns a stored row into the served object. With ``prefiltered`` the caller already applied
    ``$filter`` (e.g. message trace, which pulls time bounds out of it first).
    """
    query = ctx.query()
    unknown = [k for k in query if k.startswith("$") and k.lower() not in KNOWN_OPTIONS]
    if unknown:
        raise bad_request(f"Query option '{unknown[0]}' is not supported.")
    for option in ("$expand", "$search", "$format"):
        if option in query:
            raise bad_request(f"Query option '{option}' is not supported on this resource.")
    path = ctx.request.url.path
    select = _selector(query, listing)
    projector = project if select is None else (lambda row: select(project(row)))
    pager = ctx.sandbox.pager
    if "$skiptoken" in query:
        try:
            page = pager.next(query["$skiptoken"], path, repeat_previous=ctx.repeat_page)
        except SkipTokenInvalid as exc:
            raise bad_request(str(exc)) from None
        count = None
    else:
        top = _top(query, listing)
        source = rows() if callable(rows) else rows
        if not prefiltered:
            source = filter_rows(source, query.get("$filter"), listing)
        source = _order(source, query.get("$orderby"), listing)
        if "$skip" in query:
            if not listing.allow_skip:
                raise bad_request("Query option '$skip' is not supported on this resource.")
            try:
                skip = int(query["$skip"])
            except ValueError:
                raise bad_request(f"Invalid value '{query['$skip']}' for $skip.") from None
            source = source[skip:]
        count = None
        if "$count" in query:
            if not listing.allow_count:
                raise bad_request("Query option '$count' is not supported on this resource.")
            if query["$count"].lower() == "true":
                count = len(source)
        page = pager.first(source, top, projector, path)
    body: dict[str, Any] = {"@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#{listing.context}"}
    if count is not None:
        body["@odata.count"] = count
    body["value"] = page.items
    if page.skiptoken is not None:
        keep = {k: v for k, v in query.items() if k in {"$top", "$select", "$filter"}}
        keep["$skiptoken"] = page.skiptoken
        body["@odata.nextLink"] = ctx.url(path, keep)
    return json_response(body)
