"""The helpdesk page (``python3 run.py app``: Voila serving the guided unblock) in a real browser.

Helpdesk staff pick the known compromised user of a generated tenant (its ground truth says who), preview and run
every remediation step, unblock, check and export the case - only by clicking and typing what they see. Then the
sandbox must show the account really changed (password, sessions, forwarding, rules, block) and the journal must
hold every step with the note typed for it. A screenshot of each step goes to tests/.output/browser/<test>/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser_support import (
    CONTROL_TIMEOUT_MS,
    Served,
    Session,
    assert_chart_drawn,
    press,
    require_browser,
    serve,
    session,
)
from toolkit.journal import Journal

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

#: How long a widget's follow-up update may lag behind the one seen (both come from the same click, in order).
SETTLE_MS = 3_000
#: The innermost box around a "Done by hand" button: one remediation step (title, buttons, note, result).
STEP_BOX = "xpath=ancestor::div[contains(concat(' ', normalize-space(@class), ' '), ' widget-vbox ')][1]"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    require_browser()
    with serve("app", tmp_path_factory.mktemp("browser-app")) as served:
        yield served


def test_the_helpdesk_page_walks_the_guided_unblock(app: Served, browser: Browser,
                                                    request: pytest.FixtureRequest) -> None:
    from playwright.sync_api import expect

    user, label = app.tenant.compromised()
    before = app.sandbox.account(user)
    assert before["blocked"] and before["forwarding"], before
    assert all(before["rules"].get(rule) for rule in label["ruleNames"]), "the attacker's rules should start enabled"

    with session(browser, app, request.node.name) as s:
        page = s.page
        page.goto(app.url("/"))
        picker = page.get_by_role("combobox")
        expect(picker).to_be_visible()
        assert page.get_by_text("SIMULATED DATA").first.is_visible()
        labels = picker.locator("option").all_inner_texts()
        choice = next((i for i, text in enumerate(labels) if user in text), None)
        assert choice is not None, f"{user} is not offered: {labels}"
        assert "compromised" in labels[choice], labels[choice]
        s.shot("opened")

        # 1-2: choose, investigate, read the evidence and the chart
        picker.select_option(index=choice)
        press(page.get_by_role("button", name="Investigate"), "the Investigate button")
        s.mark("investigate clicked")
        evidence = page.locator("pre", has_text=re.compile(rf"{re.escape(user)}: COMPROMISED"))
        expect(evidence).to_be_visible()
        s.mark("evidence shown")
        assert_chart_drawn(page.locator(".js-plotly-plot").first, "the outbound volume chart")
        s.shot("investigated")

        # 3: every remediation step, in order
        ran, by_hand = walk_remediation(s)
        assert ran, "no remediation step could be run from the page"
        status = status_text(page)
        assert "required steps are done" in status, status
        s.shot("remediated", focus=page.get_by_text("The required steps are done"))

        # 4: unblock, typing the address
        page.get_by_placeholder(re.compile("type the address", re.I)).fill(user)
        press(page.get_by_role("button", name=re.compile(r"^\W*Unblock\s*$")), "the Unblock button")  # icon glyph
        requested = page.locator("pre", has_text=re.compile(r"^requested", re.M))
        expect(requested).to_be_visible()
        s.shot("unblocked", focus=requested)

        # 5: aftercare once the sandbox's unblock delay has passed, then the case bundle
        app.sandbox.control("POST", "/clock", {"advance_seconds": 130})
        press(page.get_by_role("button", name=re.compile("Check now")), "the Check now button")
        released = page.locator("pre", has_text="no longer restricted")
        expect(released).to_be_visible()
        s.shot("aftercare", focus=released)
        press(page.get_by_role("button", name=re.compile("Export case bundle")), "the Export case bundle button")
        expect(page.locator("pre", has_text="Case bundle")).to_be_visible()
        press(page.get_by_role("button", name=re.compile("Show the journal")), "the Show the journal button")
        history = page.locator("table", has=page.locator("th", has_text="action"))
        for action in ("reset_password", "clear_forwarding", "disable_rule", "unblock"):
            expect(history.locator("td", has_text=re.compile(rf"^{action}$")).first).to_be_visible()
        s.shot("exported")
        assert not [e for e in s.console_errors if "Error displaying widget" in e], s.console_errors

    after = app.sandbox.account(user)
    assert after["password_changed"] > before["password_changed"], "the password was not reset"
    assert (after["sessions_valid_from"] or "") > (before["sessions_valid_from"] or ""), "sessions not revoked"
    assert after["forwarding"] == "", f"the mailbox still forwards to {after['forwarding']}"
    assert not any(after["rules"].get(rule) for rule in label["ruleNames"]), f"an attacker rule still runs: {after}"
    assert not after["blocked"], "the user is still on the Restricted entities list"
    assert app.sandbox.control("GET", "/state")["unblocksUsed"].get(user) == 1
    assert list((app.journal_path.parent / "bundles").glob("*.zip")), "no case bundle was written"
    check_journal(app.journal_path, user, ran, by_hand)


def walk_remediation(s: Session) -> tuple[dict[str, str], dict[str, str]]:
    """Preview each step; run it with a note when the page allows; mark a required step that is still missing
    as done by hand. Returns the notes typed: {note: step} for confirmed runs and for steps done by hand."""
    from playwright.sync_api import expect

    page = s.page
    anchors = page.get_by_role("button", name="Done by hand")
    expect(anchors.first).to_be_visible()
    ran: dict[str, str] = {}
    by_hand: dict[str, str] = {}
    for index in range(anchors.count()):
        step = anchors.nth(index).locator(STEP_BOX)
        heading = step.locator("b").first.inner_text().strip()
        title = re.sub(r"^\d+\.\s*", "", heading)
        advisory = "(advisory)" in step.inner_text()
        preview = step.get_by_role("button", name="Preview")
        if preview.count():
            output_after(step, preview, f"{title}: Preview")
            text = step.locator("pre").last.inner_text()
            assert "failed" not in text.lower(), f"{title}: {text}"
            s.shot(f"step{index + 1}-preview", focus=step)
            run = step.get_by_role("button", name="Confirm and run")
            expect(run, f"{title}: Confirm and run is not on the page").to_be_visible(timeout=CONTROL_TIMEOUT_MS)
            # The preview enables the button when there is something to do (a moment after its text arrives).
            if becomes_enabled(run):
                note = f"browser suite: {title}"
                step.get_by_role("textbox").fill(note)
                output_after(step, run, f"{title}: Confirm and run")
                result = step.locator("pre").last.inner_text()
                assert "Not run" not in result and "(verified:" in result, f"{title}: {result}"
                ran[note] = title
                s.shot(f"step{index + 1}-run", focus=step)
        status = status_line(page)
        if not advisory and not leaves(status, title):
            note = f"browser suite did by hand: {title}"
            step.get_by_role("textbox").fill(note)
            output_after(step, step.get_by_role("button", name="Done by hand"), f"{title}: Done by hand")
            assert "done by hand" in step.locator("pre").last.inner_text().lower()
            by_hand[note] = title
            s.shot(f"step{index + 1}-by-hand", focus=step)
        if not advisory:
            expect(status, f"'{title}' is still not done").not_to_contain_text(title)
    return ran, by_hand


def becomes_enabled(control: Locator) -> bool:
    """Whether the control is enabled, or shortly will be (its update follows the one just seen, same click)."""
    from playwright.sync_api import expect

    try:
        expect(control).to_be_enabled(timeout=SETTLE_MS)
    except AssertionError:
        return False
    return True


def leaves(status: Locator, title: str) -> bool:
    """Whether the step's title is gone from the 'Not yet' line, or shortly will be (same click, later update)."""
    from playwright.sync_api import expect

    try:
        expect(status).not_to_contain_text(title, timeout=SETTLE_MS)
    except AssertionError:
        return False
    return True


