"""Date-times as exports write them, read into ISO 8601 UTC text the frame converters take.

Accepted forms:

- ISO 8601 with ``Z`` or an offset, up to 9 fractional digits (Graph, Entra "Date (UTC)", the EAC reports, Purview),
  or without a zone (read in the column's zone, UTC by default);
- Sentinel / Log Analytics: ``4/28/2021, 2:08:45.221 PM``;
- PowerShell and the admin centers in a US culture: ``11/20/2026 10:30:00 AM``, ``11/20/2026 22:30``; in a
  day-first culture ``20/11/2026 22:30:00`` and ``20.11.2026 22:30:00`` (dots are always day-first);
- Windows PowerShell 5.1 ConvertTo-Json: ``/Date(1763634600000)/``.

Slash dates are ambiguous (5/1 is 1 May or 5 January): :class:`DateColumn` collects a column's texts and decides
the order once per file - a first number above 12 anywhere means day-first, a second number above 12 month-first;
both at once is an error; when nothing settles it, month-first (the portals' en-US form) is assumed and said.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from toolkit.sources.exports.errors import ExportFormatError

EARLIEST_YEAR = 1990  # nothing Microsoft 365 logs is older; .NET's 1/1/0001 "never" is refused as impossible
LATEST_YEAR = 2100

_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s*(Z|[+-]\d{2}:?\d{2})?$",
    re.IGNORECASE)
_DOTNET = re.compile(r"^\\?/Date\((-?\d+)([+-]\d{4})?\)\\?/$")
_SLASH = re.compile(
    r"^(\d{1,2})([/.])(\d{1,2})\2(\d{4}),?\s+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s*([AaPp][Mm])?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$")
_DATE_ONLY = re.compile(r"^(\d{1,2})([/.])(\d{1,2})\2(\d{4})$")


class DateError(ValueError):
    """A text that is not a date-time, or an impossible one; the message says which and why."""


def _zone(text: str | None, default: timezone) -> timezone:
    if text is None:
        return default
    if text.upper() == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def zone_of(offset: str | None) -> timezone:
    """``+02:00`` (from a column header) as a timezone; UTC for None."""
    return UTC if offset is None else _zone(offset, UTC)


def _build(year: int, month: int, day: int, hour: int, minute: int, second: int, fraction: str | None,
           zone: timezone) -> datetime:
    if not EARLIEST_YEAR <= year <= LATEST_YEAR:
        raise DateError(f"the year {year} is impossible here ({EARLIEST_YEAR}-{LATEST_YEAR})")
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=zone).astimezone(UTC)
    except ValueError as exc:
        raise DateError(f"not a real date-time ({exc})") from None


def iso_text(instant: datetime) -> str:
    """UTC ISO 8601 with 7 fractional digits, as Microsoft writes them."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def parse_iso(text: str, zone: timezone = UTC) -> datetime:
    match = _ISO.match(text.strip())
    if not match:
        raise DateError("not an ISO 8601 date-time")
    y, mo, d, h, mi, s, frac, tz = match.groups()
    return _build(int(y), int(mo), int(d), int(h), int(mi), int(s or 0), frac, _zone(tz, zone))


def _slash_parts(text: str) -> tuple[int, int, str, re.Match[str]] | None:
    match = _SLASH.match(text.strip())
    if not match:
        return None
    return int(match.group(1)), int(match.group(3)), match.group(2), match


def _from_slash(match: re.Match[str], day_first: bool, zone: timezone) -> datetime:
    first, sep, second, year, hour, minute, sec, frac, half, tz = match.groups()
    day, month = (int(first), int(second)) if day_first or sep == "." else (int(second), int(first))
    hour_value = int(hour)
    if half is not None:
        if not 1 <= hour_value <= 12:
            raise DateError(f"hour {hour_value} with {half.upper()} is not a time")
        hour_value = hour_value % 12 + (12 if half.upper() == "PM" else 0)
    return _build(int(year), month, day, hour_value, int(minute), int(sec or 0), frac, _zone(tz, zone))


