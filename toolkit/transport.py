"""HTTP for every client call: retries, quota pacing, paging, error mapping and request accounting.

- :class:`RetryPolicy` decides what is retried (429, 5xx, dropped connections, truncated bodies, one expired token)
  and how long to wait: the server's ``Retry-After`` (whole or fractional seconds) when it sends one, exponential
  back-off when it does not, never more than ``max_total_wait`` in all. :data:`FAIL_FAST` retries nothing.
- :class:`QuotaPacer` holds a sliding window per service sized to the documented limits, so the client slows down
  before the service throttles it (message trace: 100 requests per 5 minutes per tenant).
- :class:`Transport` sends the requests: Graph paging by ``@odata.nextLink`` (custom headers re-sent on each page),
  InvokeCommand paging by re-POSTing the same body, and typed errors that name the source and the request id.
- :class:`Session` keeps its own ``verify`` even when ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` are set (requests
  lets those override a session's ``verify`` when a call passes none, and msal passes none: m365-apis.md section 10).
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests

from toolkit.errors import (
    ApiError,
    BadRequest,
    ConnectionFailed,
    LicenceRequired,
    NotFound,
    PermissionDenied,
    ServiceUnavailable,
    Throttled,
    Unauthorized,
)

log = logging.getLogger(__name__)


class Session(requests.Session):
    """A requests session that keeps its own ``verify`` setting even when CA-bundle variables are set."""

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        if verify is None:
            verify = self.verify
        return super().merge_environment_settings(url, proxies, stream, verify, cert)


def session_trusting(ca_bundle: str | None) -> Session:
    """A session that trusts ``ca_bundle`` (a PEM path) instead of the system store, or the system store if None."""
    session = Session()
    if ca_bundle:
        session.verify = ca_bundle
    return session


# --- retry ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RetryPolicy:
    """What to retry and how long to wait.

    ``max_attempts``: tries per request, the first included. ``max_total_wait``: seconds of waiting per request, all
    retries together; past it the last error is raised. ``backoff_base``/``backoff_max``: the exponential back-off
    when the server gives no ``Retry-After`` (with jitter).
    """

    max_attempts: int = 8
    max_total_wait: float = 600.0
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    retry_statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504})

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.max_total_wait < 0 or self.backoff_base < 0:
            raise ValueError("waits cannot be negative")

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before try ``attempt + 1`` (``attempt`` counts from 1)."""
        if retry_after is not None:
            return max(0.0, retry_after)
        backoff = min(self.backoff_max, self.backoff_base * (2 ** (attempt - 1)))
        return backoff * (0.5 + random.random() / 2)  # jitter, not cryptography


FAIL_FAST = RetryPolicy(max_attempts=1, max_total_wait=0.0)


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: an integer, a fraction (``2.128``), or an HTTP date; None when absent or bad."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


# --- quota pacing ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Quota:
    limit: int
    window: float  # seconds


#: The documented limits (m365-apis.md sections 3 and 7); the sandbox enforces the same ones.
QUOTAS: dict[str, Quota] = {
    "message_trace": Quota(100, 300.0),
    "exo_message_trace": Quota(100, 300.0),
    "reports": Quota(5, 10.0),
    "identity_protection": Quota(1, 1.0),
    "security": Quota(150, 60.0),
    "outlook": Quota(10_000, 600.0),
    "directory": Quota(3_000, 10.0),
    "exchange": Quota(30_000, 3600.0),
}


def service_of(url: str, cmdlet: str | None = None) -> str:
    """The quota bucket a request falls in."""
    if cmdlet is not None:
        return "exo_message_trace" if cmdlet.lower() in {"get-messagetracev2", "get-messagetracedetailv2"} \
            else "exchange"
    path = urlsplit(url).path.lower()
    if "/admin/exchange/tracing/" in path:
        return "message_trace"
    if "/auditlogs/" in path:
        return "reports"
    if "/identityprotection/" in path:
        return "identity_protection"
    if "/security/" in path:
        return "security"
    if "/mailfolders" in path:
        return "outlook"
    return "directory"


