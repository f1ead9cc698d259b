"""Tokens from the sandbox through msal: secret, PFX certificate, device code; cache and redaction."""

from __future__ import annotations

import logging
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any

import jwt
import pytest

from tests.conftest import APP_ID, PFX_PASSPHRASE, PFX_PATH, PUBLIC_ID, Tenant
from toolkit.auth import TokenProvider, redact, register_secret
from toolkit.connection import sandbox_settings
from toolkit.errors import AuthenticationError
from toolkit.settings import Credential


def claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def test_secret_tokens_per_audience_and_cache(shared_tenant: Tenant, tmp_path: Path) -> None:
    settings = replace(sandbox_settings(shared_tenant.ep), token_cache=tmp_path / "cache" / "tokens.bin")
    tokens = TokenProvider(settings)
    graph = tokens.token("graph")
    assert claims(graph)["aud"] == "https://graph.microsoft.com"
    assert claims(tokens.token("exchange"))["aud"] == "https://outlook.office365.com"
    assert tokens.token("graph") == graph  # served from the cache
    assert tokens.token("graph", force_refresh=True) != graph
    cache = settings.token_cache
    assert cache is not None and cache.exists()
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert tokens.identity().kind == "app" and tokens.identity().name == APP_ID
    assert graph not in repr(tokens)


def test_pfx_certificate(shared_tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_PFX_PASS", PFX_PASSPHRASE)
    settings = replace(sandbox_settings(shared_tenant.ep), client_id=APP_ID,
                       credential=Credential("certificate", pfx_path=PFX_PATH, passphrase_env="TEST_PFX_PASS"))
    assert claims(TokenProvider(settings).token("graph"))["appid"] == APP_ID


def test_wrong_secret_is_a_clear_error_without_the_secret(shared_tenant: Tenant,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WRONG_SECRET", "definitely-wrong-secret")
    settings = replace(sandbox_settings(shared_tenant.ep), credential=Credential("secret", secret_env="WRONG_SECRET"))
    with pytest.raises(AuthenticationError) as caught:
        TokenProvider(settings).token("graph")
    assert caught.value.error == "invalid_client" and 7000215 in caught.value.codes
    assert "definitely-wrong-secret" not in str(caught.value)


def test_device_code_flow_with_a_prompt(shared_tenant: Tenant) -> None:
    prompts: list[str] = []

    def prompt(flow: dict[str, Any]) -> None:
        prompts.append(flow["message"])
        shared_tenant.control("POST", "/device/approve", {"user_code": flow["user_code"],
                                                          "user": "analyst@contoso.com"})

    settings = replace(sandbox_settings(shared_tenant.ep), client_id=PUBLIC_ID,
                       credential=Credential("device_code"))
    tokens = TokenProvider(settings, prompt=prompt)
    token = tokens.token("graph")
    assert claims(token)["upn"] == "analyst@contoso.com"
    assert len(prompts) == 1 and shared_tenant.ep.device_login in prompts[0]
    assert claims(tokens.token("exchange"))["aud"] == "https://outlook.office365.com"
    assert len(prompts) == 1  # the refresh token served the second audience
    assert tokens.identity().kind == "user" and tokens.identity().name == "analyst@contoso.com"


def test_redaction_scrubs_tokens_bearer_headers_and_registered_secrets(caplog: pytest.LogCaptureFixture) -> None:
    token = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2dyYXBoIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    register_secret("hunter2-secret")
    assert redact(f"token={token}") == "token=[token]"
    assert redact("Authorization: Bearer abc.def-ghi_jkl") == "Authorization: Bearer [token]"
    with caplog.at_level(logging.INFO):
        logging.getLogger("anything.at.all").info("secret %s and %s", "hunter2-secret", token)
    assert caplog.records[-1].getMessage() == "secret [secret] and [token]"
