"""Access tokens per audience (Graph, Exchange) from msal: app-only certificate or secret, or the device code flow.

The token cache persists in one file readable by the owner only (msal-extensions: encrypted where the platform
offers it, else a plain file with mode 0600). Tokens and secrets never reach a repr, a log line or an exception:
the objects here print only what they are for, and :func:`install_redaction` scrubs JWTs, bearer headers and the
secrets in use from every log record as defence in depth.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msal

from toolkit.errors import AuthenticationError, ConfigurationError
from toolkit.settings import Settings
from toolkit.transport import session_trusting

log = logging.getLogger(__name__)

JWT_PATTERN = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
BEARER_PATTERN = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()
_installed = False


def register_secret(value: str) -> None:
    """Scrub this exact string from every log record from now on."""
    if value and len(value) >= 6:
        with _SECRETS_LOCK:
            _SECRETS.add(value)


def redact(text: str) -> str:
    """Replace tokens and registered secrets in ``text``."""
    text = JWT_PATTERN.sub("[token]", text)
    text = BEARER_PATTERN.sub(r"\1[token]", text)
    with _SECRETS_LOCK:
        secrets = list(_SECRETS)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "[secret]")
    return text


def install_redaction() -> None:
    """Wrap the log-record factory so every record's message is scrubbed before any handler sees it."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the logging machinery to report
            return record
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


install_redaction()


def _persisted_cache(path: Path) -> msal.SerializableTokenCache:
    """A token cache persisted at ``path``: encrypted if the platform can, else an owner-only file."""
    from msal_extensions import FilePersistence, PersistedTokenCache, build_encrypted_persistence

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        persistence = build_encrypted_persistence(str(path))
    except Exception as exc:  # no keyring / DPAPI / Keychain here (a headless Linux box): owner-only file
        log.info("token cache: no encrypted store available (%s); using an owner-only file", type(exc).__name__)
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
            os.close(fd)
        os.chmod(path, 0o600)
        persistence = FilePersistence(str(path))
    return PersistedTokenCache(persistence)


DeviceCodePrompt = Callable[[dict[str, Any]], None]


def _default_prompt(flow: dict[str, Any]) -> None:
    # The one place a message must reach a person rather than a log: the device-code instruction.
    sys.stderr.write(str(flow.get("message", "")) + "\n")
    sys.stderr.flush()


@dataclass(frozen=True)
class Identity:
    """Who the tokens act as, for the journal: an app, or a user through an app."""

    kind: str  # "app" or "user"
    name: str  # the app's client id, or the user's UPN
    tenant: str


class TokenProvider:
    """Tokens for the Graph and Exchange audiences of one tenant connection."""

    def __init__(self, settings: Settings, prompt: DeviceCodePrompt | None = None,
                 http_client: Any | None = None):
        self.settings = settings
        self._endpoints = settings.resolved_endpoints()
        self._prompt = prompt or _default_prompt
        self._lock = threading.Lock()
        cache = _persisted_cache(settings.token_cache) if settings.token_cache else msal.SerializableTokenCache()
        client = http_client or session_trusting(self._endpoints.ca_bundle)
        common: dict[str, Any] = {
            "authority": self._endpoints.authority,
            "token_cache": cache,
            "http_client": client,
        }
        if not self._endpoints.public_authority:
            common["instance_discovery"] = False
        credential = settings.credential
        self._public = credential.kind == "device_code"
        try:
            if self._public:
                self._app: Any = msal.PublicClientApplication(settings.client_id, **common)
            else:
                self._app = msal.ConfidentialClientApplication(
                    settings.client_id, client_credential=self._client_credential(), **common)
        except ValueError as exc:
            raise ConfigurationError(f"cannot reach the authority {self._endpoints.authority}: {exc}") from None

    def __repr__(self) -> str:
        return f"TokenProvider(tenant={self.settings.tenant!r}, client_id={self.settings.client_id!r}, " \
               f"credential={self.settings.credential.kind!r})"

    def _client_credential(self) -> Any:
        credential = self.settings.credential
        credential.validate()
        if credential.kind == "secret":
            secret = os.environ[str(credential.secret_env)]
            register_secret(secret)
            return secret
        passphrase = os.environ.get(credential.passphrase_env) if credential.passphrase_env else None
        if passphrase:
            register_secret(passphrase)
        value: dict[str, Any] = {"private_key_pfx_path": str(credential.pfx_path)}
        if passphrase:
            value["passphrase"] = passphrase
        return value

    def audience(self, service: str) -> str:
        return self._endpoints.graph_audience if service == "graph" else self._endpoints.exchange_audience

    def token(self, service: str, force_refresh: bool = False) -> str:
        """An access token for ``service`` ("graph" or "exchange"); from the cache unless ``force_refresh``."""
        scopes = [f"{self.audience(service).rstrip('/')}/.default"]
        with self._lock:
            result = self._acquire(scopes, force_refresh)
        if "access_token" not in result:
            codes = tuple(int(c) for c in result.get("error_codes", []) if str(c).isdigit())
            description = str(result.get("error_description", "")).split("\r\n", 1)[0]
            raise AuthenticationError(f"no {service} token for {self.settings.client_id}: "
                                      f"{result.get('error')}: {description}", result.get("error"), codes)
        return str(result["access_token"])

    def _acquire(self, scopes: list[str], force_refresh: bool) -> dict[str, Any]:
        if not self._public:
            if force_refresh:
                self._app.remove_tokens_for_client()
            return dict(self._app.acquire_token_for_client(scopes=scopes))
        accounts = self._app.get_accounts()
        if accounts:
            result = self._app.acquire_token_silent(scopes, account=accounts[0], force_refresh=force_refresh)
            if result and "access_token" in result:
                return dict(result)
        flow = self._app.initiate_device_flow(scopes=scopes)
        if "user_code" not in flow:
            return dict(flow)
        self._prompt(flow)
        return dict(self._app.acquire_token_by_device_flow(flow))

    def identity(self) -> Identity:
        """The identity tokens act as (the signed-in user for device code, else the app)."""
        if self._public:
            accounts = self._app.get_accounts()
            if accounts:
                return Identity("user", str(accounts[0].get("username")), self.settings.tenant)
        return Identity("app", self.settings.client_id, self.settings.tenant)
