"""Shared pieces of the browser suite (tests/test_browser_*.py).

A generated tenant (its ground truth says who is compromised), the sandbox with JupyterLab or the helpdesk page
(Voila) started by the real launcher (``python -m toolkit.launch [--app]``) on a free port with a token, over a
temporary copy of the notebooks with a temporary store and journal, so nothing is written into the checkout;
Debian's Chromium driven headless by Playwright, kept off the network; a screenshot per step; and read-backs that
go around the toolkit, straight to the sandbox's Graph, Exchange and control APIs.

Without ``/usr/bin/chromium`` the browser tests skip, unless ``M365_REQUIRE_BROWSER=1`` (CI), where they fail.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msal
import pytest

from toolkit.sandbox_process import SandboxEndpoints
from toolkit.transport import session_trusting

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_ENV = "M365_REQUIRE_BROWSER"
#: Headless, and nothing that phones home: no QUIC, no background fetches, no component or sync traffic.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
#: Screenshots land in tests/.output/browser/<test>/, ignored by git (the folder carries its own .gitignore).
OUTPUT_ROOT = Path(__file__).resolve().parent / ".output" / "browser"
#: A small generated tenant: one compromised sender (mailbox forwarding, a forwarding rule, hiding rules, one of
#: them hidden from Graph) and one newsletter sender, so the triage every page runs on start stays short.
TENANT_ARGS = ["--seed", "7", "--users", "40", "--days", "14", "--scenarios", "forwarding_and_hiding_rules,newsletter"]
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
EXCHANGE_SCOPE = "https://outlook.office365.com/.default"
USER_FIELDS = "id,userPrincipalName,accountEnabled,lastPasswordChangeDateTime,signInSessionsValidFromDateTime"
START_TIMEOUT_S = 120.0
MAX_SHOT_HEIGHT = 12_000
#: The height the page would need to show everything without scrolling (its scrolling panels unrolled).
SCROLLED_HEIGHT = """() => Math.max(document.documentElement.scrollHeight, ...[...document.querySelectorAll('*')]
    .filter(e => /(auto|scroll)/.test(getComputedStyle(e).overflowY) && e.scrollHeight > e.clientHeight)
    .map(e => e.scrollHeight + e.getBoundingClientRect().top + window.scrollY))"""
#: How long a widget may take to answer a click (the kernel investigates, acts, reads back).
ACTION_TIMEOUT_MS = 90_000
#: How long a control may take to appear once its section is shown.
CONTROL_TIMEOUT_MS = 20_000


def require_browser() -> None:
    """Skip (or, with M365_REQUIRE_BROWSER=1, fail) when Chromium or Playwright is missing."""
    problem = None
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        problem = f"{CHROMIUM} is not installed (Debian: apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright Python package is not installed (pip install -e '.[dev]')"
    if problem is None:
        return
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"browser suite required ({REQUIRE_ENV}=1) but {problem}", pytrace=False)
    pytest.skip(f"browser suite skipped: {problem}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- the tenant and its ground truth -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class GeneratedTenant:
    dir: Path
    truth: dict[str, Any]

    @classmethod
    def generate(cls, folder: Path) -> GeneratedTenant:
        subprocess.run([sys.executable, "-m", "toolkit.sandbox", "generate", "--out", str(folder), *TENANT_ARGS],
                       check=True, capture_output=True)
        return cls(folder, json.loads((folder / "truth.json").read_text()))

    def restricted(self) -> dict[str, dict[str, Any]]:
        return {user: label for user, label in self.truth["labels"].items() if label.get("restricted")}

    def compromised(self) -> tuple[str, dict[str, Any]]:
        """The known compromised user: labelled compromised, restricted, not yet remediated, with forwarding and
        inbox rules to clean up (every one of them can be done in the wizard)."""
        found = [(user, label) for user, label in self.restricted().items()
                 if label["label"] == "compromised" and not label.get("remediated")
                 and label["scenario"] == "forwarding_and_hiding_rules"]
        assert len(found) == 1, f"the generated tenant should hold one such user: {found}"
        return found[0]


# -- read-backs around the toolkit -------------------------------------------------------------------------------------
@dataclass
class SandboxReader:
    """Straight to the sandbox's APIs as its demo app (and its control API), not through the toolkit."""

    ep: SandboxEndpoints

    def _token(self, scope: str) -> str:
        app = msal.ConfidentialClientApplication(
            self.ep.demo_client_id, client_credential=self.ep.demo_client_secret, authority=self.ep.authority,
            instance_discovery=False, http_client=session_trusting(self.ep.ca_bundle), http_cache={})
        result = app.acquire_token_for_client(scopes=[scope])
        assert "access_token" in result, result.get("error_description")
        return str(result["access_token"])

    def graph(self, path: str, **params: str) -> dict[str, Any]:
        response = session_trusting(self.ep.ca_bundle).get(
            f"{self.ep.graph}{path}", params=params or None, timeout=30,
            headers={"Authorization": f"Bearer {self._token(GRAPH_SCOPE)}"})
        response.raise_for_status()
        return dict(response.json())

    def invoke(self, cmdlet: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        body = {"CmdletInput": {"CmdletName": cmdlet, "Parameters": parameters or {}}}
        headers = {"Authorization": f"Bearer {self._token(EXCHANGE_SCOPE)}",
                   "X-AnchorMailbox": f"UPN:SystemMailbox{{bb558c35-97f1-4cb9-8ff7-d53741dc928c}}@"
                                      f"{self.ep.tenant_domain}"}
        response = session_trusting(self.ep.ca_bundle).post(f"{self.ep.exchange}/InvokeCommand", json=body,
                                                            headers=headers, timeout=30)
        response.raise_for_status()
        return list(response.json()["value"])

    def control(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        response = session_trusting(self.ep.ca_bundle).request(
            method, f"{self.ep.control}{path}", json=body, headers={"X-Sandbox-Key": self.ep.control_key}, timeout=30)
        response.raise_for_status()
        return dict(response.json())

    def user(self, upn: str) -> dict[str, Any]:
        return self.graph(f"/users/{upn}", **{"$select": USER_FIELDS})

    def rules(self, upn: str) -> dict[str, bool]:
        """Every inbox rule by name, hidden ones included (Get-InboxRule -IncludeHidden): is it enabled?"""
        return {r["Name"]: bool(r["Enabled"]) for r in self.invoke("Get-InboxRule", {"Mailbox": upn,
                                                                                      "IncludeHidden": True})}

    def mailbox(self, upn: str) -> dict[str, Any]:
        return self.invoke("Get-Mailbox", {"Identity": upn})[0]

    def blocked(self) -> set[str]:
        return {r["SenderAddress"].lower() for r in self.invoke("Get-BlockedSenderAddress")}

    def account(self, upn: str) -> dict[str, Any]:
        """What the wizard should change, read in one go."""
        user, mailbox = self.user(upn), self.mailbox(upn)
        return {
            "password_changed": user.get("lastPasswordChangeDateTime"),
            "sessions_valid_from": user.get("signInSessionsValidFromDateTime"),
            "forwarding": mailbox.get("ForwardingSmtpAddress") or mailbox.get("ForwardingAddress") or "",
            "rules": self.rules(upn),
            "blocked": upn.lower() in self.blocked(),
        }


# -- the servers -------------------------------------------------------------------------------------------------------
@dataclass
class Served:
    """The sandbox and JupyterLab (``kind="lab"``) or the helpdesk page (``kind="app"``), started by the launcher."""

    kind: str
    base_url: str
    token: str = field(repr=False)
    work: Path
    tenant: GeneratedTenant
    sandbox: SandboxReader
    notebooks: Path
    store: Path
    log_path: Path

    @property
    def journal_path(self) -> Path:
        return self.store / "journal.sqlite3"

    def url(self, path: str = "/") -> str:
        """An address on the server; the token travels in a header (:meth:`auth`), so no address, screenshot or
        failure message ever shows it."""
        return f"{self.base_url}{path}"

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def log_tail(self) -> str:
        return _tail(self.log_path, self.token)


def _jupyter_config(folder: Path) -> None:
    """No news feed, no update check: JupyterLab stays quiet and off the network."""
    server = {"LabApp": {"news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate"}}
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("jupyter_server_config.json", "jupyter_lab_config.json"):
        (folder / name).write_text(json.dumps(server))
    notification = folder / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True, exist_ok=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def serve(kind: str, work: Path) -> Iterator[Served]:
    """Start ``python -m toolkit.launch`` (``--app`` for the helpdesk page) as a user would, isolated in ``work``;
    stop it with Ctrl+C (SIGINT to its process group) afterwards."""
    assert kind in ("lab", "app")
    tenant = GeneratedTenant.generate(work / "tenant")
    notebooks = work / "notebooks"
    shutil.copytree(ROOT / "notebooks", notebooks, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    home, store, config = work / "sandbox-home", work / "store", work / "jupyter-config"
    _jupyter_config(config)
    token = secrets.token_hex(24)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("M365_", "JUPYTER_"))}
    env.update({
        "M365_SANDBOX_HOME": str(home), "M365_TOOLKIT_STORE": str(store),
        "M365_TOOLKIT_JOURNAL": str(store / "journal.sqlite3"), "M365_TOOLKIT_CONFIG": str(work / "none.toml"),
        "JUPYTER_TOKEN": token, "JUPYTER_CONFIG_DIR": str(config), "JUPYTER_DATA_DIR": str(work / "jupyter-data"),
        "JUPYTER_RUNTIME_DIR": str(work / "jupyter-runtime"), "IPYTHONDIR": str(work / "ipython"),
        "PYTHONUNBUFFERED": "1",
    })
    port = free_port()
    command = [sys.executable, "-m", "toolkit.launch", "--tenant", str(tenant.dir), "--notebooks", str(notebooks),
               "--no-browser", f"--port={port}"]
    if kind == "app":
        command.insert(3, "--app")
    log_path = work / f"{kind}-server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        info = home / "sandbox.json"
        while not (info.exists() and _listening(port)):
            assert proc.poll() is None, f"the launcher exited ({proc.returncode}):\n{_tail(log_path, token)}"
            assert time.monotonic() < deadline, f"the {kind} server did not start:\n{_tail(log_path, token)}"
            time.sleep(0.3)
        reader = SandboxReader(SandboxEndpoints(**json.loads(info.read_text())))
        yield Served(kind, f"http://127.0.0.1:{port}", token, work, tenant, reader, notebooks, store, log_path)
    finally:
        _stop(proc)


def _tail(log_path: Path, token: str) -> str:
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    return text.replace(token, "<token>")[-3000:]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl+C in the terminal does
    try:
        proc.wait(timeout=40)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# -- the browser -------------------------------------------------------------------------------------------------------
@contextmanager
def chromium() -> Iterator[Browser]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=ACTION_TIMEOUT_MS)  # an assertion waits as long as a click may take to answer
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Session:
    """One page of the browser, its screenshots, and what it tried to fetch from outside this machine."""

    page: Page
    folder: Path
    offsite: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    shots: list[Path] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    timeline: list[str] = field(default_factory=list)

    def mark(self, what: str) -> None:
        """A line in the folder's timeline.txt: how long the page took to get here."""
        self.timeline.append(f"{time.monotonic() - self.started:6.1f} s  {what}")

    def shot(self, name: str, focus: Any = None) -> Path:
        """A screenshot for this step: the whole page, or (``focus``, a locator) the window scrolled to that part.
        A shown password is masked: it never reaches a file."""
        path = self.folder / f"{len(self.shots) + 1:02d}-{name}.png"
        reached = time.monotonic()
        secret = self.page.locator("pre", has_text=re.compile("New password"))
        viewport = self.page.viewport_size or {"width": 1280, "height": 900}
        if focus is not None:
            focus.scroll_into_view_if_needed()
            self.page.screenshot(path=str(path), mask=[secret], animations="disabled")
        else:
            # The pages scroll inside a panel, not the document: grow the window to show it all in one picture.
            tall = min(max(int(self.page.evaluate(SCROLLED_HEIGHT)), viewport["height"]), MAX_SHOT_HEIGHT)
            self.page.set_viewport_size({"width": viewport["width"], "height": tall})
            try:
                self.page.screenshot(path=str(path), full_page=True, mask=[secret], animations="disabled")
            finally:
                self.page.set_viewport_size(viewport)
        took = time.monotonic() - reached
        self.timeline.append(f"{reached - self.started:6.1f} s  {path.name}  (picture {took:.1f} s)")
        self.shots.append(path)
        return path


