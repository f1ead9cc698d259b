"""Remediation and unblock against the sandbox over HTTPS: dry runs change nothing, confirmed actions change the
tenant and read it back, a second run has nothing to do, a missing permission is refused before any call, the
unblock stays pending until the simulated clock passes the delay, the unblock limit is reported in words, and the
new password appears nowhere but in the one object handed to the caller."""

from __future__ import annotations

import copy
import logging
import pickle
from pathlib import Path

import pytest

from tests import actions_support as sx
from tests.conftest import StartTenant
from toolkit import actions
from toolkit.evidence.findings import ObjectRef
from toolkit.evidence.plan import Step
from toolkit.journal import case_evidence
from toolkit.passwords import PasswordAlreadyShown
from toolkit.sources.graph import UserIdentity
from toolkit.tenant import Tenant as ToolkitTenant

ALICE = "alice@contoso.com"
GRANT = "grant-alice-mailer"
CAROL_RULE = "AQAAAJ5dZqD="
ALICE_RULE = "AQAAAJ5dZqA="


def every_action(ctx: actions.ActionContext) -> list[actions.Action]:
    return [
        actions.reset_password(ctx, ALICE),
        actions.revoke_sessions(ctx, ALICE),
        actions.disable_rule(ctx, ALICE, ALICE_RULE),
        actions.delete_rule(ctx, "carol@contoso.com", CAROL_RULE),
        actions.clear_forwarding(ctx, ALICE),
        actions.remove_grant(ctx, GRANT),
        actions.block_sign_in(ctx, ALICE),
        actions.unblock(ctx, "bob@contoso.com"),
    ]


def snapshot(t: sx.Tenant) -> dict[str, object]:
    """Everything the actions could change, read around the toolkit."""
    state = sx.sandbox_state(t)
    return {"alice": sx.user(t, ALICE), "alice_rules": sx.rules(t, ALICE),
            "carol_rules": sx.rules(t, "carol@contoso.com"), "mailbox": sx.mailbox(t, ALICE),
            "grant": sx.grant_exists(t, GRANT), "blocked": sx.blocked(t), "unblocks": state["unblocksUsed"],
            "pending": state["pendingUnblocks"]}


def test_dry_runs_change_nothing_and_are_journaled(start_tenant: StartTenant, tmp_path: Path) -> None:
    t = start_tenant()
    ctx = sx.context(sx.app_connection(t), tmp_path / "journal.sqlite3")
    before = snapshot(t)
    results = [a.run() for a in every_action(ctx)]
    assert [r.status for r in results] == ["dry_run"] * len(results), [r.detail for r in results]
    assert all(r.dry_run and r.verified is None and r.new_password is None for r in results)
    assert snapshot(t) == before
    entries = ctx.journal.entries()
    assert len(entries) == 2 * len(results)
    assert all(e.dry_run for e in entries)
    assert [e.kind for e in entries] == ["intent", "outcome"] * len(results)
    assert all(o.intent_id == i.entry_id for i, o in zip(entries[::2], entries[1::2], strict=True))
    assert ctx.journal.pending() == []
    assert "Would change" in results[0].detail and "lastPasswordChangeDateTime" in results[0].detail


def test_previews_read_the_current_state(shared_tenant: sx.Tenant, tmp_path: Path) -> None:
    t = shared_tenant
    ctx = sx.context(sx.app_connection(t), tmp_path / "journal.sqlite3")
    forwarding = actions.clear_forwarding(ctx, ALICE).preview()
    assert [(c.field, c.before, c.after) for c in forwarding.changes] == [
        ("ForwardingSmtpAddress", "alice.ng.backup@gmail-mail.example", None),
        ("DeliverToMailboxAndForward", True, False)]
    assert forwarding.allowed and not forwarding.nothing_to_do
    rule = actions.disable_rule(ctx, ALICE, ALICE_RULE).preview()
    assert "RSS" in rule.summary and rule.changes[0].field == "isEnabled"
    unblock = actions.unblock(ctx, "bob@contoso.com").preview()
    assert any("recorded in this journal: 0" in n for n in unblock.notes)
    assert any("within about an hour" in n for n in unblock.notes)
    assert any("lifts by itself" in n for n in unblock.notes)  # bob's block is for the day
    reset = actions.reset_password(ctx, ALICE).preview()
    assert "User Administrator" in reset.permission.message  # a role the token cannot show
    assert ctx.journal.entries() == []  # a preview journals nothing


