"""What the importers share: a format's description, the file being read, and what reading it gave.

Each family module (``trace_files``, ``signin_files``, ``audit_files``, ``object_files``) declares its formats as
:class:`Format` values with a reader; a reader turns a :class:`Source` into a :class:`FileResult` holding items in
the shape of the API the frame converters already read (Graph objects, AuditData records, cmdlet objects), so a row
from a file becomes exactly the row the live pull would give.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from toolkit.sources.exports.dates import DateColumn, zone_of
from toolkit.sources.exports.errors import ExportFormatError
from toolkit.sources.exports.reading import FIELD_LIMIT, CsvRow, CsvTable, Encoding, JsonDoc, is_formula

Item = dict[str, Any]
Formulas = Literal["refuse", "keep"]
Keep = Callable[[str, Item], bool]

#: The field that says whom an item of a kind is about (to tell the analyst whom a file was about).
WHO_FIELDS = {"trace": "senderAddress", "signins": "userPrincipalName", "audit": "UserId",
              "restricted": "SenderAddress", "mailbox": "UserPrincipalName", "users": "userPrincipalName"}

#: Namespace of the ids made up for rows whose export carries none (summary report rows, reduced audit exports).
SYNTHETIC_NAMESPACE = uuid.UUID("6f1c3d52-8a0e-4e8b-9a51-0d7c2b4e9f13")


@dataclass(frozen=True)
class Format:
    """One accepted file format.

    ``signature`` lists groups of column names (CSV, as :func:`reading.column_key` writes them) or top-level keys
    (JSON, lowercased): a file has the format when it has one name of every group and none of ``absent``.
    ``missing`` names, per frame kind, the frame columns this format never carries (the ledger repeats them).
    """

    name: str
    title: str
    container: Literal["csv", "json"]
    kinds: tuple[str, ...]
    signature: tuple[tuple[str, ...], ...]
    reader: Callable[[Source], FileResult]
    how: str
    absent: tuple[str, ...] = ()
    missing: dict[str, tuple[str, ...]] = field(default_factory=dict)
    rank: int = 0  # when several files give the same rows, the higher rank wins (richer formats rank higher)
    accepts: Callable[[Any], bool] | None = None  # an extra check on the first JSON record

    def matched(self, keys: set[str]) -> int:
        return sum(1 for group in self.signature if any(k in keys for k in group))

    def matches(self, keys: set[str], first: Any = None) -> bool:
        if self.matched(keys) != len(self.signature) or any(a in keys for a in self.absent):
            return False
        return self.accepts is None or self.accepts(first)


@dataclass
class Source:
    """The file being read: its table (CSV) or document (JSON), and what the reader learns on the way."""

    path: Path
    display: str
    encoding: Encoding
    format: Format
    formulas: Formulas
    keep: Keep | None = None
    table: CsvTable | None = None
    doc: JsonDoc | None = None
    notes: list[str] = field(default_factory=list)
    kept_formulas: int = 0

    def fail(self, line: int | None, problem: str) -> ExportFormatError:
        return ExportFormatError(self.display, line, problem)

    def objects(self, result: Any) -> Iterator[tuple[dict[str, Any], int]]:
        """The JSON document's records with their line numbers, each counted into ``result.records``; a record
        that is not an object is refused with its line."""
        assert self.doc is not None
        for record, line in zip(self.doc.records, self.doc.lines, strict=True):
            result.records += 1
            if not isinstance(record, dict):
                raise self.fail(line, f"record {result.records} is a {type(record).__name__}, not an object")
            yield record, line

    def rows(self) -> Iterator[CsvRow]:
        """The CSV's data rows, one at a time."""
        assert self.table is not None
        return self.table.rows()

    def date_column(self, key: str, label: str | None = None) -> DateColumn:
        """A date column of this CSV, in the zone its header names (UTC when it names none)."""
        zone = self.table.header.zones.get(key) if self.table is not None else None
        return DateColumn(self.display, label or self.column_name(key), zone_of(zone))

    def column_name(self, key: str) -> str:
        if self.table is None:
            return key
        n = self.table.header.index.get(key)
        return self.table.header.names[n] if n is not None else key

    def require(self, row: CsvRow, key: str) -> str:
        value = row.get(key)
        if value is None:
            raise self.fail(row.line, f"{self.column_name(key)!r} is empty")
        return value

    def check(self, item: Any, line: int | None, path: str = "") -> None:
        """Refuse (or, with formulas='keep', count) spreadsheet-formula payloads and oversized text in ``item``."""
        if isinstance(item, str):
            if len(item) > FIELD_LIMIT:
                raise self.fail(line, f"{path or 'a value'} holds {len(item):,} characters, more than the "
                                      f"{FIELD_LIMIT:,} allowed per value: refused")
            if item and item[0] in "=+-@ \t\r\n" and is_formula(item):
                if self.formulas == "keep":
                    self.kept_formulas += 1
                    return
                shown = item if len(item) <= 40 else item[:40] + "..."
                raise self.fail(line, f"{path or 'a value'} = {shown!r} is a spreadsheet-formula payload; it is "
                                      "refused so it cannot reach a spreadsheet. To investigate it as text, open the "
                                      "files with formulas='keep' (any CSV the toolkit writes neutralises it)")
        elif isinstance(item, dict):
            for key, value in item.items():
                self.check(value, line, f"{path}.{key}" if path else str(key))
        elif isinstance(item, list):
            for n, value in enumerate(item):
                self.check(value, line, f"{path}[{n}]")


@dataclass
class FileResult:
    """What one file gave: items per frame kind (API-shaped), the line of each, and what the ledger must say."""

    path: Path
    display: str
    format: Format
    encoding: str
    items: dict[str, list[Item]] = field(default_factory=dict)
    lines: dict[str, list[int | None]] = field(default_factory=dict)
    missing: dict[str, tuple[str, ...]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    records: int = 0  # rows or records read from the file
    keep: Keep | None = None  # rows it refuses are dropped as they are read (memory stays with the user's rows)
    seen: Counter[str] = field(default_factory=Counter)  # items given, per kind, kept or not
    others: dict[str, Counter[str]] = field(default_factory=dict)  # whom the dropped items were about, per kind

    def add(self, kind: str, item: Item, line: int | None) -> bool:
        """Keep one item (unless ``keep`` refuses it); True when kept."""
        self.seen[kind] += 1
        if self.keep is not None and not self.keep(kind, item):
            name = WHO_FIELDS.get(kind)
            if name and item.get(name):
                self.others.setdefault(kind, Counter())[str(item[name]).strip().lower()] += 1
            return False
        self.items.setdefault(kind, []).append(item)
        self.lines.setdefault(kind, []).append(line)
        return True

    @property
    def source_text(self) -> str:
        return f"{self.format.title}: {self.display}"


def synthetic_id(*parts: Any) -> str:
    """A stable made-up id for a row its export gives none: the same content gives the same id in every file."""
    return str(uuid.uuid5(SYNTHETIC_NAMESPACE, "\x1f".join("" if p is None else str(p) for p in parts)))


def start(source: Source) -> FileResult:
    return FileResult(source.path, source.display, source.format, source.encoding.label,
                      missing=dict(source.format.missing), keep=source.keep)