def output_folder(test_name: str) -> Path:
    OUTPUT_ROOT.mkdir(parents=True, exist_ok=True)
    ignore = OUTPUT_ROOT / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# screenshots of the browser suite (tests/test_browser_*.py): never committed\n*\n")
    folder = OUTPUT_ROOT / re.sub(r"[^A-Za-z0-9_.-]", "_", test_name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    return folder


@contextmanager
def session(browser: Browser, served: Served, test_name: str, *, width: int = 1280,
            height: int = 900) -> Iterator[Session]:
    """A fresh page (own cookies) signed in to ``served`` that may only reach 127.0.0.1; anything else is refused
    and listed."""
    context = browser.new_context(viewport={"width": width, "height": height}, extra_http_headers=served.auth())
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    page = context.new_page()
    current = Session(page, output_folder(test_name))

    def route(r: Any) -> None:
        url = r.request.url
        if re.match(r"^(https?|wss?)://(127\.0\.0\.1|localhost)(:\d+)?/", url) or url.startswith(("data:", "blob:")):
            r.continue_()
        else:
            current.offsite.append(url)
            r.abort()

    context.route("**/*", route)
    page.on("console", lambda m: current.console_errors.append(m.text) if m.type == "error" else None)
    try:
        yield current
    finally:
        (current.folder / "offsite-requests-refused.txt").write_text("".join(f"{u}\n" for u in current.offsite))
        (current.folder / "timeline.txt").write_text("".join(f"{line}\n" for line in current.timeline))
        context.close()


# -- what a person sees ------------------------------------------------------------------------------------------------
def assert_chart_drawn(chart: Any, what: str) -> None:
    """A plotly chart that is on screen, of a readable size, with drawn marks (not an empty frame)."""
    from playwright.sync_api import expect

    chart.scroll_into_view_if_needed()
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 200, f"{what}: the chart is too small to read: {box}"
    marks = chart.evaluate(
        """el => [...el.querySelectorAll('.trace path, .trace .point')]
                 .filter(p => { const b = p.getBBox ? p.getBBox() : null; return b && (b.width > 0 || b.height > 0); })
                 .length""")
    assert marks > 0, f"{what}: the chart has axes but no drawn data"


def press(control: Any, what: str) -> None:
    """Click a control a person must be able to see: fail, naming it, when it is missing, hidden or disabled."""
    from playwright.sync_api import expect

    expect(control, f"{what} is not on the page, or hidden").to_be_visible(timeout=CONTROL_TIMEOUT_MS)
    expect(control, f"{what} is disabled").to_be_enabled(timeout=CONTROL_TIMEOUT_MS)
    control.click()
