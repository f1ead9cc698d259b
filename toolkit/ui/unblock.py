"""The guided unblock: choose a restricted user -> evidence -> remediation in Microsoft's order -> unblock -> aftercare.

    from toolkit.ui.unblock import Wizard, unblock_wizard
    unblock_wizard(tenant)                      # the widgets, for a notebook or Voila

    w = Wizard(tenant)                          # the same, without a browser
    w.pending                                   # intents a crash left pending, reconciled on start
    w.choose("alice@contoso.com")               # investigate and assess; the plan's steps become the checklist
    w.preview(0)                                # exactly what step 1 would change, read from the tenant now
    w.run(0, "compromised: hiding rule", confirm=True)   # dry run unless confirm=True
    w.unblock("alice@contoso.com")              # only when the required steps are done, or with a justification
    w.aftercare(hours=3)                        # is the block gone, and did the burst resume?
    w.watch(hours=1, duration=timedelta(hours=3), every=timedelta(minutes=10), on_check=print)  # in the background
    w.block_sign_in("burst resumed", confirm=True)                 # when it does
    w.export(out_dir)                           # the case bundle

Only wiring: the logic lives in :class:`Wizard`, whose methods call ``toolkit.actions``, ``toolkit.evidence``,
``toolkit.bundle`` and ``toolkit.charts``; the widgets call those methods and show what they return.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from html import escape
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pandas as pd
from IPython.display import display

from toolkit import actions, charts
from toolkit.aftercare import Aftercare, Watch, aftercare, usual_recipients
from toolkit.ui.triage import BADGE, sort_by_risk

log = logging.getLogger(__name__)

#: Result statuses that leave a step's action done.
DONE = frozenset({"done", "nothing_to_do"})


class UnblockRefused(ValueError):
    """The wizard will not unblock: preconditions not met without a justification, or the address typed differs."""


@dataclass
class StepState:
    """One checklist item: the plan step, its actions, and what the analyst did with them."""

    step: Any
    actions: list[actions.Action]
    previews: list[actions.Preview | None] = field(default_factory=list)
    results: list[actions.Result | None] = field(default_factory=list)
    by_hand: str = ""  # the analyst's note when the step was done outside the toolkit

    def __post_init__(self) -> None:
        self.previews = [None] * len(self.actions)
        self.results = [None] * len(self.actions)

    @property
    def done(self) -> bool:
        if self.by_hand or self.step.done:
            return True
        if not self.actions:
            return False
        return all(self._action_done(i) for i in range(len(self.actions)))

    def _action_done(self, i: int) -> bool:
        result, preview = self.results[i], self.previews[i]
        if result is not None and result.status in DONE and result.verified in (None, "yes"):
            return True
        return preview is not None and preview.nothing_to_do and not preview.refusal

    @property
    def required(self) -> bool:
        return bool(self.step.required)


class Wizard:
    """The guided unblock without widgets: every button of :func:`unblock_wizard` calls one method here."""

    def __init__(self, tenant: Any, *, days: int = 14, table: pd.DataFrame | None = None,
                 verify_wait: float | None = None):
        from toolkit.evidence import triage

        self.tenant = tenant
        self.days = days
        self.verify_wait = verify_wait
        start = actions.ActionContext.open(tenant)
        self.journal = start.journal
        self.pending: list[actions.Reconciliation] = actions.reconcile(self.journal, tenant)
        self.table = sort_by_risk(table if table is not None else triage(tenant, days=days))
        self.user: str | None = None
        self.case: Any = None
        self.assessment: Any = None
        self.ctx: actions.ActionContext | None = None
        self.steps: list[StepState] = []
        self.unblock_step: Any = None
        self.unblock_result: actions.Result | None = None
        self.watcher: Watch | None = None

    # -- step 1: choose ----------------------------------------------------------------------------------------------
    def users(self) -> list[tuple[str, str]]:
        """(label, address) for each restricted user, riskiest first, with the verdict."""
        return [(f"{r.user}  [{r.verdict} {float(r.confidence):.0%}]", str(r.user)) for r in self.table.itertuples()]

    def choose(self, user: str) -> Any:
        """Investigate ``user`` over ``days`` days and assess it; the plan's steps become the checklist."""
        from toolkit.evidence import assess

        if self.watcher is not None and self.watcher.running:
            self.watcher.stop()  # a watch belongs to the user it was started for
        self.case = self.tenant.investigate(user, days=self.days, save=True)
        self.user = self.case.user.primary_smtp.lower() if self.case.user.primary_smtp else user.lower()
        self.assessment = assess(self.case)
        self.ctx = actions.ActionContext.open(self.tenant, case=self.case, journal=self.journal)
        if self.verify_wait is not None:
            self.ctx.verify_wait = self.verify_wait
        steps = sorted(self.assessment.plan.steps, key=lambda s: s.order)  # Microsoft's order
        self.unblock_step = next((s for s in steps if s.action == "unblock"), None)
        self.steps = [StepState(s, actions.from_step(self.ctx, s)) for s in steps if s.action != "unblock"]
        self.unblock_result = None
        return self.assessment

    def _require_case(self) -> actions.ActionContext:
        if self.ctx is None or self.user is None:
            raise RuntimeError("choose a user first")
        return self.ctx

    # -- step 2: evidence --------------------------------------------------------------------------------------------
    def evidence_text(self) -> str:
        self._require_case()
        return str(self.assessment.report())

    def volume_chart(self) -> Any:
        self._require_case()
        return charts.outbound_volume(self.case)

    # -- step 3: remediation -----------------------------------------------------------------------------------------
    def preview(self, step_index: int) -> list[actions.Preview]:
        """What each action of the step would change, read from the tenant now (changes nothing)."""
        self._require_case()
        state = self.steps[step_index]
        state.previews = [a.preview() for a in state.actions]
        return list(state.previews)  # type: ignore[arg-type]

    def run(self, step_index: int, note: str, *, confirm: bool = False) -> list[actions.Result]:
        """Run the step's actions: a journaled dry run unless ``confirm`` (the "Confirm and run" click) is given.

        A confirmed run needs the analyst's note (the journal's why); each result carries the read-back."""
        self._require_case()
        if confirm and not note.strip():
            raise ValueError("write a note first: the journal records why each change was made")
        state = self.steps[step_index]
        confirmation = actions.Confirmation(note=note.strip()) if confirm else False
        state.results = [a.run(confirm=confirmation) for a in state.actions]
        if confirm:
            state.previews = [a.preview() for a in state.actions]  # read back what is left to do
        return list(state.results)  # type: ignore[arg-type]

    def done_by_hand(self, step_index: int, note: str) -> None:
        """Mark a step done outside the toolkit (reviewed MFA with the user, Remove-InboxRule in PowerShell...)."""
        if not note.strip():
            raise ValueError("say what was done, and how")
        self.steps[step_index].by_hand = note.strip()

    def missing(self) -> list[str]:
        """Titles of the required steps not done yet."""
        return [s.step.title for s in self.steps if s.required and not s.done]

    # -- step 4: unblock ---------------------------------------------------------------------------------------------
    def unblocks_used(self) -> int:
        """Unblocks of the user this journal recorded (this toolkit's own)."""
        ctx = self._require_case()
        return self.journal.unblocks_used(ctx.tenant_id, self.user or "")

    def audit_complete(self) -> bool:
        """Whether the investigation read the audit log completely (so "no unblock seen" means none)."""
        self._require_case()
        entries = [c for c in self.case.ledger.entries if c.kind == "audit"]
        return bool(entries) and all(c.complete for c in entries)

    def unblocks_in_audit(self) -> int | None:
        """Unblocks of the user by anyone that the investigation found in the audit log (None: none seen, which
        may also mean the audit log was not readable)."""
        self._require_case()
        return self.assessment.verdict.lifecycle.unblocks_used

    def unblock_preview(self, justification: str = "") -> actions.Preview:
        ctx = self._require_case()
        return actions.unblock(ctx, self.user or "", override_justification=justification).preview()

    def unblock(self, typed_address: str, justification: str = "", note: str = "") -> actions.Result:
        """Unblock the chosen user: the typed address is the confirmation; refused before the required steps are
        done unless a justification says why."""
        ctx = self._require_case()
        if typed_address.strip().lower() != self.user:
            raise UnblockRefused(f"the address typed ({typed_address.strip()!r}) is not {self.user}: nothing done")
        missing = self.missing()
        if missing and not justification.strip():
            raise UnblockRefused("not unblocked: these steps are not done: " + "; ".join(missing) +
                                 ". Finish them, or type a justification to override.")
        by_hand = [f"{s.step.title}: {s.by_hand}" for s in self.steps if s.by_hand]
        why = " | ".join(x for x in [note.strip() or "unblock after remediation", *by_hand] if x)
        action = actions.unblock(ctx, self.user or "", override_justification=justification.strip())
        self.unblock_result = action.run(confirm=actions.Confirmation(note=why))
        return self.unblock_result

    # -- step 5: aftercare -------------------------------------------------------------------------------------------
    def aftercare(self, hours: int = 3) -> Aftercare:
        """Read the Restricted entities list again, and count the user's recipients in the last ``hours`` hours
        against the usual count for such a window before the incident (a burst is 3x usual, at least 20)."""
        ctx = self._require_case()
        return aftercare(ctx, self.tenant, self.case, hours, burst_start=self.assessment.profile.burst_start)

    def watch(self, *, hours: int = 1, duration: timedelta = timedelta(hours=3),
              every: timedelta = timedelta(minutes=10), on_check: Any = None, on_end: Any = None) -> Watch:
        """Check every ``every`` for ``duration`` (in the background) whether the block is gone and whether the
        burst resumed in the last ``hours`` hours; ``on_check`` gets each result. Returns the running watch."""
        ctx, case, burst_start = self._require_case(), self.case, self.assessment.profile.burst_start
        if self.watcher is not None and self.watcher.running:
            self.watcher.stop()
        # bound to this case: choosing another user later does not move the watch to them
        self.watcher = Watch(lambda: aftercare(ctx, self.tenant, case, hours, burst_start=burst_start),
                             duration=duration, every=every, on_check=on_check, on_end=on_end)
        return self.watcher.start()

    def block_sign_in(self, note: str, *, confirm: bool = False) -> actions.Result:
        """Block the user's sign-in (when the burst resumes): a journaled dry run unless ``confirm``."""
        ctx = self._require_case()
        if confirm and not note.strip():
            raise ValueError("write a note first: the journal records why each change was made")
        confirmation = actions.Confirmation(note=note.strip()) if confirm else False
        return actions.block_sign_in(ctx, self.case.user).run(confirm=confirmation)

    def export(self, out_dir: Path) -> Path:
        """The case bundle (HTML report, evidence as Parquet, journal entries, manifest) under ``out_dir``."""
        from toolkit.bundle import export_bundle
        from toolkit.report import render_html

        self._require_case()
        return export_bundle(self.case, self.journal, Path(out_dir),
                             report_html=render_html(self.case, self.assessment))

    def history(self) -> pd.DataFrame:
        self._require_case()
        return actions.history(self.case, self.journal)


