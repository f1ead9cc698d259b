"""What the charts take in: a Case or frames, checked for the columns each chart reads, and the caller's events.

Charts read only the columns they draw, so a hand-made frame with those columns works as well as a full one; a
missing column is a ``FrameError`` that names the frame, the column and the chart.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import pandas as pd

from toolkit import frames
from toolkit.frames import FrameError

log = logging.getLogger(__name__)


class UserLike(Protocol):
    @property
    def upn(self) -> str: ...

    @property
    def addresses(self) -> tuple[str, ...]: ...


class CaseLike(Protocol):
    """What a chart needs of a ``toolkit.case.Case`` (kept structural so charts import nothing but frames)."""

    @property
    def frames(self) -> Mapping[str, pd.DataFrame]: ...

    @property
    def user(self) -> UserLike: ...

    @property
    def start(self) -> datetime: ...

    @property
    def end(self) -> datetime: ...


Source = CaseLike | pd.DataFrame
Instant = datetime | pd.Timestamp | str


def is_case(data: object) -> bool:
    return not isinstance(data, pd.DataFrame) and isinstance(getattr(data, "frames", None), Mapping)


def frame_of(data: object, kind: str, chart: str) -> pd.DataFrame:
    """The ``kind`` frame of a Case, or ``data`` itself when it is a DataFrame."""
    if isinstance(data, pd.DataFrame):
        return data
    if is_case(data):
        found = data.frames.get(kind)  # type: ignore[attr-defined]
        return frames.empty(kind) if found is None else found
    raise TypeError(f"{chart}: expected a Case or a {kind} DataFrame, got {type(data).__name__}")


def optional_frame(data: object, given: pd.DataFrame | None, kind: str, chart: str) -> pd.DataFrame | None:
    """``given`` when the caller passed it, else the Case's ``kind`` frame, else None."""
    if given is not None:
        if not isinstance(given, pd.DataFrame):
            raise TypeError(f"{chart}: {kind} must be a DataFrame, got {type(given).__name__}")
        return given
    if is_case(data):
        return frame_of(data, kind, chart)
    return None


def require(frame: pd.DataFrame, kind: str, columns: Sequence[str], chart: str) -> None:
    """A FrameError naming the frame, the first missing column and the chart when ``frame`` lacks one."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{chart}: the {kind} frame must be a DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise FrameError(f"{chart}: the {kind} frame has no column {missing[0]!r} "
                         f"(it needs {', '.join(repr(c) for c in columns)}; missing: {', '.join(missing)})")


def utc(values: pd.Series | pd.Index | Sequence[Any], what: str = "time") -> pd.Series:
    """Timestamps as tz-aware UTC; naive ones are taken to be UTC already (the frames' convention)."""
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series if str(series.dtype.tz) == "UTC" else series.dt.tz_convert("UTC")
    try:
        return pd.to_datetime(series, utc=True)
    except (TypeError, ValueError) as exc:
        raise FrameError(f"{what}: values that are not timestamps ({exc})") from None


def instant(value: Instant | None, what: str) -> pd.Timestamp | None:
    """One timestamp as tz-aware UTC (naive is UTC); None stays None."""
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what}: {value!r} is not a time ({exc})") from None
    if stamp is pd.NaT:
        return None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def text(series: pd.Series) -> pd.Series:
    """A text column as plain Python strings (missing as empty text), for labels and hover."""
    return series.astype(object).where(series.notna(), "").astype(str)


def addresses_of(data: object, sender: str | Sequence[str] | None) -> tuple[str, ...]:
    """The sender's addresses: ``sender`` when given, else the Case user's (primary first)."""
    if sender is not None:
        given = (sender,) if isinstance(sender, str) else tuple(sender)
        return tuple(a.strip().lower() for a in given if a and a.strip())
    if is_case(data):
        user = data.user  # type: ignore[attr-defined]
        found = tuple(getattr(user, "addresses", ()) or ())
        upn = getattr(user, "upn", None)
        return found or ((upn.lower(),) if upn else ())
    return ()


def case_window(data: object) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    if not is_case(data):
        return None, None
    return instant(data.start, "case.start"), instant(data.end, "case.end")  # type: ignore[attr-defined]


# --- the caller's events (journal entries, remediation, unblock) ---------------------------------------------------
@dataclass(frozen=True)
class Event:
    """Something the analyst did or saw, drawn as a labelled marker (unblock, password reset...)."""

    time: pd.Timestamp
    label: str


EventsInput = Iterable[tuple[Instant, str]] | Iterable[Mapping[str, Any]] | pd.DataFrame


