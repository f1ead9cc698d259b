"""The sandbox's own endpoints under ``/_sandbox``: the device-login page, and hooks for tests and the demo.

The page is what a person opens to approve a device code. Everything else needs the control key printed in the
start-up line (header ``X-Sandbox-Key``): approve a device code, move the simulated clock, swap the fault spec,
read what faults fired and the state changes so far.
"""

from __future__ import annotations

import hmac
import html
import uuid
from datetime import timedelta
from urllib.parse import parse_qsl

from starlette.responses import HTMLResponse, Response

from toolkit.sandbox.app import Ctx, Route, json_response, route
from toolkit.sandbox.entra import approve_device_code
from toolkit.sandbox.errors import ServiceError
from toolkit.sandbox.faults import FaultSpecError, parse_spec
from toolkit.sandbox.state import iso

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sandbox tenant sign-in</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}}
label{{display:block;margin-top:1rem}}input{{width:100%;padding:.4rem;font-size:1rem}}
button{{margin-top:1rem;padding:.5rem 1rem;font-size:1rem}}.note{{color:#555}}</style></head>
<body><h1>Sign in to the sandbox tenant</h1>
<p class="note">This is the simulated tenant <b>{tenant}</b>. No real account is involved.</p>
{message}
<form method="post" action="/_sandbox/devicelogin">
<label for="user_code">Code shown by the app</label><input id="user_code" name="user_code" autocomplete="off">
<label for="username">Sign in as (user principal name)</label>
<input id="username" name="username" value="{default_user}">
<button type="submit" name="action" value="approve">Approve</button>
<button type="submit" name="action" value="decline">Decline</button>
</form></body></html>"""


def _page(ctx: Ctx, message: str = "", status: int = 200) -> Response:
    users = ctx.state.collection("users")
    admin = next((u for u in users if "Global Administrator" in ctx.state.user_roles(u)), None)
    default_user = admin["userPrincipalName"] if admin else ""
    body = _PAGE.format(tenant=html.escape(ctx.sandbox.snapshot.tenant.display_name), message=message,
                        default_user=html.escape(default_user))
    return HTMLResponse(body, status_code=status)


def device_login_page(ctx: Ctx) -> Response:
    return _page(ctx)


def device_login_submit(ctx: Ctx) -> Response:
    form = dict(parse_qsl(ctx.body.decode("utf-8"), keep_blank_values=True))
    decline = form.get("action") == "decline"
    try:
        flow = approve_device_code(ctx.sandbox, form.get("user_code", ""), form.get("username", ""), decline)
    except (LookupError, ValueError) as exc:
        return _page(ctx, f'<p role="alert">Not signed in: {html.escape(str(exc))}.</p>', status=400)
    verb = "declined" if decline else "approved"
    return _page(ctx, f'<p role="status">Sign-in {verb} for code {html.escape(flow.user_code)}. '
                      "You can close this page and return to the app.</p>")


def _require_key(ctx: Ctx) -> None:
    given = ctx.request.headers.get("x-sandbox-key", "")
    if not hmac.compare_digest(given, ctx.sandbox.control_key):
        raise ServiceError(401, "Unauthorized", "The control endpoints need the X-Sandbox-Key header from the "
                                                "start-up line.")


def approve(ctx: Ctx) -> Response:
    _require_key(ctx)
    data = ctx.json() or {}
    try:
        flow = approve_device_code(ctx.sandbox, str(data.get("user_code", "")), str(data.get("user", "")),
                                   bool(data.get("decline", False)))
    except LookupError as exc:
        raise ServiceError(404, "NotFound", str(exc)) from None
    except ValueError as exc:
        raise ServiceError(409, "Conflict", str(exc)) from None
    return json_response({"user_code": flow.user_code, "status": flow.status})


def clock_get(ctx: Ctx) -> Response:
    _require_key(ctx)
    return json_response({"now": iso(ctx.state.now())})


def clock_advance(ctx: Ctx) -> Response:
    _require_key(ctx)
    data = ctx.json() or {}
    seconds = data.get("advance_seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        raise ServiceError(400, "BadRequest", "'advance_seconds' must be a non-negative number.")
    return json_response({"now": iso(ctx.state.clock.advance(float(seconds)))})


def faults_put(ctx: Ctx) -> Response:
    _require_key(ctx)
    try:
        rules = parse_spec(ctx.json())
    except FaultSpecError as exc:
        raise ServiceError(400, "BadRequest", str(exc)) from None
    ctx.sandbox.faults.replace(rules)
    ctx.sandbox.quotas.reset()
    return json_response({"rules": len(rules)})


def faults_get(ctx: Ctx) -> Response:
    _require_key(ctx)
    return json_response({"fired": ctx.sandbox.faults.fired})


def state_get(ctx: Ctx) -> Response:
    _require_key(ctx)
    state = ctx.state
    return json_response({
        "now": iso(state.now()),
        "unblocksUsed": state.unblocks_used,
        "pendingUnblocks": {s: iso(p.effective_at) for s, p in state.pending_unblocks.items()},
        "counts": {name: len(rows) for name, rows in state.snapshot.collections.items()},
    })


def send(ctx: Ctx) -> Response:
    """Simulate a user sending now: ``{"sender", "recipients": n, "external": true, "minutes": 10}`` adds ``n``
    delivered trace rows spread over the last ``minutes`` minutes (a burst resuming after an unblock, say)."""
    _require_key(ctx)
    data = ctx.json() or {}
    sender = str(data.get("sender", "")).strip().lower()
    count, minutes = data.get("recipients", 0), data.get("minutes", 10)
    if ctx.state.find_user(sender) is None:
        raise ServiceError(404, "NotFound", f"'sender' must be a user of the tenant, got {sender!r}.")
    for name, value in (("recipients", count), ("minutes", minutes)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 100_000:
            raise ServiceError(400, "BadRequest", f"'{name}' must be a whole number from 1 to 100000.")
    external = bool(data.get("external", True))
    domain = "example.net" if external else sender.rsplit("@", 1)[-1]
    now = ctx.state.now()
    batch = uuid.uuid4().hex[:12]
    rows = []
    for i in range(count):
        at = now - timedelta(seconds=minutes * 60 * (count - i) / count)
        rows.append({"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{batch}/{i // 50}")),
                     "senderAddress": sender, "recipientAddress": f"r{batch}{i}@{domain}",
                     "messageId": f"<{batch}.{i // 50}@{sender.rsplit('@', 1)[-1]}>", "receivedDateTime": iso(at),
                     "subject": "Invoice overdue", "size": 18000, "fromIP": "198.51.100.23", "toIP": "",
                     "status": "delivered"})
    ctx.state.add_traces(rows)
    return json_response({"added": len(rows), "now": iso(now)})


def quotas_reset(ctx: Ctx) -> Response:
    _require_key(ctx)
    ctx.sandbox.quotas.reset()
    return json_response({"reset": True})


def routes() -> list[Route]:
    return [
        route("GET", "/_sandbox/devicelogin", device_login_page, "control"),
        route("POST", "/_sandbox/devicelogin", device_login_submit, "control"),
        route("POST", "/_sandbox/device/approve", approve, "control"),
        route("GET", "/_sandbox/clock", clock_get, "control"),
        route("POST", "/_sandbox/clock", clock_advance, "control"),
        route("GET", "/_sandbox/faults", faults_get, "control"),
        route("PUT", "/_sandbox/faults", faults_put, "control"),
        route("GET", "/_sandbox/state", state_get, "control"),
        route("POST", "/_sandbox/quotas/reset", quotas_reset, "control"),
        route("POST", "/_sandbox/send", send, "control"),
    ]
