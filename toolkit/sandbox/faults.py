"""Declarative fault injection: which requests fail, on which call, and how.

A spec is JSON, either a list of rules or ``{"faults": [...]}``::

    {"faults": [
      {"path": "/v1.0/auditLogs/signIns", "calls": [2], "fault": "throttle", "retry_after": 1},
      {"path": "/v1.0/admin/exchange/tracing/messageTraces", "calls": {"from": 1, "times": 3}, "fault": "throttle",
       "retry_after": null},
      {"cmdlet": "Get-MessageTraceV2", "calls": [1], "fault": "status", "status": 503},
      {"path": "/v1.0/users/*/mailFolders/inbox/messageRules", "calls": "all", "fault": "reset"}
    ]}

Rule fields:
- ``path``: a glob on the URL path (``*`` matches within and across segments), or ``cmdlet``: an InvokeCommand cmdlet
  name. One of the two is required. ``method`` (optional) narrows to one HTTP method.
- ``calls``: which matching requests fail, counted from 1 per rule: a list of numbers, ``{"from": n, "times": k}``
  (k omitted: every call from n on), or ``"all"``.
- ``fault``, one of:
  ``throttle`` (429; ``retry_after`` an integer, a fraction, or null for no header),
  ``status`` (``status`` 500, 502, 503 or 504; ``retry_after`` optional),
  ``reset`` (the connection is dropped with no response),
  ``truncate`` (the real response, cut off half way, then the connection is dropped),
  ``slow`` (the real response after ``delay_s`` seconds),
  ``token_rejected`` (401: the bearer token is refused as expired, as if it lapsed mid-paging),
  ``repeat_page`` (on a nextLink request, the previous page is served again, with its own nextLink).
"""

from __future__ import annotations

import fnmatch
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KINDS = frozenset({"throttle", "status", "reset", "truncate", "slow", "token_rejected", "repeat_page"})


class FaultSpecError(ValueError):
    """A fault spec that cannot be used; names the rule and the problem."""


@dataclass
class FaultRule:
    fault: str
    path: str | None = None
    cmdlet: str | None = None
    method: str | None = None
    calls: list[int] | None = None  # explicit call numbers
    from_call: int | None = None
    times: int | None = None
    every: bool = False
    status: int = 503
    retry_after: float | int | None = None
    delay_s: float = 0.0
    seen: int = field(default=0, compare=False)

    def matches(self, method: str, path: str, cmdlet: str | None) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        if self.cmdlet is not None:
            return cmdlet is not None and cmdlet.lower() == self.cmdlet.lower()
        return self.path is not None and fnmatch.fnmatchcase(path.lower(), self.path.lower())

    def fires_on(self, call: int) -> bool:
        if self.every:
            return True
        if self.calls is not None:
            return call in self.calls
        assert self.from_call is not None
        if call < self.from_call:
            return False
        return self.times is None or call < self.from_call + self.times


@dataclass(frozen=True)
class Fault:
    """One fault to apply to the current request."""

    kind: str
    status: int = 503
    retry_after: float | int | None = None
    delay_s: float = 0.0