class QuotaPacer:
    """Waits before a request that would exceed its service's window (per service and key)."""

    def __init__(self, quotas: dict[str, Quota] | None = None, scale: float = 1.0,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic):
        self._quotas = quotas or QUOTAS
        self._scale = scale
        self._sleep = sleep
        self._clock = clock
        self._logs: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()
        self.waited = 0.0

    def acquire(self, service: str, key: str = "") -> float:
        """Take a slot, sleeping first if the window is full; returns the seconds slept."""
        quota = self._quotas.get(service)
        if quota is None:
            return 0.0
        # A little wider than the service's window: the service stamps a request when it arrives, later than we
        # stamp it when we send, so an exact window would let the first request of the next window in too early.
        window = quota.window * self._scale * 1.02 + 0.05
        slept = 0.0
        while True:
            with self._lock:
                now = self._clock()
                log_ = self._logs.setdefault((service, key), deque())
                while log_ and log_[0] <= now - window:
                    log_.popleft()
                if len(log_) < quota.limit:
                    log_.append(now)
                    self.waited += slept
                    return slept
                wait = log_[0] + window - now + 0.001
            self._sleep(wait)
            slept += wait


# --- accounting -----------------------------------------------------------------------------------------------------
@dataclass
class RequestStats:
    """What the transport did, per service: requests, retries, throttles, waits and bytes (safe to update from
    several threads: concurrent pulls share one transport)."""

    requests: dict[str, int] = field(default_factory=dict)
    retries: dict[str, int] = field(default_factory=dict)
    throttled: dict[str, int] = field(default_factory=dict)
    waited_seconds: float = 0.0
    bytes_received: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, table: dict[str, int], service: str) -> None:
        with self._lock:
            table[service] = table.get(service, 0) + 1

    def add(self, *, waited: float = 0.0, received: int = 0) -> None:
        with self._lock:
            self.waited_seconds += waited
            self.bytes_received += received


class Tally:
    """Requests sent by one thread inside :meth:`Transport.counting` (other threads' requests are not counted)."""

    def __init__(self) -> None:
        self.requests = 0

    def __call__(self) -> int:
        return self.requests


# --- transport ------------------------------------------------------------------------------------------------------
class TokenSource(Protocol):
    def token(self, service: str, force_refresh: bool = False) -> str: ...


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    headers: dict[str, str]
    request_id: str | None


LICENCE_CODES = frozenset({
    "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
    "Authentication_RequestFromNonPremiumTenant",
})


