"""Sign-ins on a world map and over time, with new countries and legacy protocols highlighted."""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from toolkit.charts import geo, worldmap
from toolkit.charts.inputs import Instant, Source, esc, esc1, frame_of, instant, is_case, require, text, utc
from toolkit.charts.theme import Palette, Theme, finish, no_data, palette
from toolkit.frames.graph import LEGACY_CLIENT_APPS

log = logging.getLogger(__name__)

REQUIRED = ("time", "country")
#: Up to this many countries, each is named on the map; beyond, only the new ones are.
LABELLED_COUNTRIES = 6
Lane = Literal["country", "app", "client_app", "ip"]


def prepared(signins: pd.DataFrame, chart: str) -> pd.DataFrame:
    """The sign-ins with ``_time`` (UTC), ``_country`` (upper-case code), ``_legacy`` and ``_ok`` (success) columns,
    whichever optional columns the frame has (``legacy_protocol`` or else ``client_app``; ``success`` or else
    ``error_code``)."""
    require(signins, "signins", REQUIRED, chart)
    out = signins.assign(_time=utc(signins["time"], "signins.time"),
                         _country=text(signins["country"]).str.strip().str.upper().to_numpy())
    if "legacy_protocol" in signins.columns:
        legacy = signins["legacy_protocol"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    elif "client_app" in signins.columns:
        legacy = text(signins["client_app"]).str.lower().isin(LEGACY_CLIENT_APPS).to_numpy()
    else:
        legacy = np.zeros(len(signins), dtype=bool)
    if "success" in signins.columns:
        ok = signins["success"].astype("boolean")
    elif "error_code" in signins.columns:
        ok = pd.Series(pd.to_numeric(signins["error_code"], errors="coerce").eq(0), index=signins.index,
                       dtype="boolean")
    else:
        ok = pd.Series(pd.NA, index=signins.index, dtype="boolean")
    return out.assign(_legacy=legacy, _ok=ok.array, _okn=ok.fillna(False).to_numpy(dtype=np.int64),
                      _failn=(~ok.fillna(True)).to_numpy(dtype=np.int64))


def new_countries(signins: pd.DataFrame, *, days: float = 7, since: Instant | None = None) -> list[str]:
    """Countries (ISO-2, upper case) whose first sign-in in the frame is on or after ``since``, by default the
    start of the frame's last ``days`` days. Empty when the frame has no sign-in before that moment: with no
    history, nothing can be called new."""
    chart = "new_countries"
    rows = prepared(signins, chart)
    rows = rows[rows["_country"] != ""]
    if rows.empty:
        return []
    cutoff = instant(since, "since") or rows["_time"].max() - pd.Timedelta(days=days)
    if not (rows["_time"] < cutoff).any():
        return []
    first = rows.groupby("_country")["_time"].min()
    return sorted(first[first >= cutoff].index)


def _who(data: object, signins: pd.DataFrame) -> str:
    if is_case(data):
        return str(data.user.upn)  # type: ignore[attr-defined]
    if "upn" in signins.columns:
        upns = text(signins["upn"]).unique()
        upns = [u for u in upns if u]
        if len(upns) == 1:
            return upns[0]
        if upns:
            return f"{len(upns)} users"
    return ""


def _top_text(rows: pd.DataFrame, keys: list[str], column: str, k: int = 3) -> pd.Series:
    if column not in rows.columns:
        return pd.Series(dtype=object)
    counted = rows.assign(_v=esc(rows[column])).groupby([*keys, "_v"]).size().rename("n").reset_index()
    counted = counted[counted["_v"] != ""].sort_values([*keys, "n"], ascending=[*([True] * len(keys)), False])
    counted = counted.groupby(keys).head(k)
    counted["label"] = counted["_v"] + " (" + counted["n"].astype(str) + ")"
    return counted.groupby(keys)["label"].agg(", ".join)


def _places(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per place (coordinates, country, city), legacy flag and novelty: counts, spans and top values."""
    lat, lon = (np.array(pd.to_numeric(rows[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan))
                if c in rows.columns else np.full(len(rows), np.nan) for c in ("latitude", "longitude"))
    missing = np.isnan(lat) | np.isnan(lon)
    if missing.any():
        c_lat, c_lon, _ = geo.centroids(rows.loc[missing, "_country"])
        lat[missing], lon[missing] = c_lat, c_lon
    rows = rows.assign(_lat=np.round(lat, 2), _lon=np.round(lon, 2),
                       _city=text(rows["city"]) if "city" in rows.columns else "")
    skipped = int(np.isnan(rows["_lat"]).sum())
    if skipped:
        log.info("sign-in map: %d sign-in(s) have neither coordinates nor a known country", skipped)
    rows = rows[~np.isnan(rows["_lat"])]
    keys = ["_lat", "_lon", "_country", "_city", "_legacy", "_new"]
    grouped = rows.groupby(keys, dropna=False)
    places = grouped.agg(count=("_time", "size"), first=("_time", "min"), last=("_time", "max"),
                         ok=("_okn", "sum"), failed=("_failn", "sum"))
    places["ips"] = _top_text(rows, keys, "ip")
    places["apps"] = _top_text(rows, keys, "app")
    places["clients"] = _top_text(rows, keys, "client_app")
    return places.fillna({"ips": "", "apps": "", "clients": ""}).reset_index()


def _symbol(legacy: bool, ok: pd.Series) -> np.ndarray:
    base = "diamond" if legacy else "circle"
    return np.where(ok > 0, base, f"{base}-open")


def signin_map(data: Source, *, new_days: float = 7, new_since: Instant | None = None, theme: Theme = "light",
               height: int = 460) -> go.Figure:
    """Sign-ins on a world map, one marker per place (coordinates when Entra gives them, else the country's
    centre), sized by count. Places in a new country (first seen in the last ``new_days`` days of the frame, or
    since ``new_since``) are coloured apart; legacy-protocol sign-ins are diamonds with a thick outline; a hollow
    marker means no sign-in there succeeded. ``data`` is a Case or a signins frame."""
    chart = "signin_map"
    p = palette(theme)
    signins = frame_of(data, "signins", chart)
    rows = prepared(signins, chart)
    who = _who(data, signins)
    title = "Sign-ins by place" + (f": {esc1(who)}" if who else "")
    if rows.empty:
        return no_data(title, "no sign-ins in the window", theme, height)
    fresh = set(new_countries(signins, days=new_days, since=new_since))
    rows = rows.assign(_new=rows["_country"].isin(fresh).to_numpy())
    places = _places(rows)
    if places.empty:
        return no_data(title, "no sign-in has coordinates or a known country", theme, height)
    fig = go.Figure()
    for new in (False, True):
        for legacy in (False, True):
            part = places[(places["_new"] == new) & (places["_legacy"] == legacy)]
            if part.empty:
                continue
            _map_trace(fig, part, new, legacy, p)
    legacy_count = int(rows["_legacy"].sum())
    notes = []
    if fresh:
        notes.append("new: " + ", ".join(geo.country_name(c) for c in sorted(fresh)))
    if legacy_count:
        notes.append(f"{legacy_count} legacy-protocol sign-in(s)")
    finish(fig, theme, title + (" · " + " · ".join(notes) if notes else ""), height)
    worldmap.add_base_map(fig, p)
    _country_labels(fig, places, p)
    worldmap.fit(fig, *worldmap.project(places["_lon"].to_numpy(), places["_lat"].to_numpy()))
    fig.update_layout(margin={"l": 0, "r": 0, "t": 48, "b": 10}, showlegend=True,
                      meta={"chart": chart, "new_countries": sorted(fresh), "legacy": legacy_count})
    return fig


def _country_labels(fig: go.Figure, places: pd.DataFrame, p: Palette) -> None:
    """Each country's name and sign-in count beside its busiest place: new countries always (to the right, in
    bold), the usual ones when there are few (to the left)."""
    per_country = places.groupby("_country", sort=False).agg(count=("count", "sum"), new=("_new", "max"))
    busiest = places.sort_values("count", ascending=False, kind="stable").drop_duplicates("_country")
    few = len(per_country) <= LABELLED_COUNTRIES
    for code, lon, lat in zip(busiest["_country"], busiest["_lon"], busiest["_lat"], strict=True):
        new = bool(per_country.at[code, "new"])
        if not (new or few):
            continue
        x, y = worldmap.project([lon], [lat])
        total = int(per_country.at[code, "count"])
        label = f"{esc1(geo.country_name(code))}: {total:,}" + (" (new)" if new else "")
        fig.add_annotation(x=float(x[0]), y=float(y[0]), xref="x", yref="y", text=f"<b>{label}</b>" if new else label,
                           showarrow=False, xanchor="left" if new else "right", xshift=12 if new else -12,
                           font={"size": 11, "color": p.text}, bgcolor=p.label_bg, borderpad=2, name="country")


def _map_trace(fig: go.Figure, part: pd.DataFrame, new: bool, legacy: bool, p: Palette) -> None:
    color = p.new if new else p.internal
    name = ("new country" if new else "usual country") + (", legacy protocol" if legacy else "")
    size = np.clip(8 + 4 * np.sqrt(part["count"].to_numpy(dtype=float)), 8, 30)
    where = [f"{esc1(city) + ', ' if city else ''}{esc1(geo.country_name(code))}"
             for city, code in zip(part["_city"], part["_country"], strict=True)]
    custom = np.column_stack([
        where, part["count"], part["ok"], part["failed"], part["first"].dt.strftime("%b %d %H:%M"),
        part["last"].dt.strftime("%b %d %H:%M"), part["ips"], part["apps"], part["clients"],
    ])
    x, y = worldmap.project(part["_lon"].to_numpy(), part["_lat"].to_numpy())
    fig.add_trace(go.Scatter(
        x=np.round(x, 3), y=np.round(y, 3), mode="markers", name=name, customdata=custom,
        meta={"new": new, "legacy": legacy, "signins": int(part["count"].sum()),
              "lat": part["_lat"].tolist(), "lon": part["_lon"].tolist()},
        marker={"size": size, "color": color, "symbol": _symbol(legacy, part["ok"]), "opacity": 0.85,
                "line": {"color": p.legacy if legacy else p.text, "width": 3 if legacy else 0.5}},
        hovertemplate=("<b>%{customdata[0]}</b>" + (" · <b>new country</b>" if new else "")
                       + (" · <b>legacy protocol</b>" if legacy else "")
                       + "<br>%{customdata[1]} sign-in(s): %{customdata[2]} ok, %{customdata[3]} failed"
                       "<br>%{customdata[4]} – %{customdata[5]} UTC<br>IP: %{customdata[6]}<br>"
                       "apps: %{customdata[7]}<br>clients: %{customdata[8]}<extra></extra>")))


def signin_timeline(data: Source, *, lanes: Lane = "country", new_days: float = 7, new_since: Instant | None = None,
                    theme: Theme = "light", height: int = 400) -> go.Figure:
    """Sign-ins over time, one lane per country (or app, client app, IP): successes and failures apart,
    legacy-protocol sign-ins as diamonds with a thick outline, new countries' lanes marked. ``data`` is a Case or a
    signins frame."""
    chart = "signin_timeline"
    p = palette(theme)
    if lanes not in ("country", "app", "client_app", "ip"):
        raise ValueError(f"{chart}: lanes must be 'country', 'app', 'client_app' or 'ip', got {lanes!r}")
    signins = frame_of(data, "signins", chart)
    rows = prepared(signins, chart)
    if lanes != "country":
        require(signins, "signins", (*REQUIRED, lanes), chart)
    who = _who(data, signins)
    title = "Sign-ins over time (UTC)" + (f": {esc1(who)}" if who else "")
    if rows.empty:
        return no_data(title, "no sign-ins in the window", theme, height)
    fresh = set(new_countries(signins, days=new_days, since=new_since))
    new = rows["_country"].isin(fresh).to_numpy()
    if lanes == "country":
        names = {c: geo.country_name(c) if c else "(unknown)" for c in rows["_country"].unique()}
        lane = rows["_country"].map(names)
        label = {names[c]: f'<span style="color:{p.new}"><b>{esc1(names[c])} (new)</b></span>' for c in fresh
                 if c in names}
    else:
        lane = text(rows[lanes]).replace("", "(unknown)")
        label = {}
    rows = rows.assign(_lane=lane.to_numpy(), _new=new)
    order = rows.groupby("_lane")["_time"].min().sort_values().index.tolist()
    fig = go.Figure()
    for legacy in (False, True):
        for flag, result in (("_okn", "success"), ("_failn", "failure")):
            part = rows[(rows["_legacy"] == legacy) & (rows[flag] == 1)]
            if part.empty:
                continue
            _time_trace(fig, part, legacy, result, label, p)
    unknown = rows[rows["_ok"].isna()]
    if len(unknown):
        _time_trace(fig, unknown, False, "result unknown", label, p)
    legacy_count = int(rows["_legacy"].sum())
    extra = (f" · {legacy_count} legacy-protocol" if legacy_count else "") + (
        " · new: " + ", ".join(geo.country_name(c) for c in sorted(fresh)) if fresh else "")
    finish(fig, theme, title + extra, height)
    fig.update_yaxes(categoryorder="array", categoryarray=[label.get(n, esc1(n)) for n in order], autorange="reversed")
    fig.update_layout(legend_traceorder="normal", showlegend=True,
                      meta={"chart": chart, "new_countries": sorted(fresh), "legacy": legacy_count})
    return fig


def _time_trace(fig: go.Figure, part: pd.DataFrame, legacy: bool, result: str, label: dict[str, str],
                p: Palette) -> None:
    color = {"success": p.success, "failure": p.failure}.get(result, p.unknown)
    fields = [("app", "app"), ("client_app", "client"), ("ip", "IP"), ("city", "city"),
              ("failure_reason", "result"), ("risk_level_during", "risk")]
    columns = [esc(part[c]) if c in part.columns else pd.Series("", index=part.index) for c, _ in fields]
    where = (columns[3] + ", ").where(columns[3] != "", "") + part["_country"].map(geo.country_name)
    custom = np.column_stack([part["_time"].dt.strftime("%a %b %d %H:%M:%S"), columns[0], columns[1], columns[2],
                              where, columns[4], columns[5]])
    lane = [label.get(v, esc1(v)) for v in part["_lane"]]
    fig.add_trace(go.Scatter(
        x=part["_time"], y=lane, mode="markers", customdata=custom,
        name=result + (" (legacy protocol)" if legacy else ""), meta={"legacy": legacy, "result": result},
        marker={"color": color, "size": 12 if legacy else 9, "symbol": "diamond" if legacy else "circle",
                "line": {"color": p.legacy if legacy else p.text, "width": 3 if legacy else 0.5}, "opacity": 0.9},
        hovertemplate=("<b>%{customdata[0]} UTC</b> · " + result + (" · <b>legacy protocol</b>" if legacy else "")
                       + "<br>%{customdata[1]} via %{customdata[2]}<br>IP %{customdata[3]} (%{customdata[4]})"
                       "<br>%{customdata[5]}<br>risk: %{customdata[6]}<extra></extra>")))
