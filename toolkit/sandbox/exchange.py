"""The Exchange admin API of the sandbox: ``POST /adminapi/beta/{tenant}/InvokeCommand`` (m365-apis.md 2.1).

One route runs every cmdlet: it checks the tenant in the path and the caller's Exchange role, reads the
``{"CmdletInput": {"CmdletName", "Parameters"}}`` body, binds the parameters the way PowerShell does (unknown,
missing and ill-typed parameters are errors in PowerShell's words), runs the cmdlet and pages its output with
``Prefer: odata.maxpagesize`` and ``@odata.nextLink``. A nextLink is re-POSTed with the same body; the page comes
from the cursor opened by the first request, so the cmdlet is not run again (an unblock is not repeated, an audit
session does not advance) and every row is served exactly once.

The cmdlets themselves live in ``exchange_cmdlets.py`` (blocked senders, outbound spam policy, mailboxes, inbox
rules) and ``exchange_trace.py`` (message trace, unified audit log).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from datetime import datetime
from typing import Any

from starlette.responses import Response

from toolkit.sandbox import exchange_cmdlets, exchange_trace
from toolkit.sandbox.access import EXCHANGE, Principal, requirement
from toolkit.sandbox.app import Ctx, Route, route
from toolkit.sandbox.errors import ExchangeError
from toolkit.sandbox.exchange_cmdlets import (
    COMMAND_NOT_FOUND,
    EXO_ROLES,
    NOT_SIMULATED,
    PARAMETER_BINDING,
    PARAMETER_VALIDATION,
    Cmdlet,
    Invocation,
    Param,
    domain_controller,
)
from toolkit.sandbox.paging import SkipTokenInvalid
from toolkit.sandbox.snapshot import parse_instant

log = logging.getLogger(__name__)

PATH = "/adminapi/beta/{tenant}/InvokeCommand"
DEFAULT_PAGE_SIZE = 1000
#: UNVERIFIED: the largest page the service serves; a larger odata.maxpagesize is lowered to it (clients must
#: follow nextLinks anyway).
MAX_PAGE_SIZE = 1000
CONTENT_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

CMDLETS: dict[str, Cmdlet] = {c.name.lower(): c for c in (*exchange_cmdlets.CMDLETS, *exchange_trace.CMDLETS)}

#: PowerShell's common parameters: accepted on every cmdlet and without effect here.
COMMON_PARAMETERS = frozenset({"erroraction", "warningaction", "informationaction", "verbose", "debug",
                               "errorvariable", "warningvariable", "informationvariable", "outvariable", "outbuffer",
                               "pipelinevariable", "progressaction"})

#: The token must carry Exchange.ManageAsApp (app-only) or Exchange.Manage (delegated) for Office 365 Exchange
#: Online (doc). UNVERIFIED: the wording of the refusal.
NEED = requirement(
    EXCHANGE, application="Exchange.ManageAsApp", delegated="Exchange.Manage", denied_code="UnAuthorized",
    denied_message="The access token does not grant Exchange.ManageAsApp (application) or Exchange.Manage "
                   "(delegated) for Office 365 Exchange Online.",
)

#: Cmdlet-owned state of each running sandbox (audit sessions, indexes), by the sandbox object's id.
_MEMORY: dict[int, dict[str, Any]] = {}


# --- request checks ------------------------------------------------------------------------------------------------
def _cmdlet_name(body: bytes) -> str | None:
    try:
        name = json.loads(body)["CmdletInput"]["CmdletName"] if body else None
    except (ValueError, KeyError, TypeError):
        return None
    return name if isinstance(name, str) else None


def quota_bucket(ctx: Ctx) -> tuple[str, str]:
    """The V2 message-trace cmdlets count against their own 100-per-5-minutes quota; the rest against "exchange".

    A nextLink re-POST counts like the first request (its body names the same cmdlet). UNVERIFIED.
    """
    name = _cmdlet_name(ctx.body)
    cmdlet = CMDLETS.get(name.lower()) if name else None
    return (cmdlet.quota if cmdlet else "exchange"), ctx.sandbox.tenant_id


def _check_tenant(ctx: Ctx) -> None:
    """{tenant} is the tenant id or any accepted domain, case-insensitively. UNVERIFIED: the refusal's shape."""
    given = ctx.params["tenant"].lower()
    tenant = ctx.sandbox.snapshot.tenant
    if given != tenant.tenant_id and given not in tenant.domains:
        raise ExchangeError(404, "TenantNotFound", f"The tenant '{ctx.params['tenant']}' couldn't be found. Use the "
                                                   "tenant ID or one of the tenant's accepted domains.")


