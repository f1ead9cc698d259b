"""One incident timeline across sources: the sending burst above, one lane per kind of evidence below."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from toolkit.charts import hourly, marks
from toolkit.charts.inputs import (
    CaseLike,
    Event,
    EventsInput,
    Restriction,
    addresses_of,
    case_window,
    esc,
    esc1,
    events_of,
    frame_of,
    is_case,
    require,
    restriction_of,
    text,
    utc,
)
from toolkit.charts.signins import new_countries, prepared
from toolkit.charts.theme import OKABE_ITO, Palette, Theme, finish, no_data, palette

log = logging.getLogger(__name__)

CHART = "incident_timeline"

SIGNINS, RULES, PERMISSIONS, MFA, PASSWORD, OTHER, ALERTS, RESTRICTION, ACTIONS = (
    "Sign-ins", "Rules & forwarding", "Mailbox permissions", "MFA & consent", "Password & sessions", "Other audit",
    "Alerts & risk", "Restriction", "Actions & unblock")
LANES = (SIGNINS, RULES, PERMISSIONS, MFA, PASSWORD, OTHER, ALERTS, RESTRICTION, ACTIONS)

#: Audit operations by lane, tried in this order (case-insensitive search in the operation name).
AUDIT_LANES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (PERMISSIONS, re.compile(r"permission|delegate|sendas|sendonbehalf", re.I)),
    (RULES, re.compile(r"inboxrule|transportrule|^set-mailbox$|forward|junkemail|^set-clutter", re.I)),
    (MFA, re.compile(r"security info|consent|permission grant|oauth2|service principal|app role assignment|"
                     r"strongauthentication|authentication method|credentials", re.I)),
    (PASSWORD, re.compile(r"password|^update user\.?$|revoke|session|account|sign-?in", re.I)),
)


def audit_lane(operations: pd.Series, parameters: pd.Series | None = None) -> pd.Series:
    """The lane of each audit operation (decided once per distinct operation). ``Set-Mailbox`` counts as
    forwarding only when its parameters mention forwarding; other mailbox settings go to "Other audit"."""
    names = text(operations)
    lane_of = {op: next((lane for lane, pattern in AUDIT_LANES if pattern.search(op)), OTHER) for op in names.unique()}
    lanes = names.map(lane_of)
    if parameters is not None:
        settings = names.str.lower().eq("set-mailbox") & ~text(parameters).str.contains("forward", case=False)
        lanes = lanes.mask(settings, OTHER)
    return lanes


@dataclass
class Items:
    """The markers of one trace: a lane, times, hover text and style."""

    lane: str
    name: str
    times: pd.Series
    hover: list[str]
    color: str | Sequence[str]
    symbol: str
    meta: dict[str, object]
    size: int = 11
    outline: str | None = None


def _hover(parts: Sequence[pd.Series | str], index: pd.Index) -> list[str]:
    """Hover lines joined row by row (vectorised string concatenation)."""
    out = pd.Series("", index=index, dtype=object)
    for i, part in enumerate(parts):
        piece = part if isinstance(part, pd.Series) else pd.Series(part, index=index, dtype=object)
        out = out + ("<br>" if i else "") + piece.astype(object)
    return out.tolist()


def _stamp(times: pd.Series) -> pd.Series:
    return "<b>" + times.dt.strftime("%a %b %d %H:%M:%S") + " UTC</b>"


def _column(frame: pd.DataFrame, name: str, prefix: str = "") -> pd.Series:
    if name not in frame.columns:
        return pd.Series("", index=frame.index, dtype=object)
    values = esc(frame[name])
    return (prefix + values).where(values != "", "") if prefix else values


def _signin_items(signins: pd.DataFrame, p: Palette) -> list[Items]:
    """Sign-ins by result; legacy protocols as diamonds outlined in purple, sign-ins from a country new in the
    window (``signins.new_countries``) outlined in the "new" colour."""
    if signins.empty:
        return []
    rows = prepared(signins, CHART)
    fresh = set(new_countries(signins))
    rows = rows.assign(_new=rows["_country"].isin(fresh).to_numpy())
    found = []
    for legacy in (False, True):
        for new in (False, True):
            for flag, result, color in (("_okn", "success", p.success), ("_failn", "failure", p.failure)):
                part = rows[(rows["_legacy"] == legacy) & (rows["_new"] == new) & (rows[flag] == 1)]
                if part.empty:
                    continue
                where = _column(part, "city") + " " + part["_country"].astype(object)
                hover = _hover([_stamp(part["_time"]) + f" · sign-in {result}"
                                + (" · <b>legacy protocol</b>" if legacy else "")
                                + (" · <b>new country</b>" if new else ""),
                                _column(part, "app") + " via " + _column(part, "client_app"),
                                "IP " + _column(part, "ip") + " (" + where + ")", _column(part, "failure_reason")],
                               part.index)
                qualifiers = [q for q, on in (("legacy protocol", legacy), ("new country", new)) if on]
                outline = p.legacy if legacy else (p.new if new else None)
                found.append(Items(SIGNINS, f"sign-in {result}" + (f" ({', '.join(qualifiers)})" if qualifiers else ""),
                                   part["_time"], hover, color, "diamond" if legacy else "circle",
                                   {"legacy": legacy, "new_country": new, "result": result, "signins": len(part)},
                                   size=12 if legacy or new else 9, outline=outline))
    return found


def _audit_items(audit: pd.DataFrame, p: Palette) -> list[Items]:
    if audit.empty:
        return []
    require(audit, "audit", ("time", "operation"), CHART)
    parameters = audit["parameters"] if "parameters" in audit.columns else None
    rows = audit.assign(_time=utc(audit["time"], "audit.time"),
                        _lane=audit_lane(audit["operation"], parameters).to_numpy())
    colors = {RULES: OKABE_ITO["orange"], PERMISSIONS: OKABE_ITO["purple"], MFA: OKABE_ITO["vermillion"],
              PASSWORD: p.release, OTHER: p.unknown}
    symbols = {RULES: "square", PERMISSIONS: "pentagon", MFA: "star", PASSWORD: "hexagon", OTHER: "circle"}
    found = []
    for lane in (RULES, PERMISSIONS, MFA, PASSWORD, OTHER):
        part = rows[rows["_lane"] == lane]
        if part.empty:
            continue
        params = _column(part, "parameters").str.slice(0, 240)
        hover = _hover([_stamp(part["_time"]) + " · <b>" + _column(part, "operation") + "</b>",
                        "by " + _column(part, "user") + _column(part, "client_ip", " from "),
                        _column(part, "target", "on "), params, _column(part, "result_status", "result: ")],
                       part.index)
        found.append(Items(lane, lane.lower(), part["_time"], hover, colors[lane], symbols[lane],
                           {"audit": True, "operations": text(part["operation"]).tolist(),
                            "record_ids": text(part["record_id"]).tolist() if "record_id" in part.columns else []}))
    return found


def _method_items(methods: pd.DataFrame, start: pd.Timestamp | None) -> list[Items]:
    if methods.empty or "created" not in methods.columns:
        return []
    rows = methods.assign(_time=utc(methods["created"], "auth_methods.created"))
    rows = rows[rows["_time"].notna() & ((rows["_time"] >= start) if start is not None else True)]
    if rows.empty:
        return []
    hover = _hover([_stamp(rows["_time"]) + " · <b>authentication method registered</b>",
                    _column(rows, "method_type") + " " + _column(rows, "display_name"), _column(rows, "detail")],
                   rows.index)
    return [Items(MFA, "method registered", rows["_time"], hover, OKABE_ITO["vermillion"], "star-open",
                  {"auth_methods": len(rows)})]


def _account_items(users: pd.DataFrame, start: pd.Timestamp | None, p: Palette) -> list[Items]:
    """The password change and the session revocation the users frame records, when they fall in the window."""
    found = []
    for column, name in (("last_password_change", "password changed"), ("sessions_valid_from", "sessions revoked")):
        if users.empty or column not in users.columns:
            continue
        rows = users.assign(_time=utc(users[column], f"users.{column}"))
        rows = rows[rows["_time"].notna() & ((rows["_time"] >= start) if start is not None else True)]
        if rows.empty:
            continue
        hover = _hover([_stamp(rows["_time"]) + f" · <b>{name}</b>", _column(rows, "upn"),
                        pd.Series(f"from the user's {column.replace('_', ' ')}", index=rows.index)], rows.index)
        found.append(Items(PASSWORD, name, rows["_time"], hover, p.release, "hexagon-open", {"users": column}))
    return found


def _grant_items(grants: pd.DataFrame, start: pd.Timestamp | None) -> list[Items]:
    if grants.empty or "client_created" not in grants.columns or start is None:
        return []
    rows = grants.assign(_time=utc(grants["client_created"], "grants.client_created"))
    rows = rows[rows["_time"].notna() & (rows["_time"] >= start)]
    if rows.empty:
        return []
    hover = _hover([_stamp(rows["_time"]) + " · <b>app added to the tenant</b>",
                    _column(rows, "client_name") + _column(rows, "client_publisher", " by "),
                    _column(rows, "scopes", "scopes: "), _column(rows, "risky_scopes", "risky: ")], rows.index)
    return [Items(MFA, "consented app created", rows["_time"], hover, OKABE_ITO["vermillion"], "triangle-up-open",
                  {"grants": len(rows)})]


SEVERITY = {"high": OKABE_ITO["vermillion"], "medium": OKABE_ITO["orange"], "low": OKABE_ITO["yellow"]}


def _alert_items(alerts: pd.DataFrame, detections: pd.DataFrame, p: Palette) -> list[Items]:
    found = []
    if not alerts.empty:
        require(alerts, "alerts", ("created",), CHART)
        rows = alerts.assign(_time=utc(alerts["created"], "alerts.created"))
        severity = text(rows["severity"]).str.lower() if "severity" in rows.columns else pd.Series("", index=rows.index)
        hover = _hover([_stamp(rows["_time"]) + " · <b>" + _column(rows, "title") + "</b>",
                        "severity " + severity + _column(rows, "status", ", "), _column(rows, "description")],
                       rows.index)
        found.append(Items(ALERTS, "alert", rows["_time"], hover, severity.map(SEVERITY).fillna(p.unknown).tolist(),
                           "triangle-up", {"alerts": len(rows)}, size=13))
    if not detections.empty and ("activity_time" in detections.columns or "detected_time" in detections.columns):
        when = detections["activity_time"] if "activity_time" in detections.columns else detections["detected_time"]
        rows = detections.assign(_time=utc(when, "risk_detections.activity_time"))
        rows = rows[rows["_time"].notna()]
        if len(rows):
            hover = _hover([_stamp(rows["_time"]) + " · <b>risk: " + _column(rows, "risk_event_type") + "</b>",
                            _column(rows, "risk_level", "level ") + _column(rows, "risk_state", ", "),
                            _column(rows, "ip", "IP ") + _column(rows, "country", " ")], rows.index)
            found.append(Items(ALERTS, "risk detection", rows["_time"], hover, OKABE_ITO["purple"], "triangle-down",
                               {"risk_detections": len(rows)}))
    return found


def _restriction_items(restriction: Restriction | None, p: Palette) -> list[Items]:
    if restriction is None:
        return []
    times = pd.Series([restriction.created])
    hover = [f"<b>{marks.when(restriction.created)} · restricted ({esc1(restriction.block_type)})</b><br>"
             f"{esc1(restriction.reason_kind)}: {esc1(restriction.reason[:200])}"]
    found = [Items(RESTRICTION, "restricted", times, hover, p.restriction, "x", {"restriction": True}, size=14)]
    if restriction.release_at is not None:
        found.append(Items(RESTRICTION, "block lifts", pd.Series([restriction.release_at]),
                           [f"<b>{marks.when(restriction.release_at)} · the block for the day lifts</b>"],
                           p.release, "circle-open", {"release": True}, size=13))
    return found


def _event_items(events: Sequence[Event], p: Palette) -> list[Items]:
    if not events:
        return []
    times = pd.Series([e.time for e in events])
    hover = [f"<b>{marks.when(e.time)} · {esc1(e.label)}</b>" for e in events]
    return [Items(ACTIONS, "action", times, hover, p.event, "diamond-wide", {"events": [e.label for e in events]},
                  size=13)]


def incident_timeline(case: CaseLike, events: EventsInput | None = (), *, days: float | None = None,
                      theme: Theme = "light", height: int = 520) -> go.Figure:
    """One timeline for the case: recipients per hour with the burst shaded (top), and lanes for sign-ins
    (success/failure, legacy protocols as outlined diamonds), rule and forwarding changes, mailbox permissions,
    MFA and consent changes (audit, new methods, newly created consented apps), password and session changes
    (audit, and the user's last password change and session revocation when they fall in the window),
    other audit operations, alerts and risk detections, the restriction (and a block for the day's release), and
    the caller's ``events`` (remediation, unblock: ``[(time, label), ...]``). ``days`` shows only the last days up
    to the latest mark (zoom out to see the rest); None shows the whole case window."""
    p = palette(theme)
    if not is_case(case):
        raise TypeError(f"{CHART}: expected a Case (frames for one user), got {type(case).__name__}")
    addresses = addresses_of(case, None)
    who = addresses[0] if addresses else "the user"
    title = f"Incident timeline (UTC): {esc1(who)}"
    start, end = case_window(case)
    restriction = restriction_of(frame_of(case, "restricted", CHART), addresses, CHART)
    marks_events = events_of(events, CHART)
    audit = frame_of(case, "audit", CHART)
    if start is not None and len(audit) and "time" in audit.columns:
        # earlier unblocks are read from before the window (to count them); the timeline keeps to the window
        audit = audit[utc(audit["time"], "audit.time") >= start]
    items = [*_signin_items(frame_of(case, "signins", CHART), p), *_audit_items(audit, p),
             *_method_items(frame_of(case, "auth_methods", CHART), start),
             *_account_items(frame_of(case, "users", CHART), start, p),
             *_grant_items(frame_of(case, "grants", CHART), start),
             *_alert_items(frame_of(case, "alerts", CHART), frame_of(case, "risk_detections", CHART), p),
             *_restriction_items(restriction, p), *_event_items(marks_events, p)]
    volume = _volume(case, addresses, start, end, restriction)
    if not items and volume is None:
        return no_data(title, f"no sign-ins, audit records, alerts, mail or restriction for {esc1(who)}", theme,
                       height)
    times = [t for item in items for t in (item.times.min(), item.times.max())]
    if volume is not None:
        times += [volume[0].index[0], volume[0].index[-1] + hourly.HOUR]
    x0 = min([*times, *([start] if start is not None else [])])
    x1 = max([*times, *([end] if end is not None else [])])
    if days is not None:
        x0 = max(x0, x1 - pd.Timedelta(days=days))
    pad = max((x1 - x0) * 0.02, pd.Timedelta(minutes=30))
    span = (x0 - pad, x1 + pad)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.24, 0.76], vertical_spacing=0.04)
    if volume is not None:
        _volume_band(fig, *volume, p)
    lanes = [lane for lane in LANES if any(item.lane == lane for item in items)]
    for item in items:
        fig.add_trace(go.Scatter(
            x=item.times, y=[item.lane] * len(item.times), mode="markers", name=item.name, text=item.hover,
            hovertemplate="%{text}<extra></extra>", meta={"lane": item.lane, **item.meta},
            marker={"color": item.color, "symbol": item.symbol, "size": item.size, "opacity": 0.9,
                    "line": {"color": item.outline or p.text, "width": 3 if item.outline else 0.5}}), row=2, col=1)
    marks.add_restriction(fig, restriction, p, span)
    marks.add_events(fig, marks_events, p, span)
    finish(fig, theme, title, height)
    fig.update_layout(meta={"chart": CHART, "lanes": lanes}, legend_traceorder="normal")
    fig.update_yaxes(categoryorder="array", categoryarray=lanes, autorange="reversed", row=2, col=1)
    fig.update_yaxes(title_text="recipients / h", rangemode="tozero", row=1, col=1)
    fig.update_xaxes(range=list(span), row=2, col=1)
    return fig


def _volume(case: CaseLike, addresses: tuple[str, ...], start: pd.Timestamp | None, end: pd.Timestamp | None,
            restriction: Restriction | None) -> tuple[pd.DataFrame, hourly.Burst | None] | None:
    trace = frame_of(case, "trace", CHART)
    if trace.empty:
        return None
    require(trace, "trace", ("received", "direction"), CHART)
    if addresses and "sender" in trace.columns:
        trace = trace[text(trace["sender"]).str.lower().isin(list(addresses)).to_numpy()]
    rows = hourly.sent_rows(trace)
    if rows.empty:
        return None
    first = start if start is not None else rows["_received"].min()
    last = end if end is not None else rows["_received"].max()
    counts = hourly.hourly_counts(rows, hourly.hour_grid(min(first, rows["_received"].min()),
                                                          max(last, rows["_received"].max())))
    burst = hourly.find_burst(counts["total"], restriction.created if restriction else None)
    return counts, burst


def _volume_band(fig: go.Figure, counts: pd.DataFrame, burst: hourly.Burst | None, p: Palette) -> None:
    custom = np.column_stack([counts.index.strftime("%a %b %d %H:00"), counts["internal"], counts["external"]])
    fig.add_trace(go.Scatter(
        x=counts.index + pd.Timedelta(minutes=30), y=counts["total"], mode="lines", line={"shape": "hvh",
                                                                                          "color": p.external,
                                                                                          "width": 1},
        fill="tozeroy", fillcolor=p.burst, customdata=custom, meta={"volume": True},
        name="recipients / hour" + ("" if burst is None else f", burst {burst.recipients:,}"),
        hovertemplate=("<b>%{customdata[0]} UTC</b><br>%{y:,} recipients (%{customdata[1]} internal, "
                       "%{customdata[2]} external)<extra></extra>")), row=1, col=1)
    if burst is not None:
        fig.add_vrect(x0=burst.start, x1=burst.end, fillcolor=p.burst, line_width=0, layer="below", name="burst",
                      row="all", col=1)
