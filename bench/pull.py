"""Pull: tenant-wide message trace from the sandbox with realistic latency and Microsoft's quota, scaled in time.

The sandbox serves the 50,000-user tenant's last days of message trace. Time runs ``SCALE`` times faster than real:
the quota (100 requests per 5 minutes) becomes 100 per ``300 * SCALE`` seconds and the latency (``LATENCY_MS`` per
response plus ``LATENCY_MS_PER_MB`` per megabyte, an assumption: Microsoft publishes no figure) shrinks by the same
factor. CPU time does not shrink, so the simulation is harder on the client than real time is.

The ceiling is page size x allowed request rate: 5,000 rows x 100 requests per window. A pull's rate is measured
over its first full quota window: the rows of its first 100 successful pages divided by the time from sending the
first to sending the 101st (the sliding window lets request 101 go only when request 1 leaves it, so no client can
beat the ceiling on this measure, and a client that cannot fill a window in time falls short of it).
The plain client is a sequential requests loop with the default page size (1,000), following nextLink and sleeping
``Retry-After`` on a 429, measured the same way.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.common import CACHE, Figure, StageResult, in_child

SCALE = 0.1  # 100 requests per 30 s instead of per 300 s
LATENCY_MS = 500.0  # real-time latency per response (scaled by SCALE)
LATENCY_MS_PER_MB = 1000.0  # real-time latency per MB of body (scaled by SCALE): a 5,000-row page is about 2.2 MB
PAGE = 5000
LIMIT = 100
WINDOW_S = 300.0
DAYS = 3.5


def ceiling() -> float:
    return PAGE * LIMIT / (WINDOW_S * SCALE)


class Recorder:
    """Wraps a session's ``request``: when each message-trace request was sent, its status and rows."""

    def __init__(self, session: Any):
        self.calls: list[tuple[float, float, int, int]] = []
        self._request = session.request
        session.request = self.request

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        sent = time.perf_counter()
        response = self._request(method, url, *args, **kwargs)
        if "/tracing/messageTraces" in url:
            rows = response.content.count(b'"senderAddress"') if response.status_code == 200 else 0
            self.calls.append((sent, time.perf_counter(), response.status_code, rows))
        return response


def window_rate(calls: list[tuple[float, float, int, int]]) -> tuple[float, int, int]:
    """(rows per second over the first full quota window, successful pages, 429s)."""
    ok = sorted(c for c in calls if c[2] == 200)
    throttled = sum(1 for c in calls if c[2] == 429)
    if len(ok) > LIMIT:
        return sum(c[3] for c in ok[:LIMIT]) / (ok[LIMIT][0] - ok[0][0]), len(ok), throttled
    # Fewer pages than one window holds (a --quick run): the pull never met the quota; rows over its span.
    span = max(c[1] for c in ok) - min(c[0] for c in ok)
    return sum(c[3] for c in ok) / span, len(ok), throttled


def ours(endpoints: Any, days: float) -> dict[str, Any]:
    """(child) The toolkit's tenant-wide pull: ``Tenant.trace`` over the last ``days`` days."""
    from toolkit.connection import open_connection, sandbox_settings
    from toolkit.tenant import Tenant

    tenant = Tenant(open_connection(sandbox_settings(endpoints)), quiet=True)
    tenant.accepted_domains()
    recorder = Recorder(tenant.transport.session)
    end = tenant.now()
    start_at = time.perf_counter()
    pull = tenant.trace(end - timedelta(days=days), end)
    elapsed = time.perf_counter() - start_at
    rate, pages, throttled = window_rate(recorder.calls)
    return {"rows": len(pull.frame), "elapsed": elapsed, "rate": rate, "pages": pages, "throttled": throttled,
            "complete": pull.complete, "requests": len(recorder.calls),
            "rows_paged": sum(c[3] for c in recorder.calls)}


