"""Error responses in the shapes the real services send.

Graph: ``{"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}``.
Exchange admin API (InvokeCommand): the shape is UNVERIFIED; we follow what CIPP parses - a message in
``error.message`` prefixed with the exception type, the same in ``error.details[].message`` and an ``innererror``.
Entra token endpoint: ``{"error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id"}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from starlette.responses import Response


@dataclass
class ServiceError(Exception):
    """Raised by a handler; rendered by the app in the shape of the service that raised it."""

    status: int
    code: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)
    inner_code: str | None = None

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


class GraphError(ServiceError):
    """An error from a Graph endpoint."""


class ExchangeError(ServiceError):
    """An error from the Exchange admin API; ``exception`` is the .NET exception type named in the message."""

    def __init__(self, status: int, exception: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(status=status, code=exception, message=message, headers=headers or {})


class EntraError(ServiceError):
    """An OAuth error from the token endpoints (AADSTS codes)."""

    def __init__(self, status: int, error: str, aadsts: int, description: str):
        super().__init__(status=status, code=error, message=f"AADSTS{aadsts}: {description}")
        self.aadsts = aadsts


def _json(body: object, status: int, headers: dict[str, str], request_id: str) -> Response:
    merged = {"request-id": request_id, "client-request-id": request_id, **headers}
    return Response(
        json.dumps(body), status_code=status, headers=merged, media_type="application/json"
    )


def _now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def graph_error_body(code: str, message: str, request_id: str, client_request_id: str | None,
                     inner_code: str | None = None, status: int | None = None) -> dict:
    inner: dict[str, str] = {
        "date": _now_text(),
        "request-id": request_id,
        "client-request-id": client_request_id or request_id,
    }
    if inner_code is not None:
        inner["code"] = inner_code
    if status is not None and inner_code is not None:
        inner["status"] = str(status)
    return {"error": {"code": code, "message": message, "innerError": inner}}


def render_graph(err: ServiceError, request_id: str, client_request_id: str | None) -> Response:
    body = graph_error_body(err.code, err.message, request_id, client_request_id, err.inner_code, err.status)
    return _json(body, err.status, err.headers, request_id)


def render_exchange(err: ServiceError, request_id: str) -> Response:
    text = f"|{err.code}|{err.message}" if "." in err.code else err.message
    body = {
        "error": {
            "code": "BadRequest" if err.status == 400 else _status_code_name(err.status),
            "message": text,
            "details": [{"code": "Context", "target": "", "message": text}],
            "innererror": {
                "message": text,
                "type": "Microsoft.Exchange.Admin.OData.Core.ODataServiceException",
                "@Microsoft.Exchange.Admin.OData.Core.ODataServiceException.RequestId": request_id,
                "internalException": {"message": err.message, "type": err.code},
            },
        }
    }
    return _json(body, err.status, err.headers, request_id)


def render_entra(err: ServiceError, request_id: str) -> Response:
    aadsts = getattr(err, "aadsts", 0)
    body = {
        "error": err.code,
        "error_description": f"{err.message}\r\nTrace ID: {request_id}\r\nCorrelation ID: {request_id}\r\n"
        f"Timestamp: {_now_text()}Z",
        "error_codes": [aadsts],
        "timestamp": f"{_now_text()}Z",
        "trace_id": request_id,
        "correlation_id": request_id,
    }
    return _json(body, err.status, err.headers, request_id)


def _status_code_name(status: int) -> str:
    return {
        401: "Unauthorized",
        403: "Forbidden",
        404: "NotFound",
        429: "TooManyRequests",
        500: "InternalServerError",
        503: "ServiceUnavailable",
        504: "GatewayTimeout",
    }.get(status, "BadRequest")


def render(service: str, err: ServiceError, request_id: str, client_request_id: str | None) -> Response:
    """Render an error for the service ("graph", "exchange", "entra") whose endpoint was called."""
    if service == "exchange":
        return render_exchange(err, request_id)
    if service == "entra":
        return render_entra(err, request_id)
    return render_graph(err, request_id, client_request_id)
