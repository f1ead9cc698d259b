"""How toolkit/charts/data/world-110m.json was made, kept so it can be made again (a one-off, not run by tests).

    cd /tmp && npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz
    python docs/make_world_map.py /tmp/package/countries-110m.json toolkit/charts/data/world-110m.json

Decodes the TopoJSON arcs (delta-encoded, quantised), keeps the land rings north of 60S, cuts the rings that cross
the 180th meridian, and keeps as borders the arcs two countries share.
"""

import itertools
import json
import logging
import sys
from collections import Counter
from pathlib import Path

log = logging.getLogger("make_world_map")
logging.basicConfig(level=logging.INFO, format="%(message)s")
topology = json.loads(Path(sys.argv[1]).read_text())
(sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
arcs = []
for arc in topology["arcs"]:  # delta-encoded, quantised
    x = y = 0
    points = []
    for dx, dy in arc:
        x, y = x + dx, y + dy
        points.append((round(x * sx + tx, 2), round(y * sy + ty, 2)))
    arcs.append(points)


def arc_points(index):
    return arcs[index] if index >= 0 else arcs[~index][::-1]


def ring(indices):
    points = []
    for i in indices:
        part = arc_points(i)
        points.extend(part if not points else part[1:])
    return points


def polygons(geometry):
    if geometry["type"] == "Polygon":
        return [geometry["arcs"]]
    if geometry["type"] == "MultiPolygon":
        return geometry["arcs"]
    return []


def flat(points):
    return [round(v * 100) for point in points for v in point]


def clip(points, keep, cross):
    """Sutherland-Hodgman against one meridian: ``keep(p)`` says which side stays, ``cross(a, b)`` the crossing."""
    out = []
    for i, current in enumerate(points):
        previous = points[i - 1]
        if keep(current):
            if not keep(previous):
                out.append(cross(previous, current))
            out.append(current)
        elif keep(previous):
            out.append(cross(previous, current))
    return out


def at_lon(lon):
    def cross(a, b):
        t = (lon - a[0]) / (b[0] - a[0])
        return (lon, round(a[1] + t * (b[1] - a[1]), 2))
    return cross


def split_at_antimeridian(points):
    """A ring that crosses the 180th meridian (Chukotka, Fiji), cut into pieces that each stay on one side."""
    if not any(abs(b[0] - a[0]) > 180 for a, b in itertools.pairwise(points)):
        return [points]
    unwrapped = [points[0]]
    for lon, lat in points[1:]:
        previous = unwrapped[-1][0]
        while lon - previous > 180:
            lon -= 360
        while lon - previous < -180:
            lon += 360
        unwrapped.append((lon, lat))
    pieces = []
    for shift in (-360, 0, 360):
        moved = [(lon + shift, lat) for lon, lat in unwrapped]
        moved = clip(moved, lambda p: p[0] <= 180, at_lon(180))
        moved = clip(moved, lambda p: p[0] >= -180, at_lon(-180)) if moved else []
        if len(moved) >= 3:
            pieces.append(moved)
    log.info("split a ring of %d points into %s", len(points), [len(p) for p in pieces])
    return pieces


land = []
for geometry in topology["objects"]["land"]["geometries"]:
    for polygon in polygons(geometry):
        for rings in polygon:
            points = ring(rings)
            if max(lat for _, lat in points) < -60:  # Antarctica: below the map
                continue
            for piece in split_at_antimeridian(points):
                land.append(flat(piece))
# borders: arcs shared by two countries (a coastline belongs to one)
users = Counter()
for geometry in topology["objects"]["countries"]["geometries"]:
    for polygon in polygons(geometry):
        for rings in polygon:
            for i in rings:
                users[i if i >= 0 else ~i] += 1
borders = [flat(arcs[i]) for i, n in sorted(users.items()) if n >= 2]
out = {
    "source": "Natural Earth 1:110m (v4.1.0) via the npm package world-atlas 2.0.2, countries-110m.json",
    "units": "degrees x 100 (longitude, latitude pairs, flattened)",
    "land": land,
    "borders": borders,
}
Path(sys.argv[2]).write_text(json.dumps(out, separators=(",", ":")))
log.info("%d land rings, %d points; %d borders, %d points", len(land), sum(len(r) for r in land) // 2, len(borders),
         sum(len(b) for b in borders) // 2)
