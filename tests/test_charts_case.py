"""Charts from real investigations of a generated tenant: a compromised sender (forwarding and hiding rules) and a
benign one (a newsletter blocked for the day), read over HTTPS from the sandbox like a real tenant.

The assertions are what an analyst relies on when reading the pictures: the limit lines sit at the effective
policy's values, the restriction line at the block time, the stacked bars add up to the trace, the release time of a
block for the day is drawn, the attacker's country is flagged new, every audit operation is on the timeline.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from toolkit import charts, frames
from toolkit.case import Case
from toolkit.charts import marks
from toolkit.charts.theme import is_no_data
from toolkit.connection import _started
from toolkit.tenant import Tenant, connect

SEED = 5


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("charts-gen") / "tenant"
    subprocess.run([sys.executable, "-m", "toolkit.sandbox", "generate", "--out", str(folder), "--seed", str(SEED),
                    "--users", "80", "--days", "21"], check=True, capture_output=True)
    return folder


@pytest.fixture(scope="module")
def truth(generated: Path) -> dict[str, Any]:
    return json.loads((generated / "truth.json").read_text())


@pytest.fixture(scope="module")
def tenant(generated: Path) -> Iterator[Tenant]:
    connected = connect(sandbox_tenant=generated, quiet=True)
    yield connected
    for process in _started:
        process.stop()
    _started.clear()


def sender_of(truth: dict[str, Any], scenario: str) -> str:
    return next(s for s, v in truth["labels"].items() if v["scenario"] == scenario)


@pytest.fixture(scope="module")
def compromised(tenant: Tenant, truth: dict[str, Any]) -> Case:
    return tenant.investigate(sender_of(truth, "forwarding_and_hiding_rules"), save=False)


@pytest.fixture(scope="module")
def benign(tenant: Tenant, truth: dict[str, Any]) -> Case:
    return tenant.investigate(sender_of(truth, "newsletter"), save=False)


@pytest.fixture(scope="module")
def tenant_trace(tenant: Tenant) -> pd.DataFrame:
    now = tenant.now()
    return tenant.trace(now - timedelta(days=9), now).frame


def limit_values(fig: Any) -> dict[str, float]:
    return {t.meta["limit"]: t.y[0] for t in fig.data if isinstance(t.meta, dict) and "limit" in t.meta}


def bars_by_hour(fig: Any) -> pd.Series:
    parts = [pd.Series(list(t.y), index=pd.DatetimeIndex(list(t.x))) for t in fig.data
             if t.type == "bar" and isinstance(t.meta, dict) and "group" in t.meta]
    return pd.concat(parts).groupby(level=0).sum()


def trace_by_hour(case: Case) -> pd.Series:
    sent = case.trace[case.trace["direction"].astype(str) != "inbound"]
    return sent.groupby(sent["received"].dt.floor("h")).size()


@pytest.mark.parametrize("which", ["compromised", "benign"])
def test_limit_lines_sit_at_the_effective_policy(which: str, request: pytest.FixtureRequest,
                                                 truth: dict[str, Any]) -> None:
    case: Case = request.getfixturevalue(which)
    fig = charts.outbound_volume(case)
    effective = frames.effective_policy(case.policy, case.policy_rules, case.user.primary_smtp)
    assert limit_values(fig) == {"external_per_hour": effective["external_per_hour"],
                                 "internal_per_hour": effective["internal_per_hour"],
                                 "per_day": effective["per_day"]}
    # and they are the limits the generator enforced on this sender
    policy = truth["labels"][case.user.primary_smtp]["block"]["policy"]
    defaults = truth["serviceDefaults"]
    assert limit_values(fig)["external_per_hour"] == (policy["RecipientLimitExternalPerHour"]
                                                      or defaults["RecipientLimitExternalPerHour"])


@pytest.mark.parametrize("which", ["compromised", "benign"])
def test_restriction_line_at_the_block_time(which: str, request: pytest.FixtureRequest) -> None:
    case: Case = request.getfixturevalue(which)
    fig = charts.outbound_volume(case)
    lines = marks.shapes_named(fig, marks.RESTRICTION)
    assert len(lines) == 1
    assert pd.Timestamp(lines[0].x0) == case.restricted["created"].iloc[0]


def test_stacked_bars_add_up_to_the_trace_every_hour(benign: Case, compromised: Case) -> None:
    for case in (benign, compromised):
        fig = charts.outbound_volume(case, context_days=None)
        drawn = bars_by_hour(fig)
        expected = trace_by_hour(case)
        assert drawn[drawn > 0].to_dict() == expected.to_dict()
        # the daily panel ends each UTC day at that day's total
        daily = next(t for t in fig.data if isinstance(t.meta, dict) and t.meta.get("daily"))
        running = pd.Series(list(daily.y), index=pd.DatetimeIndex(list(daily.x)))
        per_day = expected.groupby(expected.index.floor("D")).sum()
        ends = running.groupby(running.index.floor("D")).last()
        assert ends.reindex(per_day.index).to_dict() == per_day.to_dict()


def test_block_for_the_day_shows_its_utc_release(benign: Case, compromised: Case) -> None:
    assert benign.restricted["block_type"].iloc[0] == "BlockUserForToday"
    fig = charts.outbound_volume(benign)
    release = marks.shapes_named(fig, marks.RELEASE)
    assert [pd.Timestamp(s.x0) for s in release] == [benign.restricted["release_at"].iloc[0]]
    assert pd.Timestamp(release[0].x0) == benign.restricted["created"].iloc[0].ceil("D")
    assert any("block lifts" in a.text and "00:00 UTC" in a.text for a in fig.layout.annotations)
    # a BlockUser never lifts by itself: no release line
    assert marks.shapes_named(charts.outbound_volume(compromised), marks.RELEASE) == []


def test_the_burst_rises_above_the_usual_hour(benign: Case) -> None:
    fig = charts.outbound_volume(benign)
    burst = fig.layout.meta["burst"]
    p95 = next(t for t in fig.data if isinstance(t.meta, dict) and t.meta.get("baseline") == "p95").y[0]
    assert burst["peak"] > 10 * max(p95, 1)
    assert pd.Timestamp(burst["start"]) <= benign.restricted["created"].iloc[0] <= pd.Timestamp(burst["end"])


def test_unblock_event_is_drawn(benign: Case) -> None:
    unblocked = benign.end
    fig = charts.outbound_volume(benign, events=[(unblocked, "unblocked by admin")])
    events = marks.shapes_named(fig, marks.EVENT)
    assert [pd.Timestamp(s.x0) for s in events] == [pd.Timestamp(unblocked)]
    assert any("unblocked by admin" in a.text for a in fig.layout.annotations)


def test_timeline_holds_every_audit_operation(compromised: Case) -> None:
    assert len(compromised.audit) > 0
    fig = charts.incident_timeline(compromised, events=[(compromised.end, "unblocked")])
    audit_traces = [t for t in fig.data if isinstance(t.meta, dict) and t.meta.get("audit")]
    drawn = [op for t in audit_traces for op in t.meta["operations"]]
    assert sorted(drawn) == sorted(compromised.audit["operation"].astype(str))
    assert sum(len(t.x) for t in audit_traces) == len(compromised.audit)
    lanes = fig.layout.meta["lanes"]
    assert "Rules & forwarding" in lanes and "Restriction" in lanes and "Actions & unblock" in lanes
    signin_markers = sum(len(t.x) for t in fig.data if isinstance(t.meta, dict) and t.meta.get("lane") == "Sign-ins")
    assert signin_markers == len(compromised.signins)
    alerts = next(t for t in fig.data if isinstance(t.meta, dict) and "alerts" in t.meta)
    assert len(alerts.x) == len(compromised.alerts)


def test_attacker_country_is_new_on_the_map(compromised: Case, truth: dict[str, Any]) -> None:
    attacker = set(truth["labels"][compromised.user.primary_smtp]["attackerCountries"])
    fig = charts.signin_map(compromised)
    assert attacker <= set(fig.layout.meta["new_countries"])
    on_map = sum(t.meta["signins"] for t in fig.data)
    assert on_map == len(compromised.signins)
    new_traces = [t for t in fig.data if t.meta["new"]]
    assert new_traces and all(t.marker.color == new_traces[0].marker.color for t in new_traces)
    timeline = charts.signin_timeline(compromised)
    assert set(timeline.layout.meta["new_countries"]) == set(fig.layout.meta["new_countries"])
    # the incident timeline rings the same sign-ins
    incident = charts.incident_timeline(compromised)
    ringed = sum(t.meta["signins"] for t in incident.data if isinstance(t.meta, dict) and t.meta.get("new_country"))
    countries = compromised.signins["country"].astype(str).str.upper()
    assert ringed == int(countries.isin(fig.layout.meta["new_countries"]).sum()) > 0


def test_delivery_counts_match_the_trace(compromised: Case) -> None:
    fig = charts.delivery(compromised)
    per_domain = [t for t in fig.data if not t.meta.get("overall")]
    drawn = {t.meta["status"]: int(sum(t.x)) for t in per_domain}
    expected = compromised.trace["status"].astype(str).value_counts()
    assert drawn == {k: int(v) for k, v in expected.items() if v}
    assert "filteredAsSpam" in drawn


def test_tenant_volume_marks_restricted_senders(tenant: Tenant, tenant_trace: pd.DataFrame) -> None:
    restricted = tenant.restricted_users().frame
    fig = charts.tenant_volume(tenant_trace, restricted, top=20)
    volume = charts.grouping.sender_volume(tenant_trace, restricted)
    blocked_with_mail = set(restricted["sender"]) & set(volume.index)
    assert blocked_with_mail and set(fig.layout.meta["restricted"]) == blocked_with_mail
    marked = next(t for t in fig.data if isinstance(t.meta, dict) and "restricted" in t.meta)
    assert set(marked.meta["restricted"]) == blocked_with_mail
    assert all("⚠" in label for label in marked.y)
    bars = [t for t in fig.data if t.type == "bar"]
    labels = list(bars[0].y)
    flagged = [label for label in labels if "⚠" in label]
    assert len(flagged) == len(blocked_with_mail)


def test_campaigns_over_the_tenant(tenant_trace: pd.DataFrame, tenant: Tenant) -> None:
    restricted = tenant.restricted_users().frame
    table = charts.grouping.campaign_table(tenant_trace, restricted=restricted)
    assert (table["senders"] >= 2).all()
    fig = charts.campaigns(tenant_trace, restricted=restricted)
    heat = fig.data[0]
    assert list(heat.meta["campaigns"]) == list(table["campaign"].head(15))
    assert set(heat.meta["restricted"]) <= set(restricted["sender"])


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_chart_of_a_real_case_renders_to_html(theme: str, compromised: Case, benign: Case,
                                                    tenant_trace: pd.DataFrame) -> None:
    figures = [charts.outbound_volume(benign, theme=theme), charts.delivery(compromised, theme=theme),
               charts.signin_map(compromised, theme=theme), charts.signin_timeline(compromised, theme=theme),
               charts.incident_timeline(compromised, theme=theme),
               charts.tenant_volume(tenant_trace, benign.restricted, theme=theme),
               charts.campaigns(tenant_trace, theme=theme)]
    for fig in figures:
        assert not is_no_data(fig)
        assert 380 <= fig.layout.height <= 520 and fig.layout.width is None
        html = fig.to_html(include_plotlyjs=False, full_html=False)
        assert fig.layout.title.text.split(":")[0] in html
        assert fig.layout.template.layout.meta["toolkit_theme"] == theme
