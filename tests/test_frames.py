"""The frame contract and its converters, on the example tenant's payloads (tests/data/tenant_small).

Graph kinds are fed the JSON Lines records as Graph returns them in ``value[]`` (the snapshot's link keys and
``_sandbox`` removed); Exchange kinds get cmdlet-shaped objects as InvokeCommand returns them (m365-apis.md 2.1:
``2022-09-21T08:07:47.0000000+00:00`` date-times, ``@odata.type`` annotations, ``"Name" [SMTP:address]`` recipients).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from toolkit import frames
from toolkit.frames import FrameError

ROOT = Path(__file__).resolve().parent.parent
TENANT = ROOT / "tests" / "data" / "tenant_small"
SAMPLES = ROOT.parent / "shared" / "samples" / "public"
DOMAINS = json.loads((TENANT / "tenant.json").read_text())["domains"]
LINK_KEYS = ("mailbox", "user", "_sandbox")

Item = dict[str, Any]


# --- payloads ---------------------------------------------------------------------------------------------------------
def records(name: str) -> list[Item]:
    """The snapshot file's lines, untouched."""
    return [json.loads(line) for line in (TENANT / name).read_text().splitlines() if line.strip()]


def graph(name: str, *, drop: tuple[str, ...] = LINK_KEYS) -> list[Item]:
    """The lines as Graph serves them: link keys and ``_sandbox`` removed."""
    return [{k: v for k, v in r.items() if k not in drop} for r in records(name)]


