"""Identity Protection read once for a triage: each investigation's slice equals what a per-user read gives, with
two paced requests in all instead of two per user."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pandas as pd
import pytest

from toolkit.risk_snapshot import RiskSnapshot
from toolkit.sources import graph
from toolkit.tenant import Tenant

ALICE = "alice@contoso.com"
triage_module = importlib.import_module("toolkit.evidence.triage")  # the package exports a function of that name


def risk_requests(tenant: Tenant) -> int:
    return int(tenant.transport.stats.requests.get("identity_protection", 0))


def test_a_users_slice_equals_the_per_user_read(small: Tenant) -> None:
    end = small.now()
    start = end - timedelta(days=14)
    snapshot = RiskSnapshot.read(small.transport, start, end)
    assert snapshot.risky.complete and snapshot.detections.complete and len(snapshot.detections.frame) >= 1
    for user in (ALICE, "carol@contoso.com"):
        identity, _ = graph.resolve_user(small.transport, user)
        for mine, theirs in ((snapshot.risky_user(identity), graph.risky_user(small.transport, identity)),
                             (snapshot.risk_detections(identity, start, end),
                              graph.risk_detections(small.transport, identity, start, end))):
            pd.testing.assert_frame_equal(mine.frame.reset_index(drop=True), theirs.frame.reset_index(drop=True),
                                          check_categorical=False)
            assert mine.complete and all(c.requests == 0 and c.source.endswith("(tenant-wide)")
                                         for c in mine.coverage)
    alice, _ = graph.resolve_user(small.transport, ALICE)
    assert len(snapshot.risk_detections(alice, start, end).frame) >= 1  # the slice is not empty by accident
    assert not snapshot.covers(start - timedelta(days=1), end)  # a longer window is read per user


def test_investigations_in_the_block_read_risk_from_the_snapshot(small: Tenant) -> None:
    outside = small.investigate(ALICE, days=14, save=False)
    with small.risk_read_once(days=14):
        before = risk_requests(small)
        inside = small.investigate(ALICE, days=14, save=False)
        assert risk_requests(small) == before  # no per-user Identity Protection request
    for kind in ("risky_users", "risk_detections"):
        pd.testing.assert_frame_equal(inside.frames[kind].reset_index(drop=True),
                                      outside.frames[kind].reset_index(drop=True), check_categorical=False)
    before = risk_requests(small)
    small.investigate(ALICE, days=14, save=False)
    assert risk_requests(small) == before + 2  # after the block, per user again


def test_a_triage_reads_identity_protection_once(small: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    before = risk_requests(small)
    per_user = triage_module.triage(small)
    assert risk_requests(small) - before == 2 * len(per_user)  # two restricted users: read per user
    monkeypatch.setattr(triage_module, "RISK_READ_ONCE_FROM", 2)
    before = risk_requests(small)
    once = triage_module.triage(small)
    assert risk_requests(small) - before == 2  # risky users + detections, once
    pd.testing.assert_frame_equal(once, per_user)
