"""Tests for the scenario generator (toolkit/sandbox/generate): every story is checked against the files it claims to
have written, across several seeds, plus determinism, population realism, argument errors and safe output."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from toolkit.sandbox.generate import (
    DEFAULT_SCENARIOS,
    SCENARIOS,
    GenerationReport,
    ensure_tenant,
    generate_tenant,
    parse_scenarios,
)
from toolkit.sandbox.snapshot import load_snapshot, parse_instant
from toolkit.sandbox.state import TenantState

#: More seeds for a longer run: GENERATE_TEST_SEEDS=1,2,3,4,5 pytest tests/test_sandbox_generate.py
SEEDS = tuple(int(s) for s in os.environ.get("GENERATE_TEST_SEEDS", "1,2,3").split(","))
USERS, DAYS = 60, 14
PUNCTUATION = re.compile(r"^[^A-Za-z0-9\s]+$")
HIDING_ACTIONS = {"delete", "permanentDelete", "moveToFolder", "markAsRead", "forwardTo", "redirectTo"}


@dataclass
class Tenant:
    """A generated snapshot, read back the way a test wants it."""

    root: Path
    report: GenerationReport

    def __post_init__(self) -> None:
        self.truth = json.loads((self.root / "truth.json").read_text())
        self.info = json.loads((self.root / "tenant.json").read_text())
        self.domains = set(self.info["domains"])
        self.now = parse_instant(self.info["now"])
        self._cache: dict[str, list[dict[str, Any]]] = {}

    def rows(self, name: str) -> list[dict[str, Any]]:
        if name not in self._cache:
            path = self.root / f"{name}.jsonl"
            self._cache[name] = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return self._cache[name]

    def labels(self, scenario: str | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        for address, label in self.truth["labels"].items():
            if scenario is None or label["scenario"] == scenario:
                yield address, label

    def sent_by(self, address: str) -> list[dict[str, Any]]:
        return [r for r in self.rows("message_traces") if r["senderAddress"] == address]

    def user(self, address: str) -> dict[str, Any]:
        return next(u for u in self.rows("users") if u["userPrincipalName"] == address)

    def internal(self, address: str) -> bool:
        return address.rsplit("@", 1)[-1] in self.domains


def at(text: str) -> datetime:
    return parse_instant(text)


@pytest.fixture(scope="module")
def tenants(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Tenant]:
    """One tenant per seed with every scenario (the licence switch included)."""
    out = {}
    for seed in SEEDS:
        root = tmp_path_factory.mktemp(f"seed{seed}") / "tenant"
        report = generate_tenant(root, seed=seed, users=USERS, days=DAYS, scenarios=list(SCENARIOS))
        out[seed] = Tenant(root, report)
    return out


@pytest.fixture(params=SEEDS, ids=[f"seed{s}" for s in SEEDS])
def tenant(request: pytest.FixtureRequest, tenants: dict[int, Tenant]) -> Tenant:
    return tenants[request.param]


# --- the snapshot is valid and served ---------------------------------------------------------------------------


def test_snapshot_loads_and_every_restricted_sender_is_listed(tenant: Tenant) -> None:
    snapshot = load_snapshot(tenant.root)
    state = TenantState(snapshot=snapshot, clock=_Clock(snapshot.tenant.now))
    listed = {row["SenderAddress"] for row in state.active_blocks()}
    restricted = {a for a, label in tenant.labels() if label["restricted"]}
    assert restricted == set(tenant.truth["labels"]), "every planted sender is restricted"
    assert restricted <= listed, "a restriction is already lifted at the tenant's now"
    assert {row["SenderAddress"] for row in snapshot.collection("blocked_senders")} == restricted
    for address in restricted:
        assert state.find_user(address) is not None and state.find_mailbox(address) is not None


class _Clock:
    def __init__(self, now: datetime):
        self._now = now

    def now(self) -> datetime:
        return self._now


def test_files_have_the_example_shapes(tenant: Tenant) -> None:
    example = Path(__file__).parent / "data" / "tenant_small"
    for name in ("message_traces", "sign_ins", "users", "mailboxes", "blocked_senders", "alerts", "risky_users",
                 "risk_detections", "outbound_policies", "outbound_rules"):
        expected = json.loads((example / f"{name}.jsonl").read_text().splitlines()[0])
        for row in tenant.rows(name)[:200]:
            missing = set(expected) - set(row) - {"_sandbox"}
            assert not missing, f"{name} lacks {missing}"
    for row in tenant.rows("audit"):
        assert isinstance(row["RecordType"], int)
        assert {"Id", "CreationTime", "Operation", "UserId", "ClientIP", "Parameters"} <= set(row)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", row["CreationTime"])
    sps = {sp["appId"] for sp in tenant.rows("service_principals")}
    assert "8bd644d1-64a1-4d4b-ae52-2e0cbf64e373" in sps
    apps = json.loads((tenant.root / "apps.json").read_text())
    app_only = next(a for a in apps if a.get("applicationPermissions") and a.get("secrets", [{}])[0].get("value"))
    assert not app_only.get("certificates")
    assert any(a.get("publicClient") for a in apps) and any("Global Reader" in a.get("directoryRoles", [])
                                                           for a in apps)
    roles = [u["_sandbox"].get("roles", []) for u in tenant.rows("users")]
    assert any("Global Administrator" in r for r in roles)


def test_traces_one_row_per_recipient_with_a_shared_id(tenant: Tenant) -> None:
    by_id: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
    seen: set[tuple[str, str]] = set()
    previous = ""
    for row in tenant.rows("message_traces"):
        key = (row["id"], row["recipientAddress"])
        assert key not in seen
        seen.add(key)
        by_id[row["id"]].add((row["senderAddress"], row["messageId"], row["receivedDateTime"]))
        assert row["receivedDateTime"] >= previous, "trace rows are written in time order"
        previous = row["receivedDateTime"]
    assert all(len(v) == 1 for v in by_id.values()), "one sender, Message-ID and time per trace id"
    assert any(len([1 for r in tenant.rows("message_traces") if r["id"] == i]) > 1 for i in list(by_id)[:5000])


# --- restrictions agree with the trace --------------------------------------------------------------------------


def _reason(text: str) -> dict[str, str]:
    out = {}
    for part in text.split(";"):
        if not part:
            continue
        key, sep, value = part.partition("=") if "=" in part else part.partition(":")
        out[key.strip()] = value.strip() if sep else ""
    return out


def _effective_policy(tenant: Tenant, address: str) -> dict[str, Any]:
    policies = {p["Name"]: p for p in tenant.rows("outbound_policies")}
    for rule in sorted(tenant.rows("outbound_rules"), key=lambda r: r["Priority"]):
        if rule["State"] == "Enabled" and address in [a.lower() for a in rule["From"]]:
            return policies[rule["HostedOutboundSpamFilterPolicy"]]
    return next(p for p in policies.values() if p["IsDefault"])


def test_block_reason_counts_match_the_trace(tenant: Tenant) -> None:
    blocks = {b["SenderAddress"]: b for b in tenant.rows("blocked_senders")}
    formats = Counter()
    for address, label in tenant.labels():
        block = blocks[address]
        reason = _reason(block["Reason"])
        rows = tenant.sent_by(address)
        if "EmailSendingLimitExceeded" in reason:
            formats["limit"] += 1
            last_id = reason["Last MessagetraceId"]
            last = [r for r in rows if r["id"] == last_id]
            assert last, "the last message trace id exists"
            assert int(reason["LastMessageRcptCount"]) == len(last)
            last_at = at(last[0]["receivedDateTime"])
            today = [r for r in rows if at(r["receivedDateTime"]).date() == last_at.date()
                     and at(r["receivedDateTime"]) <= last_at]
            internal = sum(tenant.internal(r["recipientAddress"]) for r in today)
            assert int(reason["InternalRecipientCountToday"]) == internal
            assert int(reason["ExternalRecipientCountToday"]) == len(today) - internal
            assert reason["ExceedingLimitType"] in ("Internal", "External")
            policy = _effective_policy(tenant, address)
            assert policy["ActionWhenThresholdReached"] == label["block"]["action"]
            assert block["TemporaryBlock"] is (policy["ActionWhenThresholdReached"] == "BlockUserForToday")
        else:
            formats["spam"] += 1
            assert set(reason) >= {"OutboundSpamLast24Hours", "OutboundMailLast24Hours", "OutboundSpamPercent",
                                   "Last Spam Message MessagetraceId"}
            last_id = reason["Last Spam Message MessagetraceId"]
            last = [r for r in rows if r["id"] == last_id]
            assert last and all(r["status"] == "filteredAsSpam" for r in last)
            last_at = at(last[0]["receivedDateTime"])
            window = [r for r in rows if last_at - timedelta(hours=24) < at(r["receivedDateTime"]) <= last_at]
            ids = {r["id"] for r in window}
            spam = {r["id"] for r in window if r["status"] == "filteredAsSpam"}
            assert int(reason["OutboundMailLast24Hours"]) == len(ids)
            assert int(reason["OutboundSpamLast24Hours"]) == len(spam)
            assert int(reason["OutboundSpamPercent"]) == int(100 * len(spam) / len(ids) + 0.5)
            assert block["TemporaryBlock"] is False
        assert not [r for r in rows if at(r["receivedDateTime"]) > last_at], "nothing is sent after the block"
        created = at(block["CreatedDatetime"])
        assert last_at <= created <= tenant.now
        if block["TemporaryBlock"]:
            assert created.date() == tenant.now.date(), "a block for the day is from today"
        assert label["block"]["lastMessageTraceId"] == last_id
    assert formats["limit"] and formats["spam"], "both Reason formats appear"


def test_alerts_fire_at_the_right_times(tenant: Tenant) -> None:
    blocks = {b["SenderAddress"]: at(b["CreatedDatetime"]) for b in tenant.rows("blocked_senders")}
    by_user: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in tenant.rows("alerts"):
        by_user[a["evidence"][0]["userAccount"]["userPrincipalName"]].append(a)
    for address, label in tenant.labels():
        alerts = {a["title"]: a for a in by_user[address]}
        restricted = alerts["User restricted from sending email"]
        assert blocks[address] <= at(restricted["createdDateTime"]) <= tenant.now
        assert restricted["severity"] == "high"
        if label["block"]["trigger"] == "limit":
            assert at(alerts["Email sending limit exceeded"]["createdDateTime"]) >= blocks[address]
        if "Suspicious email sending patterns detected" in alerts:
            warning = alerts["Suspicious email sending patterns detected"]
            assert at(warning["lastActivityDateTime"]) <= at(restricted["lastActivityDateTime"])
        if label["remediated"]:
            assert restricted["status"] == "resolved"


# --- each scenario plants what it claims ------------------------------------------------------------------------


def _signins(tenant: Tenant, address: str) -> list[dict[str, Any]]:
    return [s for s in tenant.rows("sign_ins") if s["userPrincipalName"] == address]


def _first_abuse(tenant: Tenant, label: dict[str, Any]) -> datetime:
    first_id = label["firstMessageTraceId"]
    return at(next(r for r in tenant.rows("message_traces") if r["id"] == first_id)["receivedDateTime"])


def test_attacker_sign_ins_precede_the_abuse(tenant: Tenant) -> None:
    for address, label in tenant.labels():
        if label["label"] != "compromised" or label["scenario"] == "oauth_app_sender":
            continue
        ips = set(label["attackerIps"])
        good = [at(s["createdDateTime"]) for s in _signins(tenant, address)
                if s["ipAddress"] in ips and s["status"]["errorCode"] == 0]
        assert good and min(good) < _first_abuse(tenant, label), label["scenario"]
        assert any(r["fromIP"] in ips for r in tenant.sent_by(address)), "the abuse leaves from the attacker"


def test_spray_fails_across_many_accounts_then_succeeds(tenant: Tenant) -> None:
    for address, label in tenant.labels("spam_after_spray"):
        failures = [s for s in tenant.rows("sign_ins") if s["ipAddress"] in label["sprayIps"]
                    and s["status"]["errorCode"] != 0]
        assert len({s["userPrincipalName"] for s in failures}) >= 5
        wins = [s for s in _signins(tenant, address) if s["ipAddress"] in label["sprayIps"]
                and s["status"]["errorCode"] == 0]
        assert wins and {s["clientAppUsed"] for s in wins} <= {"IMAP4", "Authenticated SMTP"}
        detections = {d["riskEventType"] for d in tenant.rows("risk_detections") if d["userPrincipalName"] == address}
        assert "passwordSpray" in detections


def test_hiding_rules_and_forwarding_come_from_the_attacker(tenant: Tenant) -> None:
    rules = defaultdict(dict)
    for r in tenant.rows("message_rules"):
        rules[r["mailbox"]][r["id"]] = r
    audit = tenant.rows("audit")
    found = 0
    for address, label in tenant.labels("forwarding_and_hiding_rules"):
        found += 1
        ips = set(label["attackerIps"])
        mine = rules[address]
        for rule_id in label["ruleIds"]:
            rule = mine[rule_id]
            assert PUNCTUATION.match(rule["displayName"]), rule["displayName"]
            assert HIDING_ACTIONS & set(rule["actions"])
        assert any(r["actions"].get("moveToFolder") for r in mine.values())
        assert any(r["actions"].get("delete") or r["actions"].get("permanentDelete") for r in mine.values())
        created = [a for a in audit
                   if a["UserId"] == address and a["Operation"] in ("New-InboxRule", "UpdateInboxRules")]
        assert created and all(a["ClientIP"] in ips for a in created)
        target = label["forwardingTarget"]
        if "mailbox" in label["forwarding"]:
            box = next(m for m in tenant.rows("mailboxes") if m["PrimarySmtpAddress"] == address)
            assert box["ForwardingSmtpAddress"] == f"smtp:{target}"
            assert any(a["Operation"] == "Set-Mailbox" and a["ClientIP"] in ips
                       for a in audit if a["UserId"] == address)
        if "inboxRule" in label["forwarding"]:
            assert any(f["emailAddress"]["address"] == target for r in mine.values()
                       for f in r["actions"].get("forwardTo", []))
        if "mailboxPermission" in label:
            assert any(a["Operation"] == "Add-MailboxPermission" and a["ClientIP"] in ips for a in audit)
        titles = {a["title"] for a in tenant.rows("alerts")
                  if a["evidence"][0]["userAccount"]["userPrincipalName"] == address}
        assert "Suspicious email forwarding activity" in titles
    assert found == 1


def test_oauth_app_has_mail_send_and_sends(tenant: Tenant) -> None:
    for address, label in tenant.labels("oauth_app_sender"):
        grants = [g for g in tenant.rows("oauth_grants") if g["id"] in label["grantIds"]]
        assert grants and "Mail.Send" in grants[0]["scope"].split()
        assert grants[0]["principalId"] == tenant.user(address)["id"]
        sp = next(s for s in tenant.rows("service_principals") if s["id"] == grants[0]["clientId"])
        assert sp["appId"] == label["appId"]
        consent = [a for a in tenant.rows("audit") if a["Operation"] == "Consent to application."
                   and a["UserId"] == address]
        assert consent and at(consent[0]["CreationTime"] + "Z") < _first_abuse(tenant, label)
        assert {r["fromIP"] for r in tenant.sent_by(address)} & set(label["appIps"])


def test_attacker_registers_an_mfa_method(tenant: Tenant) -> None:
    for address, label in tenant.labels("new_mfa_method"):
        user_id = tenant.user(address)["id"]
        assert any(m["user"] == user_id and m["id"] == label["methodId"] for m in tenant.rows("auth_methods"))
        registered = [a for a in tenant.rows("audit") if a["Operation"] == "User registered security info"
                      and a["UserId"] == address]
        assert registered and registered[0]["ClientIP"] in label["attackerIps"]
        assert at(registered[0]["CreationTime"] + "Z") < _first_abuse(tenant, label)


def test_remediated_account_is_clean_but_still_restricted(tenant: Tenant) -> None:
    for address, label in tenant.labels("already_remediated"):
        assert label["remediated"]
        user = tenant.user(address)
        ips = set(label["attackerIps"])
        bad = [at(s["createdDateTime"]) for s in _signins(tenant, address)
               if s["ipAddress"] in ips and s["status"]["errorCode"] == 0]
        assert bad and at(user["lastPasswordChangeDateTime"]) > max(bad)
        assert at(user["signInSessionsValidFromDateTime"]) >= at(user["lastPasswordChangeDateTime"])
        remaining = {r["id"] for r in tenant.rows("message_rules") if r["mailbox"] == address}
        assert label["removedRuleIds"] and not remaining & set(label["removedRuleIds"])
        ops = Counter(a["Operation"] for a in tenant.rows("audit") if address in json.dumps(a))
        assert ops["New-InboxRule"] + ops["UpdateInboxRules"] == len(label["removedRuleIds"])
        assert ops["Remove-InboxRule"] == len(label["removedRuleIds"]) and ops["Reset user password."] == 1
        box = next(m for m in tenant.rows("mailboxes") if m["PrimarySmtpAddress"] == address)
        assert box["ForwardingSmtpAddress"] is None
        risky = next(r for r in tenant.rows("risky_users") if r["userPrincipalName"] == address)
        assert risky["riskState"] == "remediated"
        assert any(b["SenderAddress"] == address for b in tenant.rows("blocked_senders"))


def test_benign_senders(tenant: Tenant) -> None:
    blocks = {b["SenderAddress"]: b for b in tenant.rows("blocked_senders")}
    for address, label in tenant.labels():
        if label["label"] != "benign":
            continue
        rows = tenant.sent_by(address)
        usual = {s["ipAddress"] for s in _signins(tenant, address)}
        assert {r["fromIP"] for r in rows} & (usual | set(label.get("appIps", []))), label["scenario"]
        if label["scenario"] == "newsletter":
            assert blocks[address]["TemporaryBlock"] is True
            assert _reason(blocks[address]["Reason"])["ExceedingLimitType"] == "External"
            assert max(Counter(r["id"] for r in rows).values()) >= 80, "Bcc batches"
        if label["scenario"] == "mail_merge":
            burst = [r for r in rows if at(r["receivedDateTime"]) >= at(label["burstStart"])]
            named = [r for r in burst if r["recipientAddress"].split(".")[0].split("@")[0].rstrip("0123456789")
                     .capitalize() in (r["subject"] or "")]
            assert len(named) > 0.8 * len(burst), "personalised: one recipient per message, named in the subject"
        if label["scenario"] == "service_account_limit":
            assert tenant.user(address)["_sandbox"]["kind"] in ("service", "scanner")
            assert {s["clientAppUsed"] for s in _signins(tenant, address)} == {"Authenticated SMTP"}
            assert label["block"]["limit"] == "day"
        if label["scenario"] == "travelling_user":
            trip = label["trip"]
            abroad = [s for s in _signins(tenant, address) if s["location"]["countryOrRegion"] == trip["country"]
                      and s["status"]["errorCode"] == 0]  # (a spray elsewhere in the tenant may fail on them too)
            assert abroad and all(s["ipAddress"] == trip["ip"] for s in abroad)
            assert trip["country"] != tenant.user(address)["usageLocation"]
            assert all(s["deviceDetail"]["operatingSystem"] for s in abroad), "their own device"
            assert any(r["fromIP"] == trip["ip"] for r in rows)
        if label["scenario"] == "evidence_missing":
            assert tenant.info["licences"] == {"entraIdP1": False, "entraIdP2": False}


def test_labels_carry_the_key_facts(tenant: Tenant) -> None:
    for _address, label in tenant.labels():
        assert label["label"] in ("compromised", "benign")
        assert set(label["window"]) == {"start", "end"} and label["window"]["start"] <= label["window"]["end"]
        if label["label"] == "compromised":
            assert label["attackerIps"] and "compromised" in label


# --- the population looks like people ---------------------------------------------------------------------------


def test_people_mail_in_their_working_hours(tenant: Tenant) -> None:
    zones = {u["userPrincipalName"]: ZoneInfo(u["_sandbox"]["timeZone"]) for u in tenant.rows("users")
             if u["_sandbox"]["kind"] == "person"}
    labelled = set(tenant.truth["labels"])
    travellers = {t["user"] for t in tenant.truth["noise"].get("travellers", [])}
    seen: set[str] = set()
    inside = total = weekend = 0
    for row in tenant.rows("message_traces"):
        sender = row["senderAddress"]
        if sender not in zones or sender in labelled or sender in travellers or row["id"] in seen:
            continue
        seen.add(row["id"])
        if row["subject"] and row["subject"].startswith("RE:"):
            continue
        local = at(row["receivedDateTime"]).astimezone(zones[sender])
        total += 1
        weekend += local.weekday() >= 5
        inside += 7 <= local.hour < 20
    assert total > 300
    assert inside / total > 0.85
    assert weekend / total < 0.15


def test_internal_external_mix_and_noise_of_a_real_mailflow(tenant: Tenant) -> None:
    labelled = set(tenant.truth["labels"])
    rows = [r for r in tenant.rows("message_traces") if r["senderAddress"] not in labelled]
    out_internal = sum(tenant.internal(r["senderAddress"]) and tenant.internal(r["recipientAddress"]) for r in rows)
    outbound = sum(tenant.internal(r["senderAddress"]) and not tenant.internal(r["recipientAddress"]) for r in rows)
    inbound = sum(not tenant.internal(r["senderAddress"]) for r in rows)
    assert out_internal and outbound and inbound
    assert 0.2 < outbound / (outbound + out_internal) < 0.75
    subjects = Counter((r["subject"] or "").split(":")[0] for r in rows)
    assert subjects["RE"] > 20 and subjects["Undeliverable"] > 0
    status = Counter(r["status"] for r in rows)
    assert status["filteredAsSpam"] and status["failed"] and status["delivered"] > 0.9 * len(rows)


def test_every_sender_in_the_tenant_exists(tenant: Tenant) -> None:
    known = {a.split(":", 1)[1].lower() for u in tenant.rows("users") for a in u["proxyAddresses"]}
    system = tenant.truth["systemSender"]
    senders = {r["senderAddress"] for r in tenant.rows("message_traces") if tenant.internal(r["senderAddress"])}
    assert senders - {system} <= known
    users = {u["userPrincipalName"] for u in tenant.rows("users")}
    assert {s["userPrincipalName"] for s in tenant.rows("sign_ins")} <= users
    assert {r["mailbox"] for r in tenant.rows("message_rules")} <= users


def test_the_tenant_is_hard(tenant: Tenant) -> None:
    """Benign bursts, compromised senders with little volume, travel and failed brute force nobody labelled."""
    volume = {a: len(tenant.sent_by(a)) for a, _ in tenant.labels()}
    benign = [volume[a] for a, label in tenant.labels() if label["label"] == "benign"]
    compromised = [volume[a] for a, label in tenant.labels() if label["label"] == "compromised"]
    assert max(benign) > min(compromised) * 3
    noise = tenant.truth["noise"]
    assert noise["travellers"] and noise["failedBruteForce"] and noise["personalForwarding"]
    foreign = {s["userPrincipalName"] for s in tenant.rows("sign_ins")
               if s["location"]["countryOrRegion"] != tenant.user(s["userPrincipalName"])["usageLocation"]}
    assert foreign - set(tenant.truth["labels"]), "unlabelled people sign in from abroad too"


# --- determinism, arguments, safe output ------------------------------------------------------------------------


def _files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.iterdir())}


def test_same_seed_same_bytes_other_seed_other_tenant(tmp_path: Path, tenants: dict[int, Tenant]) -> None:
    one, two = SEEDS[0], SEEDS[1]
    again = tmp_path / "again"
    # another process with another string-hash seed: no set or dict order may leak into the files
    code = ("import sys; from pathlib import Path; from toolkit.sandbox.generate import generate_tenant, SCENARIOS; "
            f"generate_tenant(Path(sys.argv[1]), seed={one}, users={USERS}, days={DAYS}, scenarios=list(SCENARIOS))")
    subprocess.run([sys.executable, "-c", code, str(again)], check=True, env={**os.environ, "PYTHONHASHSEED": "4242"},
                   cwd=Path(__file__).parent.parent)
    assert _files(again) == _files(tenants[one].root)
    first, second = _files(tenants[one].root), _files(tenants[two].root)
    assert first["message_traces.jsonl"] != second["message_traces.jsonl"]
    assert json.loads(first["tenant.json"])["tenantId"] != json.loads(second["tenant.json"])["tenantId"]
    labels = [{(v["scenario"], v["label"]) for v in json.loads(t.root.joinpath("truth.json").read_text())["labels"]
               .values()} for t in tenants.values()]
    assert all(x == labels[0] for x in labels), "every seed plants every scenario"


def test_default_scenarios_and_now(tmp_path: Path) -> None:
    report = generate_tenant(tmp_path / "t", seed=5, users=USERS, days=5)
    assert [s.scenario for s in report.labelled] == list(DEFAULT_SCENARIOS)
    assert "evidence_missing" not in DEFAULT_SCENARIOS
    info = json.loads((tmp_path / "t" / "tenant.json").read_text())
    assert info["now"] == "2026-11-20T12:00:00Z" and info["licences"] == {"entraIdP1": True, "entraIdP2": True}
    assert report.counts["message_traces"] > 0 and report.total_rows == sum(report.counts.values())
    custom = generate_tenant(tmp_path / "c", seed=5, users=USERS, days=4, scenarios=["newsletter", "newsletter"],
                             now=datetime(2026, 3, 2, 15, 30, tzinfo=UTC))
    assert len({s.address for s in custom.labelled}) == 2
    assert json.loads((tmp_path / "c" / "tenant.json").read_text())["now"] == "2026-03-02T15:30:00Z"


@pytest.mark.parametrize(("kwargs", "error", "text"), [
    ({"scenarios": ["newsletter", "nope", "zap"]}, ValueError, "nope, zap"),
    ({"users": 5}, ValueError, "users must be between"),
    ({"days": 0}, ValueError, "days must be between"),
    ({"days": 91}, ValueError, "days must be between"),
    ({"seed": -1}, ValueError, "seed must be between"),
    ({"seed": "1"}, TypeError, "seed must be an integer"),
    ({"now": datetime(2026, 1, 1, 2, 0, tzinfo=UTC)}, ValueError, "06:00 UTC"),
])
def test_bad_arguments_are_refused_clearly(tmp_path: Path, kwargs: dict[str, Any], error: type[Exception],
                                           text: str) -> None:
    with pytest.raises(error, match=re.escape(text)) as info:
        generate_tenant(tmp_path / "t", **kwargs)
    if "scenarios" in kwargs:
        assert all(name in str(info.value) for name in SCENARIOS), "lists the valid names"
    assert not (tmp_path / "t").exists()


def test_parse_scenarios() -> None:
    assert parse_scenarios(None) is None and parse_scenarios(" ") is None
    assert parse_scenarios("newsletter, mail_merge") == ["newsletter", "mail_merge"]
    assert parse_scenarios("all") == list(SCENARIOS)
    with pytest.raises(ValueError, match="unknown scenario: bogus"):
        parse_scenarios("newsletter,bogus")


def test_output_folder_is_never_half_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        generate_tenant(occupied, users=USERS, days=DAYS)
    assert [p.name for p in occupied.iterdir()] == ["keep.txt"]

    from toolkit.sandbox.generate import pipeline

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr(pipeline, "_stream", broken)
    target = tmp_path / "target"
    with pytest.raises(RuntimeError, match="disk full"):
        generate_tenant(target, users=USERS, days=DAYS)
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["occupied"], "no temporary folder is left behind"

    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.undo()
    generate_tenant(empty, users=USERS, days=4, scenarios=["newsletter"])
    assert (empty / "truth.json").exists()


def test_ensure_tenant_generates_once(tmp_path: Path) -> None:
    first = ensure_tenant(tmp_path, seed=4, users=USERS, days=4, scenarios=["mail_merge"])
    stamp = (first / "message_traces.jsonl").stat().st_mtime_ns
    assert ensure_tenant(tmp_path, seed=4, users=USERS, days=4, scenarios=["mail_merge"]) == first
    assert (first / "message_traces.jsonl").stat().st_mtime_ns == stamp


# --- the sandbox serves it over HTTPS -----------------------------------------------------------------------------


def _get(tenant: Any, path: str, token: str, **params: str) -> dict[str, Any]:
    """GET a Graph path, waiting out a 429 (the sandbox enforces the real quotas)."""
    for _ in range(20):
        response = tenant.graph("GET", path, token=token, params=params or None)
        if response.status_code != 429:
            assert response.status_code == 200, f"{path}: {response.status_code} {response.text[:300]}"
            return dict(response.json())
        time.sleep(float(response.headers.get("Retry-After", "0.2")))
    raise AssertionError(f"{path}: still throttled")


def test_the_sandbox_serves_a_generated_tenant(tmp_path: Path, start_tenant: Any) -> None:
    from tests.conftest import EXCHANGE_SCOPE
    from toolkit.sandbox.odata import quote

    root = tmp_path / "generated"
    generate_tenant(root, seed=11, users=USERS, days=7)
    tenant = start_tenant(root, quota_scale=0.01)
    truth = json.loads((root / "truth.json").read_text())["labels"]
    token = tenant.token()
    exchange = tenant.token(EXCHANGE_SCOPE)

    blocked = tenant.invoke("Get-BlockedSenderAddress", token=exchange)
    assert blocked.status_code == 200, blocked.text
    assert {b["SenderAddress"] for b in blocked.json()["value"]} == set(truth)
    users = _get(tenant, "/users", token, **{"$top": "25"})
    assert len(users["value"]) == 25 and "@odata.nextLink" in users
    signins = _get(tenant, "/auditLogs/signIns", token, **{"$top": "1000"})
    assert {s["userPrincipalName"] for s in signins["value"]} & set(truth)
    for path in ("/security/alerts_v2", "/identityProtection/riskyUsers", "/identityProtection/riskDetections",
                 "/oauth2PermissionGrants", "/servicePrincipals"):
        assert _get(tenant, path, token)["value"], path
    for cmdlet in ("Get-HostedOutboundSpamFilterPolicy", "Get-HostedOutboundSpamFilterRule"):
        assert tenant.invoke(cmdlet, token=exchange).status_code == 200
    for address, label in truth.items():
        upn = address
        _get(tenant, f"/users/{upn}/mailFolders/inbox/messageRules", token)
        _get(tenant, f"/users/{upn}/authentication/methods", token)
        _get(tenant, f"/users/{upn}/oauth2PermissionGrants", token)
        rules = tenant.invoke("Get-InboxRule", {"Mailbox": address, "IncludeHidden": True}, token=exchange)
        assert rules.status_code == 200, rules.text
        assert {r["RuleIdentity"] for r in rules.json()["value"]} or not label.get("ruleIds") or label["remediated"]
        assert tenant.invoke("Get-Mailbox", {"Identity": address}, token=exchange).status_code == 200
        last = at(label["block"]["lastMessage"])
        since = f"{last - timedelta(days=1):%Y-%m-%dT%H:%M:%SZ}"
        window = (f"senderAddress eq {quote(address)} and receivedDateTime ge {since}"
                  f" and receivedDateTime le {label['block']['created']}")
        traces = _get(tenant, "/admin/exchange/tracing/messageTraces", token, **{"$filter": window, "$top": "5000"})
        mine = [r for r in traces["value"] if r["id"] == label["block"]["lastMessageTraceId"]]
        assert mine, address
        details = _get(tenant, f"/admin/exchange/tracing/messageTraces/{mine[0]['id']}/getDetailsByRecipient"
                               f"(recipientAddress={quote(mine[0]['recipientAddress'])})", token)
        assert details["value"]
