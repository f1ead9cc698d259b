"""The triage notebook in JupyterLab (``python3 run.py lab``), in a real browser.

An analyst opens ``01_triage_restricted_users``, runs every cell and must see the triage table (every restricted
user of the generated tenant, the compromised one called compromised), pick the compromised user and see the
investigation's charts drawn - on screen, of a readable size, with data - and the DataFrame below. A screenshot of
each step goes to tests/.output/browser/<test>/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.browser_support import Served, assert_chart_drawn, require_browser, serve, session

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

NOTEBOOK = "01_triage_restricted_users.ipynb"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    require_browser()
    with serve("lab", tmp_path_factory.mktemp("browser-lab")) as served:
        yield served


def test_the_triage_notebook_draws_the_table_and_the_charts(lab: Served, browser: Browser,
                                                            request: pytest.FixtureRequest) -> None:
    from playwright.sync_api import expect

    restricted = lab.tenant.restricted()
    user, _ = lab.tenant.compromised()
    with session(browser, lab, request.node.name, height=1000) as s:
        page = s.page
        page.goto(lab.url(f"/lab/tree/{NOTEBOOK}"))
        notebook = page.locator(".jp-Notebook").first
        expect(notebook.get_by_role("heading", name="Triage the restricted users")).to_be_visible()
        s.shot("opened", focus=notebook)
        run_all_cells(page)
        s.mark("run all cells")

        table = page.locator("table", has=page.locator("th", has_text="next step"))
        table.scroll_into_view_if_needed()
        expect(table).to_be_visible()
        for address, label in restricted.items():
            row = table.locator("tr", has_text=address)
            expect(row).to_be_visible()
            if label["label"] == "compromised":
                expect(row).to_contain_text("compromised")
        s.shot("triage-table", focus=table)

        picker = page.get_by_role("combobox", name="Investigate")
        labels = picker.locator("option").all_inner_texts()
        choice = next((i for i, text in enumerate(labels) if user in text), None)
        assert choice is not None, f"{user} is not offered: {labels}"
        picker.select_option(index=choice)
        s.mark("user chosen")
        expect(page.locator("pre", has_text=re.compile(rf"{re.escape(user)}: COMPROMISED"))).to_be_visible()
        charts = page.locator(".js-plotly-plot")
        expect(charts).to_have_count(2)  # the outbound volume and the incident timeline
        assert_chart_drawn(charts.nth(0), "the outbound volume chart")
        s.shot("investigation-volume", focus=charts.nth(0))
        assert_chart_drawn(charts.nth(1), "the incident timeline")
        s.shot("investigation-timeline", focus=charts.nth(1))

        frame = page.locator("table.dataframe").last
        frame.scroll_into_view_if_needed()
        expect(frame).to_be_visible()
        expect(frame.locator("tbody tr")).to_have_count(len(restricted))
        s.shot("dataframe", focus=frame)

        shown = notebook.inner_text()
        assert "Traceback" not in shown and "Error displaying widget" not in shown, shown[-2000:]
        assert not [e for e in s.console_errors if "widget" in e.lower()], s.console_errors


def run_all_cells(page: Page) -> None:
    """Run > Run All Cells from the menu bar, as an analyst would; then wait for the kernel to be idle again."""
    from playwright.sync_api import expect

    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()
    last = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").last
    last.scroll_into_view_if_needed()
    expect(last).to_have_text(re.compile(r"\[\d+\]"))  # the last cell ran: [n], not [ ] or [*]
