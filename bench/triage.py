"""Triage: every restricted user of the 50,000-user tenant, from the cache: each stored case reopened (hashes
checked, frames validated) and assessed by the evidence engine, in one child process. Seconds per user.

The cases were collected once (``bench.data.build_triage_store``) through the client, ``Tenant.investigate`` for
each user on the Restricted entities list, against a sandbox serving the whole directory and those users' own mail
and sign-ins, and stored as the toolkit stores every case.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.common import Figure, StageResult, in_child


def measure(store: str, tenant_id: str, users: list[str]) -> dict[str, Any]:
    """(child) Reopen and assess every user's case; the triage table at the end."""
    import warnings

    from toolkit.case import Case
    from toolkit.evidence import assess
    from toolkit.evidence.triage import triage_cases

    warnings.simplefilter("ignore")
    per_user: dict[str, dict[str, float]] = {}
    cases = []
    start = time.perf_counter()
    for user in users:
        t = time.perf_counter()
        case = Case.latest(tenant_id, user, Path(store))
        if case is None:
            raise RuntimeError(f"no stored case for {user} in {store}")
        opened = time.perf_counter() - t
        t = time.perf_counter()
        verdict = assess(case).verdict.label
        per_user[user] = {"open_s": opened, "assess_s": time.perf_counter() - t, "trace_rows": len(case.trace),
                          "signins": len(case.signins), "verdict": verdict}  # type: ignore[dict-item]
        cases.append(case)
    total = time.perf_counter() - start
    table = triage_cases(cases)
    return {"total_s": total, "per_user": per_user, "verdicts": table["verdict"].value_counts().to_dict()}


def run(big: Path, quick: bool = False) -> StageResult:
    import json

    from bench import data

    result = StageResult("triage")
    store = data.store_dir(big)
    investigated = json.loads((store / "investigated.json").read_text())
    users = sorted(investigated)
    tenant_id = data.tenant_info(big)["tenantId"]
    m, peak = in_child(measure, str(store), tenant_id, users)
    n = len(users)
    per = m["total_s"] / n
    slowest = max(m["per_user"].items(), key=lambda kv: kv[1]["open_s"] + kv[1]["assess_s"])
    result.figures += [
        Figure("triage", f"reopen + assess, {n} restricted users", per, "s/user",
               note=f"{m['total_s']:.2f} s in all; child peak {peak:,.0f} MB"),
        Figure("triage", "slowest user", slowest[1]["open_s"] + slowest[1]["assess_s"], "s",
               note=f"{slowest[0]}: {slowest[1]['trace_rows']:,} trace rows"),
        Figure("triage", "live investigation when the cache was built (sandbox, no latency)",
               sum(investigated.values()) / n, "s/user"),
    ]
    labels = json.loads((big / "truth.json").read_text()).get("labels", {})
    truth = {u: labels.get(u, {}).get("label", "?") for u in users}
    agree = sum(1 for u, v in m["per_user"].items() if v["verdict"] == truth[u])
    rows = "; ".join(f"{u} {v['open_s'] + v['assess_s']:.2f} s ({v['trace_rows']:,} trace rows, {v['verdict']}; "
                     f"truth {truth[u]})" for u, v in m["per_user"].items())
    result.notes += [f"Verdicts: {m['verdicts']}; {agree} of {n} agree with the generator's labels. Per user: "
                     f"{rows}."]
    return result
