"""Plotly figures for the investigation: frames in, Figure out (pure: no network, no widgets).

    from toolkit import charts
    charts.outbound_volume(case, events=[(when, "unblocked")])   # recipients per hour vs the policy's limits
    charts.delivery(case)                                         # recipient domains and delivery status
    charts.signin_map(case); charts.signin_timeline(case)         # new countries and legacy protocols
    charts.incident_timeline(case, events=journal_events)         # every source on one time axis
    charts.tenant_volume(tenant.trace(start, end).frame, tenant.restricted_users().frame)
    charts.campaigns(trace_frame, by="subject")                   # or by="recipient_domain"
    charts.save_png(fig, "chart.png", width=1000)                  # a PNG (Playwright + the system Chromium)

Every function takes ``theme="light"`` or ``"dark"``, returns a ``plotly.graph_objects.Figure`` sized for a notebook
cell, answers empty input with a "No data" figure and a missing column with a ``FrameError`` naming the frame and
the column. The tables behind the tenant views are ``sender_volume`` and ``campaign_table``; see docs/charts.md.

Modules: ``theme`` (templates, palette, no-data figure), ``inputs`` (Case or frames, columns, events, restriction,
limits), ``hourly`` (volume per hour, burst, baseline), ``marks`` (restriction, release and event lines),
``volume``, ``grouping`` (tenant-wide aggregation), ``tenant``, ``delivery``, ``geo`` (country centroids),
``worldmap`` (the offline base map: Natural Earth land and borders, projected), ``signins``, ``timeline``,
``picture`` (figures as PNG files).
"""

from toolkit.charts.delivery import delivery
from toolkit.charts.grouping import campaign_table, normalise_subjects, sender_volume
from toolkit.charts.picture import PictureError, render_png, save_png
from toolkit.charts.signins import new_countries, signin_map, signin_timeline
from toolkit.charts.tenant import campaigns, tenant_volume
from toolkit.charts.theme import THEMES, is_no_data
from toolkit.charts.timeline import incident_timeline
from toolkit.charts.volume import outbound_volume

__all__ = [
    "THEMES",
    "PictureError",
    "campaign_table",
    "campaigns",
    "delivery",
    "incident_timeline",
    "is_no_data",
    "new_countries",
    "normalise_subjects",
    "outbound_volume",
    "render_png",
    "save_png",
    "sender_volume",
    "signin_map",
    "signin_timeline",
    "tenant_volume",
]
