"""Reading the unified audit log: which configuration changes a case's audit frame holds, and their parameters."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from toolkit.evidence.common import text, texts

RULE_OPERATIONS = frozenset({"new-inboxrule", "set-inboxrule", "enable-inboxrule", "updateinboxrules"})
MAILBOX_OPERATIONS = frozenset({"set-mailbox", "add-mailboxpermission", "add-recipientpermission",
                                "add-mailboxfolderpermission", "set-casmailbox", "new-transportrule"})
CONSENT_OPERATIONS = frozenset({"consent to application.", "add delegated permission grant.",
                                "add app role assignment grant to user.", "add service principal."})
SECURITY_INFO_OPERATIONS = frozenset({"user registered security info", "user registered all required security info",
                                      "user changed default security info", "admin registered security info",
                                      "user started security info registration"})
REMOVAL_OPERATIONS = frozenset({"remove-inboxrule", "disable-inboxrule"})


def parameters(value: Any) -> dict[str, str]:
    """An audit record's ``parameters`` JSON as a dict (empty when missing or unreadable)."""
    raw = text(value)
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {}
    return {str(k): text(v) for k, v in parsed.items()} if isinstance(parsed, dict) else {}


def operations(audit: pd.DataFrame, names: frozenset[str]) -> pd.DataFrame:
    """The records whose operation is one of ``names`` (compared lowercased), oldest first."""
    if not len(audit):
        return audit
    ops = pd.Series(texts(audit["operation"]), index=audit.index).str.lower()
    return audit[ops.isin(names)].sort_values("time", kind="stable")


def rule_name(record: dict[str, Any]) -> str:
    """The inbox rule a rule operation names: its Name parameter, else the part of the target after ``\\``."""
    name = parameters(record.get("parameters")).get("Name", "")
    if name:
        return name
    target = text(record.get("target"))
    return target.rsplit("\\", 1)[-1] if "\\" in target else ""


def sets_forwarding(record: dict[str, Any]) -> str:
    """The forwarding address a Set-Mailbox record sets ('' when it sets none)."""
    params = parameters(record.get("parameters"))
    for key in ("ForwardingSmtpAddress", "ForwardingAddress"):
        value = params.get(key, "")
        if value:
            return value.split(":", 1)[-1].lower() if value.lower().startswith("smtp:") else value.lower()
    return ""
