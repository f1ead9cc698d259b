"""The sandbox as one ASGI application: routing, latency, faults, authentication, quotas and error rendering.

Every request goes through the same steps, in the order the real front doors apply them: match a route, apply an
injected fault, verify the bearer token and the permission, count it against its quota, run the handler, render
any error in the shape of the service that was called.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
import socket
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from toolkit.sandbox.access import Principal, Requirement, authenticate, authorize
from toolkit.sandbox.clock import SimClock
from toolkit.sandbox.errors import ServiceError, render
from toolkit.sandbox.faults import Fault, FaultInjector
from toolkit.sandbox.paging import Pager
from toolkit.sandbox.quotas import Quotas
from toolkit.sandbox.snapshot import Snapshot
from toolkit.sandbox.state import TenantState
from toolkit.sandbox.tokens import TokenService

log = logging.getLogger(__name__)

#: (bucket, key) for a request, or None when it is not counted.
QuotaFn = Callable[["Ctx"], tuple[str, str] | None]
Handler = Callable[["Ctx"], Response]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    service: str  # "graph", "exchange", "entra" or "control": the shape of its errors
    need: Requirement | None = None
    quota: QuotaFn | None = None


def route(method: str, path: str, handler: Handler, service: str, need: Requirement | None = None,
          quota: QuotaFn | str | None = None) -> Route:
    """A route from a path template: ``{name}`` matches one segment, case-insensitively."""
    regex = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "/?$"
    if isinstance(quota, str):
        bucket = quota
        quota_fn: QuotaFn | None = lambda ctx: (bucket, ctx.sandbox.state.tenant_id)  # noqa: E731
    else:
        quota_fn = quota
    return Route(method.upper(), re.compile(regex, re.IGNORECASE), handler, service, need, quota_fn)


@dataclass
class SandboxConfig:
    tenant_dir: Path
    state_dir: Path
    latency_ms: float = 0.0
    latency_ms_per_mb: float = 0.0  # added per megabyte of response body: a large page takes longer, as on the wire
    quota_scale: float = 1.0
    base_url: str = ""  # set once the port is known


@dataclass
class Sandbox:
    """Everything one running sandbox holds."""

    config: SandboxConfig
    snapshot: Snapshot
    state: TenantState
    tokens: TokenService
    quotas: Quotas
    faults: FaultInjector
    pager: Pager = field(default_factory=Pager)
    control_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    # Entra flows: device codes, refresh tokens, password-reset operations (owned by the entra and graph modules).
    flows: dict[str, Any] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return self.config.base_url

    @property
    def tenant_id(self) -> str:
        return self.snapshot.tenant.tenant_id


@dataclass
class Ctx:
    """One request as a handler sees it."""

    sandbox: Sandbox
    request: Request
    params: dict[str, str]
    body: bytes
    request_id: str
    fault: Fault | None = None
    principal: Principal | None = None

    @property
    def state(self) -> TenantState:
        return self.sandbox.state

    @property
    def repeat_page(self) -> bool:
        return self.fault is not None and self.fault.kind == "repeat_page"

    def query(self) -> dict[str, str]:
        """Query options, decoded; a repeated option is a 400 (as Graph answers)."""
        result: dict[str, str] = {}
        for key, value in parse_qsl(self.request.url.query, keep_blank_values=True):
            if key in result:
                raise ServiceError(400, "BadRequest", f"Query option '{key}' was specified more than once.")
            result[key] = value
        return result

    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except json.JSONDecodeError as exc:
            raise ServiceError(400, "BadRequest", f"The request body is not valid JSON: {exc.msg}.") from None

    def url(self, path: str, query: dict[str, str] | None = None) -> str:
        text = f"{self.sandbox.base_url}{path}"
        if query:
            text += "?" + urlencode(query, safe="$'(),:/@")
        return text

    def require_principal(self) -> Principal:
        if self.principal is None:  # a route without a requirement asked for the caller
            raise ServiceError(401, "InvalidAuthenticationToken", "Access token is empty.")
        return self.principal


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status_code=status, headers=headers,
                    media_type="application/json")


#: Where the ASGI server keeps each connection's transport, so a fault can drop it (see server.py).
CONNECTIONS: dict[tuple[str, int], asyncio.BaseTransport] = {}


class SandboxApp:
    """The ASGI callable."""

    def __init__(self, sandbox: Sandbox, routes: list[Route]):
        self.sandbox = sandbox
        self.routes = routes

    def _match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        path_matched = False
        for candidate in self.routes:
            found = candidate.pattern.match(path)
            if found is None:
                continue
            path_matched = True
            if candidate.method == method:
                return candidate, found.groupdict(), True
        return None, {}, path_matched

    @staticmethod
    def _service_of(path: str) -> str:
        lowered = path.lower()
        if lowered.startswith("/adminapi/"):
            return "exchange"
        if lowered.startswith(("/v1.0/", "/beta/")):
            return "graph"
        if lowered.startswith("/_sandbox"):
            return "control"
        return "entra"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        request_id = str(uuid.uuid4())
        client_request_id = request.headers.get("client-request-id")
        body = await request.body()
        path = scope["path"]
        method = scope["method"].upper()
        config = self.sandbox.config
        if config.latency_ms:
            await asyncio.sleep(config.latency_ms / 1000.0)

        matched, params, path_known = self._match(method, path)
        service = matched.service if matched else self._service_of(path)
        cmdlet = _cmdlet_of(body) if service == "exchange" else None
        fault = self.sandbox.faults.pick(method, path, cmdlet) if service != "control" else None
        if fault is not None:
            log.info("fault %s on %s %s%s", fault.kind, method, path, f" ({cmdlet})" if cmdlet else "")

        def error(err: ServiceError) -> Response:
            return render(service, err, request_id, client_request_id)

        if fault is not None and fault.kind == "reset":
            _drop_connection(scope)
            return
        if fault is not None and fault.kind == "slow":
            await asyncio.sleep(fault.delay_s)
        response: Response
        if fault is not None and fault.kind in {"throttle", "status", "token_rejected"}:
            response = error(_fault_error(fault))
        elif matched is None:
            response = error(_not_found(service, method, path, path_known))
        else:
            ctx = Ctx(self.sandbox, request, params, body, request_id, fault)
            try:
                response = self._run(matched, ctx)
            except ServiceError as err:
                response = error(err)
            except Exception:
                log.exception("sandbox handler failed for %s %s", method, path)
                response = error(ServiceError(500, "InternalServerError", "The sandbox failed on this request."))
        # The Date header carries the tenant's simulated now, so a client can learn the service's clock from it
        # (real services send their real time; clients that calibrate against Date work unchanged).
        response.headers["date"] = format_datetime(self.sandbox.state.now(), usegmt=True)
        response.headers.setdefault("request-id", request_id)
        response.headers.setdefault("client-request-id", client_request_id or request_id)
        if config.latency_ms_per_mb:
            await asyncio.sleep(len(response.body) / 1e6 * config.latency_ms_per_mb / 1000.0)
        if fault is not None and fault.kind == "truncate":
            await _send_truncated(scope, send, response)
            return
        await response(scope, receive, send)

    def _run(self, matched: Route, ctx: Ctx) -> Response:
        sandbox = self.sandbox
        if matched.need is not None:
            principal = authenticate(
                ctx.request.headers.get("authorization"), sandbox.tokens, sandbox.state, matched.need.audience
            )
            authorize(principal, matched.need)
            ctx.principal = principal
        extra_headers: dict[str, str] = {}
        if matched.quota is not None:
            bucket = matched.quota(ctx)
            if bucket is not None:
                decision = sandbox.quotas.check(*bucket)
                if not decision.allowed:
                    headers = {}
                    value = decision.retry_after_header(sandbox.quotas.scale)
                    if value is not None:
                        headers["Retry-After"] = value
                    raise ServiceError(429, "TooManyRequests", "Too many requests. Please retry again later.",
                                       headers=headers, inner_code="429")
                if bucket[0] == "exchange":
                    extra_headers = {
                        "Rate-Limit-Limit": str(decision.spec.limit),
                        "Rate-Limit-Remaining": str(decision.remaining),
                        # an ISO instant, as in the captured response (m365-apis.md section 2.1)
                        "Rate-Limit-Reset": (datetime.now(UTC) + timedelta(seconds=decision.reset_in))
                        .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                    }
        response = matched.handler(ctx)
        for key, value in extra_headers.items():
            response.headers.setdefault(key, value)
        return response


def _cmdlet_of(body: bytes) -> str | None:
    try:
        data = json.loads(body) if body else None
        return str(data["CmdletInput"]["CmdletName"])
    except (ValueError, KeyError, TypeError):
        return None


def _fault_error(fault: Fault) -> ServiceError:
    headers: dict[str, str] = {}
    if fault.retry_after is not None:
        value = fault.retry_after
        headers["Retry-After"] = str(int(value)) if float(value).is_integer() else str(value)
    if fault.kind == "throttle":
        return ServiceError(429, "TooManyRequests", "Please retry again later.", headers=headers, inner_code="429")
    if fault.kind == "token_rejected":
        return ServiceError(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.",
                            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    codes = {500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable", 504: "GatewayTimeout"}
    messages = {
        500: "An internal server error occurred.",
        502: "The gateway received an invalid response.",
        503: "The service is currently unavailable. Please try again later.",
        504: "The gateway did not receive a timely response.",
    }
    return ServiceError(fault.status, codes[fault.status], messages[fault.status], headers=headers)


def _not_found(service: str, method: str, path: str, path_known: bool) -> ServiceError:
    if path_known:
        return ServiceError(405, "Request_BadRequest", f"The HTTP method '{method}' is not allowed on '{path}'.")
    segment = path.rstrip("/").rsplit("/", 1)[-1]
    if service == "graph":
        return ServiceError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")
    return ServiceError(404, "NotFound", f"No such endpoint: {method} {path}")


def _drop_connection(scope: Scope) -> None:
    client = scope.get("client")
    transport = CONNECTIONS.get(tuple(client)) if client else None  # type: ignore[arg-type]
    if transport is None:
        log.warning("cannot drop the connection for %s: transport unknown", client)
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:

        # SO_LINGER 0: the close sends a TCP reset, like a middlebox dropping the connection
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def _send_truncated(scope: Scope, send: Send, response: Response) -> None:
    """Send the headers with the full Content-Length, half of the body, then drop the connection."""
    body = response.body
    headers = [(k, v) for k, v in response.raw_headers if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body[: max(1, len(body) // 2)], "more_body": True})
    await asyncio.sleep(0.05)
    _drop_connection(scope)


def health(ctx: Ctx) -> Response:
    return JSONResponse({"status": "ok", "tenantId": ctx.sandbox.tenant_id})


def build_sandbox(config: SandboxConfig, snapshot: Snapshot, faults: FaultInjector | None = None,
                  clock_rate: float = 1.0) -> Sandbox:
    state = TenantState(snapshot=snapshot, clock=SimClock(snapshot.tenant.now, clock_rate))
    return Sandbox(
        config=config,
        snapshot=snapshot,
        state=state,
        tokens=TokenService(config.state_dir, issuer="", tenant_id=snapshot.tenant.tenant_id),
        quotas=Quotas(config.quota_scale),
        faults=faults or FaultInjector(),
    )


def build_app(sandbox: Sandbox) -> SandboxApp:
    """All routes: Entra, Graph, Exchange, and the sandbox's own control endpoints."""
    from toolkit.sandbox import control, entra, exchange, graph

    routes: list[Route] = [route("GET", "/_sandbox/health", health, "control")]
    routes += control.routes()
    routes += entra.routes()
    routes += graph.routes()
    routes += exchange.routes()
    return SandboxApp(sandbox, routes)
