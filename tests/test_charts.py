"""Charts from hand-made frames: exact values where a reader compares a bar with a line, the grouping behind the
tenant views, highlighting, themes, empty input and bad input. Figures are inspected as objects (traces, shapes,
annotations, hover templates, layout); a few are rendered to HTML."""

from __future__ import annotations

import ast
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from toolkit import charts, frames
from toolkit.case import Case
from toolkit.charts import geo, grouping, hourly, marks, theme, worldmap
from toolkit.charts.theme import is_no_data
from toolkit.coverage import Ledger
from toolkit.frames import FrameError
from toolkit.sources.graph import UserIdentity

ROOT = Path(__file__).resolve().parent.parent
USER = "ana.silva@contoso.com"
T0 = pd.Timestamp("2026-03-02 00:00", tz="UTC")


def at(hours: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(hours=hours)


def trace_rows(spec: list[tuple[float, str, int]], sender: str = USER, subject: str = "Hello") -> pd.DataFrame:
    """Rows of a trace: for each (hour offset, direction, recipients) one message to that many recipients."""
    rows = []
    for i, (hours, direction, count) in enumerate(spec):
        domain = "contoso.com" if direction == "internal" else f"partner{i % 3}.example"
        for r in range(count):
            rows.append({"received": at(hours), "trace_id": f"m{i}-{sender}", "sender": sender,
                         "recipient": f"p{r}.q{i}@{domain}", "recipient_domain": domain, "direction": direction,
                         "subject": subject, "status": "delivered"})
    return pd.DataFrame(rows)


def quiet_history(days: int = 10) -> list[tuple[float, str, int]]:
    """One or two recipients at 09:00 and 14:00 on each of ``days`` days."""
    return [(d * 24 + h, "internal" if h == 9 else "outbound", 1 + (d % 2)) for d in range(days) for h in (9, 14)]


POLICY = pd.Series({"name": "Strict", "external_per_hour": 400, "internal_per_hour": 800, "per_day": 900,
                    "action": "BlockUser"})


def restricted_row(created: pd.Timestamp, block: str = "BlockUserForToday", sender: str = USER) -> pd.DataFrame:
    release = created.ceil("D") if block == "BlockUserForToday" else pd.NaT
    return pd.DataFrame({"sender": [sender], "created": [created], "block_type": [block], "release_at": [release],
                         "reason_kind": ["sending_limit"], "reason": ["EmailSendingLimitExceeded;..."]})


def make_case(**kinds: pd.DataFrame) -> Case:
    user = UserIdentity("u1", USER, "Ana Silva", USER, (USER, "ana@contoso.onmicrosoft.com"))
    return Case(user, "tenant", T0.to_pydatetime(), (T0 + pd.Timedelta(days=12)).to_pydatetime(), dict(kinds),
                Ledger())


def meta_traces(fig: Any, key: str) -> list[Any]:
    return [t for t in fig.data if isinstance(t.meta, dict) and key in t.meta]


# --- outbound volume ----------------------------------------------------------------------------------------------
@pytest.fixture
def burst_trace() -> pd.DataFrame:
    burst = [(10 * 24 + 9, "outbound", 150), (10 * 24 + 9.5, "outbound", 200), (10 * 24 + 9.7, "internal", 30),
             (10 * 24 + 10, "outbound", 120)]
    return trace_rows(quiet_history() + burst)


def test_volume_bars_limits_and_marks(burst_trace: pd.DataFrame) -> None:
    created = at(10 * 24 + 10.4)
    fig = charts.outbound_volume(burst_trace, restricted=restricted_row(created), policy=POLICY,
                                 events=[(at(10 * 24 + 16), "unblocked")], context_days=None)
    bars = {t.meta["group"]: pd.Series(list(t.y), index=pd.DatetimeIndex(list(t.x))) for t in meta_traces(fig, "group")}
    assert bars["external"][at(10 * 24 + 9)] == 350 and bars["internal"][at(10 * 24 + 9)] == 30
    assert bars["external"][at(10 * 24 + 10)] == 120
    total = (bars["external"] + bars["internal"])
    assert total.sum() == len(burst_trace)
    assert {t.meta["limit"]: t.y[0] for t in meta_traces(fig, "limit")} == {
        "external_per_hour": 400, "internal_per_hour": 800, "per_day": 900}
    # the busiest external hour (350) is close to its 400 limit: the line is inside the scale
    assert fig.layout.yaxis.range[1] >= 400
    assert [pd.Timestamp(s.x0) for s in marks.shapes_named(fig, marks.RESTRICTION)] == [created]
    assert [pd.Timestamp(s.x0) for s in marks.shapes_named(fig, marks.RELEASE)] == [created.ceil("D")]
    # near the right edge the label goes before the line rather than off the plot
    assert next(a for a in fig.layout.annotations if a.name == marks.RESTRICTION).xanchor == "right"
    assert [pd.Timestamp(s.x0) for s in marks.shapes_named(fig, marks.EVENT)] == [at(10 * 24 + 16)]
    daily = meta_traces(fig, "daily")[0]
    running = pd.Series(list(daily.y), index=pd.DatetimeIndex(list(daily.x)))
    assert running[at(10 * 24 + 10)] == 350 + 30 + 120
    assert running[at(9 * 24 + 23)] == 2 * 2  # the day before: two recipients at 09:00 and two at 14:00
    # hover names the rows
    external = next(t for t in meta_traces(fig, "group") if t.meta["group"] == "external")
    assert "subjects" in external.hovertemplate and "e.g." in external.hovertemplate
    row = list(external.x).index(at(10 * 24 + 9))
    assert "Hello (350)" in external.customdata[row][2] and "@partner" in external.customdata[row][4]


def test_volume_baseline_band_is_the_usual_hour_before_the_burst(burst_trace: pd.DataFrame) -> None:
    fig = charts.outbound_volume(burst_trace, policy=POLICY)
    median = next(t for t in meta_traces(fig, "baseline") if t.meta["baseline"] == "median").y[0]
    p95 = next(t for t in meta_traces(fig, "baseline") if t.meta["baseline"] == "p95").y[0]
    hours = pd.Series(0, index=pd.date_range(T0, at(10 * 24 + 8), freq="h"))
    quiet = trace_rows(quiet_history())
    counts = quiet.groupby("received").size()
    hours.loc[counts.index] = counts.to_numpy()
    assert median == pytest.approx(float(np.median(hours)))
    assert p95 == pytest.approx(float(np.quantile(hours, 0.95)))
    assert pd.Timestamp(fig.layout.meta["burst"]["start"]) == at(10 * 24 + 9)
    assert pd.Timestamp(fig.layout.meta["burst"]["end"]) == at(10 * 24 + 11)


def test_volume_limits_far_above_the_traffic_are_named_not_drawn_to_scale() -> None:
    trace = trace_rows([*quiet_history(3), (3 * 24 + 9, "outbound", 20)])
    fig = charts.outbound_volume(trace, policy=pd.Series({"external_per_hour": 0, "internal_per_hour": 0,
                                                          "per_day": 0, "name": "Default"}))
    limits = {t.meta["limit"]: t for t in meta_traces(fig, "limit")}
    # 0 means the service default
    assert {k: t.y[0] for k, t in limits.items()} == frames.SERVICE_DEFAULTS
    assert fig.layout.yaxis.range[1] < 2000
    assert "above the scale" in limits["external_per_hour"].name
    assert any("above the scale" in a.text for a in fig.layout.annotations)


def test_volume_resolves_the_policy_through_its_rules(burst_trace: pd.DataFrame) -> None:
    policies = pd.DataFrame({"name": ["Default", "Finance"], "is_default": [True, False],
                             "external_per_hour": [2000, 300], "internal_per_hour": [5000, 600],
                             "per_day": [10000, 900], "action": ["BlockUserForToday", "BlockUser"]})
    rules = frames.empty("policy_rules")
    rules.loc[0, ["name", "policy", "priority", "enabled", "senders"]] = ["Finance", "Finance", 0, True, USER]
    fig = charts.outbound_volume(burst_trace, policy=policies, policy_rules=rules, sender=USER)
    assert {t.meta["limit"]: t.y[0] for t in meta_traces(fig, "limit")}["external_per_hour"] == 300
    other = charts.outbound_volume(burst_trace.assign(sender="bob@contoso.com"), policy=policies,
                                   policy_rules=rules)
    assert {t.meta["limit"]: t.y[0] for t in meta_traces(other, "limit")}["external_per_hour"] == 2000


def test_volume_from_a_case_uses_its_frames(burst_trace: pd.DataFrame) -> None:
    created = at(10 * 24 + 10.4)
    case = make_case(trace=burst_trace, restricted=restricted_row(created, "BlockUser"))
    fig = charts.outbound_volume(case, policy=POLICY)
    assert [pd.Timestamp(s.x0) for s in marks.shapes_named(fig, marks.RESTRICTION)] == [created]
    label = next(a for a in fig.layout.annotations if a.name == marks.RESTRICTION)
    assert label.xanchor == "left"  # mid-view: written after the line, not over the burst before it
    assert marks.shapes_named(fig, marks.RELEASE) == []
    assert USER in fig.layout.title.text
    # another sender's restriction in the frame is not this user's
    other = charts.outbound_volume(case, restricted=restricted_row(created, sender="bob@contoso.com"))
    assert marks.shapes_named(other, marks.RESTRICTION) == []


def test_volume_needs_a_sender_when_the_trace_holds_several(burst_trace: pd.DataFrame) -> None:
    mixed = pd.concat([burst_trace, trace_rows([(5, "outbound", 3)], sender="bob@contoso.com")])
    with pytest.raises(ValueError, match="pass sender="):
        charts.outbound_volume(mixed)
    fig = charts.outbound_volume(mixed, sender="bob@contoso.com", context_days=None)
    assert sum(sum(t.y) for t in meta_traces(fig, "group")) == 3


def test_volume_without_policy_says_so(burst_trace: pd.DataFrame) -> None:
    fig = charts.outbound_volume(burst_trace)
    assert meta_traces(fig, "limit") == []
    assert "policy unknown" in fig.layout.title.subtitle.text  # under the title, where no mark's label covers it


def test_find_burst_and_baseline() -> None:
    index = pd.date_range(T0, periods=24 * 6, freq="h")
    total = pd.Series(0, index=index)
    total.iloc[::8] = 2
    total.iloc[130:134] = [50, 0, 80, 40]  # one quiet hour inside the burst is tolerated
    burst = hourly.find_burst(total, index[133] + pd.Timedelta(minutes=20))
    assert burst is not None and (burst.start, burst.end) == (index[130], index[134])
    assert burst.peak == 80 and burst.recipients == 170
    base = hourly.find_baseline(total, burst.start, days=14)
    assert base is not None and base.median == 0 and base.p95 == 2 and base.hours == 130
    assert hourly.find_burst(pd.Series(0, index=index), None) is None
    assert hourly.find_baseline(total.iloc[:10], None, days=3) is None


# --- tenant volume and campaigns ----------------------------------------------------------------------------------
@pytest.fixture
def tenant_trace() -> pd.DataFrame:
    parts = [trace_rows([(1, "outbound", 50)], sender=f"big{i}@contoso.com", subject=f"Report {i}") for i in range(5)]
    parts.append(trace_rows([(2, "outbound", 5)], sender="small@contoso.com", subject="Lunch"))
    parts.append(trace_rows([(3, "inbound", 500)], sender="stranger@else.example", subject="Buy now"))
    return pd.concat(parts, ignore_index=True)


def test_tenant_volume_top_senders_share_and_restricted(tenant_trace: pd.DataFrame) -> None:
    restricted = restricted_row(at(4), "BlockUser", sender="small@contoso.com")
    fig = charts.tenant_volume(tenant_trace, restricted, top=3)
    senders = fig.layout.meta["senders"]
    assert senders[:3] == ["big0@contoso.com", "big1@contoso.com", "big2@contoso.com"]
    # a restricted sender below the top is still listed, and marked
    assert senders[3:] == ["small@contoso.com"] and fig.layout.meta["restricted"] == ["small@contoso.com"]
    assert "stranger@else.example" not in senders  # inbound mail is not the tenant's sending
    bars = [t for t in fig.data if t.type == "bar"]
    labels = list(bars[0].y)
    assert "⚠" in labels[3] and all("⚠" not in label for label in labels[:3])
    cross = next(t for t in fig.data if isinstance(t.meta, dict) and "restricted" in t.meta)
    assert list(cross.y) == [labels[3]] and cross.marker.symbol == "x"  # crossed at the end of its bar
    assert "restricted" in cross.hovertemplate or "restricted" in cross.customdata[0][4]
    share = next(t for t in fig.data if t.name == "share")
    assert share.text[0].strip() == f"{50 / 255 * 100:.1f} %"
    assert fig.layout.meta["total"] == 255
    volume = grouping.sender_volume(tenant_trace, restricted)
    assert volume["share"].sum() == pytest.approx(1.0)
    assert volume.loc["big0@contoso.com", "messages"] == 1
    assert bool(volume.loc["small@contoso.com", "restricted"])


def test_campaigns_group_senders_by_normalised_subject() -> None:
    trace = pd.concat([
        trace_rows([(1, "outbound", 1)], sender="a@contoso.com", subject="Your renewal quote, Ana"),
        trace_rows([(2, "outbound", 1)], sender="b@contoso.com", subject="RE: Your renewal quote, Bob"),
        trace_rows([(3, "outbound", 4)], sender="c@contoso.com", subject="Your renewal quote, Carla!"),
        trace_rows([(4, "outbound", 2)], sender="d@contoso.com", subject="Invoice 4411"),
        trace_rows([(5, "outbound", 3)], sender="e@contoso.com", subject="invoice 9"),
        trace_rows([(6, "outbound", 9)], sender="f@contoso.com", subject="Holiday rota"),
    ], ignore_index=True)
    table = grouping.campaign_table(trace, restricted=restricted_row(at(7), "BlockUser", sender="c@contoso.com"))
    by_key = table.set_index("campaign")
    assert set(by_key.index) == {"your renewal quote, <name>", "invoice #"}
    quote = by_key.loc["your renewal quote, <name>"]
    assert (quote["senders"], quote["recipients"], quote["messages"]) == (3, 6, 3)
    assert quote["sender_list"] == "c@contoso.com, a@contoso.com, b@contoso.com"
    assert quote["restricted_senders"] == "c@contoso.com"
    assert by_key.loc["invoice #", "sender_list"] == "e@contoso.com, d@contoso.com"
    fig = charts.campaigns(trace)
    heat = fig.data[0]
    assert heat.meta["campaigns"] == ["your renewal quote, <name>", "invoice #"]
    assert "f@contoso.com" not in heat.meta["senders"]
    row = heat.meta["campaigns"].index("invoice #")
    assert [int(v) if v == v else 0 for v in np.power(10, heat.z[row])] == [
        3 if s == "e@contoso.com" else 2 if s == "d@contoso.com" else 0 for s in heat.meta["senders"]]


def test_campaigns_by_recipient_domain() -> None:
    trace = pd.concat([
        trace_rows([(1, "outbound", 2)], sender="a@contoso.com", subject="x"),
        trace_rows([(2, "outbound", 2)], sender="b@contoso.com", subject="y"),
        trace_rows([(3, "internal", 5)], sender="c@contoso.com", subject="z"),
        trace_rows([(4, "internal", 5)], sender="d@contoso.com", subject="z"),
    ], ignore_index=True)
    table = grouping.campaign_table(trace, by="recipient_domain")
    # both external senders wrote to partner0.example; internal mail is not a campaign against a domain
    assert list(table["campaign"]) == ["partner0.example"]
    assert table.loc[0, "senders"] == 2 and table.loc[0, "recipients"] == 4
    with pytest.raises(ValueError, match="by must be"):
        grouping.campaign_table(trace, by="sender")  # type: ignore[arg-type]


def test_normalise_subjects() -> None:
    subjects = pd.Series(["Your renewal quote, Ana", "Fwd: RE: Invoice 12,345 for Daniel", "Invoice 7 for Eve",
                          "Ana, your account review is ready", "Thanks for visiting us, Omar", None,
                          "Zoë: your personalised offer", "Meeting   request"])
    recipients = pd.Series(["ana.silva@x.example", "d@y.example", "eve@z.example", "ana.silva@x.example",
                            "o@z.example", "q@x.example", "zoë.berg@x.example", "w@x.example"])
    assert grouping.normalise_subjects(subjects, recipients).astype(object).where(
        lambda s: s.notna(), None).tolist() == [
        "your renewal quote, <name>", "invoice # for <name>", "invoice # for <name>",
        "<name>, your account review is ready", "thanks for visiting us, <name>", None,
        "zoë: your personalised offer", "meeting request"]


def test_tenant_views_take_a_few_hundred_thousand_rows() -> None:
    """Vectorised: 300k rows in contract dtypes go through (not timed here; see the module docstring of grouping)."""
    rng = np.random.default_rng(3)
    n = 300_000
    senders = np.array([f"s{i}@contoso.com" for i in range(2000)])
    subjects = np.array([f"Invoice {k}" for k in range(5000)] + ["Your renewal quote, Ana", "Lunch"])
    trace = pd.DataFrame({
        "received": T0 + pd.to_timedelta(rng.integers(0, 5 * 86400, n), unit="s"),
        "trace_id": pd.Series(np.char.add("t", (np.arange(n) // 2).astype(str)), dtype=frames.STRING),
        "sender": pd.Categorical(senders[rng.integers(0, 2000, n)]),
        "recipient": pd.Categorical(np.char.add(np.char.add("r", rng.integers(0, 50000, n).astype(str)),
                                                "@x.example")),
        "recipient_domain": pd.Categorical(np.full(n, "x.example")),
        "direction": pd.Categorical(np.where(rng.random(n) < 0.5, "internal", "outbound")),
        "subject": pd.Categorical(subjects[rng.integers(0, len(subjects), n)]),
    })
    volume = grouping.sender_volume(trace)
    assert int(volume["recipients"].sum()) == n
    table = grouping.campaign_table(trace)
    assert int(table["recipients"].sum()) == n and table.loc[0, "campaign"] == "invoice #"
    assert not is_no_data(charts.tenant_volume(trace)) and not is_no_data(charts.campaigns(trace))


# --- delivery -----------------------------------------------------------------------------------------------------
def test_delivery_domains_and_statuses() -> None:
    trace = trace_rows([(1, "outbound", 6), (2, "outbound", 3), (3, "internal", 2)])
    trace.loc[trace.index[:4], "status"] = "filteredAsSpam"
    trace.loc[trace.index[4], "status"] = "failed"
    fig = charts.delivery(trace, top=2)
    assert fig.layout.meta["domains"] == ["partner0.example", "partner1.example", "other domains"]
    per_domain = {t.meta["status"]: list(t.x) for t in fig.data if not t.meta.get("overall")}
    assert per_domain == {"delivered": [1, 3, 2], "filteredAsSpam": [4, 0, 0], "failed": [1, 0, 0]}
    overall = {t.meta["status"]: t.x[0] for t in fig.data if t.meta.get("overall")}
    assert overall["filteredAsSpam"] == pytest.approx(4 / 11)
    hover = next(t for t in fig.data if t.meta == {"status": "failed"})
    assert "@partner0.example" in hover.customdata[0][2]
    assert hover.y[-1] == "1 other domains"  # the axis says how many domains are folded together


def test_delivery_keeps_the_named_domains_readable_when_other_domains_dwarf_them() -> None:
    spec = [(1, "outbound", 5), (2, "outbound", 4)] + [(3 + i, "outbound", 1) for i in range(60)]
    trace = trace_rows(spec)
    trace["recipient_domain"] = [f"d{i}.example" for i in range(len(trace))]
    trace.loc[trace.index[:5], "recipient_domain"] = "big.example"
    trace.loc[trace.index[5:9], "recipient_domain"] = "second.example"
    fig = charts.delivery(trace, top=2)
    assert fig.layout.xaxis2.range[1] < 60  # the scale follows the named domains (5 and 4), not the other 60
    note = next(a for a in fig.layout.annotations if a.name == "off-scale")
    assert note.text.startswith("60 recipients: 60 delivered") and note.y == "60 other domains"


# --- sign-ins -----------------------------------------------------------------------------------------------------
def signins_frame() -> pd.DataFrame:
    rows = [(at(d * 24 + 9), "US", "Chicago", 41.88, -87.63, "Browser", True, False) for d in range(8)]
    rows += [(at(8 * 24 + 3), "NG", "Lagos", None, None, "IMAP4", False, True),
             (at(8 * 24 + 4), "NG", "Lagos", None, None, "IMAP4", True, True),
             (at(8 * 24 + 5), "NG", "Lagos", None, None, "Browser", True, False),
             (at(8 * 24 + 6), "ZZ", "", None, None, "Browser", True, False)]
    return pd.DataFrame(rows, columns=["time", "country", "city", "latitude", "longitude", "client_app", "success",
                                       "legacy_protocol"]).assign(upn=USER, ip="203.0.113.9", app="Office")


def test_signin_map_highlights_new_countries_and_legacy(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="toolkit.charts.geo"):
        fig = charts.signin_map(signins_frame(), new_days=3)
    assert fig.layout.meta["new_countries"] == ["NG", "ZZ"] and fig.layout.meta["legacy"] == 2
    assert "ZZ" in caplog.text  # unknown code: logged, left off the map
    by = {(t.meta["new"], t.meta["legacy"]): t for t in fig.data}
    legacy = by[(True, True)]
    assert legacy.meta["signins"] == 2 and set(legacy.marker.symbol) == {"diamond"}
    assert legacy.marker.line.width > by[(False, False)].marker.line.width
    assert (legacy.meta["lat"][0], legacy.meta["lon"][0]) == (geo.CENTROIDS["NG"][1], geo.CENTROIDS["NG"][2])
    usual = by[(False, False)]
    assert (usual.meta["lat"][0], usual.meta["lon"][0]) == (41.88, -87.63)
    # drawn where the base map puts Chicago: west of Lagos, north of it
    assert usual.x[0] < legacy.x[0] and usual.y[0] > legacy.y[0]
    assert (usual.x[0], usual.y[0]) == pytest.approx(tuple(float(v[0]) for v in worldmap.project([-87.63], [41.88])),
                                                     abs=0.01)
    assert by[(True, True)].marker.color == by[(True, False)].marker.color != by[(False, False)].marker.color
    assert "legacy protocol" in legacy.hovertemplate and "IMAP4" in legacy.customdata[0][8]
    assert sum(t.meta["signins"] for t in fig.data) == 11


def test_the_world_map_needs_nothing_from_the_network() -> None:
    fig = charts.signin_map(signins_frame(), new_days=3, theme="dark")
    assert {t.type for t in fig.data} == {"scatter"}  # no geo subplot: its base map would come from a CDN
    assert "cdn.plot.ly" not in fig.to_html(include_plotlyjs=False) and not fig.layout.geo.to_plotly_json()
    shapes = {s.name: s for s in fig.layout.shapes}
    assert set(shapes) == {worldmap.OCEAN, worldmap.LAND, worldmap.BORDERS}
    assert shapes[worldmap.LAND].fillcolor == theme.palette("dark").land and shapes[worldmap.LAND].layer == "below"
    assert fig.layout.yaxis.scaleanchor == "x"  # the map keeps its proportions when zoomed
    # opened on the places (Chicago and Lagos), not the whole world; each country named beside its marker
    xs = [x for t in fig.data for x in t.x]
    (world_x0, world_x1), _ = worldmap.bounds()
    assert fig.layout.xaxis.range[0] <= min(xs) and max(xs) <= fig.layout.xaxis.range[1]
    assert fig.layout.xaxis.range[1] - fig.layout.xaxis.range[0] < world_x1 - world_x0
    labels = [a.text for a in fig.layout.annotations if a.name == "country"]
    assert labels == ["United States: 8", "<b>Nigeria: 3 (new)</b>"]


def test_natural_earth_projection() -> None:
    x, y = worldmap.project([0, 180, -180, 0, 0], [0, 0, 0, 45, -45])
    assert x[:3] == pytest.approx([0, 0.8707 * 180, -0.8707 * 180])  # the equator is scaled by 0.8707
    assert y[3] == pytest.approx(-y[4]) and 45 < y[3] < 50  # symmetric, parallels spread a little
    (x0, x1), (y0, y1) = worldmap.bounds()
    assert x0 == -x1 and y0 < 0 < y1


def test_new_countries_need_history() -> None:
    frame = signins_frame()
    assert charts.signins.new_countries(frame, days=3) == ["NG", "ZZ"]
    assert charts.signins.new_countries(frame, since=at(8 * 24 + 4)) == ["ZZ"]
    # all inside the window: nothing is "new" without earlier sign-ins to compare with
    assert charts.signins.new_countries(frame, days=30) == []


def test_signin_timeline_lanes_results_and_legacy() -> None:
    fig = charts.signin_timeline(signins_frame(), new_days=3)
    legacy = [t for t in fig.data if t.meta["legacy"]]
    assert {t.meta["result"]: len(t.x) for t in legacy} == {"success": 1, "failure": 1}
    assert all(t.marker.symbol == "diamond" for t in legacy)
    lanes = list(fig.layout.yaxis.categoryarray)
    assert lanes[0] == "United States" and "Nigeria (new)" in lanes[1]
    by_app = charts.signin_timeline(signins_frame(), lanes="client_app")
    assert set(by_app.layout.yaxis.categoryarray) == {"Browser", "IMAP4"}


def test_legacy_from_client_app_when_the_flag_is_missing() -> None:
    frame = signins_frame().drop(columns=["legacy_protocol"])
    fig = charts.signin_map(frame, new_days=3)
    assert fig.layout.meta["legacy"] == 2


# --- incident timeline --------------------------------------------------------------------------------------------
def test_incident_timeline_lanes_and_events() -> None:
    audit = pd.DataFrame({
        "time": [at(200), at(201), at(202), at(203), at(204), at(205), at(206), at(207)],
        "record_id": [f"r{i}" for i in range(8)],
        "operation": ["New-InboxRule", "Set-Mailbox", "Add-MailboxPermission", "User registered security info",
                      "Consent to application.", "Reset user password.", "MailItemsAccessed", "Set-Mailbox"],
        "user": USER, "client_ip": "203.0.113.9", "target": USER,
        "parameters": ['{"ForwardTo": "<x@evil>"}', '{"ForwardingSmtpAddress": "smtp:x@evil.example"}', "", "",
                       "", "", "", '{"CustomAttribute1": "Sales"}'],
    })
    alerts = pd.DataFrame({"created": [at(250)], "title": ["User restricted from sending email"],
                           "severity": ["high"], "status": ["new"]})
    case = make_case(trace=trace_rows([*quiet_history(), (240, "outbound", 300)]), audit=audit, alerts=alerts,
                     signins=signins_frame(), restricted=restricted_row(at(240.5), "BlockUser"))
    fig = charts.incident_timeline(case, events=[(at(260), "password reset"), (at(270), "unblocked")])
    lanes = {t.meta["lane"]: t for t in fig.data if isinstance(t.meta, dict) and "lane" in t.meta and
             t.meta.get("audit")}
    assert {lane: t.meta["operations"] for lane, t in lanes.items()} == {
        "Rules & forwarding": ["New-InboxRule", "Set-Mailbox"], "Mailbox permissions": ["Add-MailboxPermission"],
        "MFA & consent": ["User registered security info", "Consent to application."],
        "Password & sessions": ["Reset user password."], "Other audit": ["MailItemsAccessed", "Set-Mailbox"]}
    assert "&lt;x@evil&gt;" in lanes["Rules & forwarding"].text[0]  # markup in the data is escaped
    actions = next(t for t in fig.data if isinstance(t.meta, dict) and "events" in t.meta)
    assert actions.meta["events"] == ["password reset", "unblocked"]
    assert [pd.Timestamp(s.x0) for s in marks.shapes_named(fig, marks.EVENT)] == [at(260), at(270)]
    assert [pd.Timestamp(s.x0) for s in marks.shapes_named(fig, marks.RESTRICTION)] == [at(240.5)]
    volume = meta_traces(fig, "volume")[0]
    assert int(sum(volume.y)) == len(case.trace) and "burst" in volume.name
    legacy = [t for t in fig.data if isinstance(t.meta, dict) and t.meta.get("lane") == "Sign-ins"
              and t.meta["legacy"]]
    assert sum(len(t.x) for t in legacy) == 2 and all(t.marker.symbol == "diamond" for t in legacy)
    assert fig.layout.meta["lanes"] == ["Sign-ins", "Rules & forwarding", "Mailbox permissions", "MFA & consent",
                                        "Password & sessions", "Other audit", "Alerts & risk", "Restriction",
                                        "Actions & unblock"]
    zoomed = charts.incident_timeline(case, days=1)
    assert pd.Timestamp(zoomed.layout.xaxis2.range[0]) > at(240)


def test_incident_timeline_needs_a_case() -> None:
    with pytest.raises(TypeError, match="expected a Case"):
        charts.incident_timeline(frames.empty("audit"))  # type: ignore[arg-type]


# --- empty input, bad input, themes -------------------------------------------------------------------------------
def all_charts(kind_frames: dict[str, pd.DataFrame], theme_: str = "light") -> dict[str, Any]:
    case = make_case(**kind_frames)
    return {
        "outbound_volume": charts.outbound_volume(case, theme=theme_),
        "tenant_volume": charts.tenant_volume(case.trace, case.restricted, theme=theme_),
        "campaigns": charts.campaigns(case.trace, theme=theme_),
        "delivery": charts.delivery(case, theme=theme_),
        "signin_map": charts.signin_map(case, theme=theme_),
        "signin_timeline": charts.signin_timeline(case, theme=theme_),
        "incident_timeline": charts.incident_timeline(case, theme=theme_),
    }


def test_empty_frames_give_the_no_data_figure() -> None:
    for name, fig in all_charts({}).items():
        assert is_no_data(fig), name
        assert any(a.text.startswith("<b>No data</b>") for a in fig.layout.annotations), name
        fig.to_html(include_plotlyjs=False)
    assert is_no_data(charts.signin_map(frames.empty("signins")))
    assert is_no_data(charts.delivery(frames.empty("trace")))


@pytest.mark.parametrize(("call", "frame", "column"), [
    (lambda f: charts.outbound_volume(f), "trace", "received"),
    (lambda f: charts.tenant_volume(f), "trace", "sender"),
    (lambda f: charts.campaigns(f), "trace", "subject"),
    (lambda f: charts.delivery(f), "trace", "status"),
    (lambda f: charts.signin_map(f), "signins", "country"),
    (lambda f: charts.signin_timeline(f), "signins", "time"),
])
def test_a_missing_column_is_named(call: Any, frame: str, column: str) -> None:
    full = trace_rows([(1, "outbound", 2)]) if frame == "trace" else signins_frame()
    with pytest.raises(FrameError, match=rf"the {frame} frame has no column '{column}'"):
        call(full.drop(columns=[column]))


def test_a_missing_column_in_a_case_frame_is_named() -> None:
    case = make_case(trace=trace_rows([(1, "outbound", 2)]), audit=pd.DataFrame({"time": [at(1)]}))
    with pytest.raises(FrameError, match="incident_timeline: the audit frame has no column 'operation'"):
        charts.incident_timeline(case)


def test_light_and_dark_differ_and_both_render() -> None:
    trace = trace_rows([*quiet_history(3), (80, "outbound", 40)])
    signins = signins_frame()
    light = all_charts({"trace": trace, "signins": signins}, "light")
    dark = all_charts({"trace": trace, "signins": signins}, "dark")
    for name in light:
        lt, dk = light[name].layout.template.layout, dark[name].layout.template.layout
        assert lt.paper_bgcolor == dk.paper_bgcolor == theme.TRANSPARENT, name
        assert lt.font.color != dk.font.color and lt.hoverlabel.bgcolor != dk.hoverlabel.bgcolor, name
        for fig in (light[name], dark[name]):
            html = fig.to_html(include_plotlyjs=False, full_html=False)
            assert "plotly-graph-div" in html and theme.palette(fig.layout.template.layout.meta[
                "toolkit_theme"]).text in html
    with pytest.raises(ValueError, match="theme must be one of light, dark"):
        charts.delivery(trace, theme="solarized")  # type: ignore[arg-type]


def test_colours_stay_apart_on_both_themes() -> None:
    for name in theme.THEMES:
        p = theme.palette(name)
        assert len({p.internal, p.external, p.unknown}) == 3
        assert len({p.success, p.failure}) == 2 and p.new != p.internal
        assert p.text not in (p.internal, p.external)


def test_timestamps_may_be_naive_or_text() -> None:
    trace = trace_rows([(1, "outbound", 2), (30, "internal", 1)])
    text_times = trace.assign(received=trace["received"].dt.strftime("%Y-%m-%dT%H:%M:%S"))
    fig = charts.outbound_volume(text_times, context_days=None)
    assert sum(sum(t.y) for t in meta_traces(fig, "group")) == 3
    events = charts.inputs.events_of([(datetime(2026, 3, 2, 5), "naive"), {"time": "2026-03-02T06:00Z",
                                                                            "label": "text"}], "test")
    assert [e.time for e in events] == [at(5), at(6)]
    with pytest.raises(ValueError, match="an event must be"):
        charts.inputs.events_of(["unblocked"], "test")
    assert charts.inputs.instant(datetime(2026, 3, 2, tzinfo=UTC), "t") == T0


# --- purity -------------------------------------------------------------------------------------------------------
def test_charts_are_pure() -> None:
    """DESIGN.md: charts take frames and return figures; they import no network, widget or store layer."""
    allowed = ("toolkit.charts", "toolkit.frames")
    for path in (ROOT / "toolkit" / "charts").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [f"{node.module}.{a.name}" if node.module == "toolkit" else node.module for a in node.names]
            else:
                continue
            for name in names:
                assert not name.startswith("toolkit") or name.startswith(allowed), (path.name, name)
                assert name.split(".")[0] not in {"requests", "ipywidgets", "msal", "urllib", "http", "socket"}, \
                    (path.name, name)


def test_hourly_sender_volume_counts_recipients_per_sender_and_hour() -> None:
    """Per sender and hour, internal/external/unknown recipients as a plain groupby counts them; inbound rows and
    hours without mail are left out; rows come sorted by sender then hour."""
    import pandas as pd

    from toolkit import frames
    from toolkit.charts.grouping import hourly_sender_volume

    items = [
        {"id": f"00000000-0000-4000-8000-{n:012d}", "senderAddress": sender, "recipientAddress": rcpt,
         "receivedDateTime": when, "status": "delivered", "size": 10}
        for n, (sender, rcpt, when) in enumerate([
            ("Bob@contoso.com", "x@fabrikam.example", "2026-11-20T10:05:00Z"),
            ("bob@contoso.com", "y@fabrikam.example", "2026-11-20T10:59:59Z"),
            ("bob@contoso.com", "carol@contoso.com", "2026-11-20T10:30:00Z"),
            ("bob@contoso.com", "x@fabrikam.example", "2026-11-20T13:00:00Z"),
            ("alice@contoso.com", "x@fabrikam.example", "2026-11-20T13:10:00Z"),
            ("spammer@fabrikam.example", "bob@contoso.com", "2026-11-20T10:10:00Z"),
        ])]
    trace = frames.from_graph("trace", items, accepted_domains=["contoso.com"])
    out = hourly_sender_volume(trace)
    assert out["sender"].astype(str).tolist() == ["alice@contoso.com", "bob@contoso.com", "bob@contoso.com"]
    assert out["hour"].tolist() == [pd.Timestamp("2026-11-20T13:00Z"), pd.Timestamp("2026-11-20T10:00Z"),
                                    pd.Timestamp("2026-11-20T13:00Z")]
    assert out[["internal", "external", "unknown", "recipients"]].to_numpy().tolist() == [
        [0, 1, 0, 1], [1, 2, 0, 3], [0, 1, 0, 1]]
    assert len(hourly_sender_volume(trace.iloc[0:0])) == 0
