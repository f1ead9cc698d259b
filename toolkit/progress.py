"""Progress for long pulls: a bar in a notebook, log lines elsewhere, nothing when quiet."""

from __future__ import annotations

import logging
import sys
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Progress(Protocol):
    def step(self, label: str) -> None: ...

    def close(self) -> None: ...


class LogProgress:
    """Steps as INFO log lines (scripts, tests, CI)."""

    def __init__(self, total: int, title: str):
        self.total, self.title, self.done = total, title, 0

    def step(self, label: str) -> None:
        self.done += 1
        log.info("%s: %d/%d %s", self.title, self.done, self.total, label)

    def close(self) -> None:
        return None


class WidgetProgress:
    """An ipywidgets bar with the current step's label (notebooks)."""

    def __init__(self, total: int, title: str):
        import ipywidgets
        from IPython.display import display

        self.bar = ipywidgets.IntProgress(value=0, min=0, max=total, description=title[:20])
        self.label = ipywidgets.Label(value="")
        self.box = ipywidgets.HBox([self.bar, self.label])
        display(self.box)

    def step(self, label: str) -> None:
        self.bar.value += 1
        self.label.value = label

    def close(self) -> None:
        self.bar.bar_style = "success"
        self.label.value = "done"


def _in_notebook() -> bool:
    shell: Any = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()
    except AttributeError:
        return False
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def progress(total: int, title: str, quiet: bool = False) -> Progress:
    """A bar in a notebook kernel, log lines otherwise (or log lines only, when ``quiet``)."""
    if not quiet and _in_notebook():
        try:
            return WidgetProgress(total, title)
        except Exception as exc:  # no widget front end: fall back to the log
            log.debug("no progress widget (%s)", exc)
    return LogProgress(total, title)