# -- the widgets (thin wiring) ---------------------------------------------------------------------------------------
#: Text blocks keep their line breaks, at a normal line height (the HTML widget's own is for one-line labels).
PRE = "white-space:pre-wrap;line-height:1.35;word-break:normal;overflow-wrap:anywhere;margin:.3em 0"


def _button(description: str, **options: Any) -> widgets.Button:
    """A button as wide as its words (the default width cuts longer labels short)."""
    return widgets.Button(description=description, layout=widgets.Layout(width="auto", min_width="7em"), **options)


def _pre(text: str) -> str:
    return f"<pre style='{PRE}'>{escape(text)}</pre>"


def _line(text: str, colour: str = "") -> str:
    style = f" style='color:{colour};font-weight:bold'" if colour else ""
    return f"<div{style}>{escape(text)}</div>"


class StepWidget(widgets.VBox):
    """One checklist item: reason, Preview, note, Confirm and run, result and read-back."""

    def __init__(self, wizard: Wizard, index: int, on_change: Any):
        self.wizard, self.index, self.on_change = wizard, index, on_change
        state = wizard.steps[index]
        step = state.step
        flag = "" if step.required else " (advisory)"
        self.title = widgets.HTML(f"<div style='line-height:1.35'><b>3.{step.order} {escape(step.title)}</b>{flag}"
                                  f"<br><i>{escape(step.reason)}</i></div>")
        self.preview_button = _button("Preview", icon="eye")
        self.note = widgets.Text(placeholder="why (recorded in the journal)", layout=widgets.Layout(width="50%"))
        self.run_button = _button("Confirm and run", button_style="danger", icon="check")
        self.hand_button = _button("Done by hand", tooltip="done outside the toolkit; say how "
                                          "in the note")
        self.output = widgets.HTML()
        self.preview_button.on_click(lambda _: self.do_preview())
        self.run_button.on_click(lambda _: self.do_run())
        self.hand_button.on_click(lambda _: self.do_by_hand())
        buttons = [self.preview_button, self.note, self.run_button] if state.actions else [self.note]
        self.run_button.disabled = True  # preview first: the confirm button is enabled by the preview
        super().__init__([self.title, widgets.HBox([*buttons, self.hand_button]), self.output])
        if not state.actions:
            self.output.value = "<i>Nothing the toolkit can do here: do it with the user, then mark it.</i>"

    def do_preview(self) -> None:
        try:
            previews = self.wizard.preview(self.index)
        except Exception as exc:  # shown to the analyst; the widget must not die
            self.output.value = _pre(f"Preview failed: {exc}")
            return
        self.output.value = _pre("\n\n".join(p.describe() for p in previews))
        self.run_button.disabled = all(p.nothing_to_do or not p.allowed for p in previews)
        self.on_change()

    def do_run(self) -> None:
        try:
            results = self.wizard.run(self.index, self.note.value, confirm=True)
        except Exception as exc:
            self.output.value = _pre(f"Not run: {exc}")
            return
        lines = []
        for r in results:
            lines.append(f"{r.action} {r.target}: {r.status} (verified: {r.verified})\n{r.detail}")
            if r.new_password is not None:
                lines.append(f"New password (shown once, give it by phone): {r.new_password.reveal()}\n"
                             f"{actions.HANDOVER_WARNING}")
        self.output.value = _pre("\n\n".join(lines))
        self.run_button.disabled = True
        self.on_change()

    def do_by_hand(self) -> None:
        try:
            self.wizard.done_by_hand(self.index, self.note.value)
        except ValueError as exc:
            self.output.value = _pre(str(exc))
            return
        self.output.value = _pre(f"Marked done by hand: {self.note.value}")
        self.on_change()


