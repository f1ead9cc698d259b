"""Settings: arguments over environment over config file; secrets only by reference; clouds; nothing -> None."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.errors import ConfigurationError
from toolkit.settings import CLOUDS, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("M365_TENANT", "M365_CLIENT_ID", "M365_CLOUD", "M365_AUTH", "M365_CLIENT_SECRET_ENV",
                 "M365_CERT_PFX", "M365_CERT_PASSPHRASE_ENV", "M365_TENANT_DOMAIN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("M365_TOOLKIT_CONFIG", str(tmp_path / "none.toml"))


def test_nothing_configured_means_none() -> None:
    assert load_settings() is None


def test_environment_with_a_secret_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("M365_TENANT", "contoso.onmicrosoft.com")
    monkeypatch.setenv("M365_CLIENT_ID", "app-id")
    monkeypatch.setenv("M365_CLIENT_SECRET_ENV", "MY_SECRET")
    monkeypatch.setenv("MY_SECRET", "s3cr3t-value-xyz")
    settings = load_settings()
    assert settings is not None
    assert settings.credential.kind == "secret" and settings.credential.secret_env == "MY_SECRET"
    assert "s3cr3t-value-xyz" not in repr(settings)
    endpoints = settings.resolved_endpoints()
    assert endpoints.authority == "https://login.microsoftonline.com/contoso.onmicrosoft.com"
    assert endpoints.graph == "https://graph.microsoft.com/v1.0"
    assert endpoints.exchange == "https://outlook.office365.com/adminapi/beta/contoso.onmicrosoft.com"


def test_arguments_win_over_environment_and_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[tenant]\ntenant = "from-file"\nclient_id = "file-app"\ncloud = "gcchigh"\n')
    monkeypatch.setenv("M365_CLIENT_ID", "env-app")
    settings = load_settings(config_path=config, tenant="from-arg")
    assert settings is not None
    assert (settings.tenant, settings.client_id, settings.cloud.name) == ("from-arg", "env-app", "gcchigh")
    assert settings.credential.kind == "device_code"
    endpoints = settings.resolved_endpoints()
    assert endpoints.authority.startswith("https://login.microsoftonline.us/")
    assert endpoints.exchange.startswith("https://outlook.office365.us/")
    assert not settings.cloud.graph_message_trace


def test_certificate_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pfx = tmp_path / "app.pfx"
    pfx.write_bytes(b"x")
    settings = load_settings(tenant="t", client_id="c", pfx_path=str(pfx))
    assert settings is not None and settings.credential.kind == "certificate"
    with pytest.raises(ConfigurationError, match="certificate file not found"):
        load_settings(tenant="t", client_id="c", pfx_path=str(tmp_path / "missing.pfx"))
    with pytest.raises(ConfigurationError, match="M365_PFX_PASS"):
        load_settings(tenant="t", client_id="c", pfx_path=str(pfx), passphrase_env="M365_PFX_PASS")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[tenant]\ntenant = "t"\nclient_secret = "oops"\n', "unknown setting 'client_secret'"),
        ('[tenant]\ntenant = "t"\nsecret_env = "abc def=="\n', "NAME of an environment variable"),
        ("[tenant\n", "not valid TOML"),
    ],
)
def test_config_file_errors_name_the_file_and_setting(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(text)
    with pytest.raises(ConfigurationError) as caught:
        load_settings(config_path=config)
    assert message in str(caught.value) and str(config) in str(caught.value)


def test_missing_pieces_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="'client_id' is missing"):
        load_settings(tenant="t")
    with pytest.raises(ConfigurationError, match="unknown cloud 'mars'"):
        load_settings(tenant="t", client_id="c", cloud="mars")
    with pytest.raises(ConfigurationError, match="NOPE_SECRET"):
        load_settings(tenant="t", client_id="c", secret_env="NOPE_SECRET")


def test_clouds_cover_the_national_endpoints() -> None:
    assert set(CLOUDS) == {"global", "gcchigh", "dod", "china"}
    assert CLOUDS["dod"].exchange == "https://outlook-dod.office365.us"
    assert CLOUDS["china"].exchange == "https://outlook.office365.cn"
    assert CLOUDS["global"].graph_message_trace
