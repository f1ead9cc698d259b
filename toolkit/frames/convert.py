"""One entry point per source: ``from_graph(kind, items, **context)`` and ``from_exchange(kind, items, **context)``.

Each dispatches to the converter of that kind and source (also importable by name), and checks the context
keywords against it, so a misspelt ``accepted_domain=`` is an error rather than a silently empty column.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd

from toolkit.frames.audit import audit_from_exchange
from toolkit.frames.contract import spec
from toolkit.frames.exchange import (
    mailbox_from_exchange,
    policy_from_exchange,
    policy_rules_from_exchange,
    restricted_from_exchange,
)
from toolkit.frames.graph import (
    alerts_from_graph,
    auth_methods_from_graph,
    grants_from_graph,
    risk_detections_from_graph,
    risky_users_from_graph,
    signins_from_graph,
    users_from_graph,
)
from toolkit.frames.rules import rules_from_exchange, rules_from_graph
from toolkit.frames.spec import FrameError
from toolkit.frames.trace import (
    trace_details_from_exchange,
    trace_details_from_graph,
    trace_from_exchange,
    trace_from_graph,
)

Converter = Callable[..., pd.DataFrame]

GRAPH: dict[str, Converter] = {
    "users": users_from_graph,
    "signins": signins_from_graph,
    "risky_users": risky_users_from_graph,
    "risk_detections": risk_detections_from_graph,
    "rules": rules_from_graph,
    "auth_methods": auth_methods_from_graph,
    "grants": grants_from_graph,
    "alerts": alerts_from_graph,
    "trace": trace_from_graph,
    "trace_details": trace_details_from_graph,
}

EXCHANGE: dict[str, Converter] = {
    "restricted": restricted_from_exchange,
    "policy": policy_from_exchange,
    "policy_rules": policy_rules_from_exchange,
    "mailbox": mailbox_from_exchange,
    "rules": rules_from_exchange,
    "trace": trace_from_exchange,
    "trace_details": trace_details_from_exchange,
    "audit": audit_from_exchange,
}


def _dispatch(source: str, table: Mapping[str, Converter], other: Mapping[str, Converter], kind: str,
              items: Iterable[Mapping[str, Any]], context: dict[str, Any]) -> pd.DataFrame:
    spec(kind)  # an unknown kind is named as such
    converter = table.get(kind)
    if converter is None:
        hint = f"; use from_{'exchange' if source == 'graph' else 'graph'}" if kind in other else ""
        raise FrameError(f"{kind}: {source} has no converter for this kind{hint}")
    parameters = inspect.signature(converter).parameters
    unknown = [k for k in context if k not in parameters]
    if unknown:
        allowed = [p for p in parameters if p != "items"]
        raise FrameError(f"{kind}: {converter.__name__} takes no {', '.join(map(repr, unknown))}; "
                         f"its context keywords are: {', '.join(allowed)}")
    missing = [name for name, p in parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY
               and p.default is inspect.Parameter.empty and name not in context]
    if missing:
        raise FrameError(f"{kind}: {converter.__name__} needs {', '.join(f'{m}=' for m in missing)}")
    return converter(items, **context)


def from_graph(kind: str, items: Iterable[Mapping[str, Any]], **context: Any) -> pd.DataFrame:
    """Graph ``value[]`` items of ``kind`` as its frame. ``context``: the converter's keywords (e.g.
    ``accepted_domains`` for trace and rules, ``mailbox`` for rules, ``user_id`` for auth_methods,
    ``service_principals`` for grants, ``recipient`` for trace_details, ``dedupe`` for all)."""
    return _dispatch("graph", GRAPH, EXCHANGE, kind, items, context)


def from_exchange(kind: str, items: Iterable[Mapping[str, Any]], **context: Any) -> pd.DataFrame:
    """Exchange cmdlet objects (InvokeCommand ``value[]``) of ``kind`` as its frame. ``context``: the converter's
    keywords (e.g. ``rules`` for policy, ``accepted_domains`` for trace, mailbox and rules, ``mailbox`` for rules)."""
    return _dispatch("exchange", EXCHANGE, GRAPH, kind, items, context)
