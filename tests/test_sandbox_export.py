"""``python -m toolkit.sandbox export``: a snapshot written as the files the admin centers, PowerShell and Sentinel
give, in their encodings and with their quirks (archive lag, 10-day client IPs, licence gates, neutralised formulas)."""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from toolkit import csvsafe
from toolkit.sandbox.export import export_snapshot, neutralise, sentinel_time, us_time
from toolkit.sources.exports import open_files, read_file

SMALL = Path(__file__).parent / "data" / "tenant_small"
NOW = datetime.fromisoformat("2026-11-20T12:00:00+00:00")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("gen") / "tenant"
    subprocess.run([sys.executable, "-m", "toolkit.sandbox", "generate", "--out", str(folder), "--seed", "3",
                    "--users", "60", "--days", "14"], check=True, capture_output=True)
    return folder


@pytest.fixture(scope="module")
def spammer(generated: Path) -> str:
    truth = json.loads((generated / "truth.json").read_text())
    return next(u for u, v in truth["labels"].items() if v["scenario"] == "forwarding_and_hiding_rules")


@pytest.fixture(scope="module")
def exported(generated: Path, spammer: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "files"
    done = subprocess.run([sys.executable, "-m", "toolkit.sandbox", "export", "--tenant", str(generated), "--out",
                           str(out), "--user", spammer], check=True, capture_output=True, text=True)
    assert "MTDetail_Report" in done.stdout
    return out


def one(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    assert len(found) == 1, (pattern, [p.name for p in folder.iterdir()])
    return found[0]


def decoded(path: Path) -> str:
    raw = path.read_bytes()
    if raw.startswith(codecs.BOM_UTF16_LE):
        return raw[2:].decode("utf-16-le")
    if raw[1:2] == b"\x00":
        return raw.decode("utf-16-le")
    return raw.decode("utf-8-sig")


@pytest.mark.parametrize(("pattern", "start"), [
    ("MessageTrace_Summary_*_1.csv", codecs.BOM_UTF8 + b"Date,"),
    ("MTSummary_Report_*.csv", codecs.BOM_UTF16_LE + "origin_timestamp_utc".encode("utf-16-le")),
    ("MTDetail_Report_*_1.csv", "date_time_utc".encode("utf-16-le")),
    ("MessageTraceV2_*.csv", codecs.BOM_UTF8 + b"#TYPE Deserialized.Microsoft.Exchange"),
    ("MessageTraceV2_*.json", codecs.BOM_UTF16_LE + "[".encode("utf-16-le")),
    ("InteractiveSignIns_*.csv", codecs.BOM_UTF8 + b"Date (UTC),Request ID"),
    ("SignIns_*.json", b"["),
    ("SigninLogs_*.csv", codecs.BOM_UTF8 + b"TenantId,"),
    ("AuditLog_*.csv", codecs.BOM_UTF8 + b"RecordId,CreationDate"),
    ("OfficeActivity_*.csv", codecs.BOM_UTF8 + b"TenantId,RecordType,TimeGenerated [UTC]"),
    ("InboxRules_*_visible.json", codecs.BOM_UTF16_LE + "[".encode("utf-16-le")),
    ("User_*.json", b"{"),
])
def test_each_file_comes_in_the_encoding_real_ones_do(exported: Path, pattern: str, start: bytes) -> None:
    path = one(exported, pattern)
    assert path.read_bytes().startswith(start), path.read_bytes()[:60]
    assert read_file(path).records > 0  # and the importers read it back


def test_the_extended_report_has_27_columns_and_one_row_per_event(exported: Path) -> None:
    rows = list(csv.reader(io.StringIO(decoded(one(exported, "MTDetail_Report_*_1.csv")), newline="")))
    assert len(rows[0]) == 27 and all(len(r) == 27 for r in rows)
    events = {r[8] for r in rows[1:]}
    assert {"RECEIVE", "AGENTINFO"} <= events and events & {"SEND", "DELIVER"}
    assert any("SFV=SPM" in r[26] for r in rows[1:])


def test_the_enhanced_report_lacks_the_newest_hours_and_old_client_ips(exported: Path, generated: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(decoded(one(exported, "MTSummary_Report_*.csv")), newline="")))
    newest = max(datetime.fromisoformat(r["origin_timestamp_utc"].replace("0Z", "+00:00")) for r in rows)
    assert newest < NOW - timedelta(hours=4)
    assert all(re.fullmatch(r"([^#;]+##[A-Za-z]+(, [A-Za-z]+)*;?)+", r["recipient_status"]) for r in rows)
    assert all(re.fullmatch(r"[0-9a-f]{32}", r["network_message_id"]) for r in rows)
    for r in rows:
        when = datetime.fromisoformat(r["origin_timestamp_utc"].replace("0Z", "+00:00"))
        if NOW - when > timedelta(days=10):
            assert r["original_client_ip"] == ""


def test_times_are_written_as_each_tool_writes_them(exported: Path) -> None:
    assert us_time(datetime(2026, 11, 7, 2, 37, 24)) == "11/7/2026 2:37:24 AM"
    assert sentinel_time(datetime(2021, 4, 28, 14, 8, 45, 221000)) == "4/28/2021, 2:08:45.221 PM"
    sentinel = list(csv.DictReader(io.StringIO(decoded(one(exported, "SigninLogs_*.csv")), newline="")))
    assert all(re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}, \d{1,2}:\d{2}:\d{2}\.\d{3} [AP]M", r["CreatedDateTime [UTC]"])
               for r in sentinel)
    v2 = decoded(one(exported, "MessageTraceV2_*.json"))
    assert re.search(r'"Received": "/Date\(\d{13}\)/"', v2)
    blocked = decoded(exported / "BlockedSenders.json")
    assert "/Date(" in blocked and "@odata" not in blocked


