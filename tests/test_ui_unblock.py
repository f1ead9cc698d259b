"""The guided unblock wizard driven as an analyst would, against the small sandbox tenant (alice compromised, bob
benign): previews change nothing, confirmed steps change the tenant and read it back, the unblock is refused
without the steps (unless justified) or with a mistyped address, the journal has every step, and aftercare sees
the block gone once the simulated clock passes the delay. The widgets only call the Wizard's methods."""

from __future__ import annotations

import json
import shutil
import time
from datetime import timedelta
from pathlib import Path

import ipywidgets as widgets
import pytest

from tests import actions_support as sx
from tests import test_notebooks as nb
from tests.conftest import SMALL_TENANT, StartTenant
from toolkit.tenant import Tenant as ToolkitTenant
from toolkit.ui.unblock import UnblockRefused, UnblockWizard, Wizard, unblock_wizard

ALICE = "alice@contoso.com"
GRANT = "grant-alice-mailer"
sandbox_env = nb.sandbox_env  # the generated tenant the notebook tests serve


def toolkit_tenant(t: sx.Tenant, store: Path) -> ToolkitTenant:
    return ToolkitTenant(sx.app_connection(t), store_dir=store, quiet=True)


#: The audit record of the attacker registering their phone as Alice's MFA method, 3 minutes after signing in from
#: Nigeria (the small tenant's phone method carries no date, as Graph gives none for phones).
PHONE_REGISTERED = {
    "Id": "a0d1e2f3-0000-4000-8000-000000000011", "RecordType": 8, "CreationTime": "2026-11-19T20:04:00",
    "Operation": "User registered security info", "OrganizationId": "7f3c1a52-9d4e-4b8a-a6f1-3e2d5c7b9a10",
    "UserType": 0, "UserKey": "10032ALICE0000001@7f3c1a52-9d4e-4b8a-a6f1-3e2d5c7b9a10",
    "Workload": "AzureActiveDirectory", "ResultStatus": "Success", "ObjectId": ALICE, "UserId": ALICE,
    "ClientIP": "185.220.101.7", "AzureActiveDirectoryEventType": 1, "Parameters": [], "ModifiedProperties": [],
    "ExtendedProperties": [{"Name": "extendedAuditEventCategory", "Value": "User"}],
    "Actor": [{"ID": ALICE, "Type": 5}], "Target": [{"ID": ALICE, "Type": 5}]}


def tenant_with_attacker_phone(tmp_path: Path) -> Path:
    folder = tmp_path / "tenant_phone"
    shutil.copytree(SMALL_TENANT, folder)
    with (folder / "audit.jsonl").open("a") as audit:
        audit.write(json.dumps(PHONE_REGISTERED) + "\n")
    return folder


def test_the_wizard_remediates_unblocks_and_watches(start_tenant: StartTenant, tmp_path: Path) -> None:
    t = start_tenant(tenant_with_attacker_phone(tmp_path))
    wizard = Wizard(toolkit_tenant(t, tmp_path / "store"), verify_wait=0.05)
    assert wizard.pending == []
    assert wizard.users()[0][1] == ALICE  # riskiest first
    assert "compromised" in wizard.users()[0][0]
    wizard.choose(ALICE)
    assert "COMPROMISED" in wizard.evidence_text()
    actions_of = [s.step.action for s in wizard.steps]
    assert actions_of[:5] == ["reset_password", "remove_forwarding", "disable_rules", "revoke_grants",
                              "revoke_sessions"]

    before = (sx.user(t, ALICE), sx.rules(t, ALICE), sx.mailbox(t, ALICE), sx.grant_exists(t, GRANT), sx.blocked(t))
    previews = [wizard.preview(i) for i in range(len(wizard.steps))]
    assert any(p.changes for ps in previews for p in ps)
    dry = wizard.run(0, "")  # no confirm: a dry run
    assert [r.status for r in dry] == ["dry_run"]
    after_dry = (sx.user(t, ALICE), sx.rules(t, ALICE), sx.mailbox(t, ALICE), sx.grant_exists(t, GRANT),
                 sx.blocked(t))
    assert after_dry == before
    with pytest.raises(ValueError, match="note"):
        wizard.run(0, "  ", confirm=True)

    with pytest.raises(UnblockRefused, match="not done"):
        wizard.unblock(ALICE)
    assert ALICE in sx.blocked(t)

    for i, state in enumerate(wizard.steps):
        if state.actions:
            results = wizard.run(i, f"compromised: step {state.step.order}", confirm=True)
            assert all(r.status in ("done", "nothing_to_do", "refused") for r in results), [r.detail for r in results]
    reset = wizard.steps[0].results[0]
    assert reset is not None and reset.verified == "yes" and reset.new_password is not None
    assert sx.mailbox(t, ALICE).get("ForwardingSmtpAddress") in (None, "")
    assert not sx.grant_exists(t, GRANT)
    assert all(r["isEnabled"] is False for r in sx.rules(t, ALICE).values() if r["displayName"] in (".", "Backup"))

    # Graph cannot see the hidden rule: it was disabled through Exchange (Disable-InboxRule) and read back there.
    hidden = next(r for r in sx.exchange_rules(t, ALICE) if r["Name"] == "Hidden cleanup")
    assert hidden["Enabled"] is False
    # The phone the attacker registered is gone; Alice's own authenticator app stays.
    methods = t.graph("GET", f"/users/{ALICE}/authentication/methods").json()["value"]
    assert "+234 8030000000" not in {m.get("phoneNumber") for m in methods}
    assert "Alice's iPhone" in {m.get("displayName") for m in methods}
    assert wizard.missing() == []
    with pytest.raises(ValueError):
        wizard.done_by_hand(0, "")

    with pytest.raises(UnblockRefused, match="not alice"):
        wizard.unblock("alice@contoso.co")
    assert wizard.unblocks_used() == 0
    result = wizard.unblock(" Alice@Contoso.com ")
    assert (result.status, result.verified) == ("requested", "pending"), result.detail
    assert "within about an hour" in result.detail
    assert wizard.unblocks_used() == 1

    waiting = wizard.aftercare(hours=3)
    assert not waiting.in_effect and "still restricted" in waiting.describe()
    t.advance(130)  # past the sandbox's unblock delay
    care = wizard.aftercare(hours=3)
    assert care.in_effect and "no longer restricted" in care.describe()
    assert ALICE not in sx.blocked(t)

    history = wizard.history()
    done = set(history["action"])
    assert {"reset_password", "clear_forwarding", "disable_rule", "remove_grant", "revoke_sessions",
            "remove_auth_method", "unblock"} <= done
    folder = wizard.export(tmp_path / "bundles")
    assert folder.is_dir() and folder.with_name(folder.name + ".zip").is_file()


