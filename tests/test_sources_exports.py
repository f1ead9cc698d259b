"""Reading exported files: every format by content, every encoding, the public samples, and the malformed inputs that
must end in a clear error naming the file, the line and the problem."""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from toolkit import csvsafe
from toolkit.sources.exports import (
    FIELD_LIMIT,
    FORMATS,
    ExportFormatError,
    UnknownFormatError,
    detect,
    is_formula,
    not_carried,
    open_files,
    read_file,
)
from toolkit.sources.exports.dates import DateColumn, DateError, parse_instant
from toolkit.sources.exports.reading import column_key

DATA = Path(__file__).parent / "data" / "exports"
SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "public"
ALICE = "alice@contoso.com"

needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/samples/public is not beside the checkout")


def text(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8-sig")


def put(tmp_path: Path, name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


# --- formats, told by content -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "format_name"), [
    ("eac_summary.csv", "eac_summary_csv"),
    ("eac_enhanced.csv", "eac_enhanced_csv"),
    ("eac_extended.csv", "eac_extended_csv"),
    ("messagetrace_v2.csv", "messagetrace_v2_csv"),
    ("messagetrace_v2.json", "messagetrace_v2_json"),
    ("entra_signins.csv", "entra_signins_csv"),
    ("graph_signins.json", "graph_signins_json"),
    ("graph_user.json", "graph_users_json"),
    ("purview_audit.csv", "purview_audit_csv"),
])
def test_each_format_is_told_by_its_content_not_its_name(tmp_path: Path, name: str, format_name: str) -> None:
    disguised = put(tmp_path, "download (3).txt", (DATA / name).read_bytes())
    assert detect(disguised).name == format_name


def test_every_format_has_a_title_a_signature_and_how_to_get_it() -> None:
    names = [f.name for f in FORMATS]
    assert len(names) == len(set(names))
    for f in FORMATS:
        assert f.title and f.how and f.signature and f.kinds, f.name


def test_an_unknown_file_names_the_file_and_lists_the_accepted_formats(tmp_path: Path) -> None:
    path = put(tmp_path, "people.csv", "name,age\nbob,3\n")
    with pytest.raises(UnknownFormatError) as caught:
        read_file(path)
    message = str(caught.value)
    assert "people.csv" in message and "'name', 'age'" in message
    for f in FORMATS:
        assert f.title in message


# --- encodings -------------------------------------------------------------------------------------------------------
ENCODINGS = {
    "utf-8": lambda s: s.encode("utf-8"),
    "utf-8 with BOM": lambda s: codecs.BOM_UTF8 + s.encode("utf-8"),
    "utf-16le with BOM": lambda s: codecs.BOM_UTF16_LE + s.encode("utf-16-le"),
    "utf-16le without BOM": lambda s: s.encode("utf-16-le"),
    "utf-16be with BOM": lambda s: codecs.BOM_UTF16_BE + s.encode("utf-16-be"),
}


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
@pytest.mark.parametrize("name", ["eac_enhanced.csv", "eac_extended.csv", "messagetrace_v2.json",
                                  "entra_signins.csv"])
def test_every_encoding_reads_the_same(tmp_path: Path, name: str, encoding: str) -> None:
    reference = open_files([DATA / name], user=ALICE)
    encoded = put(tmp_path, name, ENCODINGS[encoding](text(name)))
    opened = open_files([encoded], user=ALICE)
    for kind in ("trace", "signins"):
        pd.testing.assert_frame_equal(opened.frames[kind], reference.frames[kind])
    labels = " ".join(e.detail for e in opened.ledger if e.status != "unavailable")
    assert encoding.replace("utf", "UTF").replace("le", "LE").replace("be", "BE").replace("with", "with") in labels


