"""The triage view: every restricted user with a verdict badge and the next step; picking one opens the
investigation (verdict, plan, charts) below the table.

Only wiring: the table comes from ``toolkit.evidence.triage``, the investigation from ``Tenant.investigate`` and
``toolkit.evidence.assess``, the pictures from ``toolkit.charts``. Anything here can be done in a cell without it.
"""

from __future__ import annotations

import logging
from html import escape
from typing import Any

import ipywidgets as widgets
import pandas as pd
from IPython.display import display

from toolkit import charts

log = logging.getLogger(__name__)

BADGE = {"compromised": "#c62828", "benign": "#2e7d32", "inconclusive": "#b26a00"}
ORDER = {"compromised": 0, "inconclusive": 1, "benign": 2}


def triage_html(table: pd.DataFrame) -> str:
    """The triage table as HTML: riskiest first, a coloured badge per verdict, reasons and next step."""
    if table.empty:
        return "<p>Nobody is on the Restricted entities list.</p>"
    rows = []
    for _, row in sort_by_risk(table).iterrows():
        colour = BADGE.get(str(row["verdict"]), "#555")
        reasons = "".join(f"<li>{escape(str(r))}</li>" for r in (row["reasons"] or [])[:3])
        rows.append(
            f"<tr><td><b>{escape(str(row['user']))}</b></td>"
            f"<td><span style='background:{colour};color:#fff;padding:.1em .5em;border-radius:.6em'>"
            f"{escape(str(row['verdict']))}</span> {float(row['confidence']):.0%}</td>"
            f"<td>{escape(str(row.get('block_type') or ''))}</td><td><ul>{reasons}</ul></td>"
            f"<td>{escape(str(row['next_step']))}</td></tr>")
    return ("<style>.m365-triage th,.m365-triage td{text-align:left;vertical-align:top;line-height:1.35;"
            "padding:.3em .5em}.m365-triage ul{margin:0;padding-left:1.1em}</style>"
            "<table class='m365-triage' style='width:100%;border-collapse:collapse'><colgroup><col style='width:18%'>"
            "<col style='width:12%'><col style='width:10%'><col style='width:40%'><col style='width:20%'></colgroup>"
            "<thead><tr><th>user</th><th>verdict</th><th>block</th><th>top reasons</th><th>next step</th></tr>"
            "</thead><tbody>" + "".join(rows) + "</tbody></table>")


def sort_by_risk(table: pd.DataFrame) -> pd.DataFrame:
    """Compromised first (most confident first), then inconclusive, then benign."""
    keyed = table.assign(_order=table["verdict"].map(ORDER).fillna(3), _conf=-table["confidence"].astype(float))
    return keyed.sort_values(["_order", "_conf", "user"]).drop(columns=["_order", "_conf"]).reset_index(drop=True)


def triage_table(tenant: Any, days: int = 14, table: pd.DataFrame | None = None) -> widgets.VBox:
    """The interactive triage view for ``tenant`` (a ``toolkit.tenant.Tenant``)."""
    from toolkit.evidence import assess, triage

    if table is None:
        table = triage(tenant, days=days)
    ordered = sort_by_risk(table)
    header = widgets.HTML(triage_html(ordered))
    picker = widgets.Dropdown(options=[("choose a user to investigate", "")] +
                              [(f"{r.user} ({r.verdict})", r.user) for r in ordered.itertuples()],
                              description="Investigate", layout=widgets.Layout(width="60%"))
    output = widgets.Output()

    def open_user(change: dict[str, Any]) -> None:
        user = change.get("new")
        if not user:
            return
        output.clear_output()
        with output:
            case = tenant.investigate(user, days=days)
            assessment = assess(case)
            display(widgets.HTML(f"<pre style='white-space:pre-wrap;line-height:1.35'>"
                                 f"{escape(assessment.report())}</pre>"))
            display(charts.outbound_volume(case))
            display(charts.incident_timeline(case))

    picker.observe(open_user, names="value")
    return widgets.VBox([header, picker, output])
