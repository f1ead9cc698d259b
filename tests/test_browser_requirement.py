"""Without Chromium the browser suite skips and says why; where CI requires it (M365_REQUIRE_BROWSER=1) it fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import browser_support


def test_a_missing_chromium_skips_with_the_reason(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(browser_support, "CHROMIUM", tmp_path / "chromium")
    monkeypatch.delenv(browser_support.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"chromium is not installed \(Debian: apt-get install chromium\)"):
        browser_support.require_browser()


def test_a_missing_chromium_fails_where_the_browser_suite_is_required(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    monkeypatch.setattr(browser_support, "CHROMIUM", tmp_path / "chromium")
    monkeypatch.setenv(browser_support.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="M365_REQUIRE_BROWSER=1"):
        browser_support.require_browser()


def test_the_installed_chromium_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    if not browser_support.CHROMIUM.exists():
        pytest.skip(f"{browser_support.CHROMIUM} is not installed")
    monkeypatch.setenv(browser_support.REQUIRE_ENV, "1")
    browser_support.require_browser()  # neither skips nor fails
