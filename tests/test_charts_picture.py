"""Charts as pictures: ``toolkit.charts.picture`` draws a figure in the system Chromium and returns a PNG of the
requested size on the theme's background; the sign-in map draws with every network request refused, both as a PNG
and as the standalone HTML a report embeds.

Needs Playwright and Chromium (Debian's ``/usr/bin/chromium`` or ``$M365_CHROMIUM``): skipped with the reason when
they are missing, failed instead when ``M365_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import base64
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from toolkit import charts
from toolkit.charts import picture, theme, worldmap
from toolkit.charts.picture import PictureError

T0 = pd.Timestamp("2026-03-02 00:00", tz="UTC")
USER = "ana.silva@contoso.com"


def browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    try:
        picture.chromium_path()
    except PictureError as error:
        return str(error)
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium with the flags the picture module uses (for the checks that read pixels and pages)."""
    missing = browser_missing()
    if missing:
        if os.environ.get("M365_REQUIRE_BROWSER") == "1":
            pytest.fail(f"M365_REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=picture.chromium_path(), headless=True,
                                              args=list(picture.CHROMIUM_ARGS))
        yield launched
        launched.close()


def trace() -> pd.DataFrame:
    """Ten quiet days, then a burst of external mail; one recipient per row."""
    rows = [(T0 + pd.Timedelta(hours=d * 24 + 9), "internal", f"p{d}@contoso.com") for d in range(10)]
    rows += [(T0 + pd.Timedelta(hours=10 * 24 + 3, minutes=m), "outbound", f"x{m}@mail{m % 7}.example")
             for m in range(0, 300, 2)]
    return pd.DataFrame(rows, columns=["received", "direction", "recipient"]).assign(
        sender=USER, recipient_domain=lambda f: f["recipient"].str.split("@").str[1], subject="Invoice",
        status="delivered", trace_id=[f"m{i}" for i in range(len(rows))])


def signins() -> pd.DataFrame:
    rows = [(T0 + pd.Timedelta(days=d, hours=9), "FR", "Paris", 48.86, 2.35, "Browser", True, False)
            for d in range(8)]
    rows += [(T0 + pd.Timedelta(days=8, hours=3), "NG", "Lagos", None, None, "IMAP4", True, True),
             (T0 + pd.Timedelta(days=8, hours=4), "BR", "", None, None, "Browser", False, False)]
    return pd.DataFrame(rows, columns=["time", "country", "city", "latitude", "longitude", "client_app", "success",
                                       "legacy_protocol"]).assign(upn=USER, ip="203.0.113.9", app="Office")


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk, after checking the signature and the chunk's CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    body = data[16:29]
    assert struct.unpack(">I", data[29:33])[0] == zlib.crc32(kind + body)
    width, height = struct.unpack(">II", body[:8])
    return width, height


def pixels(browser: Any, data: bytes) -> dict[str, Any]:
    """Decode the PNG in the browser: its size, the corner colour, how many pixels differ from that corner and how
    many distinct colours it holds."""
    page = browser.new_page()
    try:
        page.set_content(f"<img id='i' src='data:image/png;base64,{base64.b64encode(data).decode()}'>")
        page.wait_for_function("document.getElementById('i').complete")
        return page.evaluate("""() => {
            const img = document.getElementById('i');
            const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
            const g = c.getContext('2d'); g.drawImage(img, 0, 0);
            const d = g.getImageData(0, 0, c.width, c.height).data;
            const corner = [d[0], d[1], d[2]]; let differ = 0; const colours = new Set();
            for (let i = 0; i < d.length; i += 4) {
              if (d[i] !== corner[0] || d[i + 1] !== corner[1] || d[i + 2] !== corner[2]) differ++;
              colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
            }
            return {width: c.width, height: c.height, corner, differ, colours: colours.size,
                    total: c.width * c.height};
        }""")
    finally:
        page.close()


def rgb(hex_colour: str) -> list[int]:
    return [int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]


@pytest.mark.parametrize("theme_", ["light", "dark"])
def test_a_chart_becomes_a_png_of_the_requested_size(browser: Any, theme_: str, tmp_path: Path) -> None:
    fig = charts.outbound_volume(trace(), theme=theme_)
    path = picture.save_png(fig, tmp_path / "img" / "volume.png", width=640, height=400)
    data = path.read_bytes()
    assert png_size(data) == (640, 400)
    seen = pixels(browser, data)
    assert (seen["width"], seen["height"]) == (640, 400)
    assert seen["corner"] == rgb(picture.BACKGROUNDS[theme_])  # the JupyterLab background behind the figure
    assert seen["differ"] > 0.02 * seen["total"], "the picture is (almost) blank"
    assert seen["colours"] > 20  # bars, lines, text: more than a flat fill


def test_scale_multiplies_the_pixels(browser: Any) -> None:
    data = picture.render_png(charts.delivery(trace()), width=500, height=380, scale=2)
    assert png_size(data) == (1000, 760)


def test_the_sign_in_map_draws_with_the_network_off(browser: Any, tmp_path: Path) -> None:
    fig = charts.signin_map(signins(), new_days=3)
    # the PNG: land drawn, markers on it, on a white page
    seen = pixels(browser, picture.render_png(fig, width=800, height=460))
    assert seen["differ"] > 0.2 * seen["total"], "no base map in the picture"
    # the standalone HTML a report embeds, opened with every request refused
    html = tmp_path / "map.html"
    html.write_text(fig.to_html(include_plotlyjs="inline", full_html=True), encoding="utf-8")
    page = browser.new_page()
    requested: list[str] = []
    page.route("**/*", lambda route: (requested.append(route.request.url), route.continue_()
                                      if route.request.url.startswith("file:") else route.abort()))
    try:
        page.goto(html.as_uri())
        page.wait_for_selector(".main-svg", timeout=30_000)
        fills = page.eval_on_selector_all(".shapelayer path", "ps => ps.map(p => p.style.fill)")
        points = page.eval_on_selector_all(".scatterlayer .point", "ps => ps.length")
    finally:
        page.close()
    assert [u for u in requested if not u.startswith("file:")] == []
    land = theme.palette("light").land
    assert f"rgb({', '.join(str(v) for v in rgb(land))})" in fills  # the land shape is drawn
    assert points == 3  # Paris, Lagos, Brazil's centre
    assert any(s.name == worldmap.LAND for s in fig.layout.shapes)


def test_a_missing_chromium_is_named_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(picture.CHROMIUM_ENV, "/nonexistent/chromium")
    with pytest.raises(PictureError, match="apt-get install chromium"):
        picture.render_png(charts.delivery(trace()))
