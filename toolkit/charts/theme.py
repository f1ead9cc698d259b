"""Look and feel shared by every chart: a light and a dark template, a colour-blind-safe palette, the "no data" figure.

Both templates draw on transparent paper and plot backgrounds, so a figure sits on JupyterLab's own background
(white or near-black); what changes between them is the text, grid, hover-label and map colours. Colours come from
the Okabe-Ito palette (distinguishable with every common colour-vision deficiency), and every category that matters
also differs by something other than hue: dash style, marker symbol or a text mark.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import plotly.graph_objects as go

Theme = Literal["light", "dark"]
THEMES: tuple[str, ...] = ("light", "dark")

#: Okabe & Ito (2008), "Color Universal Design".
OKABE_ITO = {
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "grey": "#999999",
}

TRANSPARENT = "rgba(0,0,0,0)"


@dataclass(frozen=True)
class Palette:
    """The semantic colours of one theme."""

    name: str
    text: str
    muted: str
    grid: str
    axis: str
    hover_bg: str
    hover_text: str
    internal: str
    external: str
    unknown: str
    limit_daily: str
    restriction: str
    release: str
    event: str
    band: str
    band_line: str
    burst: str
    success: str
    failure: str
    new: str
    legacy: str
    land: str
    ocean: str
    borders: str
    heat: tuple[str, str]
    label_bg: str
    colorway: tuple[str, ...]

    def status(self, status: str) -> str:
        """The colour of a trace delivery status."""
        return {
            "delivered": self.internal,
            "failed": OKABE_ITO["vermillion"],
            "filteredAsSpam": OKABE_ITO["orange"],
            "quarantined": OKABE_ITO["purple"],
            "expanded": OKABE_ITO["green"],
            "pending": OKABE_ITO["grey"],
            "gettingStatus": OKABE_ITO["grey"],
        }.get(status, self.unknown)


LIGHT = Palette(
    name="light", text="#2f3337", muted="#6b7075", grid="rgba(128,128,128,0.22)", axis="rgba(128,128,128,0.55)",
    hover_bg="#ffffff", hover_text="#1f2328",
    internal=OKABE_ITO["blue"], external=OKABE_ITO["orange"], unknown=OKABE_ITO["grey"],
    limit_daily=OKABE_ITO["purple"], restriction=OKABE_ITO["vermillion"], release=OKABE_ITO["green"],
    event=OKABE_ITO["purple"], band="rgba(120,120,120,0.20)", band_line="rgba(120,120,120,0.55)",
    burst="rgba(213,94,0,0.12)", success=OKABE_ITO["green"], failure=OKABE_ITO["vermillion"],
    new=OKABE_ITO["orange"], legacy=OKABE_ITO["purple"],
    land="#e9e9e4", ocean="rgba(86,180,233,0.10)", borders="#b7b7b0", heat=("#c6dbef", "#08306b"),
    label_bg="rgba(255,255,255,0.78)",
    colorway=tuple(OKABE_ITO[c] for c in ("blue", "orange", "green", "vermillion", "purple", "sky", "yellow", "grey")),
)

DARK = Palette(
    name="dark", text="#d9dcdf", muted="#9aa0a6", grid="rgba(160,160,160,0.20)", axis="rgba(160,160,160,0.50)",
    hover_bg="#2b2f33", hover_text="#f0f2f4",
    internal=OKABE_ITO["sky"], external=OKABE_ITO["orange"], unknown="#b5b5b5",
    limit_daily=OKABE_ITO["purple"], restriction="#ff7a33", release="#2ecc9a",
    event=OKABE_ITO["purple"], band="rgba(200,200,200,0.16)", band_line="rgba(200,200,200,0.55)",
    burst="rgba(255,122,51,0.14)", success="#2ecc9a", failure="#ff7a33",
    new=OKABE_ITO["yellow"], legacy=OKABE_ITO["purple"],
    land="#3a3f44", ocean="rgba(86,180,233,0.08)", borders="#6b7177", heat=("#2b5278", "#dbeefb"),
    label_bg="rgba(17,17,17,0.72)",
    colorway=tuple(OKABE_ITO[c] for c in ("sky", "orange", "green", "vermillion", "purple", "yellow", "grey")),
)

_PALETTES = {"light": LIGHT, "dark": DARK}


def text_on(colour: str) -> str:
    """Black or white, whichever reads better on ``colour`` (``#rrggbb``), by its relative luminance (WCAG)."""
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return "#111111" if luminance > 0.18 else "#ffffff"


def palette(theme: str) -> Palette:
    """The palette of ``theme`` ("light" or "dark"); a ValueError naming the choices otherwise."""
    try:
        return _PALETTES[theme]
    except (KeyError, TypeError):
        raise ValueError(f"theme must be one of {', '.join(THEMES)}, got {theme!r}") from None


def template(theme: str) -> go.layout.Template:
    """The plotly template of ``theme``: transparent backgrounds, mid-contrast grid, Okabe-Ito colorway."""
    p = palette(theme)
    axis = {"gridcolor": p.grid, "linecolor": p.axis, "zerolinecolor": p.axis, "tickcolor": p.axis,
            "title": {"font": {"color": p.muted}}, "automargin": True}
    layout = go.Layout(
        paper_bgcolor=TRANSPARENT,
        plot_bgcolor=TRANSPARENT,
        font={"family": "Segoe UI, Helvetica Neue, Arial, DejaVu Sans, sans-serif", "size": 12, "color": p.text},
        title={"font": {"size": 15, "color": p.text}, "x": 0.01, "xanchor": "left"},
        colorway=list(p.colorway),
        xaxis=axis,
        yaxis=axis,
        legend={"bgcolor": TRANSPARENT, "font": {"color": p.text}},
        hoverlabel={"bgcolor": p.hover_bg, "font": {"color": p.hover_text}, "bordercolor": p.axis, "align": "left"},
        geo={"bgcolor": TRANSPARENT, "landcolor": p.land, "oceancolor": p.ocean, "showocean": True,
             "lakecolor": p.ocean, "countrycolor": p.borders, "coastlinecolor": p.borders, "showcountries": True,
             "showframe": False},
        colorscale={"sequential": [[0.0, p.heat[0]], [1.0, p.heat[1]]]},
        meta={"toolkit_theme": p.name},
    )
    return go.layout.Template(layout=layout)


#: Notebook-cell heights (pixels); widths stay responsive.
MIN_HEIGHT, MAX_HEIGHT = 380, 520


def finish(fig: go.Figure, theme: str, title: str, height: int) -> go.Figure:
    """Apply the theme, the title and a notebook-cell height (clamped to 380..520) to ``fig``."""
    fig.update_layout(
        template=template(theme),
        title={"text": title},
        height=max(MIN_HEIGHT, min(MAX_HEIGHT, int(height))),
        autosize=True,
        margin={"l": 10, "r": 10, "t": 48, "b": 10},
        legend={"orientation": "h", "yref": "container", "yanchor": "bottom", "y": 0.0, "xanchor": "left", "x": 0.0},
        hovermode="closest",
    )
    return fig


def no_data(title: str, reason: str, theme: str = "light", height: int = MIN_HEIGHT) -> go.Figure:
    """An empty figure that says so: the title and a "No data" annotation giving the reason."""
    fig = go.Figure()
    finish(fig, theme, title, height)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.add_annotation(text=f"<b>No data</b><br>{reason}", x=0.5, y=0.5, xref="paper", yref="paper",
                       showarrow=False, font={"size": 14, "color": palette(theme).muted}, name="no-data")
    fig.update_layout(meta={"toolkit_no_data": True, "reason": reason})
    return fig


def is_no_data(fig: go.Figure) -> bool:
    """True for a figure made by ``no_data``."""
    meta = fig.layout.meta
    return isinstance(meta, dict) and bool(meta.get("toolkit_no_data"))