def test_an_override_needs_a_justification_and_is_recorded(start_tenant: StartTenant, tmp_path: Path) -> None:
    t = start_tenant()
    wizard = Wizard(toolkit_tenant(t, tmp_path / "store"), verify_wait=0.05)
    wizard.choose(ALICE)
    with pytest.raises(UnblockRefused):
        wizard.unblock(ALICE, justification="   ")
    result = wizard.unblock(ALICE, justification="CEO must send the board pack today")
    assert result.status == "requested", result.detail
    outcome = wizard.journal.get(result.outcome_id or "")
    assert outcome is not None and outcome.justification == "CEO must send the board pack today"


def test_the_widgets_call_the_wizard(start_tenant: StartTenant, tmp_path: Path) -> None:
    t = start_tenant()
    view = unblock_wizard(toolkit_tenant(t, tmp_path / "store"), out_dir=tmp_path / "bundles")
    assert isinstance(view, UnblockWizard) and isinstance(view, widgets.Widget)
    view.wizard.verify_wait = 0.05
    assert "No pending" in view.pending_html.value
    assert view.later.layout.display == "none"
    view.picker.value = ALICE
    view.choose_button.click()
    assert view.wizard.user == ALICE and view.later.layout.display is None
    assert "COMPROMISED" in view.evidence.value
    assert len(view.step_widgets) == len(view.wizard.steps)

    revoke = next(w for w in view.step_widgets if view.wizard.steps[w.index].step.action == "revoke_grants")
    assert revoke.run_button.disabled  # preview first
    revoke.preview_button.click()
    assert "PDF Mail Helper" in revoke.output.value and not revoke.run_button.disabled
    assert sx.grant_exists(t, GRANT)
    revoke.run_button.click()  # no note: refused, nothing changed
    assert "note" in revoke.output.value and sx.grant_exists(t, GRANT)
    revoke.note.value = "consent phishing app"
    revoke.run_button.click()
    assert "done" in revoke.output.value and not sx.grant_exists(t, GRANT)

    view.typed.value = ALICE
    view.unblock_button.click()
    assert "not done" in view.unblock_output.value and ALICE in sx.blocked(t)
    view.justification.value = "override for the test"
    view.unblock_button.click()
    assert "requested" in view.unblock_output.value
    t.advance(130)
    view.check_button.click()
    assert "no longer restricted" in view.aftercare_output.value
    view.history_button.click()
    journal = view.history_output.value
    assert "remove_grant" in journal and "consent phishing app" in journal and "override for the test" in journal
    view.export_button.click()
    assert "Case bundle" in view.aftercare_output.value
    assert list((tmp_path / "bundles").glob("*.zip"))

    # Investigated again, the audit log shows the unblock (anyone's counts against the allowance).
    assert "none in the audit log" in view.status.value
    view.choose_button.click()
    assert view.wizard.unblocks_in_audit() == 1
    assert "1 in the audit log" in view.status.value and "1 recorded in this journal" in view.status.value