# --- message trace ------------------------------------------------------------------------------------------------
def test_the_summary_reads_one_row_per_recipient_with_a_made_up_stable_id() -> None:
    opened = open_files([DATA / "eac_summary.csv", DATA / "graph_user.json"], user=ALICE,
                        accepted_domains=["contoso.com"])
    trace = opened.frames["trace"]
    assert len(trace) == 4  # alice's, under both her addresses; carol's message is not alice's
    invoice = trace[trace["subject"] == "Invoice 4471"]
    assert invoice["trace_id"].nunique() == 1 and set(invoice["recipient"]) == {"bob@contoso.com",
                                                                                "x1@fabrikam.example"}
    assert set(trace["status"]) == {"delivered", "filteredAsSpam", "failed"}
    assert set(trace["source"]) == {"file"}
    assert trace["received"].min() == pd.Timestamp("2026-11-18T09:15:02Z")
    again = open_files([DATA / "eac_summary.csv", DATA / "graph_user.json"], user=ALICE)
    assert list(again.frames["trace"]["trace_id"]) == list(trace["trace_id"])
    assert not_carried(opened.ledger)["trace"] == {"trace_id", "message_id", "size", "from_ip", "to_ip"}
    details = " ".join(e.detail for e in opened.ledger.for_kind("trace"))
    assert "read as UTC" in details


def test_the_enhanced_report_splits_recipient_status_and_says_what_it_lacks() -> None:
    opened = open_files([DATA / "eac_enhanced.csv", DATA / "graph_user.json"], user=ALICE,
                        accepted_domains=["contoso.com"])
    trace = opened.frames["trace"].set_index("recipient")
    assert trace.loc["bob@contoso.com", "trace_id"] == "1f0e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"
    assert trace.loc["bob@contoso.com", "direction"] == "internal"
    assert trace.loc["x1@fabrikam.example", "status"] == "delivered"
    assert trace.loc["nobody@nowhere.example", "status"] == "failed"
    # no spam verdict in the enhanced report: the spam that was sent reads as delivered, and the ledger says so
    assert trace.loc["spam1@external.example", "status"] == "delivered"
    entry = opened.ledger.for_kind("trace")[0]
    assert entry.status == "partial" and "newest hours" in entry.detail and "no spam verdict" in entry.detail
    # carol's message in the same file has no original_client_ip: the file does not carry from_ip for every row
    assert not_carried(opened.ledger)["trace"] == {"to_ip", "status", "from_ip"}


def test_the_extended_report_folds_events_into_rows_and_details() -> None:
    opened = open_files([DATA / "eac_extended.csv", DATA / "graph_user.json"], user=ALICE)
    trace = opened.frames["trace"].set_index("recipient")
    assert len(trace) == 4
    assert trace.loc["spam1@external.example", "status"] == "filteredAsSpam"  # S:SFA ... SFV=SPM
    assert trace.loc["x1@fabrikam.example", "to_ip"] == "52.100.1.1"
    assert trace.loc["nobody@nowhere.example", "to_ip"] == "65.1.1.1"  # where delivery was tried
    assert trace.loc["bob@contoso.com", "from_ip"] == "203.0.113.7"
    assert str(trace.loc["bob@contoso.com", "received"]) == "2026-11-18 09:15:02.123000+00:00"
    details = opened.frames["trace_details"]
    assert list(details[details["recipient"] == "x1@fabrikam.example"]["event"]) == ["Receive", "Send"]
    assert "AgentInfo" not in set(details["event"])
    assert set(details["source"]) == {"file"}


@pytest.mark.parametrize("name", ["messagetrace_v2.csv", "messagetrace_v2.json"])
def test_get_messagetracev2_output_reads_exactly(name: str) -> None:
    opened = open_files([DATA / name, DATA / "graph_user.json"], user=ALICE, accepted_domains=["contoso.com"])
    trace = opened.frames["trace"]
    trace = trace.assign(by=trace["recipient"].astype(str)).sort_values(["received", "by"]).reset_index(drop=True)
    assert list(trace["recipient"]) == ["bob@contoso.com", "x1@fabrikam.example", "spam1@external.example",
                                        "nobody@nowhere.example"]
    assert list(trace["status"]) == ["delivered", "delivered", "filteredAsSpam", "failed"]
    assert list(trace["size"]) == [24567, 24567, 15000, 4100]
    assert trace.loc[0, "to_ip"] is pd.NA or pd.isna(trace.loc[0, "to_ip"])
    assert all(e.status == "complete" for e in opened.ledger.for_kind("trace"))


def test_trace_files_merge_with_the_richest_winning_and_summary_duplicates_left_out() -> None:
    files = [DATA / n for n in ("eac_summary.csv", "eac_enhanced.csv", "eac_extended.csv", "messagetrace_v2.csv")]
    opened = open_files([*files, DATA / "graph_user.json"], user=ALICE)
    trace = opened.frames["trace"]
    assert len(trace) == 4 and trace["trace_id"].nunique() == 3
    spam = trace[trace["recipient"] == "spam1@external.example"].iloc[0]
    assert spam["status"] == "filteredAsSpam" and spam["to_ip"] == "63.85.95.97"
    summary = [e for e in opened.ledger.for_kind("trace") if "summary" in e.source]
    assert summary[0].rows == 0 and "a file with trace ids gives the same messages" in summary[0].detail