def _rule(raw: Any, index: int) -> FaultRule:
    where = f"fault rule #{index + 1}"
    if not isinstance(raw, dict):
        raise FaultSpecError(f"{where}: expected an object, got {type(raw).__name__}")
    unknown = set(raw) - {"fault", "path", "cmdlet", "method", "calls", "status", "retry_after", "delay_s"}
    if unknown:
        raise FaultSpecError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    kind = raw.get("fault")
    if kind not in KINDS:
        raise FaultSpecError(f"{where}: 'fault' must be one of {', '.join(sorted(KINDS))}; got {kind!r}")
    path, cmdlet = raw.get("path"), raw.get("cmdlet")
    if (path is None) == (cmdlet is None):
        raise FaultSpecError(f"{where}: give exactly one of 'path' or 'cmdlet'")
    if path is not None and (not isinstance(path, str) or not path.startswith("/")):
        raise FaultSpecError(f"{where}: 'path' must be a URL path starting with '/', got {path!r}")
    if cmdlet is not None and not isinstance(cmdlet, str):
        raise FaultSpecError(f"{where}: 'cmdlet' must be a string")
    rule = FaultRule(fault=kind, path=path, cmdlet=cmdlet, method=raw.get("method"))
    calls = raw.get("calls", "all")
    if calls == "all":
        rule.every = True
    elif isinstance(calls, list) and calls and all(isinstance(c, int) and not isinstance(c, bool) and c >= 1
                                                   for c in calls):
        rule.calls = sorted(set(calls))
    elif isinstance(calls, dict) and isinstance(calls.get("from"), int) and calls["from"] >= 1:
        times = calls.get("times")
        if times is not None and (not isinstance(times, int) or times < 1):
            raise FaultSpecError(f"{where}: 'calls.times' must be a positive integer")
        rule.from_call, rule.times = calls["from"], times
    else:
        raise FaultSpecError(
            f"{where}: 'calls' must be \"all\", a list of call numbers from 1, or {{\"from\": n, \"times\": k}}"
        )
    if kind == "status":
        status = raw.get("status", 503)
        if status not in (500, 502, 503, 504):
            raise FaultSpecError(f"{where}: 'status' must be 500, 502, 503 or 504; got {status!r}")
        rule.status = status
    retry_after = raw.get("retry_after")
    if retry_after is not None and (isinstance(retry_after, bool) or not isinstance(retry_after, int | float)
                                    or retry_after < 0):
        raise FaultSpecError(f"{where}: 'retry_after' must be a non-negative number or null")
    rule.retry_after = retry_after
    delay = raw.get("delay_s", 0.0)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
        raise FaultSpecError(f"{where}: 'delay_s' must be a non-negative number")
    if kind == "slow" and delay == 0:
        raise FaultSpecError(f"{where}: a 'slow' fault needs 'delay_s' > 0")
    rule.delay_s = float(delay)
    return rule


def parse_spec(spec: Any) -> list[FaultRule]:
    """Rules from a parsed JSON spec (a list, or an object with a 'faults' list)."""
    if isinstance(spec, dict):
        if set(spec) - {"faults"}:
            raise FaultSpecError("a fault spec object holds only 'faults'")
        spec = spec.get("faults", [])
    if not isinstance(spec, list):
        raise FaultSpecError("a fault spec is a list of rules or {\"faults\": [...]}")
    return [_rule(raw, i) for i, raw in enumerate(spec)]


def load_spec(text_or_path: str) -> list[FaultRule]:
    """Rules from inline JSON or from a JSON file path (what ``--faults`` accepts)."""
    stripped = text_or_path.strip()
    if stripped.startswith(("[", "{")):
        source, text = "--faults", stripped
    else:
        path = Path(text_or_path)
        if not path.is_file():
            raise FaultSpecError(f"fault spec file not found: {path}")
        source, text = str(path), path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FaultSpecError(f"{source}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    return parse_spec(data)


class FaultInjector:
    """Holds the active rules and counts matching calls; replaceable at run time through the control API."""

    def __init__(self, rules: list[FaultRule] | None = None):
        self._rules = list(rules or [])
        self._lock = threading.Lock()
        self.fired: list[dict[str, Any]] = []

    def replace(self, rules: list[FaultRule]) -> None:
        with self._lock:
            self._rules = list(rules)
            self.fired.clear()

    def pick(self, method: str, path: str, cmdlet: str | None) -> Fault | None:
        """Count this request against every matching rule; return the first fault that fires on it."""
        chosen: Fault | None = None
        with self._lock:
            for rule in self._rules:
                if not rule.matches(method, path, cmdlet):
                    continue
                rule.seen += 1
                if chosen is None and rule.fires_on(rule.seen):
                    chosen = Fault(rule.fault, rule.status, rule.retry_after, rule.delay_s)
                    self.fired.append({"fault": rule.fault, "path": path, "cmdlet": cmdlet, "call": rule.seen})
        return chosen
