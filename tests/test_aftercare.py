"""Aftercare: the usual sending is the user's own, before the burst; a check that cannot read the message trace fails
loudly instead of answering "no burst"; an unblock's no-retry rule stays on the thread that sends it."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from tests import actions_support as sx
from tests.conftest import StartTenant
from toolkit import actions
from toolkit.action_core import ReadFailed
from toolkit.aftercare import Watch, aftercare, usual_recipients
from toolkit.tenant import Tenant as ToolkitTenant
from toolkit.transport import FAIL_FAST

ALICE = "alice@contoso.com"
TRACES = "/v1.0/admin/exchange/tracing/messageTraces"


def trace_of(rows: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame({"sender": [s for s, _ in rows], "received": pd.to_datetime([t for _, t in rows], utc=True)})


def test_the_usual_count_is_the_users_own_before_the_burst() -> None:
    start, burst = pd.Timestamp("2026-11-01T00:00Z"), pd.Timestamp("2026-11-11T06:00Z")
    rows = []
    for day in range(10):  # 1-10 November: 4 recipients a day, one day with none, from two of her addresses
        if day == 3:
            continue
        for n in range(4):
            rows.append(("Alice.Ng@contoso.com" if n % 2 else ALICE, f"2026-11-{day + 1:02d}T0{n}:00Z"))
    rows += [(ALICE, "2026-11-11T07:00Z")] * 500  # the burst: never part of the usual count
    rows += [("bob@contoso.com", "2026-11-05T10:00Z")] * 50  # someone else
    trace = trace_of(rows)
    usual = usual_recipients(trace, [ALICE, "alice.ng@contoso.com"], 24, start, burst)
    assert usual == 4.0  # the median day, the empty one counted as zero
    assert usual_recipients(trace, [ALICE, "alice.ng@contoso.com"], 3, start, burst) == 0.5
    assert usual_recipients(trace, [ALICE], 24, start, burst) == 2.0  # one address alone: half of it
    assert usual_recipients(trace, [ALICE], 24, burst, burst) == 0.0  # no whole day before the burst
    assert usual_recipients(None, [ALICE], 24, start, burst) == 0.0


def test_an_unreadable_trace_is_a_failed_check_not_an_all_clear(start_tenant: StartTenant, tmp_path: Path) -> None:
    t = start_tenant()
    tenant = ToolkitTenant(sx.app_connection(t), store_dir=tmp_path / "store", quiet=True)
    tenant.transport.retry = FAIL_FAST
    case = tenant.investigate(ALICE, days=14, save=False)
    ctx = actions.ActionContext.open(tenant, case=case)
    quiet = aftercare(ctx, tenant, case, hours=3)
    assert not quiet.burst and quiet.recent_recipients == 0
    t.set_faults([{"path": TRACES, "calls": {"from": 1, "times": 1000}, "fault": "status", "status": 503}])
    with pytest.raises(ReadFailed, match="could not be read"):
        aftercare(ctx, tenant, case, hours=3)
    seen: list[object] = []
    watch = Watch(lambda: aftercare(ctx, tenant, case, hours=3), duration=timedelta(seconds=0.2),
                  every=timedelta(seconds=0.1), on_check=seen.append).start()
    assert watch.join(30)
    assert watch.checks == [] and watch.errors and all(isinstance(r, ReadFailed) for r in seen)


def test_no_retries_holds_for_the_sending_thread_only(start_tenant: StartTenant, tmp_path: Path) -> None:
    t = start_tenant()
    transport = sx.app_connection(t).transport
    default = transport.retry
    seen: dict[str, object] = {}
    inside = threading.Event()
    done = threading.Event()

    def other_thread() -> None:
        inside.wait(10)
        seen["other"] = transport.retry
        done.set()

    worker = threading.Thread(target=other_thread)
    worker.start()
    with transport.retrying(FAIL_FAST):
        seen["mine"] = transport.retry
        inside.set()
        done.wait(10)
    worker.join(10)
    assert seen == {"mine": FAIL_FAST, "other": default}
    assert transport.retry is default