class UnblockWizard(widgets.VBox):
    """The five steps as widgets; ``wizard`` is the :class:`Wizard` the buttons call."""

    def __init__(self, wizard: Wizard, out_dir: Path | None = None):
        self.wizard = wizard
        self.out_dir = Path(out_dir) if out_dir else Path(wizard.journal.path).parent / "bundles"
        pending = "".join(f"<li>{escape(r.action)} {escape(r.target)}: {escape(r.status)} - {escape(r.detail)}</li>"
                          for r in wizard.pending)
        self.pending_html = widgets.HTML(
            f"<b>Pending journal entries reconciled on start:</b><ul>{pending}</ul>" if pending
            else "<i>No pending journal entries.</i>")
        # 1 choose
        self.badges = widgets.HTML(_badges(wizard.table))
        self.picker = widgets.Dropdown(options=[("choose a restricted user", ""), *wizard.users()],
                                       layout=widgets.Layout(width="60%"))
        self.choose_button = _button("Investigate", icon="search")
        self.choose_button.on_click(lambda _: self.do_choose())
        # 2 evidence
        self.evidence = widgets.HTML()
        self.chart = widgets.Output()
        # 3 checklist
        self.checklist = widgets.VBox()
        self.step_widgets: list[StepWidget] = []
        # 4 unblock
        self.status = widgets.HTML()
        self.typed = widgets.Text(placeholder="type the address to confirm")
        self.justification = widgets.Text(placeholder="justification to override missing steps (recorded)",
                                          layout=widgets.Layout(width="60%"))
        self.unblock_button = _button("Unblock", button_style="danger", icon="unlock")
        self.unblock_button.on_click(lambda _: self.do_unblock())
        self.unblock_output = widgets.HTML()
        # 5 aftercare
        short = {"description_width": "initial"}
        self.hours = widgets.BoundedIntText(value=3, min=1, max=48, description="window (h)", style=short,
                                            layout=widgets.Layout(width="9em"))
        self.check_button = _button("Check now", icon="refresh")
        self.check_button.on_click(lambda _: self.do_aftercare())
        self.watch_hours = widgets.BoundedIntText(value=3, min=1, max=72, description="watch for (h)", style=short,
                                                  layout=widgets.Layout(width="11em"))
        self.every = widgets.BoundedIntText(value=10, min=1, max=240, description="every (min)", style=short,
                                            layout=widgets.Layout(width="10em"))
        self.watch_button = _button("Start watching", icon="eye")
        self.watch_button.on_click(lambda _: self.do_watch())
        self.watch_log = widgets.HTML()
        self.block_note = widgets.Text(placeholder="why (recorded in the journal)", layout=widgets.Layout(width="50%"))
        self.block_button = _button("Block sign-in", button_style="danger", icon="ban")
        self.block_button.on_click(lambda _: self.do_block())
        self.block_box = widgets.HBox([self.block_note, self.block_button])
        self.block_box.layout.display = "none"
        self.export_button = _button("Export case bundle", icon="download")
        self.export_button.on_click(lambda _: self.do_export())
        self.history_button = _button("Show the journal", icon="list")
        self.history_button.on_click(lambda _: self.do_history())
        self.history_output = widgets.HTML()
        self.aftercare_output = widgets.HTML()

        def head(text: str) -> widgets.HTML:
            return widgets.HTML(f"<h3>{text}</h3>")

        self.later = widgets.VBox([
            head("2. Evidence"), self.evidence, self.chart,
            head("3. Remediation, in Microsoft's order"), self.checklist,
            head("4. Unblock"), self.status, widgets.HBox([self.typed, self.unblock_button]), self.justification,
            self.unblock_output,
            head("5. Aftercare"),
            widgets.HTML("<i>Watch the user's sending after the unblock: if the burst resumes, block sign-in and "
                         "investigate again before the account is restricted again.</i>"),
            widgets.HBox([self.hours, self.check_button]),
            widgets.HBox([self.watch_hours, self.every, self.watch_button]), self.watch_log, self.block_box,
            self.aftercare_output, widgets.HBox([self.export_button, self.history_button]), self.history_output,
        ])
        self.later.layout.display = "none"
        super().__init__([self.pending_html, head("1. Choose a restricted user"), self.badges,
                          widgets.HBox([self.picker, self.choose_button]), self.later])

    def do_choose(self) -> None:
        if not self.picker.value:
            return
        try:
            assessment = self.wizard.choose(self.picker.value)
        except Exception as exc:
            self.evidence.value = _pre(f"Investigation failed: {exc}")
            self.later.layout.display = None
            return
        self.evidence.value = _pre(assessment.report())
        self.chart.clear_output()
        with self.chart:
            display(self.wizard.volume_chart())
        self.step_widgets = [StepWidget(self.wizard, i, self.refresh) for i in range(len(self.wizard.steps))]
        self.checklist.children = self.step_widgets
        self.typed.value = self.justification.value = self.unblock_output.value = self.aftercare_output.value = ""
        self.watch_log.value = self.history_output.value = ""
        self.block_box.layout.display = "none"
        self.later.layout.display = None
        self.refresh()

    def refresh(self) -> None:
        missing = self.wizard.missing()
        used = self.wizard.unblocks_used()
        state = ("<b style='color:#2e7d32'>The required steps are done.</b>" if not missing else
                 "<b style='color:#c62828'>Not yet:</b> " + escape("; ".join(missing)) +
                 " (or type a justification to override).")
        seen = self.wizard.unblocks_in_audit()
        if seen is not None:
            audit = f"{seen} in the audit log (last 90 days, by anyone)"
        elif self.wizard.audit_complete():
            audit = "none in the audit log (last 90 days)"
        else:
            audit = "unknown: the audit log could not be read completely"
        who = escape(self.wizard.user or "")
        self.status.value = (f"<div style='line-height:1.35'>{state}<br>Unblocks of {who}: {audit}; {used} recorded in "
                             "this journal. Microsoft limits how many times an account can be unblocked and does not "
                             "say how many are left. An unblock takes effect within about an hour.</div>")

    def do_unblock(self) -> None:
        try:
            result = self.wizard.unblock(self.typed.value, self.justification.value)
        except UnblockRefused as exc:
            self.unblock_output.value = _pre(str(exc))
            return
        except Exception as exc:
            self.unblock_output.value = _pre(f"Unblock failed: {exc}")
            return
        self.unblock_output.value = _pre(f"{result.status} (verified: {result.verified})\n{result.detail}")
        self.refresh()

    def do_aftercare(self) -> None:
        try:
            care = self.wizard.aftercare(hours=int(self.hours.value))
        except Exception as exc:
            self.aftercare_output.value = _pre(f"Check failed: {exc}")
            return
        self.aftercare_output.value = _pre(care.describe())
        if care.burst:
            self.block_box.layout.display = None

    def do_watch(self) -> None:
        watcher = self.wizard.watcher
        if watcher is not None and watcher.running:
            watcher.stop()  # the watch ends at once, and watch_ended says so
            return
        self.watch_log.value = _line(f"Watching {self.wizard.user} for {self.watch_hours.value} h, every "
                                     f"{self.every.value} min (this page must stay open).")
        try:
            self.wizard.watch(hours=int(self.hours.value), duration=timedelta(hours=int(self.watch_hours.value)),
                              every=timedelta(minutes=int(self.every.value)), on_check=self.show_check,
                              on_end=self.watch_ended)
        except Exception as exc:
            self.watch_log.value = _pre(f"Watch not started: {exc}")
            return
        self.watch_button.description, self.watch_button.icon = "Stop watching", "stop"

    def show_check(self, result: Aftercare | Exception) -> None:
        """Called from the watch's thread with each check."""
        if isinstance(result, Exception):
            self.watch_log.value += _line(f"Check failed: {result}", "#c62828")
            return
        when = result.at.strftime("%H:%M UTC") if result.at else ""
        state = "block lifted" if result.in_effect else "still restricted"
        text = f"{when}: {state}; {result.recent_recipients} recipients in the last {result.hours} h " \
               f"(usual {result.baseline_recipients:.0f})."
        if result.burst:
            self.watch_log.value += _line(text + " WARNING: the burst has resumed: block sign-in and investigate "
                                                 "again.", "#c62828")
            self.block_box.layout.display = None
        else:
            self.watch_log.value += _line(text)

    def watch_ended(self) -> None:
        """Called from the watch's thread when it ends."""
        self.watch_button.description, self.watch_button.icon = "Start watching", "eye"
        self.watch_log.value += _line("The watch has ended.")

    def do_block(self) -> None:
        try:
            result = self.wizard.block_sign_in(self.block_note.value, confirm=True)
        except Exception as exc:
            self.aftercare_output.value = _pre(f"Not blocked: {exc}")
            return
        self.aftercare_output.value = _pre(f"Block sign-in: {result.status} (verified: {result.verified})\n"
                                           f"{result.detail}")

    def do_history(self) -> None:
        """The case's journal entries: every intent, outcome and read-back, oldest first."""
        try:
            table = self.wizard.history()
        except Exception as exc:
            self.history_output.value = _pre(f"Journal not shown: {exc}")
            return
        if not len(table):
            self.history_output.value = "<i>No journal entries for this user yet.</i>"
            return
        shown = table[["recorded_at", "kind", "action", "target", "status", "verified", "dry_run", "actor", "note",
                       "justification"]].copy()
        shown["recorded_at"] = shown["recorded_at"].dt.strftime("%Y-%m-%d %H:%M:%S UTC")
        self.history_output.value = (
            "<style>.m365-journal th{text-align:left}.m365-journal td{vertical-align:top;line-height:1.3}</style>"
            "<div style='max-height:24em;overflow:auto'>"
            + shown.to_html(index=False, escape=True, na_rep="", classes="m365-journal") + "</div>")

    def do_export(self) -> None:
        try:
            folder = self.wizard.export(self.out_dir)
        except Exception as exc:
            self.aftercare_output.value = _pre(f"Export failed: {exc}")
            return
        self.aftercare_output.value = _pre(f"Case bundle: {folder} and {folder}.zip")


def _badges(table: pd.DataFrame) -> str:
    if table.empty:
        return "<p>Nobody is on the Restricted entities list.</p>"
    spans = []
    for row in table.itertuples():
        colour = BADGE.get(str(row.verdict), "#555")
        spans.append(f"<span style='margin-right:1em'>{escape(str(row.user))} <span style='background:{colour};"
                     f"color:#fff;padding:.1em .5em;border-radius:.6em'>{escape(str(row.verdict))}</span></span>")
    return "<div>" + "".join(spans) + "</div>"


def unblock_wizard(tenant: Any, *, days: int = 14, out_dir: Path | None = None) -> UnblockWizard:
    """The guided unblock for ``tenant`` as widgets (reconciles the journal first and shows what was pending)."""
    return UnblockWizard(Wizard(tenant, days=days), out_dir=out_dir)


__all__ = ["Aftercare", "StepState", "UnblockRefused", "UnblockWizard", "Watch", "Wizard", "unblock_wizard",
           "usual_recipients"]
