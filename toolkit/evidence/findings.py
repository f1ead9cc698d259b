"""A finding: what one indicator saw, which way it points, how strongly, and the rows that show it.

Findings are the unit the verdict adds up and the analyst reads. Every finding says in a plain sentence what it rests
on (the rule names, the addresses, the times), carries the rows themselves (frame kind, row keys and a small frame),
and names the objects a remediation step would act on (rule ids, grant ids, method ids), so the plan never has to
search the evidence again.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from toolkit import frames

Direction = Literal["compromise", "benign", "neutral"]
DIRECTIONS: tuple[Direction, ...] = ("compromise", "benign", "neutral")
ObjectKind = Literal["rule", "forwarding", "grant", "method"]

#: The indicator families (one module each under ``evidence.indicators``).
VOLUME = "sending volume & limits"
RECIPIENTS = "recipients & campaign"
DELIVERY = "delivery ratios"
CLIENTS = "clients & IPs"
SIGNINS = "sign-ins & risk"
RULES = "rules & forwarding"
TIMING = "audit timing"
ACCESS = "MFA & consent"
REMEDIATION = "remediation state"
ALERTS = "alerts"
FAMILIES = (VOLUME, RECIPIENTS, DELIVERY, CLIENTS, SIGNINS, RULES, TIMING, ACCESS, REMEDIATION, ALERTS)

#: The most rows a finding keeps to show itself (the keys are all kept).
MAX_ROWS = 25


@dataclass(frozen=True)
class EvidenceRows:
    """Rows of one frame kind that a finding rests on: their keys, and a small frame to show."""

    kind: str
    keys: tuple[str, ...]
    frame: pd.DataFrame = field(compare=False, repr=False)

    @classmethod
    def of(cls, kind: str, rows: pd.DataFrame, columns: Sequence[str] = ()) -> EvidenceRows:
        """The rows of ``rows`` (a slice of a ``kind`` frame), keyed by the kind's key columns."""
        key = list(frames.spec(kind).key)
        keys = tuple("/".join(_text(v) for v in values) for values in rows[key].itertuples(index=False, name=None))
        shown = [c for c in [*key, *columns] if c in rows.columns]
        shown = list(dict.fromkeys(shown))
        return cls(kind, keys, rows[shown].head(MAX_ROWS).reset_index(drop=True))

    def __len__(self) -> int:
        return len(self.keys)


@dataclass(frozen=True)
class ObjectRef:
    """An object a remediation step acts on (a rule, the mailbox forwarding, an OAuth grant, an MFA method)."""

    kind: ObjectKind
    object_id: str
    label: str
    owner: str = ""  # the mailbox or user it belongs to


@dataclass(frozen=True)
class Finding:
    """What one indicator saw.

    ``strength`` is how strongly the evidence points in ``direction`` (0: not at all, 1: it settles the question);
    a ``neutral`` finding informs (volume against the limits, what was already remediated) and does not vote.
    """

    indicator: str
    family: str
    sentence: str
    strength: float
    direction: Direction
    rows: tuple[EvidenceRows, ...] = ()
    objects: tuple[ObjectRef, ...] = ()

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"finding {self.indicator}: direction must be one of {DIRECTIONS}, got {self.direction!r}")
        if not 0.0 <= self.strength <= 1.0 or math.isnan(self.strength):
            raise ValueError(f"finding {self.indicator}: strength must be within 0..1, got {self.strength!r}")
        if self.family not in FAMILIES:
            raise ValueError(f"finding {self.indicator}: unknown family {self.family!r}")

    @property
    def weight(self) -> float:
        """The evidence weight in log-odds units: -ln(1 - strength), signed by direction (benign is negative)."""
        if self.direction == "neutral" or self.strength <= 0:
            return 0.0
        magnitude = -math.log(1.0 - min(self.strength, 0.99))
        return magnitude if self.direction == "compromise" else -magnitude

    def row_keys(self, kind: str) -> tuple[str, ...]:
        return tuple(key for rows in self.rows if rows.kind == kind for key in rows.keys)


def finding(indicator: str, family: str, sentence: str, strength: float, direction: Direction,
            rows: Iterable[EvidenceRows] = (), objects: Iterable[ObjectRef] = ()) -> Finding:
    """A finding with its strength clipped to 0..1 and rounded (so small float noise never changes a verdict)."""
    return Finding(indicator, family, sentence, round(min(max(strength, 0.0), 1.0), 3), direction,
                   tuple(r for r in rows if len(r)), tuple(objects))


def _text(value: object) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):  # type: ignore[arg-type]
        return ""
    return str(value)
