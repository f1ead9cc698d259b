"""``toolkit.open_case``: a Case from exported files - the same Case as a live investigation of the same tenant, user
and window, frame by frame, up to the fields an export does not carry (which its ledger names)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

import toolkit
from toolkit.case import CASE_KINDS, Case
from toolkit.connection import _started
from toolkit.offline import open_case
from toolkit.sources.exports import ExportFormatError, not_carried
from toolkit.tenant import Tenant, connect
from toolkit.ui.open_files import open_files_panel, save_uploads

DATA = Path(__file__).parent / "data" / "exports"
ALICE = "alice@contoso.com"
TRACE_FILES = ("MessageTrace_Summary_", "MTSummary_Report_", "MTDetail_Report_", "MessageTraceV2_")


# --- a case from files ---------------------------------------------------------------------------------------------
def test_open_case_is_the_toolkits_and_builds_a_case_with_its_ledger() -> None:
    assert toolkit.open_case is open_case
    case = open_case(ALICE, files=sorted(DATA.iterdir()))
    assert isinstance(case, Case) and not case.simulated
    assert case.user.upn == ALICE and "alice.smith@contoso.com" in case.user.addresses
    assert case.tenant_id == "7f3c1a52-9d4e-4b8a-a6f1-3e2d5c7b9a10"  # from the audit records' OrganizationId
    assert case.accepted_domains == ("contoso.com", "contoso.onmicrosoft.com")  # the user's own domains
    assert len(case.trace) == 4 and len(case.signins) == 5 and len(case.rules) == 4 and len(case.audit) == 9
    gaps = "\n".join(case.gaps())
    assert "restricted: unavailable" in gaps and "no file given" in gaps
    assert "rules: partial" in gaps and "not a live read" in gaps
    for entry in case.ledger:
        assert entry.backend == "file"


def test_the_user_may_be_named_by_any_alias() -> None:
    case = open_case("Alice.Smith@contoso.com", files=[DATA / "messagetrace_v2.csv", DATA / "graph_user.json"])
    assert case.user.upn == ALICE and case.user.user_id == "a11ce000-0000-4000-8000-000000000001"
    assert len(case.trace) == 4 and len(case.users) == 1


def test_a_missing_source_reads_unavailable_no_file_given() -> None:
    case = open_case(ALICE, files=[DATA / "messagetrace_v2.csv"])
    signins = case.ledger.for_kind("signins")
    assert len(signins) == 1 and signins[0].status == "unavailable"
    assert signins[0].detail.startswith("no file given") and case.signins.empty


def test_the_window_is_days_back_from_the_newest_row_or_as_given() -> None:
    files = [DATA / "messagetrace_v2.csv", DATA / "graph_signins.json", DATA / "graph_user.json"]
    whole = open_case(ALICE, files)
    assert whole.start == datetime(2026, 11, 18, 9, 15, 2, tzinfo=UTC)
    assert whole.end == datetime(2026, 11, 19, 9, 30, tzinfo=UTC)
    last_day = open_case(ALICE, files, days=1)
    assert last_day.start == last_day.end - timedelta(days=1)
    assert set(last_day.trace["recipient"]) == {"nobody@nowhere.example", "spam1@external.example"}
    narrow = open_case(ALICE, files, start=datetime(2026, 11, 19, tzinfo=UTC), end=datetime(2026, 11, 20, tzinfo=UTC))
    assert len(narrow.trace) == 1 and len(narrow.signins) == 2
    assert "outside the window" in narrow.ledger.for_kind("trace")[0].detail
    with pytest.raises(ValueError, match="time zone"):
        open_case(ALICE, files, start=datetime(2026, 11, 19))
    with pytest.raises(ValueError, match="after it ends"):
        open_case(ALICE, files, start=datetime(2026, 11, 20, tzinfo=UTC), end=datetime(2026, 11, 19, tzinfo=UTC))
    with pytest.raises(ValueError, match="user"):
        open_case(" ", files)


def test_an_offline_case_is_stored_and_reopened_like_a_live_one(tmp_path: Path) -> None:
    case = open_case(ALICE, files=sorted(DATA.iterdir()))
    folder = case.save(tmp_path)
    again = Case.load(folder)
    for kind in (*CASE_KINDS, "trace_details"):
        pd.testing.assert_frame_equal(again.frames[kind], case.frames[kind], check_categorical=False)
    assert [e.detail for e in again.ledger] == [e.detail for e in case.ledger]
    assert not_carried(again.ledger) == not_carried(case.ledger)


def test_one_bad_file_means_no_case(tmp_path: Path) -> None:
    bad = tmp_path / "half.json"
    bad.write_text((DATA / "graph_signins.json").read_text()[:500])
    with pytest.raises(ExportFormatError, match=r"half\.json, line \d+: the JSON ends early"):
        open_case(ALICE, files=[DATA / "messagetrace_v2.csv", bad])


# --- the notebook panel ---------------------------------------------------------------------------------------------
def test_the_panel_opens_files_and_shows_the_ledger_or_the_error(tmp_path: Path) -> None:
    opened: list[Case] = []
    panel = open_files_panel(on_case=opened.append, folder=tmp_path, user=ALICE, days=0)
    panel.paths.value = f"{DATA / 'graph_signins.json'}\n{DATA / 'graph_user.json'}\n"
    case = panel.open()
    assert case is not None and opened == [case] and len(case.signins) == 2
    assert "signins" in panel.result.value and "no file given" in panel.result.value
    panel.paths.value = ""
    panel.upload.value = ({"name": "../../evil.csv", "content": memoryview(b"<b>name</b>,age\nbob,3\n"),
                           "type": "text/csv", "size": 15, "last_modified": datetime(2026, 11, 20, tzinfo=UTC)},)
    assert panel.open() is None and isinstance(panel.error, ExportFormatError)
    assert "&lt;b&gt;name" in panel.result.value and "<b>name" not in panel.result.value
    assert all(tmp_path in p.parents for p in panel.files)


def test_uploads_are_saved_under_safe_distinct_names(tmp_path: Path) -> None:
    saved = save_uploads([{"name": "../x.csv", "content": b"1"}, {"name": "x.csv", "content": b"2"},
                          {"name": "C:\\temp\\x.csv", "content": b"3"}], tmp_path)
    assert [p.name for p in saved] == ["x.csv", "x-1.csv", "x-2.csv"]
    assert [p.read_bytes() for p in saved] == [b"1", b"2", b"3"] and all(p.parent == tmp_path for p in saved)


# --- the round trip: live case == offline case ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("gen") / "tenant"
    subprocess.run([sys.executable, "-m", "toolkit.sandbox", "generate", "--out", str(folder), "--seed", "3",
                    "--users", "60", "--days", "14"], check=True, capture_output=True)
    return folder


@pytest.fixture(scope="module")
def tenant(generated: Path) -> Iterator[Tenant]:
    connected = connect(sandbox_tenant=generated, quiet=True)
    yield connected
    for process in _started:
        process.stop()
    _started.clear()


@pytest.fixture(scope="module")
def scenarios(generated: Path) -> dict[str, str]:
    labels = json.loads((generated / "truth.json").read_text())["labels"]
    return {v["scenario"]: user for user, v in labels.items()}


class Exports:
    """The exported files of each user (and of the whole tenant), written once per module by the CLI."""

    def __init__(self, generated: Path, root: Path):
        self.generated, self.root = generated, root
        self.done: dict[str, list[Path]] = {}

    def __call__(self, user: str | None = None) -> list[Path]:
        key = user or "tenant"
        if key not in self.done:
            out = self.root / key
            command = [sys.executable, "-m", "toolkit.sandbox", "export", "--tenant", str(self.generated), "--out",
                       str(out)]
            subprocess.run(command + (["--user", user] if user else []), check=True, capture_output=True)
            self.done[key] = sorted(out.iterdir())
        return self.done[key]


@pytest.fixture(scope="module")
def export(generated: Path, tmp_path_factory: pytest.TempPathFactory) -> Exports:
    return Exports(generated, tmp_path_factory.mktemp("exports"))


def comparable(frame: pd.DataFrame, drop: set[str]) -> pd.DataFrame:
    """The frame without ``drop``, rows in a stable order (categories compared by value, not by code)."""
    kept = frame.drop(columns=sorted(drop & set(frame.columns)))
    keys = ["\x1f".join(map(str, row)) for row in kept.itertuples(index=False)]
    return kept.iloc[sorted(range(len(kept)), key=keys.__getitem__)].reset_index(drop=True)


def archive_end(case: Case) -> pd.Timestamp | None:
    """Where a report built from archived data ends (its ledger says so), if the trace came from one."""
    ends = [m.group(1) for e in case.ledger.for_kind("trace") if (m := re.search(r"rows end at (\S+ \S+) UTC",
                                                                                 e.detail))]
    return pd.Timestamp(max(ends) + ":59", tz="UTC") if ends else None


def assert_same(live: Case, offline: Case, kinds: tuple[str, ...] = CASE_KINDS) -> dict[str, set[str]]:
    """Every kind equal, up to the columns the offline ledger names as not carried; returns those columns."""
    missing = not_carried(offline.ledger)
    for kind in kinds:
        expected = live.frames[kind]
        drop = set(missing.get(kind, ()))
        if kind == "trace":
            drop.add("source")  # by design: 'graph' live, 'file' offline
            end = archive_end(offline)
            if end is not None:  # the reports lack the newest hours, as the ledger says
                expected = expected[expected["received"] <= end]
        unavailable = [e for e in offline.ledger.for_kind(kind) if e.status == "unavailable"]
        if unavailable and offline.frames[kind].empty:
            assert "no file given" in unavailable[0].detail, (kind, unavailable[0].detail)
            continue
        pd.testing.assert_frame_equal(comparable(offline.frames[kind], drop), comparable(expected, drop),
                                      check_categorical=False, obj=kind)
    return missing


@pytest.fixture(scope="module")
def live_cases(tenant: Tenant, scenarios: dict[str, str]) -> dict[str, Case]:
    cases = {}
    for scenario in ("forwarding_and_hiding_rules", "service_account_limit"):
        case = tenant.investigate(scenarios[scenario], days=14, save=False)
        assert case.ledger.gaps() == [], case.gaps()
        cases[scenario] = case
    return cases


@pytest.mark.parametrize("scenario", ["forwarding_and_hiding_rules", "service_account_limit"])
def test_the_offline_case_equals_the_live_case_frame_by_frame(export: Exports, live_cases: dict[str, Case],
                                                              scenario: str) -> None:
    live = live_cases[scenario]
    files = export(live.user.upn)
    richest = [f for f in files if not f.name.startswith(TRACE_FILES)
               or (f.name.startswith("MessageTraceV2_") and f.suffix == ".json")]
    offline = open_case(live.user.upn, richest, start=live.start, end=live.end)
    missing = assert_same(live, offline)
    assert not offline.ledger.for_kind("restricted")[0].detail.startswith("no file")
    assert len(offline.trace) == len(live.trace) > 0 and len(offline.audit) == len(live.audit)
    assert missing.get("signins", set()) == set() or "Entra" in " ".join(e.source for e in offline.ledger)
    everything = open_case(live.user.upn, files, start=live.start, end=live.end)
    assert_same(live, everything, ("trace",))  # every trace file at once: the richest wins every row


@pytest.mark.parametrize("prefix", TRACE_FILES)
def test_each_trace_export_equals_the_live_trace_up_to_what_its_ledger_names(export: Exports,
                                                                            live_cases: dict[str, Case],
                                                                            prefix: str) -> None:
    live = live_cases["forwarding_and_hiding_rules"]
    files = export(live.user.upn)
    chosen = [f for f in files if f.name.startswith(prefix) and not (prefix == "MessageTraceV2_"
                                                                    and f.suffix == ".json")]
    chosen.append(next(f for f in files if f.name == "AcceptedDomains.json"))
    offline = open_case(live.user.upn, chosen, start=live.start, end=live.end)
    missing = assert_same(live, offline, ("trace",))
    expected = {"MessageTrace_Summary_": {"trace_id", "message_id", "size", "from_ip", "to_ip"},
                "MTSummary_Report_": {"to_ip", "status"}, "MTDetail_Report_": set(),
                "MessageTraceV2_": set()}[prefix]
    assert expected <= missing.get("trace", set()) <= expected | {"from_ip"}
    if prefix == "MTSummary_Report_":  # status is approximated: exact wherever there was no spam verdict to lose
        end = archive_end(offline)
        live_status = live.trace[live.trace["received"] <= end].set_index(["trace_id", "recipient"])["status"]
        read = offline.trace.set_index(["trace_id", "recipient"])["status"].reindex(live_status.index)
        spam = live_status == "filteredAsSpam"
        assert (read[~spam].astype(str) == live_status[~spam].astype(str)).all()
        assert set(read[spam].astype(str)) <= {"delivered", "failed", "quarantined"}


@pytest.mark.parametrize("prefix", ["InteractiveSignIns_", "SignIns_", "SigninLogs_", "AuditLog_",
                                    "UnifiedAuditLog_", "OfficeActivity_"])
def test_each_signin_and_audit_export_equals_the_live_case(export: Exports, live_cases: dict[str, Case],
                                                           prefix: str) -> None:
    live = live_cases["forwarding_and_hiding_rules"]
    files = export(live.user.upn)
    chosen = [f for f in files if f.name.startswith(prefix)
              or (prefix == "InteractiveSignIns_" and f.name.startswith("NonInteractiveSignIns_"))]
    offline = open_case(live.user.upn, chosen, start=live.start, end=live.end)
    kind = "signins" if "Sign" in prefix else "audit"
    assert_same(live, offline, (kind,))
    assert len(offline.frames[kind]) == len(live.frames[kind]) > 0


def test_a_tenant_wide_export_opened_for_one_user_equals_their_live_case(export: Exports,
                                                                        live_cases: dict[str, Case]) -> None:
    live = live_cases["forwarding_and_hiding_rules"]
    files = [f for f in export() if not f.name.startswith(TRACE_FILES)
             or (f.name.startswith("MessageTraceV2_") and f.suffix == ".json")]
    offline = open_case(live.user.upn, files, start=live.start, end=live.end)
    assert_same(live, offline, ("users", "restricted", "policy", "policy_rules", "mailbox", "trace", "signins",
                                "risky_users", "risk_detections", "grants", "alerts", "audit"))
    methods = offline.ledger.for_kind("auth_methods")[0]
    assert methods.status == "unavailable" and "no file given" in methods.detail
    rules = offline.ledger.for_kind("rules")[0]  # no rule listing: the audit log's history, said to be one
    assert rules.status == "partial" and "history from the audit log" in rules.detail
