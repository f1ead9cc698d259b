"""A standalone HTML report of one investigation: the verdict, the plan, the gaps, the charts and the findings.

The file needs nothing else to open: plotly's JavaScript is embedded once, the styles are inline, and every value
from the data is escaped. It is what an analyst attaches to a ticket or hands to the next shift.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

import plotly.graph_objects as go

from toolkit import charts
from toolkit.case import Case

if TYPE_CHECKING:
    from toolkit.evidence import Assessment

log = logging.getLogger(__name__)

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2rem auto;padding:0 1rem;
color:#1b1b1b;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
.banner{border:2px solid #c62828;padding:.5rem .8rem;font-weight:600;color:#c62828}
.verdict{font-size:1.3rem;font-weight:700}.compromised{color:#c62828}.benign{color:#2e7d32}
.inconclusive{color:#b26a00}table{border-collapse:collapse;width:100%;font-size:.9rem}
td,th{border-bottom:1px solid #eee;padding:.3rem .4rem;text-align:left;vertical-align:top}
.muted{color:#666}.done{color:#2e7d32}
"""


def _figure_html(figure: go.Figure, first: bool) -> str:
    return figure.to_html(full_html=False, include_plotlyjs="inline" if first else False,
                          config={"displaylogo": False, "responsive": True})


def _list(items: list[str] | tuple[str, ...]) -> str:
    if not items:
        return "<p class='muted'>None.</p>"
    return "<ul>" + "".join(f"<li>{escape(str(i))}</li>" for i in items) + "</ul>"


def render_html(case: Case, assessment: Assessment, events: tuple[tuple[datetime, str], ...] = ()) -> str:
    """The report as one HTML document."""
    verdict = assessment.verdict
    plan = assessment.plan
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{escape(case.user.upn)} - "
             f"spam restriction investigation</title><style>{_STYLE}</style></head><body>"]
    if case.simulated:
        parts.append("<p class='banner'>SIMULATED DATA: this case comes from the built-in sandbox tenant, not a real "
                     "Microsoft 365 tenant.</p>")
    parts.append(f"<h1>{escape(case.user.upn)}</h1><p class='muted'>{escape(case.user.display_name or '')} - "
                 f"tenant {escape(case.tenant_id)} - evidence from {case.start:%Y-%m-%d %H:%M} to "
                 f"{case.end:%Y-%m-%d %H:%M} UTC - report made {datetime.now(UTC):%Y-%m-%d %H:%M} UTC</p>")
    parts.append(f"<p class='verdict {escape(verdict.label)}'>{escape(verdict.label.upper())} "
                 f"(confidence {verdict.confidence:.0%})</p><p>{escape(verdict.basis)}</p>")
    parts.append("<h2>Reasons</h2>" + _list(list(verdict.reasons)))
    parts.append(f"<h2>Restriction</h2><p>{escape(verdict.lifecycle.sentence())}</p>")
    steps = "".join(
        f"<tr><td>{step.order}</td><td class='{'done' if step.done else ''}'>{'done' if step.done else 'to do'}</td>"
        f"<td>{escape(step.title)}</td><td>{escape(step.reason)}</td>"
        f"<td>{escape(', '.join(t.label or t.object_id for t in step.targets))}</td></tr>"
        for step in plan.steps)
    parts.append(f"<h2>Plan: {escape(plan.kind.replace('_', ' '))}</h2><p><b>Next:</b> {escape(plan.next_step)}</p>"
                 f"<table><thead><tr><th>#</th><th>state</th><th>step</th><th>why</th><th>on</th></tr></thead>"
                 f"<tbody>{steps}</tbody></table>" + _list(list(plan.advice)))
    parts.append("<h2>Evidence that could not be collected</h2>" + _list(list(verdict.missing) or case.gaps()))
    figures = [
        ("Outbound volume against the policy limits", charts.outbound_volume(case, events=list(events))),
        ("Delivery and recipient domains", charts.delivery(case)),
        ("Sign-ins over time", charts.signin_timeline(case)),
        ("Sign-ins on the map", charts.signin_map(case)),
        ("Incident timeline", charts.incident_timeline(case, events=list(events))),
    ]
    for index, (title, figure) in enumerate(figures):
        parts.append(f"<h2>{escape(title)}</h2>{_figure_html(figure, index == 0)}")
    rows = "".join(
        f"<tr><td>{escape(f.direction)}</td><td>{f.strength:.2f}</td><td>{escape(f.indicator)}</td>"
        f"<td>{escape(f.sentence)}</td></tr>"
        for f in sorted(assessment.findings, key=lambda f: (f.direction == "neutral", -f.strength)))
    parts.append("<h2>Findings</h2><table><thead><tr><th>points to</th><th>strength</th><th>indicator</th>"
                 f"<th>what it saw</th></tr></thead><tbody>{rows}</tbody></table>")
    coverage = "".join(f"<tr><td>{escape(e.kind)}</td><td>{escape(e.status)}</td><td>{e.rows}</td>"
                       f"<td>{escape(e.source)}</td><td>{escape(e.detail)}</td></tr>" for e in case.ledger)
    parts.append("<h2>Coverage</h2><table><thead><tr><th>evidence</th><th>status</th><th>rows</th><th>source</th>"
                 f"<th>detail</th></tr></thead><tbody>{coverage}</tbody></table></body></html>")
    return "".join(parts)


def export_html(case: Case, assessment: Assessment, path: Path | None = None,
                events: tuple[tuple[datetime, str], ...] = ()) -> Path:
    """Write the report; by default beside the stored case (``report.html``), else in the current folder."""
    target = path or ((case.path.parent / f"{case.path.name}-report.html") if case.path else
                      Path.cwd() / f"{case.user.upn.replace('@', '_at_')}-report.html")
    target.write_text(render_html(case, assessment, events), encoding="utf-8")
    log.info("report written to %s", target)
    return target
