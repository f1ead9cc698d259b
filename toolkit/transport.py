"""HTTP plumbing shared by every client call.

For now: a ``requests.Session`` whose own ``verify`` wins over ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``.
requests lets those environment variables override ``Session.verify`` when a call passes no ``verify`` of its own,
and msal calls ``http_client.get/post`` without one, so a session pointed at the sandbox CA would silently fall
back to the system bundle and fail the TLS handshake (m365-apis.md section 10). Proxies from the environment are
kept.
"""

from __future__ import annotations

from typing import Any

import requests


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