def test_the_users_aliases_decide_whose_mail_it_is() -> None:
    alone = open_files([DATA / "messagetrace_v2.csv"], user=ALICE)
    assert "alice.smith@contoso.com" not in set(alone.frames["trace"]["sender"])
    with_user = open_files([DATA / "messagetrace_v2.csv", DATA / "graph_user.json"], user=ALICE)
    assert "alice.smith@contoso.com" in set(with_user.frames["trace"]["sender"])
    assert with_user.identity is not None and with_user.identity.user_id == "a11ce000-0000-4000-8000-000000000001"


# --- sign-ins ---------------------------------------------------------------------------------------------------------
def test_the_entra_download_reads_location_codes_and_legacy_clients() -> None:
    opened = open_files([DATA / "entra_signins.csv"], user=ALICE)
    signins = opened.frames["signins"].set_index("signin_id")
    failed = signins.loc["5a1e0000-0000-4000-8000-000000000012"]
    assert (failed["error_code"], failed["success"], failed["country"], failed["city"]) == (50126, False, "NG",
                                                                                            "Lagos")
    assert failed["legacy_protocol"] and failed["client_app"] == "IMAP4"
    assert pd.isna(signins.loc["5a1e0000-0000-4000-8000-000000000013", "state"])  # "Lagos, , NG"
    assert signins.loc["5a1e0000-0000-4000-8000-000000000011", "conditional_access"] == "notApplied"
    assert signins["authentication_requirement"].iloc[0] == "singleFactorAuthentication"
    assert {"latitude", "interactive", "risk_state"} <= not_carried(opened.ledger)["signins"]
    assert len(signins) == 3


def test_graph_signins_json_keeps_every_field() -> None:
    opened = open_files([DATA / "graph_signins.json"], user=ALICE)
    signins = opened.frames["signins"]
    assert len(signins) == 2 and "signins" not in not_carried(opened.ledger)
    assert str(signins["time"].iloc[0]) == "2026-11-19 07:58:41.619583300+00:00"  # 7 digits kept
    assert list(signins["risk_event_types"]) == ["", "unfamiliarFeatures"]


@needs_samples
def test_the_public_sentinel_signin_sample_reads_as_the_issue_says() -> None:
    opened = open_files([SAMPLES / "sign-in_adelete.csv"], user="adelev@m365x816222.onmicrosoft.com")
    signins = opened.frames["signins"]
    assert len(signins) == 56
    assert set(signins["ip"]) == {"175.45.176.99"} and set(signins["country"]) == {"IL"}
    assert signins["error_code"].value_counts().to_dict() == {0: 53, 16000: 2, 50058: 1}
    assert str(signins["time"].min()) == "2021-04-28 14:08:45.221000+00:00"
    assert signins["interactive"].all() and set(signins["city"]) == {"Azor"}
    assert opened.identity is not None and opened.identity.user_id == "9b117c67-170e-4aed-9702-658b3fddc889"
    assert opened.ledger.for_kind("signins")[0].status == "complete"


@needs_samples
def test_a_signinlogs_export_without_a_time_column_uses_the_authentication_steps() -> None:
    opened = open_files([SAMPLES / "disable_accounts.csv"])
    signins = opened.frames["signins"]
    assert len(signins) == 4 and set(signins["error_code"]) == {50057} and set(signins["country"]) == {"KP"}
    assert str(signins["time"].min()) == "2021-04-19 12:13:19.483475800+00:00"
    assert "authentication step" in opened.ledger.for_kind("signins")[0].detail