class Transport:
    """Sends Graph and Exchange requests with one retry policy, one pacer and one session."""

    def __init__(self, tokens: TokenSource, *, graph_base: str, exchange_base: str, anchor_mailbox: str,
                 session: requests.Session | None = None, retry: RetryPolicy | None = None,
                 pacer: QuotaPacer | None = None, timeout: float = 60.0,
                 sleep: Callable[[float], None] = time.sleep):
        self.tokens = tokens
        self.graph_base = graph_base.rstrip("/")
        self.exchange_base = exchange_base.rstrip("/")
        self.anchor_mailbox = anchor_mailbox
        self.session = session or Session()
        self._retry = retry or RetryPolicy()
        self._local = threading.local()  # a per-thread retry override (see retrying)
        self.pacer = pacer or QuotaPacer()
        self.timeout = timeout
        self.stats = RequestStats()
        self._sleep = sleep
        self._clock_offset = 0.0  # service clock minus ours, from the Date header of the latest answer
        self._tallies = threading.local()

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy for requests sent from this thread."""
        override: RetryPolicy | None = getattr(self._local, "retry", None)
        return override if override is not None else self._retry

    @retry.setter
    def retry(self, policy: RetryPolicy) -> None:
        self._retry = policy

    @contextmanager
    def retrying(self, policy: RetryPolicy) -> Iterator[None]:
        """Send this thread's requests under ``policy`` for the block; other threads keep theirs (an unblock must
        not be repeated blindly, while a watch in another thread still retries its reads)."""
        saved = getattr(self._local, "retry", None)
        self._local.retry = policy
        try:
            yield
        finally:
            self._local.retry = saved

    @contextmanager
    def counting(self) -> Iterator[Tally]:
        """Count the requests this thread sends inside the block (retries included), whatever other threads send."""
        tally = Tally()
        stack: list[Tally] = getattr(self._tallies, "stack", None) or []
        self._tallies.stack = [*stack, tally]
        try:
            yield tally
        finally:
            self._tallies.stack = stack

    def now(self) -> datetime:
        """The service's current time (UTC), as its latest ``Date`` header showed it.

        Windows such as "the last 14 days" are computed on it, so a skewed local clock (or the sandbox's simulated
        now) never produces a window the service refuses as "in the future".
        """
        return datetime.fromtimestamp(time.time() + self._clock_offset, tz=UTC)

    def calibrate(self, url: str) -> datetime:
        """Learn the service clock from any answer's Date header (an unauthenticated GET, e.g. OIDC discovery)."""
        try:
            response = self.session.get(url, timeout=self.timeout)
            self._calibrate(response.headers.get("Date"))
        except requests.RequestException as exc:
            log.info("could not read the service clock from %s: %s", url, type(exc).__name__)
        return self.now()

    def _calibrate(self, date_header: str | None) -> None:
        if not date_header:
            return
        from email.utils import parsedate_to_datetime

        try:
            served = parsedate_to_datetime(date_header)
        except (TypeError, ValueError):
            return
        if served.tzinfo is None:
            served = served.replace(tzinfo=UTC)
        self._clock_offset = served.timestamp() - time.time()

    def __repr__(self) -> str:
        return f"Transport(graph={self.graph_base!r}, exchange={self.exchange_base!r})"

    # -- one request, with retries --------------------------------------------------------------------------------
    def send(self, api: str, method: str, url: str, *, source: str, params: dict[str, str] | None = None,
             json_body: Any = None, headers: dict[str, str] | None = None, cmdlet: str | None = None,
             quota_key: str = "") -> Reply:
        """Send one request (``api`` is "graph" or "exchange"), retrying what the policy allows."""
        service = service_of(url, cmdlet)
        waited = 0.0
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            self.stats.add(waited=self.pacer.acquire(service, quota_key))
            self.stats.count(self.stats.requests, service)
            for tally in getattr(self._tallies, "stack", ()):
                tally.requests += 1
            token = self.tokens.token(api, force_refresh=False)
            request_headers = {
                "Authorization": f"Bearer {token}",
                "client-request-id": str(uuid.uuid4()),
                "Accept": "application/json",
                **(headers or {}),
            }
            error: ApiError
            retry_after: float | None = None
            try:
                response = self.session.request(method, url, params=params, json=json_body,
                                                headers=request_headers, timeout=self.timeout)
                content = response.content  # reads the whole body: a truncated one raises here
                self._calibrate(response.headers.get("Date"))
                self.stats.add(received=len(content))
                request_id = response.headers.get("request-id") or response.headers.get("x-ms-request-id")
                body = _decode(content)
                if response.status_code < 400:
                    return Reply(response.status_code, body, dict(response.headers), request_id)
                error = _api_error(source, response.status_code, body, request_id)
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                if response.status_code == 401 and not refreshed and _expired(error):
                    refreshed = True  # the token lapsed (perhaps mid-paging): fetch a fresh one, once
                    self.tokens.token(api, force_refresh=True)
                    log.info("%s: token refused as expired; retrying with a fresh token", source)
                    continue
                if response.status_code not in self.retry.retry_statuses:
                    raise error
                if response.status_code == 429:
                    self.stats.count(self.stats.throttled, service)
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                    _TruncatedBody) as exc:
                error = ConnectionFailed(source, None, type(exc).__name__, _describe(exc))
            delay = self.retry.delay(attempt, retry_after)
            if attempt >= self.retry.max_attempts or waited + delay > self.retry.max_total_wait:
                log.warning("%s: giving up after %d attempt(s) and %.1f s of waiting: %s", source, attempt, waited,
                            error)
                raise error
            self.stats.count(self.stats.retries, service)
            log.info("%s: %s; retry %d in %.2f s", source, error, attempt, delay)
            self._sleep(delay)
            waited += delay
            self.stats.add(waited=delay)

    # -- Graph -------------------------------------------------------------------------------------------------------
    def graph_url(self, path: str) -> str:
        return path if path.startswith("https://") else f"{self.graph_base}/{path.lstrip('/')}"

    def graph_get(self, path: str, *, source: str, params: dict[str, str] | None = None,
                  headers: dict[str, str] | None = None, quota_key: str = "") -> Any:
        return self.send("graph", "GET", self.graph_url(path), source=source, params=params, headers=headers,
                         quota_key=quota_key).body

    def graph_pages(self, path: str, *, source: str, params: dict[str, str] | None = None,
                    headers: dict[str, str] | None = None, quota_key: str = "") -> Iterator[list[dict[str, Any]]]:
        """Each page's ``value`` list, following ``@odata.nextLink`` (a whole URL) until it is absent.

        Custom headers (``ConsistencyLevel``, ``Prefer``) are sent again on every page, since Graph does not carry
        them over. A page may be empty.
        """
        url: str | None = self.graph_url(path)
        query = params
        while url is not None:
            body = self.send("graph", "GET", url, source=source, params=query, headers=headers,
                             quota_key=quota_key).body
            if not isinstance(body, dict) or not isinstance(body.get("value"), list):
                raise ApiError(source, None, "UnexpectedResponse", "the response has no 'value' list")
            next_link = body.get("@odata.nextLink")
            if next_link is not None and next_link == url:
                # A page whose nextLink is the URL just asked for is the previous page served again: skip it.
                log.info("%s: the service repeated a page; skipped", source)
            else:
                yield body["value"]
            url = next_link
            query = None  # the nextLink carries the whole query

    def graph_send(self, method: str, path: str, *, source: str, json_body: Any = None,
                   quota_key: str = "") -> Reply:
        return self.send("graph", method, self.graph_url(path), source=source, json_body=json_body,
                         quota_key=quota_key)

    # -- Exchange ----------------------------------------------------------------------------------------------------
    def invoke_pages(self, cmdlet: str, parameters: dict[str, Any] | None = None, *, source: str | None = None,
                     page_size: int | None = None) -> Iterator[list[dict[str, Any]]]:
        """Each page of an InvokeCommand result; the same body is re-POSTed to every ``@odata.nextLink``."""
        body = {"CmdletInput": {"CmdletName": cmdlet, "Parameters": parameters or {}}}
        headers = {
            "X-AnchorMailbox": self.anchor_mailbox,
            "X-CmdletName": cmdlet,
            "X-ResponseFormat": "json",
            "Content-Type": "application/json",
        }
        if page_size is not None:
            headers["Prefer"] = f"odata.maxpagesize={page_size}"
        url: str | None = f"{self.exchange_base}/InvokeCommand"
        name = source or f"exchange {cmdlet}"
        while url is not None:
            reply = self.send("exchange", "POST", url, source=name, json_body=body, headers=headers, cmdlet=cmdlet)
            data = reply.body
            if not isinstance(data, dict) or not isinstance(data.get("value"), list):
                raise ApiError(name, reply.status, "UnexpectedResponse", "the response has no 'value' list",
                               reply.request_id)
            for warning in data.get("@adminapi.warnings") or []:
                log.debug("%s: warning from Exchange: %s", name, warning)
            next_link = data.get("@odata.nextLink")
            if next_link is not None and next_link == url:
                log.info("%s: the service repeated a page; skipped", name)
            else:
                yield data["value"]
            url = next_link

    def invoke(self, cmdlet: str, parameters: dict[str, Any] | None = None, *, source: str | None = None,
               page_size: int | None = None) -> list[dict[str, Any]]:
        """All rows of an InvokeCommand result."""
        return [row for page in self.invoke_pages(cmdlet, parameters, source=source, page_size=page_size)
                for row in page]