def output_after(step: Locator, control: Locator, what: str) -> None:
    """Click, then wait until the kernel has answered: the step's result box shows new text."""
    from playwright.sync_api import expect

    shown = step.locator("pre")
    old = shown.last.inner_text() if shown.count() else None
    press(control, what)
    if old is None:
        expect(shown.last).to_be_visible()
    else:
        expect(shown.last).not_to_have_text(old)


def status_line(page: Page) -> Locator:
    """The unblock section's status line: 'Not yet: <steps>' or 'The required steps are done.'"""
    mark = page.locator("b", has_text=re.compile(r"^\s*(Not yet:|The required steps are done)")).first
    return mark.locator("xpath=..")


def status_text(page: Page) -> str:
    return str(status_line(page).inner_text())


def check_journal(path: Path, user: str, ran: dict[str, str], by_hand: dict[str, str]) -> None:
    """Every confirmed step is an intent closed by an outcome, with the note typed for it; the unblock too, carrying
    the by-hand notes; the hash chain holds."""
    journal = Journal(path)
    try:
        entries = journal.entries()
        assert journal.verify() == [], "the journal's hash chain is broken"
    finally:
        journal.close()
    intents = {e.entry_id: e for e in entries if e.kind == "intent"}
    outcomes = {e.intent_id: e for e in entries if e.kind == "outcome"}
    assert all(not e.dry_run for e in intents.values()), "a click was journaled as a dry run"
    for note, title in ran.items():
        mine = [e for e in intents.values() if e.note == note]
        assert mine, f"'{title}' is not in the journal"
        for intent in mine:
            outcome = outcomes.get(intent.entry_id)
            assert outcome is not None, f"'{title}': {intent.action} has no outcome (pending)"
            assert outcome.status in ("done", "nothing_to_do"), (title, outcome.status, outcome.detail)
    actions = {e.action for e in intents.values()}
    assert {"reset_password", "clear_forwarding", "disable_rule"} <= actions, actions
    unblock = [e for e in intents.values() if e.action == "unblock" and e.target.lower() == user]
    assert len(unblock) == 1, [(e.action, e.target) for e in intents.values()]
    assert outcomes[unblock[0].entry_id].status == "requested"
    for note in by_hand:
        assert note in unblock[0].note, f"the by-hand step '{by_hand[note]}' is not recorded with the unblock"
