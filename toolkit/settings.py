"""What to connect to: the tenant, the app, the credential and the cloud; the sandbox when nothing is set.

Settings come from arguments, then environment variables, then a config file (TOML), first found wins per field.
Secrets are held only by reference: the name of an environment variable that holds a client secret, or the path of
a PFX file (and the name of the variable holding its passphrase). Nothing here can print a secret.

Environment variables: ``M365_TENANT``, ``M365_CLIENT_ID``, ``M365_CLOUD`` (global, gcchigh, dod, china),
``M365_CLIENT_SECRET_ENV`` (the name of the variable holding the secret), ``M365_CERT_PFX``,
``M365_CERT_PASSPHRASE_ENV``, ``M365_AUTH`` (secret, certificate, device_code), ``M365_TENANT_DOMAIN``,
``M365_TOOLKIT_CONFIG`` (the config file; default ``~/.config/m365-spam-toolkit/config.toml``).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from toolkit.errors import ConfigurationError

CredentialKind = Literal["secret", "certificate", "device_code"]


@dataclass(frozen=True)
class Cloud:
    """The endpoints of one Microsoft cloud."""

    name: str
    authority_host: str
    graph: str
    exchange: str
    graph_message_trace: bool  # Graph message trace is global-only; elsewhere Get-MessageTraceV2 answers

    @property
    def graph_audience(self) -> str:
        return self.graph

    @property
    def exchange_audience(self) -> str:
        return self.exchange


CLOUDS: dict[str, Cloud] = {
    "global": Cloud("global", "https://login.microsoftonline.com", "https://graph.microsoft.com",
                    "https://outlook.office365.com", True),
    "gcchigh": Cloud("gcchigh", "https://login.microsoftonline.us", "https://graph.microsoft.us",
                     "https://outlook.office365.us", False),
    "dod": Cloud("dod", "https://login.microsoftonline.us", "https://dod-graph.microsoft.us",
                 "https://outlook-dod.office365.us", False),
    "china": Cloud("china", "https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn",
                   "https://outlook.office365.cn", False),
}


@dataclass(frozen=True)
class Credential:
    """How the app proves itself: by reference only.

    ``secret``: ``secret_env`` names the environment variable that holds the client secret.
    ``certificate``: ``pfx_path`` is the PFX file; ``passphrase_env`` optionally names the variable with its password.
    ``device_code``: a person signs in (delegated); nothing is stored but the token cache.
    """

    kind: CredentialKind
    secret_env: str | None = None
    pfx_path: Path | None = None
    passphrase_env: str | None = None

    def validate(self) -> None:
        if self.kind == "secret":
            if not self.secret_env:
                raise ConfigurationError("credential 'secret' needs secret_env: the NAME of the environment variable "
                                         "that holds the client secret (never the secret itself)")
            if not os.environ.get(self.secret_env):
                raise ConfigurationError(f"environment variable {self.secret_env} (the client secret) is not set")
        elif self.kind == "certificate":
            if self.pfx_path is None:
                raise ConfigurationError("credential 'certificate' needs pfx_path: the path of the PFX file")
            if not self.pfx_path.is_file():
                raise ConfigurationError(f"certificate file not found: {self.pfx_path}")
            if self.passphrase_env and self.passphrase_env not in os.environ:
                raise ConfigurationError(f"environment variable {self.passphrase_env} (the PFX passphrase) is not set")
        elif self.kind != "device_code":
            raise ConfigurationError(f"unknown credential kind {self.kind!r}; use secret, certificate or device_code")


@dataclass(frozen=True)
class Endpoints:
    """Where each service lives; the cloud's public hosts, or a sandbox's addresses."""

    authority: str  # e.g. https://login.microsoftonline.com/<tenant>
    graph: str  # base for /v1.0 paths, e.g. https://graph.microsoft.com/v1.0
    exchange: str  # e.g. https://outlook.office365.com/adminapi/beta/<tenant>
    graph_audience: str
    exchange_audience: str
    ca_bundle: str | None = None  # a PEM bundle to trust instead of the system store (the sandbox CA)
    public_authority: bool = True  # msal instance discovery only for Microsoft's own authority hosts


@dataclass(frozen=True)
class Settings:
    """One tenant connection, fully resolved."""

    tenant: str
    client_id: str
    credential: Credential
    cloud: Cloud = CLOUDS["global"]
    tenant_domain: str | None = None  # used for the Exchange anchor mailbox; defaults to ``tenant``
    endpoints: Endpoints | None = None  # None: the cloud's public endpoints
    simulated: bool = False  # True for the sandbox tenant
    quota_scale: float = 1.0  # the sandbox's --quota-scale, so client pacing matches its windows
    token_cache: Path | None = None
    sandbox_control: dict[str, str] = field(default_factory=dict, repr=False)

    def resolved_endpoints(self) -> Endpoints:
        if self.endpoints is not None:
            return self.endpoints
        cloud = self.cloud
        return Endpoints(
            authority=f"{cloud.authority_host}/{self.tenant}",
            graph=f"{cloud.graph}/v1.0",
            exchange=f"{cloud.exchange}/adminapi/beta/{self.tenant}",
            graph_audience=cloud.graph_audience,
            exchange_audience=cloud.exchange_audience,
        )

    @property
    def anchor_domain(self) -> str:
        return self.tenant_domain or self.tenant


def default_config_path() -> Path:
    explicit = os.environ.get("M365_TOOLKIT_CONFIG")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "m365-spam-toolkit" / "config.toml"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "m365-spam-toolkit"


_ENV = {
    "tenant": "M365_TENANT",
    "client_id": "M365_CLIENT_ID",
    "cloud": "M365_CLOUD",
    "auth": "M365_AUTH",
    "secret_env": "M365_CLIENT_SECRET_ENV",
    "pfx_path": "M365_CERT_PFX",
    "passphrase_env": "M365_CERT_PASSPHRASE_ENV",
    "tenant_domain": "M365_TENANT_DOMAIN",
}
_SECRET_LOOKING = ("secret", "password", "passphrase", "key")


def _read_config(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: not valid TOML ({exc})") from None
    section = data.get("tenant", data)
    if not isinstance(section, dict):
        raise ConfigurationError(f"{path}: [tenant] must be a table")
    for key, value in section.items():
        if key not in _ENV:
            raise ConfigurationError(f"{path}: unknown setting {key!r}; known: {', '.join(sorted(_ENV))}")
        if key in {"secret_env", "passphrase_env"} and isinstance(value, str) and not value.isidentifier():
            raise ConfigurationError(f"{path}: {key} must be the NAME of an environment variable, not its value")
    for key in section:
        if any(word in key for word in _SECRET_LOOKING) and not key.endswith("_env"):
            raise ConfigurationError(f"{path}: {key!r} looks like a secret; give the name of an environment variable")
    return section


def load_settings(config_path: Path | None = None, **overrides: Any) -> Settings | None:
    """Resolve settings from arguments, environment and config file; None when no tenant is configured."""
    config = _read_config(config_path or default_config_path())
    values: dict[str, Any] = {}
    for key, env in _ENV.items():
        if overrides.get(key) is not None:
            values[key] = overrides[key]
        elif os.environ.get(env):
            values[key] = os.environ[env]
        elif key in config:
            values[key] = config[key]
    if "tenant" not in values and "client_id" not in values:
        return None
    for needed in ("tenant", "client_id"):
        if not values.get(needed):
            raise ConfigurationError(f"setting {needed!r} is missing (argument, {_ENV[needed]}, or the config file)")
    cloud_name = str(values.get("cloud", "global")).lower()
    if cloud_name not in CLOUDS:
        raise ConfigurationError(f"unknown cloud {cloud_name!r}; use one of {', '.join(CLOUDS)}")
    auth = values.get("auth")
    if auth is None:
        auth = "certificate" if values.get("pfx_path") else "secret" if values.get("secret_env") else "device_code"
    credential = Credential(
        kind=auth,
        secret_env=values.get("secret_env"),
        pfx_path=Path(values["pfx_path"]).expanduser() if values.get("pfx_path") else None,
        passphrase_env=values.get("passphrase_env"),
    )
    credential.validate()
    settings = Settings(
        tenant=str(values["tenant"]),
        client_id=str(values["client_id"]),
        credential=credential,
        cloud=CLOUDS[cloud_name],
        tenant_domain=values.get("tenant_domain"),
        token_cache=default_cache_dir() / "token-cache.bin",
    )
    return settings


def with_cache(settings: Settings, path: Path | None) -> Settings:
    return replace(settings, token_cache=path)