def _check_exchange_role(principal: Principal) -> None:
    """The caller needs an Entra role supported for Exchange Online PowerShell (m365-apis.md 2.1).

    UNVERIFIED over InvokeCommand: the app-only wording is what Connect-ExchangeOnline reports for an app without
    a supported role; the delegated wording is ours.
    """
    if principal.directory_roles & EXO_ROLES:
        return
    if principal.app_only:
        raise ExchangeError(403, "UnAuthorized", f"The role assigned to application {principal.claims.app_id} isn't "
                                                 "supported in this scenario. Please check online documentation for "
                                                 "assigning correct Directory Roles to Azure AD Application for EXO "
                                                 "App-Only Authentication.")
    raise ExchangeError(403, "UnAuthorized", f"The user '{principal.display}' isn't assigned to any management roles "
                                             "in Exchange Online.")


def _page_size(ctx: Ctx) -> tuple[int, bool]:
    """``Prefer: odata.maxpagesize=N`` (default 1000); whether the preference was applied."""
    for header in ctx.request.headers.getlist("prefer"):
        for preference in header.split(","):
            found = re.fullmatch(r"\s*odata\.maxpagesize\s*=\s*\"?(\d+)\"?\s*", preference, re.IGNORECASE)
            if found and int(found.group(1)) >= 1:
                return min(int(found.group(1)), MAX_PAGE_SIZE), True
    return DEFAULT_PAGE_SIZE, False


