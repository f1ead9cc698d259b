"""Widgets for notebooks: thin wiring over functions that work without them.

    from toolkit import ui
    ui.triage_table(tenant)       # restricted users with verdicts; pick one to investigate
    ui.unblock_wizard(tenant)     # remediate in Microsoft's order, unblock, watch, export
    ui.open_files_panel()         # an offline case from exported files
"""

from toolkit.ui.open_files import open_files_panel
from toolkit.ui.triage import triage_table
from toolkit.ui.unblock import unblock_wizard

__all__ = ["open_files_panel", "triage_table", "unblock_wizard"]