def exo_time(text: str | None) -> str | None:
    """A snapshot date-time as InvokeCommand writes one: 7 fractional digits and an offset."""
    if text is None:
        return None
    ts = pd.Timestamp(text)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond:06d}{ts.nanosecond // 100}+00:00"


def annotated(obj: Item) -> Item:
    """Add the OData annotations InvokeCommand writes next to collection-valued properties."""
    out: Item = {}
    for key, value in obj.items():
        if isinstance(value, list):
            out[f"{key}@odata.type"] = "#Collection(String)"
        out[key] = value
    return out


def exchange(name: str) -> list[Item]:
    """Exchange snapshot lines as cmdlet objects: dates reformatted, annotations and standard properties added."""
    out = []
    for r in records(name):
        obj = {k: v for k, v in r.items() if k not in LINK_KEYS}
        for key, value in list(obj.items()):
            if isinstance(value, str) and (key.startswith("When") or key.lower().endswith("datetime")):
                obj[key] = exo_time(value)
        obj.setdefault("Identity", obj.get("Name") or obj.get("SenderAddress"))
        obj["IsValid"] = True
        obj["ObjectState"] = "Unchanged"
        out.append(annotated(obj))
    return out


def v2_trace() -> list[Item]:
    """Get-MessageTraceV2 objects for the snapshot's message trace."""
    return [{
        "Received": exo_time(r["receivedDateTime"]), "SenderAddress": r["senderAddress"],
        "RecipientAddress": r["recipientAddress"], "Subject": r.get("subject"),
        "Status": r["status"][:1].upper() + r["status"][1:], "ToIP": r.get("toIP") or None,
        "FromIP": r.get("fromIP") or None, "Size": r.get("size"), "MessageId": r.get("messageId"),
        "MessageTraceId@odata.type": "#Guid", "MessageTraceId": r["id"],
    } for r in records("message_traces.jsonl")]


def v2_details() -> list[Item]:
    return [{
        "Date": exo_time(r["dateTime"]), "Event": r["event"], "Action": r.get("action") or None,
        "Detail": r.get("description"), "Data": r.get("data"), "MessageId": r.get("messageId"),
        "MessageTraceId": r["id"], "RecipientAddress": r["recipientAddress"], "SenderAddress": "bob@contoso.com",
    } for r in records("message_trace_details.jsonl")]


FOLDER_NAMES = {"AAMkRSSFeeds": "RSS Feeds", "AAMkClients": "Clients"}
_GRAPH_TO_EXO = {"subjectContains": "SubjectContainsWords", "bodyContains": "BodyContainsWords",
                 "bodyOrSubjectContains": "SubjectOrBodyContainsWords", "senderContains": "FromAddressContainsWords"}


def _recipient_texts(value: Any) -> list[str] | None:
    items = value if isinstance(value, list) else [value] if value else []
    texts = [f'"{r["emailAddress"]["name"]}" [SMTP:{r["emailAddress"]["address"]}]' for r in items]
    return texts or None


def inbox_rules(mailbox: str, *, include_hidden: bool = True) -> list[Item]:
    """Get-InboxRule objects for ``mailbox``'s rules, as the cmdlet lists them."""
    out = []
    for r in records("message_rules.jsonl"):
        if r["mailbox"] != mailbox or (r.get("_sandbox", {}).get("hidden") and not include_hidden):
            continue
        # a 64-bit RuleIdentity per Graph id (hand-written ids differ only in padding bits, so hash them)
        rule_identity = int.from_bytes(hashlib.sha256(r["id"].encode()).digest()[:8], "little") >> 1
        actions, conditions = r.get("actions", {}), r.get("conditions", {})
        obj: Item = {"Name": r["displayName"], "Identity": f"{mailbox}\\{rule_identity}", "RuleIdentity": rule_identity,
                     "MailboxOwnerId": mailbox, "Enabled": r["isEnabled"], "Priority": r["sequence"],
                     "InError": r["hasError"], "SupportedByTask": True}
        for graph_name, exo_name in _GRAPH_TO_EXO.items():
            obj[exo_name] = conditions.get(graph_name)
        obj["From"] = _recipient_texts(conditions.get("fromAddresses"))
        obj["ForwardTo"] = _recipient_texts(actions.get("forwardTo"))
        obj["ForwardAsAttachmentTo"] = _recipient_texts(actions.get("forwardAsAttachmentTo"))
        obj["RedirectTo"] = _recipient_texts(actions.get("redirectTo"))
        folder = actions.get("moveToFolder")
        obj["MoveToFolder"] = f"{mailbox}:\\{FOLDER_NAMES[folder]}" if folder else None
        obj["DeleteMessage"] = bool(actions.get("delete", False))
        obj["SoftDeleteMessage"] = bool(actions.get("permanentDelete", False))
        obj["MarkAsRead"] = bool(actions.get("markAsRead", False))
        obj["StopProcessingRules"] = bool(actions.get("stopProcessingRules", False))
        obj["IsValid"] = True
        out.append(annotated(obj))
    return out


def graph_rules(mailbox: str) -> list[Item]:
    """Graph messageRules of ``mailbox`` (Graph does not list hidden rules)."""
    return [{k: v for k, v in r.items() if k not in LINK_KEYS} for r in records("message_rules.jsonl")
            if r["mailbox"] == mailbox and not r.get("_sandbox", {}).get("hidden")]


_RECORD_TYPE_NAMES = {1: "ExchangeAdmin", 2: "ExchangeItem"}


def unified_audit_rows() -> list[Item]:
    """Search-UnifiedAuditLog rows: AuditData as a JSON string, the rest as the cmdlet lists it."""
    rows = records("audit.jsonl")
    return [{
        "RecordType": _RECORD_TYPE_NAMES[r["RecordType"]], "CreationDate": exo_time(r["CreationTime"]),
        "UserIds": r["UserId"], "Operations": r["Operation"], "AuditData": json.dumps(r, separators=(",", ":")),
        "ResultIndex": n + 1, "ResultCount": len(rows), "Identity": r["Id"], "IsValid": True,
    } for n, r in enumerate(rows)]


def assert_contract(kind: str, df: pd.DataFrame) -> None:
    """The frame has exactly the documented columns, in order, with the documented dtypes, and validates as is."""
    spec = frames.KINDS[kind]
    assert list(df.columns) == list(spec.names)
    for col in spec.columns:
        dtype = df[col.name].dtype
        if col.dtype == "category":
            assert isinstance(dtype, pd.CategoricalDtype), col.name
            assert dtype.categories.dtype == frames.STRING, col.name
            if col.categories is not None:
                assert tuple(dtype.categories) == col.categories, col.name
        else:
            assert dtype == col.pandas_dtype, (col.name, dtype)
    pd.testing.assert_frame_equal(frames.validate(kind, df), df)


def one(df: pd.DataFrame, column: str, value: Any) -> pd.Series:
    rows = df[df[column] == value]
    assert len(rows) == 1, f"{len(rows)} rows with {column} == {value!r}"
    return rows.iloc[0]


def graph_trace_details() -> pd.DataFrame:
    """getDetailsByRecipient answers, one call per (trace id, recipient): the items do not repeat the recipient."""
    calls: dict[tuple[str, str], list[Item]] = {}
    for r in records("message_trace_details.jsonl"):
        calls.setdefault((r["id"], r["recipientAddress"]), []).append(
            {k: v for k, v in r.items() if k != "recipientAddress"})
    return frames.concat("trace_details", [frames.from_graph("trace_details", items, recipient=recipient)
                                           for (_, recipient), items in calls.items()])


# --- every converter on the example tenant ----------------------------------------------------------------------------
def _alice_methods() -> list[Item]:
    return [{k: v for k, v in r.items() if k not in LINK_KEYS} for r in records("auth_methods.jsonl")
            if r["user"] == "00000003-aaaa-4bbb-8ccc-000000000003"]


CONVERTERS: dict[tuple[str, str], Callable[[], pd.DataFrame]] = {
    ("graph", "users"): lambda: frames.from_graph("users", graph("users.jsonl")),
    ("graph", "signins"): lambda: frames.from_graph("signins", graph("sign_ins.jsonl")),
    ("graph", "risky_users"): lambda: frames.from_graph("risky_users", graph("risky_users.jsonl")),
    ("graph", "risk_detections"): lambda: frames.from_graph("risk_detections", graph("risk_detections.jsonl")),
    ("graph", "rules"): lambda: frames.from_graph("rules", graph_rules("alice@contoso.com"),
                                                  mailbox="alice@contoso.com", accepted_domains=DOMAINS,
                                                  folder_names=FOLDER_NAMES),
    ("graph", "auth_methods"): lambda: frames.from_graph("auth_methods", _alice_methods(),
                                                         user_id="00000003-aaaa-4bbb-8ccc-000000000003",
                                                         upn="alice@contoso.com"),
    ("graph", "grants"): lambda: frames.from_graph("grants", graph("oauth_grants.jsonl"),
                                                   service_principals=graph("service_principals.jsonl")),
    ("graph", "alerts"): lambda: frames.from_graph("alerts", graph("alerts.jsonl")),
    ("graph", "trace"): lambda: frames.from_graph("trace", graph("message_traces.jsonl"), accepted_domains=DOMAINS),
    ("graph", "trace_details"): lambda: graph_trace_details(),
    ("exchange", "restricted"): lambda: frames.from_exchange("restricted", exchange("blocked_senders.jsonl")),
    ("exchange", "policy"): lambda: frames.from_exchange("policy", exchange("outbound_policies.jsonl"),
                                                         rules=exchange("outbound_rules.jsonl")),
    ("exchange", "policy_rules"): lambda: frames.from_exchange("policy_rules", exchange("outbound_rules.jsonl")),
    ("exchange", "mailbox"): lambda: frames.from_exchange("mailbox", exchange("mailboxes.jsonl"),
                                                          accepted_domains=DOMAINS),
    ("exchange", "rules"): lambda: frames.from_exchange("rules", inbox_rules("alice@contoso.com"),
                                                        mailbox="alice@contoso.com", accepted_domains=DOMAINS),
    ("exchange", "trace"): lambda: frames.from_exchange("trace", v2_trace(), accepted_domains=DOMAINS),
    ("exchange", "trace_details"): lambda: frames.from_exchange("trace_details", v2_details()),
    ("exchange", "audit"): lambda: frames.from_exchange("audit", unified_audit_rows()),
    ("records", "audit"): lambda: frames.audit_from_records(graph("audit.jsonl")),
}


@pytest.mark.parametrize(("source", "kind"), list(CONVERTERS), ids=[f"{s}-{k}" for s, k in CONVERTERS])
def test_every_converter_yields_the_documented_columns_and_dtypes(source: str, kind: str) -> None:
    df = CONVERTERS[(source, kind)]()
    assert len(df) > 0
    assert_contract(kind, df)


def test_every_kind_has_a_converter_from_some_source() -> None:
    covered = {kind for _, kind in CONVERTERS}
    assert covered == set(frames.KINDS)


@pytest.mark.parametrize(("source", "kind"), [(s, k) for s in ("graph", "exchange")
                                              for k in (frames.GRAPH if s == "graph" else frames.EXCHANGE)])
def test_empty_input_gives_an_empty_frame_with_the_right_dtypes(source: str, kind: str) -> None:
    context: dict[str, Any] = {"rules": {"mailbox": "x@contoso.com"}, "auth_methods": {"user_id": "u1"}}.get(kind, {})
    convert = frames.from_graph if source == "graph" else frames.from_exchange
    df = convert(kind, [], **context)
    assert df.empty
    assert_contract(kind, df)
    empty = frames.empty(kind)
    assert list(df.dtypes.astype(str)) == list(empty.dtypes.astype(str))


def test_audit_records_and_empty_kinds() -> None:
    assert_contract("audit", frames.audit_from_records([]))
    for kind in frames.KINDS:
        assert_contract(kind, frames.empty(kind))


# --- restricted ------------------------------------------------------------------------------------------------------
def test_restricted_parses_both_reason_formats() -> None:
    df = CONVERTERS[("exchange", "restricted")]()
    alice = one(df, "sender", "alice@contoso.com")
    assert alice["reason_kind"] == "outbound_spam"
    assert (alice["spam_last_24h"], alice["mail_last_24h"], alice["spam_percent"]) == (412, 486, 85.0)
    assert alice["last_trace_id"] == "5c1d2e3f-0000-4000-8000-00000000a0a9"
    assert alice["block_type"] == "BlockUser"
    assert pd.isna(alice["release_at"]) and pd.isna(alice["external_recipients_today"])
    assert alice["created"] == pd.Timestamp("2026-11-19T22:41:07Z")

    bob = one(df, "sender", "bob@contoso.com")
    assert bob["reason_kind"] == "sending_limit"
    assert (bob["internal_recipients_today"], bob["external_recipients_today"]) == (12, 1004)
    assert bob["exceeding_limit_type"] == "External"
    assert bob["last_trace_id"] == "5c1d2e3f-0000-4000-8000-00000000b0b3"
    assert bob["last_message_recipients"] == 250
    assert bob["block_type"] == "BlockUserForToday"
    assert bob["release_at"] == pd.Timestamp("2026-11-21T00:00:00Z")
    assert bob["reason"].startswith("EmailSendingLimitExceeded;")


def test_restricted_lowercases_the_sender_and_keeps_unknown_tokens() -> None:
    df = frames.from_exchange("restricted", [{
        "SenderAddress": "Mallory@Contoso.com", "TemporaryBlock": False,
        "Reason": "OutboundSpamLast24Hours=7;Brand New Token=5;CIP=2001:DB8::7;AS:12;"
                  "Last Spam Message MessagetraceId:ABCDEF00-0000-4000-8000-000000000001",
        "CreatedDatetime": "2026-11-19T22:41:07.1234567+00:00", "ChangedDatetime": None}])
    row = df.iloc[0]
    assert row["sender"] == "mallory@contoso.com"
    assert row["reason_kind"] == "outbound_spam"
    assert row["client_ip"] == "2001:DB8::7"
    assert row["last_trace_id"] == "abcdef00-0000-4000-8000-000000000001"
    assert "Brand New Token=5" in row["reason"] and "AS:12" in row["reason"]
    assert row["created"] == pd.Timestamp("2026-11-19T22:41:07.1234567Z")
    assert pd.isna(row["changed"])


@pytest.mark.parametrize("reason", [
    None, "", ";;;", "=", ":", "nonsense", "InternalRecipientCountToday=lots;ExternalRecipientCountToday=",
    "OutboundSpamPercent=85%", "a=b=c;d:e:f", "EmailSendingLimitExceeded", "\x00;\n=\t", "x" * 10_000,
])
def test_parse_reason_never_fails(reason: str | None) -> None:
    parsed = frames.parse_reason(reason)
    assert parsed.kind in frames.REASON_KINDS


def test_parse_reason_reads_both_separators_and_reports_unknown_tokens() -> None:
    parsed = frames.parse_reason("EmailSendingLimitExceeded;InternalRecipientCountToday=lots;"
                                 "ExternalRecipientCountToday:1,004;ExceedingLimitType=Internal;Mystery=1;AS:3")
    assert parsed.kind == "sending_limit"
    assert parsed.internal_recipients_today is None  # "lots" is not a number: left empty, not an error
    assert parsed.external_recipients_today == 1004
    assert parsed.exceeding_limit_type == "Internal"
    assert parsed.unknown == ("Mystery=1", "AS:3")
    assert frames.parse_reason("OutboundSpamPercent=85.5%").spam_percent == 85.5
    assert frames.parse_reason("Something=1").kind == "unknown"


# --- policy ----------------------------------------------------------------------------------------------------------
def test_policy_resolves_zero_to_the_service_defaults() -> None:
    df = CONVERTERS[("exchange", "policy")]()
    default = one(df, "name", "Default")
    assert default["is_default"] and default["enabled"] and pd.isna(default["priority"])
    assert (default["external_per_hour_configured"], default["internal_per_hour_configured"],
            default["per_day_configured"]) == (0, 0, 0)
    assert default["per_day"] == 10_000 == frames.SERVICE_DEFAULTS["per_day"]
    assert default["external_per_hour"] == frames.SERVICE_DEFAULTS["external_per_hour"]
    assert default["internal_per_hour"] == frames.SERVICE_DEFAULTS["internal_per_hour"]
    assert default["action"] == "BlockUserForToday"
    assert default["auto_forwarding_mode"] == "Automatic" and not default["auto_forwarding_allowed"]

    strict = one(df, "name", "Strict outbound (finance)")
    assert (strict["external_per_hour"], strict["internal_per_hour"], strict["per_day"]) == (400, 800, 800)
    assert strict["priority"] == 0 and strict["enabled"]
    assert strict["action"] == "BlockUser"
    assert "alice@contoso.com" in strict["applies_to"]

    custom = frames.from_exchange("policy", exchange("outbound_policies.jsonl"),
                                  service_defaults={"external_per_hour": 500})
    assert one(custom, "name", "Default")["external_per_hour"] == 500


def _policy_rule(name: str, policy: str, priority: int, **conditions: Any) -> Item:
    return {"Name": name, "HostedOutboundSpamFilterPolicy": policy, "Priority": priority,
            "State": conditions.pop("State", "Enabled"), **conditions}


def test_effective_policy_follows_rules_by_priority_then_the_default() -> None:
    policies = exchange("outbound_policies.jsonl")
    policies.append({**policies[1], "Name": "Sales", "Identity": "Sales", "RecipientLimitPerDay": 2000})
    rules = [
        _policy_rule("Finance", "Strict outbound (finance)", 1, From=["alice@contoso.com"]),
        _policy_rule("Sales", "Sales", 0, SenderDomainIs=["contoso.com"], ExceptIfFrom=["carol@contoso.com"]),
        _policy_rule("Board", "Strict outbound (finance)", 2, FromMemberOf=["board@contoso.com"]),
        _policy_rule("Off", "Sales", 3, From=["dave@contoso.com"], State="Disabled"),
    ]
    policy = frames.from_exchange("policy", policies, rules=rules)
    rule_frame = frames.from_exchange("policy_rules", rules)
    assert_contract("policy_rules", rule_frame)

    def name(sender: str, groups: tuple[str, ...] = ()) -> str:
        return str(frames.effective_policy(policy, rule_frame, sender, groups)["name"])

    assert name("alice@contoso.com") == "Sales"  # priority 0 comes before Finance's 1
    assert name("ALICE@contoso.com") == "Sales"
    assert name("carol@contoso.com") == "Default"  # excepted from Sales, no other rule
    assert name("carol@contoso.com", ("Board@contoso.com",)) == "Strict outbound (finance)"
    assert name("dave@fabrikam.example") == "Default"  # only a disabled rule names dave
    assert one(policy, "name", "Sales")["per_day"] == 2000


def test_effective_policy_refuses_what_it_cannot_decide() -> None:
    policy = CONVERTERS[("exchange", "policy")]()
    rules = CONVERTERS[("exchange", "policy_rules")]()
    with pytest.raises(FrameError, match="must be an address"):
        frames.effective_policy(policy, rules, "alice")
    with pytest.raises(FrameError, match="no default policy"):
        frames.effective_policy(policy[~policy["is_default"]], rules, "bob@contoso.com")
    dangling = frames.from_exchange("policy_rules", [_policy_rule("X", "Gone", 0, From=["bob@contoso.com"])])
    with pytest.raises(FrameError, match="'Gone', which is not in the policies frame"):
        frames.effective_policy(policy, dangling, "bob@contoso.com")


# --- trace -----------------------------------------------------------------------------------------------------------
def test_trace_from_graph_has_one_row_per_message_and_recipient() -> None:
    raw = graph("message_traces.jsonl")
    df = CONVERTERS[("graph", "trace")]()
    assert len(df) == len(raw) == 73
    assert df["source"].unique().tolist() == ["graph"]
    assert set(df["status"].dropna()) == {"delivered", "filteredAsSpam"}
    for item, row in zip(raw, df.itertuples(), strict=True):
        sender_in = item["senderAddress"].split("@")[1] in DOMAINS
        recipient_in = item["recipientAddress"].split("@")[1] in DOMAINS
        expected = ("internal" if sender_in else "inbound") if recipient_in else "outbound"
        assert row.direction == expected
        assert row.recipient_domain == item["recipientAddress"].split("@")[1]
        assert row.trace_id == item["id"] and row.size == item["size"]
        assert row.received == pd.Timestamp(item["receivedDateTime"])
        assert (row.to_ip is pd.NA) == (item["toIP"] == "")
    assert (df["direction"] == "inbound").sum() == 1


def test_trace_from_v2_equals_trace_from_graph() -> None:
    from_graph = CONVERTERS[("graph", "trace")]()
    from_v2 = CONVERTERS[("exchange", "trace")]()
    assert from_v2["source"].unique().tolist() == ["exchange_v2"]
    pd.testing.assert_frame_equal(from_graph.drop(columns="source"), from_v2.drop(columns="source"))


def test_trace_maps_every_status_spelling_to_one_vocabulary() -> None:
    assert frames.status_vocabulary(["filteredAsSpam", "FilteredAsSpam", "Filtered as spam", "GettingStatus",
                                     "getting status", "Delivered", "Resolved", "recalled", None]) == [
        "filteredAsSpam", "filteredAsSpam", "filteredAsSpam", "gettingStatus", "gettingStatus", "delivered",
        "resolved", "recalled", None]


def test_trace_keeps_an_unknown_status_as_unknown_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    item = {**graph("message_traces.jsonl")[0], "status": "teleported"}
    df = frames.from_graph("trace", [item], accepted_domains=DOMAINS)
    assert df["status"].iloc[0] == "unknownFutureValue"
    assert "teleported" in caplog.text


def test_trace_lowercases_addresses_and_leaves_direction_empty_without_domains() -> None:
    item = {**graph("message_traces.jsonl")[1], "senderAddress": "Carol@CONTOSO.com",
            "recipientAddress": "Client1@Fabrikam.Example", "id": "5C1D2E3F-0000-4000-8000-000000000001"}
    df = frames.from_graph("trace", [item])
    row = df.iloc[0]
    assert (row["sender"], row["recipient"], row["recipient_domain"]) == (
        "carol@contoso.com", "client1@fabrikam.example", "fabrikam.example")
    assert row["trace_id"] == "5c1d2e3f-0000-4000-8000-000000000001"
    assert pd.isna(row["direction"])


def test_trace_refuses_an_item_without_its_time_naming_it() -> None:
    items = graph("message_traces.jsonl")
    del items[17]["receivedDateTime"]
    with pytest.raises(FrameError, match=re.escape("trace: item 17 has no 'receivedDateTime'")):
        frames.from_graph("trace", items, accepted_domains=DOMAINS)
    items[17]["receivedDateTime"] = None
    with pytest.raises(FrameError, match=re.escape("trace: item 17 has a null 'receivedDateTime'")):
        frames.from_graph("trace", items, accepted_domains=DOMAINS)


@pytest.mark.parametrize(("change", "message"), [
    ({"size": "24 KB"}, "trace: item 5 has 'size' = '24 KB', expected a whole number"),
    ({"size": True}, "trace: item 5 has 'size' = True, expected a whole number"),
    ({"subject": 42}, "trace: item 5 has a int in 'subject' (42), expected text"),
    ({"receivedDateTime": "yesterday"}, "trace: item 5 has an unreadable 'receivedDateTime': 'yesterday'"),
    ({"id": ""}, "trace: key column 'trace_id' has 1 missing value(s)"),
])
def test_trace_names_the_bad_item_and_field(change: Item, message: str) -> None:
    items = graph("message_traces.jsonl")
    items[5] = {**items[5], **change}
    with pytest.raises(FrameError, match=re.escape(message)):
        frames.from_graph("trace", items, accepted_domains=DOMAINS)


def test_trace_from_an_arrow_table_of_a_json_lines_file_equals_trace_from_the_items(tmp_path: Path) -> None:
    """A JSON Lines file read by pyarrow gives the same frame as its lines decoded one by one; a field no line has
    is an empty column, and a value of the wrong type names the row and the field."""
    import pyarrow.json as pj

    items = graph("message_traces.jsonl")
    path = tmp_path / "trace.jsonl"
    path.write_text("".join(json.dumps({k: v for k, v in item.items() if k != "toIP"}) + "\n" for item in items))
    table = pj.read_json(path)
    without_to_ip = frames.from_graph("trace", [{k: v for k, v in i.items() if k != "toIP"} for i in items],
                                      accepted_domains=DOMAINS)
    from_table = frames.from_graph("trace", table, accepted_domains=DOMAINS)
    pd.testing.assert_frame_equal(from_table, without_to_ip)
    assert from_table["to_ip"].isna().all() and len(from_table) == 73
    bad = table.set_column(table.column_names.index("size"), "size",
                           pa.array(["24 KB" if n == 5 else str(v) for n, v in enumerate(table["size"].to_pylist())]))
    with pytest.raises(FrameError, match=re.escape("trace: item 5 has 'size' = '24 KB'")):
        frames.from_graph("trace", bad, accepted_domains=DOMAINS)
    assert len(frames.from_graph("trace", table.slice(0, 0))) == 0


def test_trace_categories_hold_their_texts_and_no_lookup_table() -> None:
    """An open categorical column costs its codes and its distinct texts (no hash table kept beside them), and
    comparing with a value still works."""
    df = CONVERTERS[("graph", "trace")]()
    sender = df["sender"]
    texts = pa.array(sender.cat.categories.astype(str).tolist(), pa.string()).nbytes
    assert sender.memory_usage(deep=True, index=False) <= sender.cat.codes.nbytes + texts + 64
    assert (sender == "carol@contoso.com").sum() == sum(1 for i in graph("message_traces.jsonl")
                                                        if i["senderAddress"].lower() == "carol@contoso.com") > 0


def test_empty_frames_are_independent_copies() -> None:
    first = frames.empty("trace")
    first["extra"] = 1
    second = frames.empty("trace")
    assert list(second.columns) == list(frames.KINDS["trace"].names) and len(second) == 0
    assert second.dtypes.to_dict() == frames.KINDS["trace"].dtypes()


def test_trace_refuses_what_is_not_a_list_of_objects() -> None:
    items = graph("message_traces.jsonl")
    with pytest.raises(FrameError, match="got an object"):
        frames.from_graph("trace", {"value": items})
    with pytest.raises(FrameError, match="item 2 is a str, not an object"):
        frames.from_graph("trace", [*items[:2], "oops"])
    with pytest.raises(FrameError, match="item 1 is null"):
        frames.from_graph("trace", [items[0], None])


def test_trace_refuses_repeated_rows_unless_told_to_dedupe() -> None:
    items = graph("message_traces.jsonl")
    repeated = [*items, {**items[3], "status": "failed"}]
    with pytest.raises(FrameError, match=r"trace: 1 row\(s\) repeat a key \(trace_id, recipient\)"):
        frames.from_graph("trace", repeated, accepted_domains=DOMAINS)
    kept = frames.from_graph("trace", repeated, accepted_domains=DOMAINS, dedupe=True)
    assert len(kept) == len(items)
    match = kept[(kept["trace_id"] == items[3]["id"]) & (kept["recipient"] == items[3]["recipientAddress"])]
    assert match["status"].tolist() == ["failed"]  # the last one wins


def test_timestamps_are_utc_nanoseconds_with_seven_digit_fractions_and_offsets() -> None:
    base = graph("message_traces.jsonl")[0]
    texts = ["2026-11-19T22:41:07.1234567Z", "2026-11-19T22:41:07.1234567+02:00", "2026-11-19T22:41:07-05:30",
             "2026-11-19T22:41:07Z"]
    items = [{**base, "id": f"00000000-0000-4000-8000-00000000000{n}", "receivedDateTime": t}
             for n, t in enumerate(texts)]
    received = frames.from_graph("trace", items)["received"]
    assert str(received.dtype) == "datetime64[ns, UTC]"
    assert received.tolist() == [pd.Timestamp("2026-11-19T22:41:07.1234567Z"),
                                 pd.Timestamp("2026-11-19T20:41:07.1234567Z"),
                                 pd.Timestamp("2026-11-20T04:11:07Z"), pd.Timestamp("2026-11-19T22:41:07Z")]
    assert received.iloc[0].nanosecond == 700


def test_naive_audit_times_are_utc_and_net_sentinels_are_missing() -> None:
    rows = graph("audit.jsonl")[:3]
    rows[1] = {**rows[1], "CreationTime": "2026-11-19T20:10:00.1234567"}
    rows[2] = {**rows[2], "CreationTime": "0001-01-01T00:00:00"}
    times = frames.audit_from_records(rows)["time"].tolist()
    assert times[0] == pd.Timestamp("2026-11-19T20:08:00Z")
    assert times[1] == pd.Timestamp("2026-11-19T20:10:00.1234567Z")
    assert pd.isna(times[2])


# --- trace details ---------------------------------------------------------------------------------------------------
def test_trace_details_from_graph_take_the_recipient_from_the_call() -> None:
    rows = records("message_trace_details.jsonl")
    recipient = rows[0]["recipientAddress"]
    asked = [{k: v for k, v in r.items() if k != "recipientAddress"} for r in rows
             if r["recipientAddress"] == recipient]
    df = frames.from_graph("trace_details", asked, recipient=recipient)
    assert df["recipient"].unique().tolist() == [recipient]
    assert df["seq"].tolist() == [0, 1]
    assert df["event"].tolist() == ["Receive", "Deliver"]
    assert df["action"].isna().all()
    with pytest.raises(FrameError, match="pass recipient="):
        frames.from_graph("trace_details", asked)


def test_trace_details_from_v2_equal_those_from_graph() -> None:
    from_graph = CONVERTERS[("graph", "trace_details")]()
    from_v2 = CONVERTERS[("exchange", "trace_details")]()
    assert len(from_graph) == 16
    pd.testing.assert_frame_equal(from_graph.drop(columns="source"), from_v2.drop(columns="source"))


# --- sign-ins, users, risk -------------------------------------------------------------------------------------------
def test_signins_flatten_and_flag_legacy_protocols() -> None:
    df = CONVERTERS[("graph", "signins")]()
    browser = one(df, "signin_id", "66ea54eb-0000-4000-8000-000000000001")
    assert browser["client_app"] == "Browser" and browser["legacy_protocol"] is np.False_
    assert browser["success"] and browser["error_code"] == 0
    assert (browser["country"], browser["city"], browser["os"]) == ("GB", "London", "Windows 10")
    assert pd.isna(browser["device_id"])  # Graph writes "" for none
    imap = one(df, "signin_id", "66ea54eb-0000-4000-8000-000000000002")
    assert imap["client_app"] == "IMAP" and imap["legacy_protocol"]
    assert imap["error_code"] == 50126 and not imap["success"]
    assert imap["failure_reason"].startswith("Invalid username or password")
    assert imap["ip"] == "185.220.101.7" and imap["country"] == "NG"
    smtp = df[df["client_app"] == "Authenticated SMTP"]
    assert len(smtp) and smtp["legacy_protocol"].all()
    assert (df["risk_event_types"] == "").all()


def test_signins_join_risk_event_types_and_read_coordinates() -> None:
    item = {**graph("sign_ins.jsonl")[0], "riskEventTypes_v2": ["unfamiliarFeatures", "anonymizedIPAddress"],
            "location": {"city": "Azor", "state": "Tel Aviv", "countryOrRegion": "IL",
                         "geoCoordinates": {"latitude": 32.02956008911133, "longitude": 34}}}
    row = frames.from_graph("signins", [item]).iloc[0]
    assert row["risk_event_types"] == "unfamiliarFeatures,anonymizedIPAddress"
    assert (row["latitude"], row["longitude"]) == (32.02956008911133, 34.0)
    bad = {**item, "location": {"city": 7}}
    with pytest.raises(FrameError, match=re.escape("signins: item 0 has a int in 'location.city' (7), expected text")):
        frames.from_graph("signins", [bad])


def test_users_keep_smtp_aliases_only() -> None:
    df = CONVERTERS[("graph", "users")]()
    alice = one(df, "upn", "alice@contoso.com")
    assert alice["proxy_addresses"] == "alice@contoso.com,alice.ng@contoso.com,alice@contoso.onmicrosoft.com"
    assert one(df, "upn", "info@contoso.com")["account_enabled"] is np.False_
    item = {**graph("users.jsonl")[0], "proxyAddresses": ["smtp:Second@Contoso.com", "X500:/o=ExchangeLabs/cn=x",
                                                          "SIP:admin@contoso.com", "SMTP:Admin@Contoso.com"]}
    assert frames.from_graph("users", [item])["proxy_addresses"].iloc[0] == "admin@contoso.com,second@contoso.com"


def test_risky_users_and_detections() -> None:
    risky = CONVERTERS[("graph", "risky_users")]()
    assert one(risky, "upn", "alice@contoso.com")["risk_level"] == "high"
    detections = CONVERTERS[("graph", "risk_detections")]()
    spray = one(detections, "detection_id", "rd-0001")
    assert (spray["risk_event_type"], spray["country"], spray["ip"]) == ("passwordSpray", "NG", "185.220.101.7")
    forwarding = one(detections, "detection_id", "rd-0002")
    assert forwarding["risk_event_type"] == "suspiciousInboxForwarding" and pd.isna(forwarding["country"])


# --- mailbox, rules --------------------------------------------------------------------------------------------------
def test_mailbox_forwarding() -> None:
    df = CONVERTERS[("exchange", "mailbox")]()
    alice = one(df, "upn", "alice@contoso.com")
    assert alice["forwarding_smtp"] == "alice.ng.backup@gmail-mail.example"
    assert alice["forwards_external"] and alice["deliver_and_forward"]
    assert alice["addresses"] == "alice@contoso.com,alice.ng@contoso.com,alice@contoso.onmicrosoft.com"
    assert alice["recipient_limits"] == 500
    others = df[df["upn"] != "alice@contoso.com"]
    assert not others["forwards_external"].any() and others["forwarding_smtp"].isna().all()
    assert one(df, "upn", "info@contoso.com")["recipient_type"] == "SharedMailbox"
    unknown = frames.from_exchange("mailbox", exchange("mailboxes.jsonl"))
    assert pd.isna(one(unknown, "upn", "alice@contoso.com")["forwards_external"])
    inside = {**exchange("mailboxes.jsonl")[2], "ForwardingSmtpAddress": "SMTP:Bob@Contoso.com",
              "RecipientLimits": "Unlimited"}
    row = frames.from_exchange("mailbox", [inside], accepted_domains=DOMAINS).iloc[0]
    assert row["forwarding_smtp"] == "bob@contoso.com" and not row["forwards_external"]
    assert pd.isna(row["recipient_limits"])


def test_rules_flag_hiding_forwarding_and_punctuation() -> None:
    df = CONVERTERS[("graph", "rules")]()
    dot = one(df, "name", ".")
    assert dot["moves_to_hiding_folder"] and dot["name_is_punctuation"]
    assert dot["move_to_folder"] == "RSS Feeds" and dot["mark_as_read"] and dot["stop_processing"]
    assert dot["conditions"] == "subject or body contains 'invoice', 'payment', 'spam', 'undeliverable'"
    backup = one(df, "name", "Backup")
    assert backup["forward_to"] == "alice.ng.backup@gmail-mail.example" and backup["forwards_external"]
    assert not backup["name_is_punctuation"] and backup["conditions"] == "all messages"
    assert not df["hidden"].any()


def test_rules_without_folder_names_do_not_guess() -> None:
    df = frames.from_graph("rules", graph_rules("alice@contoso.com"), mailbox="alice@contoso.com")
    dot = one(df, "name", ".")
    assert dot["move_to_folder"] == "AAMkRSSFeeds" and pd.isna(dot["moves_to_hiding_folder"])
    assert pd.isna(one(df, "name", "Backup")["forwards_external"])  # no accepted domains: unknown
    junk = {**graph_rules("alice@contoso.com")[0], "actions": {"moveToFolder": "junkemail"}}
    assert frames.from_graph("rules", [junk], mailbox="alice@contoso.com")["moves_to_hiding_folder"].iloc[0]


def test_rules_from_exchange_equal_rules_from_graph() -> None:
    from_graph = CONVERTERS[("graph", "rules")]()
    visible = inbox_rules("alice@contoso.com", include_hidden=False)
    from_exo = frames.from_exchange("rules", visible, mailbox="alice@contoso.com", accepted_domains=DOMAINS,
                                    hidden_rule_ids=[])
    same = [c for c in frames.KINDS["rules"].names if c not in ("rule_id", "source")]
    pd.testing.assert_frame_equal(from_graph[same], from_exo[same])


def test_exchange_rules_mark_hidden_ones_when_told_which() -> None:
    every = inbox_rules("alice@contoso.com")
    visible = {str(r["RuleIdentity"]) for r in inbox_rules("alice@contoso.com", include_hidden=False)}
    hidden = [str(r["RuleIdentity"]) for r in every if str(r["RuleIdentity"]) not in visible]
    df = frames.from_exchange("rules", every, mailbox="Alice@Contoso.com", hidden_rule_ids=hidden)
    cleanup = one(df, "name", "Hidden cleanup")
    assert cleanup["hidden"] and cleanup["delete"]
    assert cleanup["conditions"] == "sender contains 'postmaster', 'mailer-daemon'"
    assert df["mailbox"].unique().tolist() == ["alice@contoso.com"]
    unknown = frames.from_exchange("rules", every, mailbox="alice@contoso.com")
    assert unknown["hidden"].isna().all()
    carol = frames.from_exchange("rules", inbox_rules("carol@contoso.com"), mailbox="carol@contoso.com")
    clients = carol.iloc[0]
    assert clients["conditions"] == "from client1@fabrikam.example"
    assert clients["move_to_folder"] == "Clients" and not clients["moves_to_hiding_folder"]


def test_rules_need_the_mailbox() -> None:
    with pytest.raises(FrameError, match="needs mailbox="):
        frames.from_graph("rules", graph_rules("alice@contoso.com"))
    with pytest.raises(FrameError, match=re.escape("rules: mailbox= has 1 values for 2 items")):
        frames.from_graph("rules", graph_rules("alice@contoso.com"), mailbox=["alice@contoso.com"])


def test_rules_of_many_mailboxes_convert_in_one_call() -> None:
    lines = [r for r in records("message_rules.jsonl") if not r.get("_sandbox", {}).get("hidden")]
    items = [{k: v for k, v in r.items() if k not in LINK_KEYS} for r in lines]
    df = frames.from_graph("rules", items, mailbox=[r["mailbox"] for r in lines], accepted_domains=DOMAINS,
                           folder_names=FOLDER_NAMES)
    assert_contract("rules", df)
    assert df.groupby("mailbox")["name"].apply(list).to_dict() == {
        "alice@contoso.com": [".", "Backup"], "carol@contoso.com": ["Clients to folder"]}
    one_by_one = frames.concat("rules", [
        frames.from_graph("rules", graph_rules(m), mailbox=m, accepted_domains=DOMAINS, folder_names=FOLDER_NAMES)
        for m in ("alice@contoso.com", "carol@contoso.com")])
    pd.testing.assert_frame_equal(df, one_by_one)


# --- auth methods, grants, alerts, audit -----------------------------------------------------------------------------
def test_auth_methods_short_types_and_details() -> None:
    df = CONVERTERS[("graph", "auth_methods")]()
    assert df["method_type"].tolist() == ["password", "microsoftAuthenticator", "phone"]
    phone = one(df, "method_type", "phone")
    assert phone["detail"] == "+234 8030000000 (mobile)" and pd.isna(phone["created"])
    assert one(df, "method_type", "microsoftAuthenticator")["display_name"] == "Alice's iPhone"
    assert df["upn"].unique().tolist() == ["alice@contoso.com"]


def test_grants_name_apps_and_pick_risky_scopes() -> None:
    df = CONVERTERS[("graph", "grants")]()
    mailer = one(df, "grant_id", "grant-alice-mailer")
    assert mailer["client_name"] == "PDF Mail Helper" and mailer["client_publisher"] == "Unverified"
    assert mailer["client_app_id"] == "4f1e2d3c-0000-4000-8000-0000000000aa"
    assert mailer["resource_name"] == "Microsoft Graph" and mailer["consent_type"] == "Principal"
    assert mailer["risky_scopes"] == "Mail.Send Mail.ReadWrite offline_access"
    assert mailer["client_created"] == pd.Timestamp("2026-11-19T20:20:00Z")
    everyone = one(df, "grant_id", "grant-all-graph")
    assert everyone["risky_scopes"] == "" and pd.isna(everyone["principal_id"])
    bare = frames.from_graph("grants", graph("oauth_grants.jsonl"))
    assert bare["client_name"].isna().all()


def test_alerts_take_users_from_the_evidence() -> None:
    df = CONVERTERS[("graph", "alerts")]()
    restricted = one(df, "title", "User restricted from sending email")
    assert restricted["users"] == "alice@contoso.com" and restricted["severity"] == "high"
    assert restricted["service_source"] == "microsoftDefenderForOffice365"


def test_audit_from_records_and_from_search_unified_audit_log_agree() -> None:
    from_records = CONVERTERS[("records", "audit")]()
    from_search = CONVERTERS[("exchange", "audit")]()
    pd.testing.assert_frame_equal(from_records, from_search)
    rule = one(from_records, "record_id", "a0d1e2f3-0000-4000-8000-000000000001")
    assert rule["operation"] == "New-InboxRule" and rule["record_type"] == "ExchangeAdmin"
    assert json.loads(rule["parameters"])["MoveToFolder"] == "RSS Feeds"
    assert rule["target"] == "alice@contoso.com\\."
    forwarding = one(from_records, "record_id", "a0d1e2f3-0000-4000-8000-000000000003")
    assert forwarding["target"] == "alice@contoso.com" and pd.isna(forwarding["object_id"])
    assert json.loads(forwarding["parameters"])["ForwardingSmtpAddress"].endswith("gmail-mail.example")
    send = one(from_records, "record_id", "a0d1e2f3-0000-4000-8000-00000000000a")
    assert send["record_type"] == "ExchangeItem" and send["parameters"] == "{}"


@pytest.mark.parametrize(("raw", "clean"), [
    ("[2a01:110:8068:7:9BF8:aa87:e00a:5f1f]:36185", "2a01:110:8068:7:9bf8:aa87:e00a:5f1f"),
    ("52.225.129.38:43510", "52.225.129.38"), ("185.220.101.7", "185.220.101.7"),
    ("2603:10B6:5:345::11", "2603:10b6:5:345::11"), ("::ffff:203.0.113.7", "203.0.113.7"), ("", None), (None, None),
])
def test_audit_client_ip_is_normalised(raw: str | None, clean: str | None) -> None:
    assert frames.normalise_ip(raw) == clean


def test_exchange_objects_with_unreadable_values_are_named() -> None:
    senders = exchange("blocked_senders.jsonl")
    senders[1] = {**senders[1], "TemporaryBlock": "sometimes"}
    with pytest.raises(FrameError, match=re.escape("restricted: item 1 has 'TemporaryBlock' = 'sometimes', "
                                                   "expected true or false")):
        frames.from_exchange("restricted", senders)
    policies = exchange("outbound_policies.jsonl")
    policies[0] = {**policies[0], "RecipientLimitPerDay": "lots"}
    with pytest.raises(FrameError, match=re.escape("policy: item 0 has 'RecipientLimitPerDay' = 'lots'")):
        frames.from_exchange("policy", policies)
    boxes = exchange("mailboxes.jsonl")
    boxes[3] = {**boxes[3], "RecipientLimits": "five hundred"}
    with pytest.raises(FrameError, match=re.escape("mailbox: item 3 has 'RecipientLimits' = 'five hundred'")):
        frames.from_exchange("mailbox", boxes)
    with pytest.raises(FrameError, match=re.escape("restricted: item 0 has no 'SenderAddress'")):
        frames.from_exchange("restricted", [{"Reason": "x"}])


def test_audit_keeps_non_address_users_as_written() -> None:
    record = {**graph("audit.jsonl")[0], "UserId": "NT AUTHORITY\\SYSTEM (w3wp)", "RecordType": "50",
              "Parameters": json.dumps([{"Name": "Identity", "Value": "Bob"}])}
    row = frames.audit_from_records([record]).iloc[0]
    assert row["user"] == "NT AUTHORITY\\SYSTEM (w3wp)"
    assert row["record_type"] == "ExchangeItemAggregated" and row["target"] == "Bob"


def test_audit_rows_with_bad_audit_data_are_named() -> None:
    rows = unified_audit_rows()
    rows[2] = {**rows[2], "AuditData": "{not json"}
    with pytest.raises(FrameError, match="audit: item 2 has 'AuditData' that is not JSON"):
        frames.from_exchange("audit", rows)
    with pytest.raises(FrameError, match="audit: record 0 has no 'Id'"):
        frames.audit_from_records([{"Operation": "Send"}])


def test_public_sentinel_exports_fit_the_audit_and_signins_columns() -> None:
    """The shapes real exports carry (m365-apis.md; ../shared/samples/public) fit these columns: Sentinel
    OfficeActivity rows (RecordType by name, ResultStatus TRUE, [ipv6]:port, Parameters as JSON text, mixed-case
    UserId) and SigninLogs rows (errorCode 16000, float coordinates). Importing the files is issue 5's job."""
    sample = SAMPLES / "office_activity_inbox_rule.csv"
    signin_sample = SAMPLES / "sign-in_adelete.csv"
    if not sample.exists() or not signin_sample.exists():
        pytest.skip("../shared/samples/public is not beside this checkout")
    rows = list(csv.DictReader(io.StringIO(sample.read_text(encoding="utf-8-sig"))))
    audit = frames.audit_from_records([{
        "Id": r["OfficeId"], "CreationTime": pd.Timestamp(r["Start_Time [UTC]"]).isoformat(),
        "Operation": r["Operation"], "UserId": r["UserId"], "ClientIP": r["ClientIP"],
        "RecordType": r["RecordType"], "Workload": r["OfficeWorkload"], "ObjectId": r["OfficeObjectId"],
        "ResultStatus": r["ResultStatus"], "Parameters": r["Parameters"],
    } for r in rows])
    assert_contract("audit", audit)
    assert set(audit["operation"]) == {"New-InboxRule"}
    assert audit["client_ip"].str.startswith("2a01:110:8068:7:").all()
    assert [json.loads(p)["Name"] for p in audit["parameters"]] == ["rule2", "my_rule1"]
    assert set(audit["user"]) == {"adelev@contoso.onmicrosoft.com"} and set(audit["result_status"]) == {"TRUE"}
    assert audit["time"].iloc[0] == pd.Timestamp("2021-04-26T07:17:10Z")

    signins = list(csv.DictReader(io.StringIO(signin_sample.read_text(encoding="utf-8-sig"))))
    items = [{
        "id": s["Id"], "createdDateTime": pd.Timestamp(s["CreatedDateTime [UTC]"], tz="UTC").isoformat(),
        "userPrincipalName": s["UserPrincipalName"].lower(), "ipAddress": s["IPAddress"],
        "clientAppUsed": s["ClientAppUsed"], "userAgent": s["UserAgent"],
        "authenticationRequirement": s["AuthenticationRequirement"], "status": json.loads(s["Status_dynamic"]),
        "location": json.loads(s["LocationDetails_dynamic"]), "isInteractive": s["IsInteractive"] == "TRUE",
    } for s in signins]
    df = frames.from_graph("signins", items)
    assert_contract("signins", df)
    assert len(df) == 56 and set(df["ip"]) == {"175.45.176.99"} and set(df["country"]) == {"IL"}
    assert set(df["error_code"]) == {0, 16000, 50058}
    assert df["latitude"].notna().all()


# --- validate, dedupe, concat ----------------------------------------------------------------------------------------
@pytest.fixture
def trace() -> pd.DataFrame:
    return CONVERTERS[("graph", "trace")]()


def test_validate_refuses_missing_and_unexpected_columns(trace: pd.DataFrame) -> None:
    with pytest.raises(FrameError, match=r"trace: missing column\(s\): 'status', 'size'"):
        frames.validate("trace", trace.drop(columns=["status", "size"]))
    with pytest.raises(FrameError, match=r"trace: unexpected column\(s\): 'extra'"):
        frames.validate("trace", trace.assign(extra=1))
    with pytest.raises(FrameError, match="unknown frame kind 'traces'"):
        frames.validate("traces", trace)
    with pytest.raises(FrameError, match="expected a pandas DataFrame"):
        frames.validate("trace", trace.to_dict())


@pytest.mark.parametrize(("column", "value", "message"), [
    ("size", "big", "trace: column 'size' has dtype"),
    ("size", 1.5, "trace: column 'size' holds numbers that are not whole"),
    ("size", True, "trace: column 'size' holds booleans"),
    ("received", "2026-11-19", "trace: column 'received' has dtype"),
    ("received", pd.Timestamp("2026-11-19"), "trace: column 'received' holds naive timestamps"),
    ("message_id", 7, "trace: column 'message_id' has dtype"),
    ("sender", "Alice@Contoso.com", "trace: column 'sender' has values that are not lowercased"),
    ("direction", "sideways", "trace: column 'direction' has values outside its vocabulary (e.g. 'sideways')"),
])
def test_validate_refuses_wrong_dtypes_naming_the_column(trace: pd.DataFrame, column: str, value: Any,
                                                          message: str) -> None:
    with pytest.raises(FrameError, match=re.escape(message)):
        frames.validate("trace", trace.assign(**{column: value}))


def test_validate_refuses_duplicate_and_missing_keys(trace: pd.DataFrame) -> None:
    doubled = pd.concat([trace, trace.iloc[[4]]], ignore_index=True)
    with pytest.raises(FrameError, match=r"trace: 1 row\(s\) repeat a key \(trace_id, recipient\), e\.g\. "
                                         r"\('5c1d2e3f-0000-4000-8000-000000000003', 'client1@fabrikam\.example'\)"):
        frames.validate("trace", doubled)
    assert len(frames.validate("trace", doubled, dedupe=True)) == len(trace)
    holed = trace.copy()
    holed.loc[3, "trace_id"] = pd.NA
    with pytest.raises(FrameError, match=r"trace: key column 'trace_id' has 1 missing value\(s\) \(e\.g\. row 3\)"):
        frames.validate("trace", holed)


def test_dedupe_keeps_the_last_row_of_each_key(trace: pd.DataFrame) -> None:
    changed = trace.iloc[[0]].assign(subject="second")
    out = frames.dedupe("trace", pd.concat([trace, changed], ignore_index=True))
    assert len(out) == len(trace)
    key = (trace.iloc[0]["trace_id"], trace.iloc[0]["recipient"])
    kept = out[(out["trace_id"] == key[0]) & (out["recipient"] == key[1])]
    assert kept["subject"].tolist() == ["second"]


def test_validate_coerces_losslessly(trace: pd.DataFrame) -> None:
    loose = trace.copy()
    loose["trace_id"] = loose["trace_id"].astype(object)
    loose["message_id"] = loose["message_id"].astype("str")
    loose["sender"] = loose["sender"].astype(object)
    loose["status"] = loose["status"].astype(object)
    loose["size"] = loose["size"].astype("float64")
    loose["received"] = loose["received"].dt.tz_convert("Europe/Paris").dt.as_unit("us")
    loose["subject"] = loose["subject"].cat.rename_categories(
        pd.Index(list(loose["subject"].cat.categories), dtype="str"))
    out = frames.validate("trace", loose)
    assert_contract("trace", out)
    pd.testing.assert_frame_equal(out.astype({"sender": object}), trace.astype({"sender": object}))


def test_validate_reads_back_what_parquet_gives(trace: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "trace.parquet"
    trace.to_parquet(path)
    back = pd.read_parquet(path)
    pd.testing.assert_frame_equal(frames.validate("trace", back), trace)


def test_concat_keeps_categoricals_and_refuses_or_dedupes_overlaps(trace: pd.DataFrame) -> None:
    items = graph("message_traces.jsonl")
    pages = [frames.from_graph("trace", items[i:i + 20], accepted_domains=DOMAINS) for i in range(0, len(items), 20)]
    whole = frames.concat("trace", pages)
    assert_contract("trace", whole)
    pd.testing.assert_frame_equal(whole.astype({c: object for c in ("sender", "recipient", "recipient_domain",
                                                                     "subject", "from_ip", "to_ip")}),
                                  trace.astype({c: object for c in ("sender", "recipient", "recipient_domain",
                                                                    "subject", "from_ip", "to_ip")}))
    with pytest.raises(FrameError, match="repeat a key"):
        frames.concat("trace", [pages[0], pages[0]])
    assert len(frames.concat("trace", [pages[0], pages[0]], dedupe=True)) == len(pages[0])
    assert frames.concat("trace", []).empty


def test_dispatch_names_what_is_wrong() -> None:
    with pytest.raises(FrameError, match="unknown frame kind 'risk'"):
        frames.from_graph("risk", [])
    with pytest.raises(FrameError, match="restricted: graph has no converter for this kind; use from_exchange"):
        frames.from_graph("restricted", [])
    with pytest.raises(FrameError, match="takes no 'accepted_domain'"):
        frames.from_graph("trace", [], accepted_domain=DOMAINS)


def test_validate_accepts_int_and_bool_columns_in_plain_numpy_dtypes() -> None:
    df = CONVERTERS[("exchange", "mailbox")]()
    plain = df.astype({"recipient_limits": "int64", "deliver_and_forward": "bool", "forwards_external": "bool"})
    assert_contract("mailbox", frames.validate("mailbox", plain))
    with pytest.raises(FrameError, match="column 'deliver_and_forward' holds values that are not booleans"):
        frames.validate("mailbox", df.assign(deliver_and_forward=pd.Series(["yes"] * len(df), dtype=object)))


def test_arrow_backed_text_of_any_flavour_is_accepted(trace: pd.DataFrame) -> None:
    large = trace.assign(message_id=pd.array(trace["message_id"].tolist(), dtype=pd.ArrowDtype(pa.large_string())))
    assert frames.validate("trace", large)["message_id"].dtype == frames.STRING


# --- the docs ------------------------------------------------------------------------------------------------------
def test_docs_table_is_generated_from_the_contract() -> None:
    committed = (ROOT / "docs" / "frames.md").read_text(encoding="utf-8")
    assert committed == frames.markdown_table(), "regenerate: python -m toolkit.frames > docs/frames.md"
    for spec in frames.KINDS.values():
        assert f"## `{spec.kind}`" in committed
        for col in spec.columns:
            assert f"| `{col.name}` |" in committed
