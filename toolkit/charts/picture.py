"""Charts as PNG pictures, drawn by a headless Chromium through Playwright, with the network off.

    from toolkit.charts.picture import save_png
    save_png(charts.outbound_volume(case), "outbound.png", width=1000)

plotly's own PNG export (kaleido) downloads a Chrome of its own; this module uses the Chromium already on the
machine instead (Debian's ``/usr/bin/chromium``, or ``$M365_CHROMIUM``) and never downloads a browser. The page
holds the figure and plotly.js inline and every request leaving it is refused, so a picture is the same offline as
online. Playwright is a development dependency, imported only when a picture is asked for; without it or without a
Chromium, ``PictureError`` says what to install.

The sync Playwright API refuses to run inside a running asyncio loop (a Jupyter kernel has one), so the browser is
driven from a worker thread.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

log = logging.getLogger(__name__)

CHROMIUM_ENV = "M365_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
#: Flags for a headless Chromium that talks to nobody: no sandbox (containers), no GPU, no background traffic.
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync")
#: The page background behind the figure's transparent paper: JupyterLab's light and dark cell backgrounds.
BACKGROUNDS = {"light": "#ffffff", "dark": "#111111"}
DEFAULT_WIDTH = 1000
RENDER_TIMEOUT_MS = 30_000


class PictureError(RuntimeError):
    """A picture could not be made: Playwright or Chromium is missing, or plotly.js failed to draw the figure."""


@dataclass(frozen=True)
class Picture:
    """One figure to draw: its size in CSS pixels (the PNG is ``scale`` times that)."""

    figure: go.Figure
    width: int = DEFAULT_WIDTH
    height: int | None = None
    scale: float = 1.0


def chromium_path() -> str:
    """The Chromium to drive: ``$M365_CHROMIUM``, else ``/usr/bin/chromium``, else ``chromium`` on the PATH."""
    explicit = os.environ.get(CHROMIUM_ENV)
    candidates = [explicit] if explicit else [DEFAULT_CHROMIUM, shutil.which("chromium"),
                                              shutil.which("chromium-browser")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    where = explicit or f"{DEFAULT_CHROMIUM} or chromium on the PATH"
    raise PictureError(f"no Chromium found at {where}: install Debian's package (apt-get install chromium) or set "
                       f"{CHROMIUM_ENV} to a Chromium or Chrome executable")


def _theme_of(figure: go.Figure) -> str:
    meta = figure.layout.template.layout.meta if figure.layout.template else None
    return str(meta.get("toolkit_theme", "light")) if isinstance(meta, dict) else "light"


_DRAW = """
([spec, width, height, background]) => {
  const div = document.getElementById('figure');
  document.body.style.background = background;
  Plotly.purge(div);
  div.style.width = width + 'px';
  div.style.height = height + 'px';
  const figure = JSON.parse(spec);
  return Plotly.newPlot(div, figure.data, figure.layout, {staticPlot: true, displayModeBar: false})
    .then(() => document.fonts.ready).then(() => true);
}
"""


def _base_page() -> str:
    """An empty page holding plotly.js inline, on which each figure is drawn in turn."""
    return ("<!doctype html><html><head><meta charset='utf-8'><style>html,body{margin:0;padding:0}</style>"
            f"<script>{get_plotlyjs()}</script></head><body><div id='figure'></div></body></html>")


def _spec(picture: Picture) -> tuple[str, int, int, str]:
    """The figure as plotly JSON at its picture size, the size in CSS pixels, and the page background."""
    figure = go.Figure(picture.figure)
    height = int(picture.height or figure.layout.height or 450)
    figure.update_layout(width=int(picture.width), height=height, autosize=False)
    background = BACKGROUNDS.get(_theme_of(picture.figure), BACKGROUNDS["light"])
    return figure.to_json(validate=False, engine="json"), int(picture.width), height, background


def _render(pictures: Sequence[Picture]) -> list[bytes]:
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        raise PictureError("pictures need Playwright: pip install playwright (its browser download is not needed; "
                           "the system Chromium is used)") from error
    executable = chromium_path()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, headless=True, args=list(CHROMIUM_ARGS))
            try:
                return _shoot_all(browser, pictures)
            finally:
                browser.close()
    except PlaywrightError as error:
        raise PictureError(f"Chromium ({executable}) could not draw the figure: {error}") from error


def _shoot_all(browser: Any, pictures: Sequence[Picture]) -> list[bytes]:
    """One offline page per device scale, plotly.js loaded once in it, every figure drawn and shot in turn."""
    pages: dict[float, Any] = {}
    refused: list[str] = []

    def refuse(route: Any) -> None:
        refused.append(route.request.url)
        route.abort()

    images = []
    for picture in pictures:
        page = pages.get(picture.scale)
        if page is None:
            context = browser.new_context(device_scale_factor=picture.scale, offline=True)
            page = context.new_page()
            page.route("**/*", refuse)
            page.set_default_timeout(RENDER_TIMEOUT_MS)
            page.set_content(_base_page(), wait_until="load")
            pages[picture.scale] = page
        spec, width, height, background = _spec(picture)
        page.set_viewport_size({"width": width, "height": height})
        try:
            page.evaluate(_DRAW, [spec, width, height, background])
        except Exception as error:
            raise PictureError(f"plotly.js could not draw the figure: {error}") from error
        images.append(bytes(page.locator("#figure").screenshot(type="png", animations="disabled")))
    if refused:
        log.warning("picture: the figures asked for %d network resource(s), all refused: %s", len(refused),
                    ", ".join(sorted(set(refused))[:3]))
    return images


def render_pngs(pictures: Sequence[Picture]) -> list[bytes]:
    """PNG bytes of each picture, in order, from one browser session (a worker thread, so it also runs inside a
    Jupyter kernel's event loop)."""
    if not pictures:
        return []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="picture") as pool:
        return pool.submit(_render, list(pictures)).result()


def render_png(figure: go.Figure, *, width: int = DEFAULT_WIDTH, height: int | None = None,
               scale: float = 1.0) -> bytes:
    """The PNG bytes of ``figure`` drawn ``width`` x ``height`` CSS pixels (height: the figure's own)."""
    return render_pngs([Picture(figure, width, height, scale)])[0]


def save_png(figure: go.Figure, path: str | os.PathLike[str], *, width: int = DEFAULT_WIDTH, height: int | None = None,
             scale: float = 1.0) -> Path:
    """Write ``figure`` as a PNG to ``path`` (folders made as needed) on the background of its theme, and return the
    path. A PictureError says what is missing when Playwright or Chromium is not installed."""
    target = Path(path)
    image = render_png(figure, width=width, height=height, scale=scale)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(image)
    log.info("picture: wrote %s (%d bytes)", target, len(image))
    return target
