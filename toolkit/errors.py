"""Typed errors of the client side. Each names the source (the service and call) and the request id.

Callers branch on the type, never on the message: a 403 for a missing licence is a ``LicenceRequired``, for a
missing permission a ``PermissionDenied``; a 429 that outlived the retry budget is ``Throttled``.
"""

from __future__ import annotations


class ToolkitError(Exception):
    """Base of every error the toolkit raises on purpose."""


class ConfigurationError(ToolkitError):
    """Settings that cannot work: names the setting and what is wrong with it."""


class AuthenticationError(ToolkitError):
    """No token could be obtained (wrong secret, unregistered certificate, declined device code...)."""

    def __init__(self, message: str, error: str | None = None, codes: tuple[int, ...] = ()):
        super().__init__(message)
        self.error = error
        self.codes = codes


class ApiError(ToolkitError):
    """A call that failed: which source, which HTTP status and service error code, and the request id."""

    def __init__(self, source: str, status: int | None, code: str | None, message: str,
                 request_id: str | None = None):
        self.source = source
        self.status = status
        self.code = code
        self.detail = message
        self.request_id = request_id
        where = f"{source}: " if source else ""
        status_text = f"HTTP {status} " if status is not None else ""
        code_text = f"{code}: " if code else ""
        rid = f" (request-id {request_id})" if request_id else ""
        super().__init__(f"{where}{status_text}{code_text}{message}{rid}")


class BadRequest(ApiError):
    """400: the service refused the request as written (a filter, a window, a parameter)."""


class Unauthorized(ApiError):
    """401: the token was refused even after a fresh one was fetched."""


class PermissionDenied(ApiError):
    """403: the credential lacks a permission or a role."""


class LicenceRequired(PermissionDenied):
    """403 because the tenant lacks a licence (sign-ins need Entra ID P1, risk data P2)."""


class NotFound(ApiError):
    """404: the object does not exist."""


class Throttled(ApiError):
    """429s went on past the retry budget."""


class ServiceUnavailable(ApiError):
    """5xx answers went on past the retry budget."""


class ConnectionFailed(ApiError):
    """The connection failed (reset, truncated body, timeout) past the retry budget."""