class _TruncatedBody(Exception):
    """The body ended early (shorter than its Content-Length, or cut JSON)."""


def _decode(content: bytes) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except json.JSONDecodeError as exc:
        text = content[:200].decode("utf-8", "replace")
        if content.lstrip()[:1] in (b"{", b"["):
            raise _TruncatedBody(f"incomplete JSON ({exc.msg})") from None
        return {"raw": text}


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text[:300]


def _expired(error: ApiError) -> bool:
    return error.code == "InvalidAuthenticationToken" and "expired" in error.detail.lower()


def _api_error(source: str, status: int, body: Any, request_id: str | None) -> ApiError:
    """Map an error response (Graph, Exchange admin API or anything else) to a typed error."""
    code, message = None, ""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        code = err.get("code")
        details = err.get("details") or []
        message = str(err.get("message") or "")
        if not message and details and isinstance(details[0], dict):
            message = str(details[0].get("message") or "")
        inner = err.get("innerError") or err.get("innererror") or {}
        if isinstance(inner, dict):
            request_id = request_id or inner.get("request-id")
    elif isinstance(body, dict) and "raw" in body:
        message = str(body["raw"])
    message = message or f"HTTP {status}"
    if status == 400:
        return BadRequest(source, status, code, message, request_id)
    if status == 401:
        return Unauthorized(source, status, code, message, request_id)
    if status == 403:
        if code in LICENCE_CODES or "licen" in message.lower() or "premium license" in message.lower():
            return LicenceRequired(source, status, code, message, request_id)
        return PermissionDenied(source, status, code, message, request_id)
    if status == 404:
        return NotFound(source, status, code, message, request_id)
    if status == 429:
        return Throttled(source, status, code, message, request_id)
    if status >= 500:
        return ServiceUnavailable(source, status, code, message, request_id)
    return ApiError(source, status, code, message, request_id)