# --- audit and the rules' history -------------------------------------------------------------------------------------
def test_the_purview_download_reads_audit_records_and_the_rules_history() -> None:
    opened = open_files([DATA / "purview_audit.csv"], user=ALICE, accepted_domains=["contoso.com"])
    audit = opened.frames["audit"]
    assert len(audit) == 9  # alice's own records; admin's Set-Mailbox and carol's rule are someone else's
    first = audit.set_index("record_id").loc["aa000001-0000-4000-8000-000000000002"]
    assert first["client_ip"] == "2001:db8::7" and first["record_type"] == "ExchangeAdmin"
    rules = opened.frames["rules"].set_index("rule_id")
    assert set(rules.index) == {".", "Move newsletters", "RSS", "Old rule"}  # 'temp' was removed
    dot = rules.loc["."]
    assert dot["forward_to"] == "x@evil.example,y@evil.example" and dot["delete"] and dot["forwards_external"]
    assert dot["name_is_punctuation"] and dot["conditions"] == "subject or body contains 'invoice', 'payment'"
    news = rules.loc["Move newsletters"]
    assert (news["enabled"], news["mark_as_read"], news["moves_to_hiding_folder"]) == (False, True, True)
    assert rules.loc["RSS", "conditions"] == "Outlook rule: Subject contains 'alert'"
    assert rules.loc["RSS", "forward_to"] == "z@evil.example"
    assert pd.isna(rules.loc["Old rule", "enabled"])
    entry = opened.ledger.for_kind("rules")[0]
    assert entry.status == "partial" and "not a live read" in entry.detail and "'temp'" in entry.detail
    assert "'Old rule'" in entry.detail and "audit log" in entry.source
    mailbox = opened.frames["mailbox"].iloc[0]
    assert (mailbox["forwarding_smtp"], mailbox["deliver_and_forward"], mailbox["forwards_external"]) == (
        "alice.home@gmail.example", True, True)
    assert "not a live read" in opened.ledger.for_kind("mailbox")[0].detail


@needs_samples
def test_the_office_activity_samples_give_rules_with_conditions_and_actions() -> None:
    opened = open_files([SAMPLES / "office_activity.csv"], user="adelev@m365x816222.onmicrosoft.com")
    junk = opened.frames["rules"].set_index("rule_id").loc["junk"]
    assert junk["conditions"] == "subject contains 'legal'" and junk["stop_processing"] and junk["enabled"]
    assert set(opened.frames["audit"]["operation"]) >= {"New-InboxRule", "MailItemsAccessed", "Send"}
    assert set(opened.frames["audit"]["client_ip"].dropna()) >= {"175.45.176.99"}
    other = open_files([SAMPLES / "office_activity_inbox_rule.csv"], user="adelev@contoso.onmicrosoft.com")
    rules = other.frames["rules"].set_index("rule_id")
    assert rules.loc["rule2", "conditions"] == "subject contains 'do not open'"
    assert rules.loc["rule2", "move_to_folder"] == "Junk Email" and rules.loc["rule2", "moves_to_hiding_folder"]
    assert rules.loc["my_rule1", "conditions"] == "body contains 'covid-19'" and rules.loc["my_rule1", "delete"]
    assert set(other.frames["audit"]["client_ip"]) == {"2a01:110:8068:7:9bf8:aa87:e00a:5f1f"}
    assert "Start_Time" in other.ledger.for_kind("audit")[0].detail
    # the same alias in another organisation is someone else
    assert open_files([SAMPLES / "office_activity_inbox_rule.csv"],
                      user="adelev@m365x816222.onmicrosoft.com").frames["rules"].empty


@needs_samples
def test_a_reduced_office_activity_export_gets_stable_made_up_ids() -> None:
    first = open_files([SAMPLES / "demo_exchange_data.csv"]).frames["audit"]
    second = open_files([SAMPLES / "demo_exchange_data.csv"]).frames["audit"]
    assert len(first) == 1334 and first["record_id"].is_unique
    assert list(first["record_id"]) == list(second["record_id"])
    assert first["operation"].value_counts().index[0] == "Set-ConditionalAccessPolicy"


# --- dates ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("raw", "expected"), [
    ("2026-11-18T09:15:02Z", "2026-11-18T09:15:02+00:00"),
    ("2026-11-18T09:15:02.1234567+02:00", "2026-11-18T07:15:02.123456+00:00"),
    ("2026-11-18T09:15:02", "2026-11-18T09:15:02+00:00"),
    ("4/28/2021, 2:08:45.221 PM", "2021-04-28T14:08:45.221000+00:00"),
    ("11/18/2026 9:15:02 AM", "2026-11-18T09:15:02+00:00"),
    ("11/18/2026 12:05:00 AM", "2026-11-18T00:05:00+00:00"),
    ("18.11.2026 21:15:02", "2026-11-18T21:15:02+00:00"),
    ("/Date(1763457302000)/", "2025-11-18T09:15:02+00:00"),
    ("\\/Date(1763457302000)\\/", "2025-11-18T09:15:02+00:00"),
])
def test_dates_in_every_form_the_exports_use(raw: str, expected: str) -> None:
    assert parse_instant(raw).isoformat() == expected