def test_confirmed_actions_change_the_tenant_verify_and_are_idempotent(start_tenant: StartTenant,
                                                                        tmp_path: Path) -> None:
    t = start_tenant()
    ctx = sx.context(sx.app_connection(t), tmp_path / "journal.sqlite3")
    alice = sx.user(t, ALICE)
    confirm = actions.Confirmation(note="compromised: hiding rule and forwarding to a free-mail address")
    runs = {a.kind: a.run(confirm=confirm) for a in every_action(ctx) if a.kind != "unblock"}
    for kind, result in runs.items():
        assert (result.status, result.verified) == ("done", "yes"), (kind, result.detail)
        assert result.after is not None and result.intent_id and result.outcome_id
    after = sx.user(t, ALICE)
    assert after["lastPasswordChangeDateTime"] > alice["lastPasswordChangeDateTime"]
    assert after["signInSessionsValidFromDateTime"] > alice["signInSessionsValidFromDateTime"]
    assert after["accountEnabled"] is False
    assert sx.rules(t, ALICE)[ALICE_RULE]["isEnabled"] is False
    assert CAROL_RULE not in sx.rules(t, "carol@contoso.com")
    box = sx.mailbox(t, ALICE)
    assert box["ForwardingSmtpAddress"] is None and box["DeliverToMailboxAndForward"] is False
    assert not sx.grant_exists(t, GRANT)
    assert "lastPasswordChangeDateTime moved" in runs["reset_password"].detail

    again = {a.kind: a.run(confirm=confirm) for a in every_action(ctx) if a.kind != "unblock"}
    assert {k: r.status for k, r in again.items()} == {k: "nothing_to_do" for k in again}
    outcomes = [e for e in ctx.journal.entries(kinds=("outcome",)) if e.status == "nothing_to_do"]
    assert len(outcomes) == len(again) and all(e.note == confirm.note for e in outcomes)
    assert ctx.journal.verify() == []