def _body(ctx: Ctx) -> dict[str, Any]:
    """The CmdletInput object, checked; 400 with what is wrong."""
    shape = 'the body must be {"CmdletInput": {"CmdletName": "<cmdlet>", "Parameters": {...}}}'
    data = ctx.json()
    if not isinstance(data, dict) or not isinstance(data.get("CmdletInput"), dict):
        raise ExchangeError(400, "BadRequest", f"Invalid request: 'CmdletInput' is missing or not an object; {shape}.")
    cmdlet_input = data["CmdletInput"]
    name = cmdlet_input.get("CmdletName")
    if not isinstance(name, str) or not name.strip():
        raise ExchangeError(400, "BadRequest", f"Invalid request: 'CmdletName' is missing or not a string; {shape}.")
    parameters = cmdlet_input.get("Parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise ExchangeError(400, "BadRequest", f"Invalid request: 'Parameters' must be an object; {shape}.")
    return cmdlet_input


def _caller(principal: Principal) -> str:
    user = principal.user["id"] if principal.user else ""
    return f"{principal.claims.app_id}/{user}"


def _fingerprint(ctx: Ctx, principal: Principal, cmdlet_input: dict[str, Any]) -> str:
    """What a nextLink belongs to: the path, the caller and the body (key order does not matter)."""
    text = json.dumps([ctx.request.url.path.lower(), _caller(principal), cmdlet_input], sort_keys=True,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _command_not_found(name: str) -> ExchangeError:
    """An unknown cmdlet, and also a cmdlet outside the caller's roles.

    Exchange RBAC builds each session from the caller's roles, so a cmdlet the caller may not run is simply not
    there: PowerShell answers "not recognized" (CommandNotFoundException) rather than "access denied".
    UNVERIFIED over InvokeCommand: the status (400) and the wording (PowerShell 7's).
    """
    return ExchangeError(400, COMMAND_NOT_FOUND,
                         f"The term '{name}' is not recognized as a name of a cmdlet, function, script file, or "
                         "executable program. Check the spelling of the name, or if a path was included, verify that "
                         "the path is correct and try again.")


# --- parameter binding (PowerShell's rules and words) --------------------------------------------------------------
_TYPE_NAMES = {
    "string": "System.String", "identity": "System.String", "smtp": "Microsoft.Exchange.Data.SmtpAddress",
    "smtp_list": "Microsoft.Exchange.Data.MultiValuedProperty", "string_list": "System.String[]",
    "datetime": "System.DateTime", "int": "System.Int32", "bool": "System.Boolean",
    "switch": "System.Management.Automation.SwitchParameter", "guid": "System.Guid",
    "result_size": "Microsoft.Exchange.Data.Unlimited`1[System.UInt32]",
}
_DOTNET = {str: "System.String", int: "System.Int32", float: "System.Double", list: "System.Object[]",
           dict: "System.Collections.Hashtable"}
_SMTP = re.compile(r"[^@\s\"<>(),;:\[\]]+@[^@\s\"<>(),;:\[\]]+\.[^@\s\"<>(),;:\[\]]+")
_DATE_FORMATS = ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p", "%m/%d/%Y")


def _cannot_convert(param: Param, value: Any, reason: str) -> ExchangeError:
    type_name = param.type_name or _TYPE_NAMES.get(param.kind, "System.String")
    return ExchangeError(400, PARAMETER_BINDING, f"Cannot bind parameter '{param.name}'. Cannot convert value "
                                                 f'"{value}" to type "{type_name}". Error: "{reason}"')


def _null_or_empty(param: Param) -> ExchangeError:
    return ExchangeError(400, PARAMETER_VALIDATION, f"Cannot validate argument on parameter '{param.name}'. The "
                                                    "argument is null or empty. Provide an argument that is not null "
                                                    "or empty, and then try the command again.")


def _text(param: Param, value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value
    shown = "System.Object[]" if isinstance(value, list) else "System.Collections.Hashtable"
    raise ExchangeError(400, PARAMETER_BINDING, f"Cannot convert '{shown}' to the type 'System.String' required by "
                                                f"parameter '{param.name}'. Specified method is not supported.")


def _smtp(param: Param, value: Any) -> str:
    text = _text(param, value).strip()
    address = text.split(":", 1)[1] if text.lower().startswith("smtp:") else text
    if not _SMTP.fullmatch(address):
        raise _cannot_convert(param, value, f'The email address "{address}" isn\'t correct. Please use this format: '
                                            "user name, the @ sign, followed by the domain name. For example, "
                                            "tonysmith@contoso.com or tony.smith@contoso.com.")
    return address


def _datetime(param: Param, value: Any) -> datetime:
    if isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            return parse_instant(text)  # ISO 8601; without a zone it is UTC
        except ValueError:
            pass
        for pattern in _DATE_FORMATS:  # what PowerShell's invariant culture also reads
            try:
                return parse_instant(datetime.strptime(text, pattern).isoformat())
            except ValueError:
                continue
    raise _cannot_convert(param, value, "String was not recognized as a valid DateTime.")


def _int(param: Param, value: Any) -> int:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif (isinstance(value, float) and value.is_integer()) or (
            isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value)):
        number = int(value)
    if number is None:
        raise _cannot_convert(param, value, "Input string was not in a correct format.")
    if param.low is not None and number < param.low:
        raise ExchangeError(400, PARAMETER_VALIDATION,
                            f"Cannot validate argument on parameter '{param.name}'. The {number} argument is less "
                            f"than the minimum allowed range of {param.low}. Supply an argument that is greater than "
                            f"or equal to {param.low} and then try the command again.")
    if param.high is not None and number > param.high:
        raise ExchangeError(400, PARAMETER_VALIDATION,
                            f"Cannot validate argument on parameter '{param.name}'. The {number} argument is greater "
                            f"than the maximum allowed range of {param.high}. Supply an argument that is less than "
                            f"or equal to {param.high} and then try the command again.")
    return number


def _bool(param: Param, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    shown = _DOTNET.get(type(value), "System.Object")
    raise ExchangeError(400, PARAMETER_BINDING,
                        f"Cannot process argument transformation on parameter '{param.name}'. Cannot convert value "
                        f'"{shown}" to type "System.Boolean". Boolean parameters accept only Boolean values and '
                        "numbers, such as $True, $False, 1 or 0.")


def _choice(param: Param, value: Any) -> str:
    text = _text(param, value).strip()
    for choice in param.choices:
        if choice.lower() == text.lower():
            return choice
    if param.kind == "enum":
        raise _cannot_convert(param, value, f"Unable to match the identifier name {text} to a valid enumerator name. "
                                            "Specify one of the following enumerator names and try again:\r\n"
                                            f"{', '.join(param.choices)}")
    raise ExchangeError(400, PARAMETER_VALIDATION,
                        f"Cannot validate argument on parameter '{param.name}'. The argument \"{text}\" does not "
                        f"belong to the set \"{','.join(param.choices)}\" specified by the ValidateSet attribute. "
                        "Supply an argument that is in the set and then try the command again.")


def _result_size(param: Param, value: Any) -> int | None:
    if isinstance(value, str) and value.strip().lower() == "unlimited":
        return None
    if isinstance(value, int | str) and not isinstance(value, bool) and re.fullmatch(r"\s*\d+\s*", str(value)):
        number = int(value)
        if number >= 1:
            return number
    raise _cannot_convert(param, value, f'The value "{value}" isn\'t valid. Valid values are "Unlimited" or an '
                                        "integer greater than 0.")


def convert(param: Param, value: Any) -> Any:
    """One parameter value from JSON to what the cmdlet gets (400 with PowerShell's message when it cannot)."""
    if value is None or (isinstance(value, str) and not value.strip() and param.kind != "string"):
        if param.nullable:
            return None
        raise _null_or_empty(param)
    kind = param.kind
    if kind in {"smtp_list", "string_list", "choice_list"}:
        items = value if isinstance(value, list) else [value]
        if not items:
            raise _null_or_empty(param)
        single = Param(param.name, {"smtp_list": "smtp", "string_list": "string", "choice_list": "choice"}[kind],
                       choices=param.choices)
        return [convert(single, item) for item in items]
    if kind == "string":
        return _text(param, value)
    if kind == "identity":
        return _text(param, value).strip()
    if kind == "smtp":
        return _smtp(param, value)
    if kind == "datetime":
        return _datetime(param, value)
    if kind == "int":
        return _int(param, value)
    if kind == "result_size":
        return _result_size(param, value)
    if kind in {"bool", "switch"}:
        return _bool(param, value)
    if kind == "guid":
        try:
            return str(uuid.UUID(_text(param, value).strip()))
        except ValueError:
            raise _cannot_convert(param, value, "Guid should contain 32 digits with 4 dashes "
                                                "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx).") from None
    if kind in {"choice", "enum"}:
        return _choice(param, value)
    raise ValueError(f"unknown parameter kind {kind!r} on {param.name}")


def bind(cmdlet: Cmdlet, raw: dict[str, Any]) -> dict[str, Any]:
    """The arguments by canonical parameter name; PowerShell's errors for anything it would refuse."""
    by_name = {p.name.lower(): p for p in cmdlet.params}
    unsimulated = {name.lower() for name in cmdlet.unsimulated}
    args: dict[str, Any] = {}
    for key, value in raw.items():
        if "@" in key:  # OData annotations such as "RecipientAddress@odata.type"
            continue
        param = by_name.get(key.lower())
        if param is None:
            if key.lower() in COMMON_PARAMETERS:
                continue
            if key.lower() in unsimulated:
                simulated = ", ".join(p.name for p in cmdlet.params)
                raise ExchangeError(400, NOT_SIMULATED, f"The sandbox tenant does not simulate the parameter '{key}' "
                                                        f"of {cmdlet.name}. Simulated parameters: {simulated}.")
            raise ExchangeError(400, PARAMETER_BINDING,
                                f"A parameter cannot be found that matches parameter name '{key}'.")
        if param.name in args:
            raise ExchangeError(400, PARAMETER_BINDING,
                                f"Cannot bind parameter because parameter '{param.name}' is specified more than once. "
                                "To provide multiple values to parameters that can accept multiple values, use the "
                                'array syntax. For example, "-parameter value1,value2,value3".')
        args[param.name] = convert(param, value)
    missing = [p.name for p in cmdlet.params if p.required and p.name not in args]
    if missing:
        raise ExchangeError(400, PARAMETER_BINDING, "Cannot process command because of one or more missing mandatory "
                                                    f"parameters: {' '.join(missing)}.")
    return args


# --- the handler ---------------------------------------------------------------------------------------------------
def invoke_command(ctx: Ctx) -> Response:
    _check_tenant(ctx)
    principal = ctx.require_principal()
    _check_exchange_role(principal)
    query = ctx.query()
    unknown = sorted(set(query) - {"$skiptoken"})
    if unknown:
        raise ExchangeError(400, "BadRequest", f"Query option '{unknown[0]}' is not supported on InvokeCommand.")
    cmdlet_input = _body(ctx)
    fingerprint = _fingerprint(ctx, principal, cmdlet_input)
    pager = ctx.sandbox.pager
    headers: dict[str, str] = {}
    warnings: list[str] = []
    if "$skiptoken" in query:
        try:
            page = pager.next(query["$skiptoken"], fingerprint, repeat_previous=ctx.repeat_page)
        except SkipTokenInvalid as exc:
            raise ExchangeError(400, "BadRequest", f"{exc} A nextLink must be POSTed with the same body as the "
                                                   "request that returned it.") from None
    else:
        name = cmdlet_input["CmdletName"].strip()
        cmdlet = CMDLETS.get(name.lower())
        if cmdlet is None or not (principal.directory_roles & cmdlet.roles):
            if cmdlet is not None:
                log.info("%s refused for %s: not in its roles", cmdlet.name, principal.display)
            raise _command_not_found(name)
        args = bind(cmdlet, cmdlet_input.get("Parameters") or {})
        invocation = Invocation(state=ctx.state, principal=principal, args=args,
                                memory=_MEMORY.setdefault(id(ctx.sandbox), {}), caller=_caller(principal),
                                server=domain_controller(ctx.sandbox.tenant_id))
        output = cmdlet.run(invocation)
        log.info("%s by %s: %d row(s)", cmdlet.name, principal.display, len(output.rows))
        size, applied = _page_size(ctx)
        if applied:
            headers["Preference-Applied"] = f"odata.maxpagesize={size}"
        page = pager.first(output.rows, size, output.project, fingerprint)
        warnings = output.warnings  # on the first page only, as @odata.count is on Graph
    tenant = ctx.params["tenant"]
    body: dict[str, Any] = {
        "@odata.context": ctx.url(f"/adminapi/beta/{tenant}/$metadata") + "#Collection(Exchange.GenericHashTable)",
        "adminapi.warnings@odata.type": "#Collection(String)",
        "@adminapi.warnings": warnings,
        "value": page.items,
    }
    if page.skiptoken is not None:
        body["@odata.nextLink"] = ctx.url(ctx.request.url.path, {"$skiptoken": page.skiptoken})
    return Response(json.dumps(body, separators=(",", ":")), status_code=200, headers=headers,
                    media_type=CONTENT_TYPE)


def routes() -> list[Route]:
    return [route("POST", PATH, invoke_command, "exchange", need=NEED, quota=quota_bucket)]