@pytest.mark.parametrize("raw", ["2/30/2026 10:00:00 AM", "2026-13-05T10:00:00Z", "11/18/2026 13:15:02 PM",
                                 "1/1/0001 12:00:00 AM", "yesterday", "11/18/2026"])
def test_impossible_dates_are_refused(raw: str) -> None:
    with pytest.raises(DateError):
        parse_instant(raw)


def test_the_order_of_slash_dates_is_decided_per_file() -> None:
    day_first = DateColumn("f.csv", "Date")
    for n, value in enumerate(["05/01/2026 10:00:00", "15/01/2026 10:00:00"]):
        day_first.add(value, n + 2)
    assert [v[:10] for v in day_first.parse()] == ["2026-01-05", "2026-01-15"]
    assert "day-first" in str(day_first.note())
    unsettled = DateColumn("f.csv", "Date")
    unsettled.add("05/01/2026 10:00:00", 2)
    assert unsettled.parse()[0][:10] == "2026-05-01" and "month-first" in str(unsettled.note())


def test_a_zone_in_the_header_is_applied(tmp_path: Path) -> None:
    shifted = text("eac_summary.csv").replace("Date,", "Date (UTC+02:00),", 1)
    opened = open_files([put(tmp_path, "s.csv", shifted)], user=ALICE)
    assert opened.frames["trace"]["received"].min() == pd.Timestamp("2026-11-18T07:15:02Z")
    assert column_key("CreatedDateTime [UTC]") == ("createddatetime", "+00:00")


# --- malformed inputs: each a clear error naming the file, the line and the problem -----------------------------------
def _lines(name: str) -> list[str]:
    return text(name).splitlines(keepends=True)


def _replace_line(name: str, number: int, old: str, new: str) -> str:
    lines = _lines(name)
    assert old in lines[number - 1], (name, number, lines[number - 1])
    lines[number - 1] = lines[number - 1].replace(old, new, 1)
    return "".join(lines)


def _sentinel() -> str:
    return (SAMPLES / "sign-in_adelete.csv").read_text(encoding="utf-8-sig")


Case = tuple[str, Callable[[], str | bytes], int | None, str]

