"""A notebook panel to open exported files as a Case: upload files (or name files already on the server), say whose
case it is and how many days, press Open; the panel shows the case, every ledger entry, or the error that stopped it.

    from toolkit.ui.open_files import open_files_panel
    panel = open_files_panel()
    panel.widget          # display it; after Open, panel.case is the Case (the same as toolkit.open_case gives)

It calls :func:`toolkit.offline.open_case` and nothing else.
"""

from __future__ import annotations

import html
import logging
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from toolkit.case import Case
from toolkit.offline import open_case
from toolkit.sources.exports import ExportFormatError

log = logging.getLogger(__name__)

_STATUS_COLOUR = {"complete": "#1b7f3b", "partial": "#b26a00", "unavailable": "#6b6b6b", "failed": "#b00020"}


def _safe_name(name: str) -> str:
    base = Path(name.replace("\\", "/")).name
    cleaned = re.sub(r"[^A-Za-z0-9._ -]", "_", base).strip(" .")
    return cleaned or "upload"


def save_uploads(uploads: Iterable[Mapping[str, Any]], folder: Path) -> list[Path]:
    """Write uploaded files (ipywidgets FileUpload values) into ``folder``; names reduced to a safe base name."""
    folder.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    for upload in uploads:
        name = _safe_name(str(upload.get("name") or "upload"))
        target = folder / name
        n = 1
        while target.exists() or target in saved:
            target = folder / f"{Path(name).stem}-{n}{Path(name).suffix}"
            n += 1
        target.write_bytes(bytes(upload["content"]))
        saved.append(target)
    return saved


def ledger_html(case: Case) -> str:
    """The case's ledger as an HTML table (every value escaped)."""
    rows = []
    for entry in case.ledger:
        colour = _STATUS_COLOUR.get(entry.status, "#000")
        rows.append("<tr>" + "".join(f"<td style='padding:2px 6px;vertical-align:top'>{cell}</td>" for cell in (
            html.escape(entry.kind), f"<span style='color:{colour}'>{html.escape(entry.status)}</span>",
            html.escape(entry.source), str(entry.rows), html.escape(entry.detail))) + "</tr>")
    head = "".join(f"<th style='text-align:left;padding:2px 6px'>{h}</th>"
                   for h in ("kind", "status", "source", "rows", "detail"))
    return (f"<p>{html.escape(repr(case))}</p><table style='font-size:90%'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def error_html(exc: Exception) -> str:
    return f"<pre style='color:#b00020;white-space:pre-wrap'>{html.escape(str(exc))}</pre>"


@dataclass
class OpenFilesPanel:
    """The widgets and what they opened last."""

    upload: widgets.FileUpload
    paths: widgets.Textarea
    user: widgets.Text
    days: widgets.BoundedIntText
    keep_formulas: widgets.Checkbox
    button: widgets.Button
    result: widgets.HTML
    widget: widgets.VBox
    folder: Path
    on_case: Callable[[Case], None] | None = None
    case: Case | None = None
    error: Exception | None = None
    files: list[Path] = field(default_factory=list)

    def chosen_files(self) -> list[Path]:
        listed = [Path(line.strip()).expanduser() for line in self.paths.value.splitlines() if line.strip()]
        uploaded = save_uploads(self.upload.value, self.folder / "uploads") if self.upload.value else []
        return listed + uploaded

    def open(self, _: Any = None) -> Case | None:
        """Open the chosen files for the user (the button calls this)."""
        self.case, self.error = None, None
        try:
            self.files = self.chosen_files()
            if not self.files:
                raise ValueError("choose at least one file (upload it, or give its path on the server)")
            days = self.days.value or None
            self.case = open_case(self.user.value.strip(), self.files, days=days,
                                  formulas="keep" if self.keep_formulas.value else "refuse")
        except (ExportFormatError, ValueError, OSError) as exc:
            self.error = exc
            self.result.value = error_html(exc)
            log.info("open files: %s", exc)
            return None
        self.result.value = ledger_html(self.case)
        if self.on_case is not None:
            self.on_case(self.case)
        return self.case


def open_files_panel(*, on_case: Callable[[Case], None] | None = None, folder: Path | None = None,
                     user: str = "", days: int = 14) -> OpenFilesPanel:
    """A panel that opens exported files as a Case. Uploads are written under ``folder`` (a new temporary folder by
    default); ``on_case`` is called with each Case opened."""
    upload = widgets.FileUpload(description="Upload files", multiple=True, accept="")
    paths = widgets.Textarea(placeholder="or paths on the server, one per line", layout=widgets.Layout(width="60%"))
    user_box = widgets.Text(value=user, description="User", placeholder="alice@contoso.com")
    days_box = widgets.BoundedIntText(value=days, min=0, max=180, description="Days",
                                      tooltip="the last N days up to the newest row (0: every row)")
    keep = widgets.Checkbox(value=False, description="Keep spreadsheet-formula payloads as text",
                            indent=False)
    button = widgets.Button(description="Open", button_style="primary", icon="folder-open")
    result = widgets.HTML()
    box = widgets.VBox([widgets.HBox([upload, paths]), widgets.HBox([user_box, days_box]), keep, button, result])
    panel = OpenFilesPanel(upload, paths, user_box, days_box, keep, button, result, box,
                           folder or Path(tempfile.mkdtemp(prefix="toolkit-open-files-")), on_case)
    button.on_click(panel.open)
    return panel


__all__ = ["OpenFilesPanel", "error_html", "ledger_html", "open_files_panel", "save_uploads"]