def test_summaries_cover_at_most_ten_days_each(exported: Path) -> None:
    for path in exported.glob("MessageTrace_Summary_*.csv"):
        rows = list(csv.DictReader(io.StringIO(decoded(path), newline="")))
        times = [datetime.strptime(r["Date"], "%m/%d/%Y %I:%M:%S %p") for r in rows]
        assert rows and max(times) - min(times) <= timedelta(days=10)


def test_hidden_rules_are_only_in_the_include_hidden_listing(exported: Path) -> None:
    everything = json.loads(decoded(one(exported, "InboxRules_*[!e].json")))
    visible = json.loads(decoded(one(exported, "InboxRules_*_visible.json")))
    everything = everything if isinstance(everything, list) else [everything]
    visible = visible if isinstance(visible, list) else [visible]
    assert {r["RuleIdentity"] for r in visible} <= {r["RuleIdentity"] for r in everything}


def test_the_export_refuses_a_used_folder_an_unknown_user_and_a_backward_window(generated: Path,
                                                                                tmp_path: Path) -> None:
    used = tmp_path / "used"
    used.mkdir()
    (used / "keep.txt").write_text("x")
    for args, message in (([str(used)], "is not empty"),
                          ([str(tmp_path / "a"), "--user", "nobody@nowhere.example"], "no user"),
                          ([str(tmp_path / "b"), "--start", "2026-11-20T00:00:00Z", "--end", "2026-11-19T00:00:00Z"],
                           "starts")):
        done = subprocess.run([sys.executable, "-m", "toolkit.sandbox", "export", "--tenant", str(generated),
                               "--out", *args], capture_output=True, text=True)
        assert done.returncode == 2 and message in done.stderr, done.stderr
    assert (used / "keep.txt").read_text() == "x"


def _small(tmp_path: Path, **licences: bool) -> Path:
    folder = tmp_path / "tenant"
    shutil.copytree(SMALL, folder)
    tenant = json.loads((folder / "tenant.json").read_text())
    tenant["licences"].update(licences)
    (folder / "tenant.json").write_text(json.dumps(tenant))
    return folder


def test_without_p1_there_is_no_signin_file_and_without_p2_risk_reads_hidden(tmp_path: Path) -> None:
    start = NOW - timedelta(days=29)
    report = export_snapshot(_small(tmp_path / "a", entraIdP1=False, entraIdP2=False), tmp_path / "none",
                             start=start)
    assert not list((tmp_path / "none").glob("*SignIns*")) and any("P1" in s for s in report.skipped)
    export_snapshot(_small(tmp_path / "b", entraIdP2=False), tmp_path / "p1", start=start)
    signins = json.loads((tmp_path / "p1" / "SignIns_tenant.json").read_text())
    assert signins and all(s["riskLevelDuringSignIn"] == "hidden" for s in signins)
    assert not (tmp_path / "p1" / "RiskyUsers.json").exists()


def test_formula_payloads_are_neutralised_in_what_the_exporter_writes(tmp_path: Path) -> None:
    folder = _small(tmp_path)
    traces = [json.loads(x) for x in (folder / "message_traces.jsonl").read_text().splitlines() if x.strip()]
    traces[1]["subject"] = '=HYPERLINK("http://evil.example","Invoice")'
    (folder / "message_traces.jsonl").write_text("".join(json.dumps(t) + "\n" for t in traces))
    export_snapshot(folder, tmp_path / "out", start=NOW - timedelta(days=20))
    summary = "".join(decoded(p) for p in (tmp_path / "out").glob("MessageTrace_Summary_*.csv"))
    assert "'=HYPERLINK" in summary and ',=HYPERLINK' not in summary
    # read back, the neutralised cell is plain text: nothing to refuse, nothing that runs
    opened = open_files(sorted((tmp_path / "out").glob("MessageTrace_Summary_*.csv")))
    assert '\'=HYPERLINK("http://evil.example","Invoice")' in set(opened.frames["trace"]["subject"])


@pytest.mark.parametrize("value", ["=1", "+1", "-1", "@x", "\tx", "\rx", "ok", "", 5, None])
def test_the_exporters_copy_of_neutralise_agrees_with_csvsafe(value: object) -> None:
    assert neutralise(value) == csvsafe.neutralise(value)
