"""The frames: the column contract of every frame kind, declared once, and the converters that enforce it.

Every source (Graph, Exchange, exported files, the sandbox) yields the same frame kinds with the same columns::

    from toolkit import frames

    frames.KINDS["trace"]                       # FrameSpec: columns (name, dtype, meaning), key, doc
    df = frames.from_graph("trace", items, accepted_domains=["contoso.com"])
    df = frames.from_exchange("restricted", items)
    df = frames.validate("trace", df)           # FrameError naming the kind, column and problem
    df = frames.dedupe("trace", df)             # keep the last row of each key
    frames.empty("signins")                     # no rows, the right dtypes
    row = frames.effective_policy(policy, policy_rules, "alice@contoso.com")

Modules: ``spec`` (Column, FrameSpec, dtypes), ``kinds`` (the contract), ``contract`` (validate, dedupe, concat,
docs), ``build`` (typed columns from payloads), one converter module per family (``trace``, ``exchange``, ``rules``,
``graph``, ``audit``), ``convert`` (dispatch by source).
"""

from toolkit.frames.audit import audit_from_exchange, audit_from_records, normalise_ip
from toolkit.frames.contract import concat, dedupe, empty, markdown_table, spec, validate
from toolkit.frames.convert import EXCHANGE, GRAPH, from_exchange, from_graph
from toolkit.frames.exchange import (
    ParsedReason,
    effective_policy,
    mailbox_from_exchange,
    parse_reason,
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
from toolkit.frames.kinds import (
    DIRECTIONS,
    KINDS,
    REASON_KINDS,
    SERVICE_DEFAULTS,
    TRACE_SOURCES,
    TRACE_STATUSES,
)
from toolkit.frames.rules import rules_from_exchange, rules_from_graph
from toolkit.frames.spec import DATETIME, STRING, Column, FrameError, FrameSpec
from toolkit.frames.trace import (
    status_vocabulary,
    trace_details_from_exchange,
    trace_details_from_graph,
    trace_from_exchange,
    trace_from_graph,
)

__all__ = [
    "DATETIME",
    "DIRECTIONS",
    "EXCHANGE",
    "GRAPH",
    "KINDS",
    "REASON_KINDS",
    "SERVICE_DEFAULTS",
    "STRING",
    "TRACE_SOURCES",
    "TRACE_STATUSES",
    "Column",
    "FrameError",
    "FrameSpec",
    "ParsedReason",
    "alerts_from_graph",
    "audit_from_exchange",
    "audit_from_records",
    "auth_methods_from_graph",
    "concat",
    "dedupe",
    "effective_policy",
    "empty",
    "from_exchange",
    "from_graph",
    "grants_from_graph",
    "mailbox_from_exchange",
    "markdown_table",
    "normalise_ip",
    "parse_reason",
    "policy_from_exchange",
    "policy_rules_from_exchange",
    "restricted_from_exchange",
    "risk_detections_from_graph",
    "risky_users_from_graph",
    "rules_from_exchange",
    "rules_from_graph",
    "signins_from_graph",
    "spec",
    "status_vocabulary",
    "trace_details_from_exchange",
    "trace_details_from_graph",
    "trace_from_exchange",
    "trace_from_graph",
    "users_from_graph",
    "validate",
]
