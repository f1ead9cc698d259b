"""Outbound spam policies: the default one, a stricter custom one applied to some senders by a rule, and the
effective limits each sender is held to.

A limit of 0 means "the service default". Microsoft documents 10,000 recipients per day; it does not document
the per-hour defaults, so the generator uses ``SERVICE_DEFAULTS`` (see docs/scenarios.md) and records them in
truth.json.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from toolkit.sandbox.generate.rand import pick
from toolkit.sandbox.generate.timefmt import exchange_time

#: What 0 stands for. RecipientLimitPerDay is documented; the hourly ones are the generator's choice (UNVERIFIED).
SERVICE_DEFAULTS = {"RecipientLimitExternalPerHour": 2_000, "RecipientLimitInternalPerHour": 5_000,
                    "RecipientLimitPerDay": 10_000}

STRICT_NAMES = ("Strict outbound (finance and sales ops)", "Outbound limits - restricted senders",
                "Finance outbound policy")


@dataclass(frozen=True)
class Limits:
    """The limits one sender is held to, with 0 already resolved to the service default."""

    policy: str
    external_per_hour: int
    internal_per_hour: int
    per_day: int
    action: str  # BlockUserForToday | BlockUser | Alert

    @property
    def temporary(self) -> bool:
        return self.action == "BlockUserForToday"

    def as_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "RecipientLimitExternalPerHour": self.external_per_hour,
                "RecipientLimitInternalPerHour": self.internal_per_hour, "RecipientLimitPerDay": self.per_day,
                "ActionWhenThresholdReached": self.action}


@dataclass
class Policies:
    default: dict[str, Any]
    strict: dict[str, Any]
    strict_members: list[str] = field(default_factory=list)  # the rule's From list, in order

    def __post_init__(self) -> None:
        self._members = set(self.strict_members)

    def limits(self, address: str) -> Limits:
        return _resolve(self.strict if self.is_strict(address) else self.default)

    def add_strict(self, address: str) -> None:
        if address not in self._members:
            self._members.add(address)
            self.strict_members.append(address)

    def is_strict(self, address: str) -> bool:
        return address.lower() in self._members

    @property
    def default_limits(self) -> Limits:
        return _resolve(self.default)

    @property
    def strict_limits(self) -> Limits:
        return _resolve(self.strict)

    def rule(self) -> dict[str, Any]:
        name = self.strict["Name"]
        return {"Name": name, "Identity": name, "HostedOutboundSpamFilterPolicy": name, "Priority": 0,
                "State": "Enabled", "From": list(self.strict_members), "FromMemberOf": [], "SenderDomainIs": [],
                "ExceptIfFrom": [], "ExceptIfFromMemberOf": [], "ExceptIfSenderDomainIs": []}


def _resolve(policy: dict[str, Any]) -> Limits:
    def value(key: str) -> int:
        return int(policy[key]) or SERVICE_DEFAULTS[key]

    return Limits(str(policy["Name"]), value("RecipientLimitExternalPerHour"),
                  value("RecipientLimitInternalPerHour"), value("RecipientLimitPerDay"),
                  str(policy["ActionWhenThresholdReached"]))


def _policy(name: str, default: bool, external: int, internal: int, day: int, action: str, forwarding: str,
            created: int) -> dict[str, Any]:
    return {"Name": name, "Identity": name, "IsDefault": default, "RecipientLimitExternalPerHour": external,
            "RecipientLimitInternalPerHour": internal, "RecipientLimitPerDay": day,
            "ActionWhenThresholdReached": action, "AutoForwardingMode": forwarding,
            "BccSuspiciousOutboundMail": False, "BccSuspiciousOutboundAdditionalRecipients": [],
            "NotifyOutboundSpam": False, "NotifyOutboundSpamRecipients": [], "WhenCreated": exchange_time(created),
            "WhenChanged": exchange_time(created)}


def build_policies(rng: np.random.Generator, tenant_created: int, strict_created: int,
                   finance: list[str]) -> Policies:
    default = _policy("Default", True, 0, 0, 0, "BlockUserForToday", "Automatic", tenant_created)
    external, internal, day = pick(rng, ((400, 800, 800), (500, 1000, 1000), (300, 600, 900)))
    strict = _policy(pick(rng, STRICT_NAMES), False, external, internal, day, "BlockUser", "Off", strict_created)
    return Policies(default, strict, list(finance))