def wait_for(condition, seconds: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_the_aftercare_watch_warns_when_the_burst_resumes(start_tenant: StartTenant, tmp_path: Path) -> None:
    t = start_tenant()
    view = unblock_wizard(toolkit_tenant(t, tmp_path / "store"), out_dir=tmp_path / "bundles")
    view.wizard.verify_wait = 0.05
    view.picker.value = ALICE
    view.choose_button.click()
    wizard = view.wizard
    assert wizard.unblock(ALICE, justification="test of the watch").status == "requested"
    t.advance(130)  # the unblock takes effect

    # The widget's watch: the first check runs at once, the next in ten minutes; the analyst stops it.
    view.watch_button.click()
    assert view.watch_button.description == "Stop watching"
    assert wait_for(lambda: "block lifted" in view.watch_log.value), view.watch_log.value
    assert "burst" not in view.watch_log.value.lower()
    view.watch_button.click()
    assert wait_for(lambda: "The watch has ended" in view.watch_log.value), view.watch_log.value
    assert view.watch_button.description == "Start watching" and not wizard.watcher.running

    # A short watch: quiet at first, then the attacker sends again and the watch says so.
    seen: list[object] = []

    def shown(result: object) -> None:
        seen.append(result)
        view.show_check(result)  # type: ignore[arg-type]

    watch = wizard.watch(hours=1, duration=timedelta(seconds=4), every=timedelta(seconds=0.4), on_check=shown,
                         on_end=view.watch_ended)
    assert wait_for(lambda: len(seen) >= 1)
    first = seen[0]
    assert not first.burst and first.in_effect  # type: ignore[attr-defined]
    assert view.block_box.layout.display == "none"
    sent = t.control("POST", "/send", {"sender": ALICE, "recipients": 400, "minutes": 20})
    assert sent.status_code == 200, sent.text
    assert watch.join(30)
    bursts = [c for c in watch.checks if c.burst]
    assert bursts and bursts[0].recent_recipients >= 400 and watch.checks.index(bursts[0]) > 0
    assert "burst has resumed" in view.watch_log.value and view.block_box.layout.display is None
    assert view.watch_log.value.count("The watch has ended") == 2

    # The safe next step is one click away, and journaled.
    view.block_button.click()
    assert "Not blocked" in view.aftercare_output.value and sx.user(t, ALICE)["accountEnabled"] is True
    view.block_note.value = "burst resumed after the unblock"
    view.block_button.click()
    assert "done" in view.aftercare_output.value, view.aftercare_output.value
    assert sx.user(t, ALICE)["accountEnabled"] is False
    assert "block_sign_in" in set(wizard.history()["action"])


def test_the_unblock_limit_is_reported_through_the_wizard(start_tenant: StartTenant, tmp_path: Path) -> None:
    t = start_tenant(sx.tenant_copy(tmp_path, {ALICE: {"unblocksUsed": 2}}))  # the small tenant allows 2
    view = unblock_wizard(toolkit_tenant(t, tmp_path / "store"), out_dir=tmp_path / "bundles")
    view.wizard.verify_wait = 0.05
    view.picker.value = ALICE
    view.choose_button.click()
    view.typed.value = ALICE
    view.justification.value = "the analyst overrides, but Microsoft has the last word"
    view.unblock_button.click()
    shown = view.unblock_output.value
    assert "failed" in shown and "Microsoft Support" in shown and "Nothing was changed" in shown, shown
    assert ALICE in sx.blocked(t)
    result = view.wizard.unblock_result
    assert result is not None and result.reason == "unblock_limit"
    outcome = view.wizard.journal.get(result.outcome_id or "")
    assert outcome is not None and outcome.status == "failed"


def test_a_pending_intent_is_reconciled_when_the_wizard_starts(start_tenant: StartTenant, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from toolkit import actions

    t = start_tenant()
    tenant = toolkit_tenant(t, tmp_path / "store")
    ctx = actions.ActionContext.open(tenant)
    ctx.verify_wait = 0.05
    grant = actions.remove_grant(ctx, GRANT)

    def crash(*_: object) -> None:
        raise KeyboardInterrupt("crash between intent and outcome")

    monkeypatch.setattr(type(ctx.journal), "append", _crash_on_outcome(type(ctx.journal).append, crash))
    with pytest.raises(KeyboardInterrupt):
        grant.run(confirm=actions.Confirmation(note="crash test"))
    monkeypatch.undo()
    assert ctx.journal.pending(ctx.tenant_id)
    view = unblock_wizard(tenant)
    assert view.wizard.pending and "remove_grant" in view.pending_html.value
    assert not ctx.journal.pending(ctx.tenant_id)


def _crash_on_outcome(append, crash):  # type: ignore[no-untyped-def]
    def wrapped(self, entry):  # type: ignore[no-untyped-def]
        if entry.kind != "intent":
            crash()
        return append(self, entry)

    return wrapped


def test_notebook_04_runs_headless_and_shows_the_wizard(sandbox_env: dict[str, str]) -> None:
    notebook = nb.execute(nb.ROOT / "notebooks" / "04_guided_unblock.ipynb", sandbox_env)
    shown = nb.outputs(notebook)
    assert all(o.get("output_type") != "error" for o in shown), shown
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in shown)