def parse_instant(text: str, zone: timezone = UTC, *, day_first: bool = False) -> datetime:
    """One date-time text (any accepted form) as an aware UTC datetime; DateError when it is not one."""
    value = text.strip()
    dotnet = _DOTNET.match(value)
    if dotnet:
        millis = int(dotnet.group(1))
        instant = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=millis)
        if not EARLIEST_YEAR <= instant.year <= LATEST_YEAR:
            raise DateError(f"the year {instant.year} is impossible here")
        return instant
    if _ISO.match(value):
        return parse_iso(value, zone)
    parts = _slash_parts(value)
    if parts is not None:
        return _from_slash(parts[3], day_first, zone)
    if _DATE_ONLY.match(value):
        raise DateError("a date without a time of day")
    raise DateError("not a date-time in any form the exports use")


@dataclass
class DateColumn:
    """One date column of one file. The texts of the rows that are kept are parsed together once the file has been
    read (the order of slash dates is decided over the whole column); the rows that are not kept are only checked,
    so a bad date anywhere in the file is still an error, without holding those rows."""

    file: str
    column: str
    zone: timezone = UTC
    texts: list[str] = field(default_factory=list)
    lines: list[int | None] = field(default_factory=list)
    assumed_month_first: bool = False
    day_first: bool = False
    _day_first_at: tuple[int | None, str] | None = None
    _month_first_at: tuple[int | None, str] | None = None
    _ambiguous: bool = False

    def add(self, text: str, line: int | None, *, keep: bool = True) -> int:
        """Note one value; returns its index among the kept ones (-1 when it is only checked)."""
        self._observe(text, line)
        if not keep:
            self._check(text, line)
            return -1
        self.texts.append(text)
        self.lines.append(line)
        return len(self.texts) - 1

    def _observe(self, text: str, line: int | None) -> None:
        parts = _slash_parts(text)
        if parts is None or parts[2] == ".":
            return
        first, second = parts[0], parts[1]
        if first > 12 >= second and self._day_first_at is None:
            self._day_first_at = (line, text)
        elif second > 12 >= first and self._month_first_at is None:
            self._month_first_at = (line, text)
        elif first <= 12 and second <= 12 and first != second:
            self._ambiguous = True

    def _check(self, text: str, line: int | None) -> None:
        try:
            parse_instant(text, self.zone)
        except DateError as month_first:
            try:
                parse_instant(text, self.zone, day_first=True)
            except DateError:
                raise ExportFormatError(self.file, line, f"{self.column!r} = {text!r}: {month_first}") from None

    def _decide(self) -> None:
        if self._day_first_at is not None and self._month_first_at is not None:
            later = max((self._day_first_at, self._month_first_at), key=lambda at: at[0] or 0)
            both = f"{self._month_first_at[1]!r} and {self._day_first_at[1]!r}"
            raise ExportFormatError(self.file, later[0],
                                    f"{self.column!r} mixes day-first and month-first dates ({both})")
        self.day_first = self._day_first_at is not None
        self.assumed_month_first = self._ambiguous and not self.day_first and self._month_first_at is None

    def parse(self) -> list[str]:
        """ISO 8601 UTC text for every value added, in order; an ExportFormatError naming the line of a bad one."""
        self._decide()
        out: list[str] = []
        for text, line in zip(self.texts, self.lines, strict=True):
            try:
                instant = parse_instant(text, self.zone, day_first=self.day_first)
                zoned = _ISO.match(text.strip())
                # ISO text with its own zone is kept as written (all 7 fractional digits); the rest is rewritten
                out.append(text.strip() if zoned and zoned.group(8) and "T" in text.upper() else iso_text(instant))
            except DateError as exc:
                raise ExportFormatError(self.file, line, f"{self.column!r} = {text!r}: {exc}") from None
        return out

    def note(self) -> str | None:
        """What the ledger should say about how the column was read, if anything."""
        if self.assumed_month_first:
            return (f"{self.column!r}: no date in the file settles day-first or month-first; read month-first "
                    "(en-US), as the portals write them")
        if self.day_first:
            return f"{self.column!r}: dates read day-first, as the file writes them"
        return None