def test_the_new_password_appears_nowhere_but_the_handover(start_tenant: StartTenant, tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    t = start_tenant()
    journal_path = tmp_path / "journal.sqlite3"
    ctx = sx.context(sx.app_connection(t), journal_path)
    with caplog.at_level(logging.DEBUG):
        result = actions.reset_password(ctx, ALICE).run(confirm=actions.Confirmation(note="reset"))
        handed = result.new_password
        assert handed is not None and result.status == "done"
        shown = [repr(result), str(result), repr(handed), str(handed), f"{handed}", result.detail,
                 str(result.preview), repr(result.preview), ctx.journal.history(ALICE).to_csv()]
        password = handed.reveal()
    assert len(password) >= 16 and handed.shown
    with pytest.raises(PasswordAlreadyShown):
        handed.reveal()
    for attempt in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(TypeError):
            attempt(handed)
    captured = capsys.readouterr()
    assert password not in caplog.text and password not in captured.out + captured.err
    assert all(password not in text for text in shown)
    ctx.journal.close()
    files = [p for p in tmp_path.iterdir() if p.name.startswith(journal_path.name)]
    assert files and all(password.encode() not in p.read_bytes() for p in files)
    assert all(password.encode("utf-16-le") not in p.read_bytes() for p in files)


def test_delegated_reset_uses_reset_password_and_its_operation(start_tenant: StartTenant, tmp_path: Path) -> None:
    t = start_tenant()
    ctx = sx.context(sx.admin_connection(t), tmp_path / "journal.sqlite3")
    before = sx.user(t, ALICE)
    result = actions.reset_password(ctx, ALICE).run(confirm=actions.Confirmation(note="delegated reset"))
    assert (result.status, result.verified) == ("done", "yes"), result.detail
    assert result.new_password is not None
    assert sx.user(t, ALICE)["lastPasswordChangeDateTime"] > before["lastPasswordChangeDateTime"]
    intent = ctx.journal.get(result.intent_id or "")
    assert intent is not None and intent.parameters["method"] == "reset_password"
    assert (intent.actor_kind, intent.actor) == ("user", "admin@contoso.com")
    own = actions.reset_password(ctx, "admin@contoso.com").run(confirm=True)
    assert (own.status, own.reason) == ("refused", "own_password")
    assert "self-service" in own.detail


def test_missing_permission_is_refused_before_any_call(start_tenant: StartTenant, tmp_path: Path) -> None:
    t = start_tenant()
    conn = sx.reader_connection(t)
    ctx = sx.context(conn, tmp_path / "journal.sqlite3")
    before = snapshot(t)
    sent = sx.requests_sent(conn)
    refused = [actions.reset_password(ctx, ALICE), actions.revoke_sessions(ctx, ALICE),
               actions.disable_rule(ctx, ALICE, ALICE_RULE), actions.delete_rule(ctx, ALICE, ALICE_RULE),
               actions.remove_grant(ctx, GRANT), actions.block_sign_in(ctx, ALICE)]
    results = [a.run(confirm=actions.Confirmation(note="should not happen")) for a in refused]
    assert sx.requests_sent(conn) == sent  # not one Graph or Exchange request
    assert [(r.status, r.reason) for r in results] == [("refused", "permission")] * len(results)
    reset = results[0].detail
    assert "User-PasswordProfile.ReadWrite.All" in reset and "User Administrator role" in reset
    assert "MailboxSettings.ReadWrite" in results[2].detail
    assert snapshot(t) == before
    outcomes = ctx.journal.entries(kinds=("outcome",))
    assert [o.status for o in outcomes] == ["refused"] * len(results)
    assert all(not o.dry_run and o.actor == sx.READER_ID for o in outcomes)
    preview = actions.reset_password(ctx, ALICE).preview()
    assert not preview.allowed and "User-PasswordProfile.ReadWrite.All" in preview.refusal


def test_a_role_the_token_cannot_show_is_refused_by_the_service_in_words(start_tenant: StartTenant,
                                                                         tmp_path: Path) -> None:
    t = start_tenant()
    ctx = sx.context(sx.reader_connection(t), tmp_path / "journal.sqlite3")  # Global Reader: reads, cannot unblock
    result = actions.unblock(ctx, "bob@contoso.com").run(confirm=True)
    assert (result.status, result.reason) == ("refused", "permission"), result.detail
    assert "Security Administrator" in result.detail and "Nothing was changed" in result.detail
    assert "bob@contoso.com" in sx.blocked(t)
    assert sx.sandbox_state(t)["unblocksUsed"].get("bob@contoso.com") == 1


def test_unblock_is_pending_until_the_service_applies_it(start_tenant: StartTenant, tmp_path: Path) -> None:
    t = start_tenant()
    ctx = sx.context(sx.app_connection(t), tmp_path / "journal.sqlite3")
    bob = "bob@contoso.com"
    confirm = actions.Confirmation(note="benign newsletter; user briefed",
                                   override_justification="manager asked to send today")
    result = actions.unblock(ctx, bob).run(confirm=confirm)
    assert (result.status, result.verified) == ("requested", "pending"), result.detail
    assert "within about an hour" in result.detail
    assert bob in sx.blocked(t)  # the sandbox, like Microsoft, applies it after a delay
    assert sx.sandbox_state(t)["unblocksUsed"][bob] == 2
    outcome = ctx.journal.get(result.outcome_id or "")
    assert outcome is not None and outcome.justification == "manager asked to send today"
    assert ctx.journal.unblocks_used(ctx.tenant_id, bob) == 1
    waiting = actions.check_unblock(ctx, bob)
    assert not waiting.in_effect and "requested at" in waiting.detail
    repeat = actions.unblock(ctx, bob).run(confirm=True)
    assert repeat.status == "nothing_to_do" and "check_unblock" in repeat.detail
    assert sx.sandbox_state(t)["unblocksUsed"][bob] == 2  # no second request was sent

    t.advance(130)  # past behaviour.unblockDelaySeconds (120)
    done = actions.check_unblock(ctx, bob)
    assert done.in_effect and done.entry_id is not None
    assert bob not in sx.blocked(t)
    verification = ctx.journal.get(done.entry_id)
    assert verification is not None and verification.kind == "verification" and verification.verified == "yes"
    assert verification.intent_id == result.intent_id
    assert actions.unblock(ctx, bob).run(confirm=True).status == "nothing_to_do"
    assert "unblock" in set(ctx.journal.history(bob)["action"])


def test_the_unblock_limit_is_reported_in_words(start_tenant: StartTenant, tmp_path: Path) -> None:
    t = start_tenant(sx.tenant_copy(tmp_path, {"bob@contoso.com": {"unblocksUsed": 2}}))
    ctx = sx.context(sx.app_connection(t), tmp_path / "journal.sqlite3")
    result = actions.unblock(ctx, "bob@contoso.com").run(confirm=actions.Confirmation(note="try"))
    assert (result.status, result.reason) == ("failed", "unblock_limit"), result.detail
    assert "Microsoft Support" in result.detail and "Nothing was changed" in result.detail
    assert result.error
    assert "bob@contoso.com" in sx.blocked(t)
    outcome = ctx.journal.get(result.outcome_id or "")
    assert outcome is not None and outcome.status == "failed" and outcome.error == result.error


def test_rules_named_by_exchange_identity_and_hidden_rules(start_tenant: StartTenant, tmp_path: Path) -> None:
    t = start_tenant()
    ctx = sx.context(sx.app_connection(t), tmp_path / "journal.sqlite3")
    visible = {r["RuleIdentity"] for r in sx.exchange_rules(t, ALICE, hidden=False)}
    every = sx.exchange_rules(t, ALICE)
    backup = next(r for r in every if r["Name"] == "Backup")
    hidden = next(r for r in every if r["RuleIdentity"] not in visible)
    result = actions.disable_rule(ctx, ALICE, str(backup["RuleIdentity"])).run(confirm=True)
    assert (result.status, result.verified) == ("done", "yes"), result.detail
    assert next(r for r in sx.rules(t, ALICE).values() if r["displayName"] == "Backup")["isEnabled"] is False
    before = sx.exchange_rules(t, ALICE)
    # Graph cannot see a hidden rule: a reader's credential is refused by Exchange and nothing changes ...
    reader = sx.context(sx.reader_connection(t), tmp_path / "reader.sqlite3")
    refused = actions.delete_rule(reader, ALICE, str(hidden["RuleIdentity"])).run(confirm=True)
    assert refused.status in ("refused", "failed") and not refused.ok, refused.detail
    assert sx.exchange_rules(t, ALICE) == before
    # ... an Exchange administrator's goes through Exchange: disabled (read back), then removed.
    disable = actions.disable_rule(ctx, ALICE, str(hidden["RuleIdentity"]))
    preview = disable.preview()
    assert preview.allowed and [c.field for c in preview.changes] == ["isEnabled"], preview.describe()
    disabled = disable.run(confirm=actions.Confirmation(note="hidden rule deletes NDRs"))
    assert (disabled.status, disabled.verified) == ("done", "yes"), disabled.detail
    assert "Disable-InboxRule" in disabled.detail
    assert next(r for r in sx.exchange_rules(t, ALICE) if r["RuleIdentity"] == hidden["RuleIdentity"])[
        "Enabled"] is False
    removed = actions.delete_rule(ctx, ALICE, str(hidden["RuleIdentity"])).run(confirm=True)
    assert (removed.status, removed.verified) == ("done", "yes"), removed.detail
    assert hidden["RuleIdentity"] not in {r["RuleIdentity"] for r in sx.exchange_rules(t, ALICE)}
    again = actions.delete_rule(ctx, ALICE, str(hidden["RuleIdentity"])).run(confirm=True)
    assert again.status == "nothing_to_do"
    kinds = [(e.action, e.kind, e.status) for e in ctx.journal.entries(tenant_id=ctx.tenant_id)
             if e.target.endswith(str(hidden["RuleIdentity"]))]
    assert ("disable_rule", "outcome", "done") in kinds and ("delete_rule", "outcome", "done") in kinds


def test_a_case_gives_the_evidence_hash_and_the_history(start_tenant: StartTenant, tmp_path: Path) -> None:
    t = start_tenant()
    conn = sx.app_connection(t)
    tenant = ToolkitTenant(conn, store_dir=tmp_path / "store", quiet=True)
    case = tenant.investigate(ALICE, days=14)
    ctx = actions.ActionContext.open(tenant, case=case)
    assert ctx.journal.path == tmp_path / "store" / "journal.sqlite3"  # the journal lives in the tenant's store
    digest, digests = case_evidence(case)
    reset = actions.reset_password(ctx, case.user).run(confirm=actions.Confirmation(note="compromised"))
    assert reset.status == "done"
    # A reset moves the sessions too (Entra revokes refresh tokens on an admin reset): after the evidence, so the
    # revoke has nothing left to do.
    revoke = actions.revoke_sessions(ctx, case.user).run(confirm=True)
    assert revoke.status == "nothing_to_do" and "after the evidence" in revoke.detail
    grant = actions.remove_grant(ctx, GRANT).run()
    assert grant.status == "dry_run"
    intent = ctx.journal.get(reset.intent_id or "")
    assert intent is not None and intent.evidence_hash == digest and dict(intent.evidence) == digests
    assert intent.case_path == str(case.path) and intent.subject == ALICE
    frame = actions.history(case, ctx.journal)
    assert list(frame["action"]) == ["reset_password"] * 2 + ["revoke_sessions"] * 2 + ["remove_grant"] * 2
    assert str(frame["recorded_at"].dt.tz) == "UTC"


def test_plan_steps_map_to_actions(shared_tenant: sx.Tenant, tmp_path: Path) -> None:
    ctx = sx.context(sx.app_connection(shared_tenant), tmp_path / "journal.sqlite3")
    alice = UserIdentity("00000003-aaaa-4bbb-8ccc-000000000003", ALICE, "Alice", ALICE, (ALICE,))
    steps = [
        Step(1, "reset_password", "Reset", "why"),
        Step(2, "remove_forwarding", "Forwarding", "why", (ObjectRef("forwarding", ALICE, "x@ext.example", ALICE),)),
        Step(3, "disable_rules", "Rules", "why", (ObjectRef("rule", ALICE_RULE, ".", ALICE),
                                                  ObjectRef("rule", "AQAAAJ5dZqB=", "Backup", ALICE))),
        Step(4, "revoke_grants", "Grants", "why", (ObjectRef("grant", GRANT, "PDF Mail Helper", ALICE),)),
        Step(5, "revoke_sessions", "Sessions", "why"),
        Step(6, "review_mfa", "MFA", "why", required=False),
        Step(7, "unblock", "Unblock", "why"),
    ]
    built = [[(a.kind, a.target) for a in actions.from_step(ctx, s, alice)] for s in steps]
    assert built == [
        [("reset_password", ALICE)], [("clear_forwarding", ALICE)],
        [("disable_rule", f"{ALICE} rule {ALICE_RULE}"), ("disable_rule", f"{ALICE} rule AQAAAJ5dZqB=")],
        [("remove_grant", GRANT)], [("revoke_sessions", ALICE)], [], [("unblock", ALICE)],
    ]
    with pytest.raises(ValueError, match="needs the user"):
        actions.from_step(ctx, steps[0])


def methods_of(t: sx.Tenant, upn: str) -> dict[str, str]:
    response = t.graph("GET", f"/users/{upn}/authentication/methods")
    response.raise_for_status()
    return {m["id"]: m["@odata.type"] for m in response.json()["value"]}


def test_an_attackers_mfa_method_is_removed_and_read_back(start_tenant: StartTenant, tmp_path: Path) -> None:
    t = start_tenant()
    ctx = sx.context(sx.app_connection(t), tmp_path / "journal.sqlite3")
    phone = "3179e48a-750b-4051-897c-87b9720928f7"
    before = methods_of(t, ALICE)
    assert before[phone] == "#microsoft.graph.phoneAuthenticationMethod"
    action = actions.remove_auth_method(ctx, ALICE, phone)
    preview = action.preview()
    assert preview.allowed and "+234 8030000000" in preview.describe(), preview.describe()
    assert action.run().status == "dry_run" and methods_of(t, ALICE) == before
    # the reader may not remove methods: refused before any call, in words
    reader = sx.context(sx.reader_connection(t), tmp_path / "reader.sqlite3")
    refused = actions.remove_auth_method(reader, ALICE, phone).run(confirm=True)
    assert refused.status == "refused" and "UserAuthenticationMethod.ReadWrite.All" in refused.detail
    # the password is reset, never removed
    password = actions.remove_auth_method(ctx, ALICE, "28c10230-6103-485e-b985-444c60001490").run(confirm=True)
    assert (password.status, password.reason) == ("refused", "password_method"), password.detail
    done = action.run(confirm=actions.Confirmation(note="registered from Lagos during the incident"))
    assert (done.status, done.verified) == ("done", "yes"), done.detail
    assert phone not in methods_of(t, ALICE) and len(methods_of(t, ALICE)) == len(before) - 1
    assert actions.remove_auth_method(ctx, ALICE, phone).run(confirm=True).status == "nothing_to_do"
    # the plan's "remove the methods the attacker registered" step maps to this action, one per method
    step = Step(6, "review_mfa", "Remove the MFA methods the attacker registered", "new phone",
                (ObjectRef("method", phone, "phone", ALICE),))
    mapped = actions.from_step(ctx, step)
    assert [type(a).__name__ for a in mapped] == ["RemoveAuthMethod"] and mapped[0].method_id == phone
    advisory = Step(6, "review_mfa", "Review the MFA methods with the user", "",
                    (ObjectRef("method", phone, "phone", ALICE),), required=False)
    assert actions.from_step(ctx, advisory) == []