def plain(endpoints: Any, days: float) -> dict[str, Any]:
    """(child) A plain client: sequential, default page size, following nextLink, sleeping Retry-After."""
    from toolkit.connection import open_connection, sandbox_settings
    from toolkit.transport import session_trusting

    conn = open_connection(sandbox_settings(endpoints))
    token = conn.transport.tokens.token("graph")
    end = conn.transport.now()
    session = session_trusting(endpoints.ca_bundle)
    recorder = Recorder(session)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    url: str | None = f"{endpoints.graph}/admin/exchange/tracing/messageTraces"
    params: dict[str, str] | None = {
        "$filter": f"receivedDateTime ge {(end - timedelta(days=days)):{fmt}} and receivedDateTime le {end:{fmt}}"}
    rows = 0
    start_at = time.perf_counter()
    pages = 0
    while url is not None and pages <= LIMIT:  # one full quota window and the request that opens the next
        response = session.get(url, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        if response.status_code == 429:
            time.sleep(float(response.headers.get("Retry-After", "1")))
            continue
        response.raise_for_status()
        body = response.json()
        rows += len(body["value"])
        pages += 1
        url, params = body.get("@odata.nextLink"), None
    elapsed = time.perf_counter() - start_at
    rate, pages, throttled = window_rate(recorder.calls)
    return {"rows": rows, "elapsed": elapsed, "rate": rate, "pages": pages, "throttled": throttled}


def run(big: Path, quick: bool = False) -> StageResult:
    from bench import data
    from toolkit.sandbox_process import SandboxProcess

    result = StageResult("pull")
    days = 2.0 if quick else DAYS
    folder = data.pull_tenant(big, days)
    started = time.perf_counter()
    with SandboxProcess.start(folder, quota_scale=SCALE, latency_ms=LATENCY_MS * SCALE,
                              latency_ms_per_mb=LATENCY_MS_PER_MB * SCALE, state_dir=CACHE / "sandbox-home",
                              timeout=600) as process:
        load = time.perf_counter() - started
        mine, _ = in_child(ours, process.endpoints, days)
        process_control(process, "/quotas/reset")
        base, _ = in_child(plain, process.endpoints, days)
    top = ceiling()
    result.figures += [
        Figure("pull", "toolkit pull, rows/s over the first quota window", mine["rate"], "rows/s",
               target=">= 0.9 of the ceiling", met=mine["rate"] >= 0.9 * top, ratio=mine["rate"] / top,
               note=f"ceiling {top:,.0f} rows/s = {PAGE} rows x {LIMIT} requests / {WINDOW_S * SCALE:g} s"),
        Figure("pull", "toolkit vs plain client (sequential, default page size)", mine["rate"], "rows/s",
               target=">= 3x the plain client", met=mine["rate"] >= 3 * base["rate"], baseline=base["rate"],
               ratio=mine["rate"] / base["rate"]),
        Figure("pull", "plain client as a fraction of the ceiling", base["rate"] / top, "of ceiling"),
        Figure("pull", "toolkit whole pull incl. frame (rows / elapsed)", mine["rows"] / mine["elapsed"], "rows/s",
               note=f"{mine['rows']:,} rows in {mine['elapsed']:.1f} s, {mine['requests']} requests, "
                    f"{mine['throttled']} throttled, complete={mine['complete']}"),
    ]
    result.notes += [
        f"Sandbox: {folder.name} (the last {days:g} days of the 50,000-user tenant), loaded in {load:.1f} s; time "
        f"scale {SCALE} (quota window {WINDOW_S * SCALE:g} s), latency {LATENCY_MS * SCALE:g} ms + "
        f"{LATENCY_MS_PER_MB * SCALE:g} ms/MB per response (real-time equivalent {LATENCY_MS:g} ms + "
        f"{LATENCY_MS_PER_MB:g} ms/MB: about {(LATENCY_MS + 2.2 * LATENCY_MS_PER_MB) / 1000:.1f} s for a 5,000-row "
        "page, an assumption).",
        f"Toolkit: {mine['pages']} pages of up to {PAGE} rows, {mine['throttled']} answered 429. Plain client: "
        f"{base['pages']} pages of up to 1,000 rows, {base['rows']:,} rows in {base['elapsed']:.1f} s, "
        f"{base['throttled']} answered 429.",
    ]
    return result


def process_control(process: Any, path: str) -> None:
    from toolkit.transport import session_trusting

    ep = process.endpoints
    session_trusting(ep.ca_bundle).post(f"{ep.control}{path}", headers={"X-Sandbox-Key": ep.control_key},
                                        timeout=30).raise_for_status()
