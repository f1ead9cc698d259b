"""A world base map drawn on ordinary x/y axes, so a map needs nothing from the network.

plotly's geo subplots fetch their base map (topojson) from cdn.plot.ly when the figure is shown; on an air-gapped
laptop, in a standalone report or in a PNG made offline that fetch fails and plotly.js draws no figure at all. Here
the land and the country borders come from a file shipped with the package (``data/world-110m.json``: Natural
Earth 1:110m, public domain, see ``data/README.md``), projected in Python with the Natural Earth projection and
drawn as two layout shapes (SVG paths) under the markers. Markers are placed with ``project``.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files

import numpy as np
import plotly.graph_objects as go

from toolkit.charts.theme import Palette

#: The map's latitude span: Antarctica and the high Arctic are left out (no sign-ins, much space).
SOUTH, NORTH = -58.0, 84.0
DATA_FILE = "world-110m.json"
LAND, BORDERS, OCEAN = "land", "borders", "ocean"


def project(lon: np.ndarray | list[float], lat: np.ndarray | list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Natural Earth projection (Šavrič et al. 2015, as d3.geoNaturalEarth1) of degrees, in degree-sized units."""
    lam = np.radians(np.asarray(lon, dtype=float))
    phi = np.radians(np.asarray(lat, dtype=float))
    phi2 = phi * phi
    phi4 = phi2 * phi2
    x = lam * (0.8707 - 0.131979 * phi2 + phi4 * (-0.013791 + phi4 * (0.003971 * phi2 - 0.001529 * phi4)))
    y = phi * (1.007226 + phi2 * (0.015085 + phi4 * (-0.044475 + 0.028874 * phi2 - 0.005916 * phi4)))
    return np.degrees(x), np.degrees(y)


@cache
def _outlines() -> dict[str, list[np.ndarray]]:
    """The land rings and border lines of the data file as (n, 2) arrays of longitude, latitude."""
    raw = json.loads(files("toolkit.charts").joinpath("data", DATA_FILE).read_text(encoding="utf-8"))
    return {kind: [np.asarray(line, dtype=float).reshape(-1, 2) / 100.0 for line in raw[kind]]
            for kind in (LAND, BORDERS)}


def _path(lines: list[np.ndarray], closed: bool) -> str:
    """One SVG path (M/L commands, Z when ``closed``) of projected lines, one decimal."""
    parts = []
    for line in lines:
        if len(line) < 2:
            continue
        x, y = project(line[:, 0], line[:, 1])
        points = "L".join(f"{a:.1f},{b:.1f}" for a, b in zip(x, y, strict=True))
        parts.append(f"M{points}{'Z' if closed else ''}")
    return "".join(parts)


@cache
def land_path() -> str:
    """The land (holes such as the Caspian Sea kept by the even-odd fill rule)."""
    return _path(_outlines()[LAND], closed=True)


@cache
def borders_path() -> str:
    """The borders between countries (coastlines are the land's edge)."""
    return _path(_outlines()[BORDERS], closed=False)


@cache
def ocean_path() -> str:
    """The outline of the mapped part of the globe (the meridians at ±180° and the parallels at the map's edges)."""
    lat = np.linspace(SOUTH, NORTH, 60)
    lon = np.linspace(-180.0, 180.0, 73)
    ring = np.concatenate([
        np.column_stack([np.full_like(lat, -180.0), lat]), np.column_stack([lon, np.full_like(lon, NORTH)]),
        np.column_stack([np.full_like(lat, 180.0), lat[::-1]]), np.column_stack([lon[::-1], np.full_like(lon, SOUTH)])])
    return _path([ring], closed=True)


def bounds() -> tuple[tuple[float, float], tuple[float, float]]:
    """The x and y ranges of the map."""
    x, _ = project([-180.0, 180.0], [0.0, 0.0])
    _, y = project([0.0, 0.0], [SOUTH, NORTH])
    return (float(x[0]), float(x[1])), (float(y[0]), float(y[1]))


def add_base_map(fig: go.Figure, p: Palette) -> None:
    """The ocean, land and borders as shapes under the data, and axes that keep the map's proportions (zoom and
    pan still work; a double click goes back to the whole map)."""
    common = {"type": "path", "xref": "x", "yref": "y", "layer": "below"}
    fig.add_shape(path=ocean_path(), fillcolor=p.ocean, line={"color": p.borders, "width": 0.6}, name=OCEAN,
                  **common)
    fig.add_shape(path=land_path(), fillcolor=p.land, fillrule="evenodd", line={"color": p.borders, "width": 0.6},
                  name=LAND, **common)
    fig.add_shape(path=borders_path(), line={"color": p.borders, "width": 0.5}, name=BORDERS, **common)
    (x0, x1), (y0, y1) = bounds()
    pad = 2.0
    fig.update_xaxes(range=[x0 - pad, x1 + pad], visible=False, showgrid=False, zeroline=False)
    fig.update_yaxes(range=[y0 - pad, y1 + pad], visible=False, showgrid=False, zeroline=False,
                     scaleanchor="x", scaleratio=1)


#: The least part of the map a view shows (projected units, about degrees): a continent, not a city.
MIN_SPAN = (70.0, 35.0)
PAD = 14.0


def fit(fig: go.Figure, x: np.ndarray, y: np.ndarray) -> None:
    """Open the map on the points (padded, at least ``MIN_SPAN``, within the world); plotly widens the shorter side
    to keep the proportions. A double click on the map still shows the whole world."""
    if len(x) == 0:
        return
    (wx0, wx1), (wy0, wy1) = bounds()
    spans = []
    for low, high, least, (edge0, edge1) in ((float(np.min(x)), float(np.max(x)), MIN_SPAN[0], (wx0, wx1)),
                                             (float(np.min(y)), float(np.max(y)), MIN_SPAN[1], (wy0, wy1))):
        low, high = low - PAD, high + PAD
        if high - low < least:
            middle = (low + high) / 2
            low, high = middle - least / 2, middle + least / 2
        shift = max(0.0, edge0 - 2 - low) - max(0.0, high - edge1 - 2)
        spans.append([max(edge0 - 2, low + shift), min(edge1 + 2, high + shift)])
    fig.update_xaxes(range=spans[0])
    fig.update_yaxes(range=spans[1])