MALFORMED: list[Case] = [
    ("empty.csv", lambda: b"", None, "the file is empty"),
    ("blank.csv", lambda: b"\r\n \r\n\t\r\n", None, "holds no text"),
    ("junk.bin", lambda: bytes(range(256)) * 20, None, "binary content"),
    ("saved-as-xlsx.csv", lambda: b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 200, None, "ZIP archive"),
    ("report.pdf", lambda: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", None, "PDF document"),
    ("control.csv", lambda: "Date,Sender,Recipient,Subject,Status\r\n\x01\x02\x03,a,b,c,d\r\n", 2,
     "control character"),
    ("latin1.csv", lambda: text("eac_summary.csv").encode("utf-8") + "11/19/2026 9:00:00 AM,alice@contoso.com,"
     "b@contoso.com,Réunion,Delivered\r\n".encode("cp1252"), 7, "not valid UTF-8"),
    ("mixed.csv", lambda: codecs.BOM_UTF8 + text("eac_summary.csv").encode("utf-8")
     + "11/19/2026 9:00:00 AM,alice@contoso.com,b@contoso.com,x,Delivered\r\n".encode("utf-16-le"), 7,
     "mixed encodings"),
    ("odd.csv", lambda: (codecs.BOM_UTF16_LE + text("eac_enhanced.csv").encode("utf-16-le"))[:-1], 5, "truncated"),
    ("cut-in-quote.csv", lambda: _sentinel()[:_sentinel().index("authenticationStepDateTime", 20000)], None,
     "never closed"),
    ("cut-in-row.csv", lambda: _sentinel()[:_sentinel().index('"authenticationMethod"', 20000)], 194,
     "21 cell(s) where the header has 71"),
    ("cut-row.csv", lambda: text("eac_summary.csv").rstrip()[:-25] + "\r\n", 6, "cell(s) where the header has 5"),
    ("extra-cell.csv", lambda: _replace_line("eac_summary.csv", 3, "Delivered", "Delivered,surprise"), 3,
     "6 cell(s) where the header has 5"),
    ("cut.json", lambda: text("graph_signins.json")[:1400], 44, "truncated"),
    ("syntax.json", lambda: text("graph_signins.json").replace('"userId": "a11ce000', '"userId" "a11ce000', 1), 9,
     "not valid JSON"),
    ("no-recipient-status.csv", lambda: "\n".join(
        ",".join(c for n, c in enumerate(next(csv.reader([line]))) if n != 2) for line in text(
            "eac_enhanced.csv").splitlines()), 1, "has no 'recipient_status' column"),
    ("renamed.csv", lambda: text("eac_summary.csv").replace("Recipient,", "Recipient Address,", 1), 1,
     "has no 'recipient' column (missing or renamed); the columns it has besides: 'Recipient Address'"),
    ("twice.csv", lambda: _replace_line("eac_summary.csv", 1, "Sender", "Sender,Sender").replace(
        "alice@contoso.com,", "alice@contoso.com,alice@contoso.com,").replace(
        "carol@contoso.com,alice", "carol@contoso.com,carol@contoso.com,alice"), 1, "'Sender' appears more than once"),
    ("feb30.csv", lambda: _replace_line("eac_summary.csv", 4, "11/18/2026 10:01:00 AM", "2/30/2026 10:01:00 AM"), 4,
     "not a real date-time"),
    ("month13.csv", lambda: _replace_line("eac_enhanced.csv", 3, "2026-11-18T10:01", "2026-13-18T10:01"), 3,
     "not a real date-time"),
    ("hour.csv", lambda: _replace_line("messagetrace_v2.csv", 5, "10:01:00 AM", "13:01:00 PM"), 5,
     "hour 13 with PM is not a time"),
    ("minvalue.json", lambda: re.sub(r"Date\(\d+\)", "Date(-62135596800000)", text("messagetrace_v2.json"), count=1),
     2, "the year 1 is impossible"),
    ("both-orders.csv", lambda: _replace_line(
        "eac_summary.csv", 2, "11/19/2026", "19/11/2026"), 3, "mixes day-first and month-first dates"),
    ("not-a-date.csv", lambda: _replace_line("eac_summary.csv", 5, "11/18/2026 9:15:02 AM", "yesterday"), 5,
     "not a date-time"),
    ("ten-mb.csv", lambda: _replace_line("eac_summary.csv", 3, "Lunch?", '"' + "A" * (10 * 1024 * 1024) + '"'), 3,
     f"more than {FIELD_LIMIT:,} characters"),
    ("one-long-line.csv", lambda: "Date,Sender,Recipient,Subject,Status\r\n" + "x" * (17 * 1024 * 1024), 2,
     "without a line break"),
    ("formula.csv", lambda: _replace_line("eac_summary.csv", 2, "Re: meeting", '"=HYPERLINK(""http://x.example"",'
                                                                               '""open"")"'), 2,
     "spreadsheet-formula payload"),
    ("dde.json", lambda: text("graph_signins.json").replace('"appDisplayName": "Office 365 Exchange Online"',
                                                            '"appDisplayName": "+cmd|\' /C calc\'!A0"', 1), 4,
     "spreadsheet-formula payload"),
    ("size.csv", lambda: _replace_line("eac_enhanced.csv", 2, ",24567,", ",24 KB,"), 2, "is not a whole number"),
    ("status.csv", lambda: _replace_line("eac_enhanced.csv", 3, "spam1@external.example##Receive, Send",
                                         "spam1@external.example Receive"), 3, "is not 'address##events;...'"),
    ("address.csv", lambda: _replace_line("messagetrace_v2.csv", 3, '"nobody@nowhere.example"', '"nobody"'), 3,
     "is not an email address"),
    ("auditdata.csv", lambda: _replace_line("purview_audit.csv", 4, '"{""CreationTime""', '"{broken ""CreationTime""'),
     4, "'AuditData' is not JSON"),
    ("no-id.csv", lambda: _blank_id("purview_audit.csv", 5), 5, "has no 'Id'"),
    ("location.csv", lambda: _sentinel().replace('"{""countryOrRegion"":""IL""', '"{oops ""countryOrRegion"":""IL""',
                                                 1), 2, "'LocationDetails_dynamic' is not JSON"),
    ("resulttype.csv", lambda: _sentinel().replace(",SignInLogs,0,None,", ",SignInLogs,zero,None,", 1), 2,
     "'ResultType' = 'zero' is not a numeric error code"),
    ("mixed-kinds.json", lambda: json.dumps({"value": [json.loads(text("graph_signins.json"))["value"][0],
                                                       {"id": "x", "userPrincipalName": "a@b.c", "ipAddress": "1"}]},
                                            indent=1), 42, "has no 'createdDateTime'"),
    ("other.json", lambda: '[{"foo": 1, "bar": 2}]', 1, "not an export this toolkit reads"),
    ("empty.json", lambda: "[]", 1, "holds no records"),
    ("numbers.json", lambda: "[1, 2, 3]", 1, "records are not objects"),
]


def _blank_id(name: str, number: int) -> str:
    """The purview download with the Id of line ``number``'s AuditData and its RecordId blanked."""
    lines = _lines(name)
    line = lines[number - 1]
    record_id = line.split(",", 1)[0]
    lines[number - 1] = line.replace(record_id, "", 1).replace(f'""Id"":""{record_id}""', '""Id"":""""')
    return "".join(lines)


def test_there_are_at_least_25_malformed_inputs() -> None:
    assert len({name for name, *_ in MALFORMED}) >= 25


@pytest.mark.parametrize(("name", "build", "line", "problem"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_input_is_a_clear_error_and_nothing_partial(tmp_path: Path, name: str,
                                                                build: Callable[[], str | bytes], line: int | None,
                                                                problem: str) -> None:
    if any("sentinel" in n for n in build.__code__.co_names) and not SAMPLES.is_dir():
        pytest.skip("needs the public samples")
    bad = put(tmp_path, name, build())
    good = DATA / "entra_signins.csv"
    with pytest.raises(ExportFormatError) as caught:
        open_files([good, bad], user=ALICE)  # all or nothing: the good file gives no partial result either
    error = caught.value
    assert error.file == str(bad) and str(bad) in str(error)
    assert problem in error.problem, error.problem
    if line is not None:
        assert error.line == line, str(error)
        assert f"line {line}:" in str(error)
    assert csv.field_size_limit() == 131072  # the reader restored the global CSV limit
    assert len(open_files([good], user=ALICE).frames["signins"]) == 3  # nothing leaked into the next read


def test_a_missing_file_or_a_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(ExportFormatError, match="no such file"):
        read_file(tmp_path / "nowhere.csv")
    with pytest.raises(ExportFormatError, match="a folder"):
        read_file(tmp_path)


# --- formula payloads -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "formula"), [
    ("=1+1", True), ("=HYPERLINK(\"x\")", True), ("+cmd|' /C calc'!A0", True), ("@SUM(A1:A2)", True),
    ("-2+3+cmd|' /C calc'!A0", False), ("\t=1", True), ("-1", False), ("+33 1 23 45 67", False),
    ("- urgent", False), ("@channel meeting", False), ("Invoice =42", False), ("=", False),
])
def test_what_counts_as_a_formula_payload_on_the_way_in(value: str, formula: bool) -> None:
    assert is_formula(value) is formula


def test_formula_payloads_can_be_kept_as_text_on_request(tmp_path: Path) -> None:
    payload = '=HYPERLINK("http://x.example","open")'
    path = put(tmp_path, "s.csv", _replace_line("eac_summary.csv", 2, "Re: meeting", '"=HYPERLINK(""http://x.example'
                                                                                     '"",""open"")"'))
    opened = open_files([path], user=ALICE, formulas="keep")
    assert payload in set(opened.frames["trace"]["subject"])
    assert "spreadsheet-formula payload" in opened.ledger.for_kind("trace")[0].detail
    written = csvsafe.to_csv(opened.frames["trace"], tmp_path / "out.csv")
    with written.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    cells = [row[rows[0].index("subject")] for row in rows[1:]]
    assert "'" + payload in cells and payload not in cells


def test_every_csv_the_toolkit_writes_neutralises_formula_cells(tmp_path: Path) -> None:
    frame = pd.DataFrame({"subject": pd.Series(["=1+1", "+SUM(1)", "-2", "@x", "\tTab", "\rcr", "ok", None],
                                               dtype="string[pyarrow]"),
                          "cat": pd.Categorical(["=a", "b", "=a", "b", "b", "b", "b", "b"]),
                          "n": [-1, 2, 3, 4, 5, 6, 7, 8]})
    out = csvsafe.to_csv(frame, tmp_path / "f.csv")
    with out.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert [r[0] for r in rows[1:]] == ["'=1+1", "'+SUM(1)", "'-2", "'@x", "'\tTab", "'\rcr", "ok", ""]
    assert rows[1][1] == "'=a" and rows[1][2] == "-1"  # numbers are left alone
    plain = csvsafe.write_rows(tmp_path / "r.csv", ["=h"], [["=x"], ["y"]])
    assert plain.read_text(encoding="utf-8-sig").splitlines() == ["'=h", "'=x", "y"]


# --- the ledger -------------------------------------------------------------------------------------------------------
def test_the_ledger_names_every_kind_its_file_or_that_none_was_given() -> None:
    opened = open_files([DATA / "entra_signins.csv"], user=ALICE)
    kinds = {e.kind for e in opened.ledger}
    assert {"users", "trace", "signins", "audit", "rules", "mailbox", "grants", "alerts"} <= kinds
    trace = opened.ledger.for_kind("trace")[0]
    assert trace.status == "unavailable" and trace.detail.startswith("no file given")
    assert "Get-MessageTraceV2" in trace.detail
    signins = opened.ledger.for_kind("signins")[0]
    assert signins.backend == "file" and "entra_signins.csv" in signins.source and signins.rows == 3
    assert re.search(r"3 of 4 row\(s\) kept; left out: 1 about other users", signins.detail)


def test_a_file_about_someone_else_says_whom_it_is_about() -> None:
    opened = open_files([DATA / "entra_signins.csv"], user="dave@contoso.com")
    entry = opened.ledger.for_kind("signins")[0]
    assert entry.rows == 0 and "this file is about alice@contoso.com (3), carol@contoso.com (1)" in entry.detail


def test_the_docs_describe_every_format() -> None:
    docs = (Path(__file__).resolve().parents[1] / "docs" / "exports.md").read_text(encoding="utf-8")
    for f in FORMATS:
        assert f"| {f.title} |" in docs, f.title


def _big_trace(tmp_path: Path, rows: int) -> Path:
    """A Get-MessageTraceV2 export of ``rows`` messages from 100 senders, one of them alice."""
    header, *_ = (DATA / "messagetrace_v2.csv").read_text(encoding="utf-8").splitlines()[1:2]
    out = io.StringIO()
    out.write("#TYPE Deserialized.Microsoft.Exchange.Management.FfoReporting.MessageTraceV2\r\n" + header + "\r\n")
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    for n in range(rows):
        sender = ALICE if n % 100 == 0 else f"user{n % 100}@contoso.com"
        writer.writerow(["contoso.onmicrosoft.com", f"<m{n}@contoso.com>", f"11/{1 + n % 28}/2026 9:15:02 AM", sender,
                         f"r{n}@fabrikam.example", f"Subject {n} " + "x" * 60, "Delivered", "52.100.1.1",
                         "203.0.113.7", "24567", f"{n:08x}-0000-4000-8000-000000000000", "", "", str(n)])
    return put(tmp_path, "big.csv", out.getvalue())


def test_rows_about_other_users_are_dropped_as_they_are_read(tmp_path: Path) -> None:
    path = _big_trace(tmp_path, 3000)
    tracemalloc.start()
    try:
        mine = open_files([path], user=ALICE)
        _, peak_mine = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        everyone = open_files([path])
        _, peak_all = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(mine.frames["trace"]) == 30 and len(everyone.frames["trace"]) == 3000
    assert peak_mine * 4 < peak_all, (peak_mine, peak_all)
    entry = mine.ledger.for_kind("trace")[0]
    assert "30 of 3000 row(s) kept" in entry.detail and "2970 about other users" in entry.detail


def test_a_bad_row_about_another_user_still_spoils_the_file(tmp_path: Path) -> None:
    bad = _replace_line("messagetrace_v2.csv", 4, "11/18/2026 11:00:00 AM", "2/30/2026 11:00:00 AM")  # carol's row
    with pytest.raises(ExportFormatError, match="line 4: 'Received' = '2/30/2026 11:00:00 AM'"):
        open_files([put(tmp_path, "v2.csv", bad)], user=ALICE)