def events_of(events: EventsInput | None, chart: str) -> list[Event]:
    """``(time, label)`` pairs, mappings with ``time`` and ``label``, or a frame with those columns -> Events."""
    if events is None:
        return []
    if isinstance(events, pd.DataFrame):
        require(events, "events", ("time", "label"), chart)
        items: Iterable[Any] = events[["time", "label"]].itertuples(index=False, name=None)
    else:
        items = events
    found: list[Event] = []
    for item in items:
        if isinstance(item, Mapping):
            when, label = item.get("time"), item.get("label")
        elif isinstance(item, Sequence) and not isinstance(item, str) and len(item) == 2:
            when, label = item
        else:
            raise ValueError(f"{chart}: an event must be a (time, label) pair or a mapping with 'time' and 'label', "
                             f"got {item!r}")
        stamp = instant(when, f"{chart}: event {label!r}")
        if stamp is None:
            raise ValueError(f"{chart}: event {label!r} has no time")
        found.append(Event(stamp, str(label)))
    return sorted(found, key=lambda e: e.time)


# --- the restriction and the policy -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Restriction:
    """The sender's entry on the Restricted entities list."""

    created: pd.Timestamp
    block_type: str
    release_at: pd.Timestamp | None
    reason_kind: str
    reason: str


def restriction_of(restricted: pd.DataFrame | None, addresses: Sequence[str], chart: str) -> Restriction | None:
    """The latest restriction of one of ``addresses`` (or of the only sender listed when none are known)."""
    if restricted is None or restricted.empty:
        return None
    require(restricted, "restricted", ("created",), chart)
    rows = restricted
    if addresses and "sender" in restricted.columns:
        rows = restricted[text(restricted["sender"]).str.lower().isin(list(addresses))]
    elif "sender" in restricted.columns and restricted["sender"].nunique(dropna=True) > 1:
        log.warning("%s: the restricted frame lists several senders and no sender was given; none is drawn", chart)
        return None
    if rows.empty:
        return None
    row = rows.assign(_created=utc(rows["created"], "restricted.created")).sort_values("_created").iloc[-1]

    def cell(name: str) -> Any:
        value = row[name] if name in row.index else None
        return None if value is None or pd.isna(value) else value

    release = cell("release_at")
    return Restriction(created=row["_created"], block_type=str(cell("block_type") or ""),
                       release_at=instant(release, "restricted.release_at") if release is not None else None,
                       reason_kind=str(cell("reason_kind") or ""), reason=str(cell("reason") or ""))


@dataclass(frozen=True)
class Limits:
    """The effective recipient limits that apply to the sender."""

    external_per_hour: int | None
    internal_per_hour: int | None
    per_day: int | None
    policy: str
    action: str


def limits_of(policy: pd.DataFrame | pd.Series | Mapping[str, Any] | None, policy_rules: pd.DataFrame | None,
              sender: str | None, chart: str) -> Limits | None:
    """The effective limits: ``policy`` as the applicable row (Series or mapping), or the policies frame resolved
    for ``sender`` through ``policy_rules`` (``frames.effective_policy``). None when it cannot be told."""
    if policy is None:
        return None
    if isinstance(policy, pd.DataFrame):
        if policy.empty:
            return None
        require(policy, "policy", ("name", "is_default", "external_per_hour", "internal_per_hour", "per_day"), chart)
        rules = policy_rules if policy_rules is not None else frames.empty("policy_rules")
        if not sender:
            log.warning("%s: no sender address to resolve the outbound policy for; no limit lines", chart)
            return None
        try:
            row: Mapping[str, Any] = frames.effective_policy(policy, rules, sender)
        except FrameError as exc:
            log.warning("%s: the effective outbound policy is unknown (%s); no limit lines", chart, exc)
            return None
    else:
        row = policy

    def limit(name: str) -> int | None:
        value = row.get(name)
        if value is None or pd.isna(value):
            return None
        number = int(value)
        return number if number > 0 else frames.SERVICE_DEFAULTS[name]

    return Limits(limit("external_per_hour"), limit("internal_per_hour"), limit("per_day"),
                  str(row.get("name") or "outbound policy"), str(row.get("action") or ""))


def esc(series: pd.Series) -> pd.Series:
    """Text made safe for plotly's hover and tick markup (``<``, ``>`` and ``&`` escaped), missing as empty."""
    plain = text(series)
    return plain.str.replace("&", "&amp;", regex=False).str.replace("<", "&lt;", regex=False).str.replace(
        ">", "&gt;", regex=False)


def esc1(value: object) -> str:
    """One value made safe for plotly markup."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
