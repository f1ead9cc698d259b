"""Reading export files safely: the encoding from the content, lines streamed with their numbers, CSV cells and JSON
records with hard size limits, and every failure as an :class:`ExportFormatError` naming the file and the line.

Encodings (by content, never by name): a byte-order mark decides (UTF-8, UTF-16LE, UTF-16BE); without one, NUL bytes
at odd (even) positions mean UTF-16LE (BE) - Exchange's extended report is often UTF-16LE without a BOM; anything
else must be strict UTF-8. Nothing is guessed beyond that: Windows-1252 text is refused with advice, not read as
mojibake.

Memory stays bounded: files are decoded in 64 KiB chunks and CSV rows are handed out one at a time. One line may hold
at most 16 MiB and one cell at most 1 MiB (a real AuditData cell is a few KiB); a JSON document at most 256 MiB.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit.sources.exports.errors import ExportFormatError

CHUNK = 1 << 16
FIELD_LIMIT = 1 << 20  # characters in one CSV cell or JSON string
LINE_LIMIT = 16 << 20  # characters in one physical line
JSON_LIMIT = 256 << 20  # bytes of one JSON document
HEAD = 1 << 16  # bytes read to detect the encoding and the container

_SIGNATURES = (
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook or a zipped download?): save it as CSV UTF-8 or unzip it"),
    (b"\xd0\xcf\x11\xe0", "an Excel 97-2003 workbook (.xls): save it as CSV UTF-8"),
    (b"\x1f\x8b", "a gzip-compressed file: decompress it first"),
    (b"%PDF", "a PDF document, not an export"),
    (b"\x89PNG", "a PNG image, not an export"),
)


@dataclass(frozen=True)
class Encoding:
    codec: str  # Python codec name
    label: str  # as the ledger and the docs name it
    bom: int  # bytes of byte-order mark to skip


UTF8 = Encoding("utf-8", "UTF-8", 0)


def sniff_encoding(display: str, head: bytes) -> Encoding:
    """The encoding of a file from its first bytes (see the module doc); an ExportFormatError for binary content."""
    if not head:
        raise ExportFormatError(display, None, "the file is empty")
    for magic, what in _SIGNATURES:
        if head.startswith(magic):
            raise ExportFormatError(display, None, f"this is {what}")
    if head.startswith(codecs.BOM_UTF8):
        return Encoding("utf-8", "UTF-8 with BOM", 3)
    if head.startswith(codecs.BOM_UTF16_LE):
        return Encoding("utf-16-le", "UTF-16LE with BOM", 2)
    if head.startswith(codecs.BOM_UTF16_BE):
        return Encoding("utf-16-be", "UTF-16BE with BOM", 2)
    sample = head[:4096]
    pairs = len(sample) // 2
    if pairs and b"\x00" in sample:
        odd = sample[1::2].count(0)
        even = sample[0::2].count(0)
        if odd >= pairs * 0.3 and even <= pairs * 0.02:
            return Encoding("utf-16-le", "UTF-16LE without BOM", 0)
        if even >= pairs * 0.3 and odd <= pairs * 0.02:
            return Encoding("utf-16-be", "UTF-16BE without BOM", 0)
        raise ExportFormatError(display, None, f"binary content (a NUL byte at offset {sample.index(0)}), not a "
                                               "CSV or JSON export")
    return UTF8


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f]")


def _control_character(text: str) -> int | None:
    """Where the first control character (other than tab, line breaks and form feed) is, if any."""
    found = _CONTROL.search(text)
    return found.start() if found else None


class Text:
    """The decoded lines of one file, streamed; ``line`` is the number of the last line handed out."""

    def __init__(self, path: Path, display: str, encoding: Encoding):
        self.path = path
        self.display = display
        self.encoding = encoding
        self.line = 0

    def fail(self, problem: str, line: int | None = None) -> ExportFormatError:
        return ExportFormatError(self.display, self.line if line is None else line, problem)

    def _check(self, text: str, first_line: int) -> None:
        bad = _control_character(text)
        if bad is None:
            return
        line = first_line + text.count("\n", 0, bad)
        if text[bad] == "\x00":
            problem = (f"a NUL character in {self.encoding.label} text (mixed encodings: UTF-16 text inside a UTF-8 "
                       "file, or binary data?)")
        else:
            problem = f"a control character (U+{ord(text[bad]):04X}): binary data, not text"
        raise ExportFormatError(self.display, line, problem)

    def _undecodable(self, exc: UnicodeDecodeError, chunk: bytes, pending: str) -> ExportFormatError:
        before = chunk[:exc.start].decode(self.encoding.codec, errors="replace")
        line = self.line + pending.count("\n") + before.count("\n") + 1
        byte = chunk[exc.start:exc.start + 1].hex().upper() if exc.start < len(chunk) else "end"
        if self.encoding.codec == "utf-8":
            problem = (f"not valid UTF-8 (byte 0x{byte}): the file mixes encodings or was saved in a legacy code page "
                       "such as Windows-1252; save it again as CSV UTF-8")
        else:
            problem = f"not valid {self.encoding.label} text ({exc.reason}): mixed or wrong encoding"
        return ExportFormatError(self.display, line, problem)

    def lines(self) -> Iterator[str]:
        """Each line with its ``\\n`` (only ``\\n`` ends a line: other breaks may sit inside a CSV cell)."""
        decoder = codecs.getincrementaldecoder(self.encoding.codec)(errors="strict")
        pending = ""
        with self.path.open("rb") as handle:
            handle.seek(self.encoding.bom)
            while True:
                chunk = handle.read(CHUNK)
                try:
                    text = decoder.decode(chunk, final=not chunk)
                except UnicodeDecodeError as exc:
                    if not chunk:
                        raise self.fail("the file ends in the middle of a character: it is truncated (or a UTF-16 "
                                        "file has an odd number of bytes)", self.line + pending.count("\n") + 1
                                        ) from None
                    raise self._undecodable(exc, chunk, pending) from None
                self._check(text, self.line + pending.count("\n") + 1)
                pending += text
                if "\n" in pending:
                    parts = pending.split("\n")
                    pending = parts.pop()
                    for part in parts:
                        self.line += 1
                        yield part + "\n"
                if len(pending) > LINE_LIMIT:
                    raise self.fail(f"more than {LINE_LIMIT:,} characters without a line break: not an export "
                                    "(a cell this large is refused)", self.line + 1)
                if not chunk:
                    break
        if pending:
            self.line += 1
            yield pending

    def read_all(self, limit: int) -> str:
        """The whole text (for JSON), refusing files larger than ``limit`` bytes."""
        size = self.path.stat().st_size
        if size > limit:
            raise self.fail(f"{size:,} bytes is more than the {limit:,} a JSON export may hold here; export CSV "
                            "instead, or split the export", None)
        return "".join(self.lines())


# --- formulas -------------------------------------------------------------------------------------------------------
_FORMULA_CALL = re.compile(r"^[+\-@]+\s*[A-Za-z_][\w.]*\s*[(|!]")


def is_formula(text: str) -> bool:
    """A spreadsheet-formula payload: ``=...``, or ``+``/``-``/``@`` followed by a function call, a DDE link (``|``)
    or a sheet reference (``!``): ``=HYPERLINK(...)``, ``+cmd|' /C calc'!A0``, ``@SUM(A1)``. Ordinary text that
    starts with a sign (``-1``, ``+33 1 23``, ``- urgent``) is not one."""
    stripped = text.lstrip(" \t\r\n")
    if not stripped:
        return False
    if stripped[0] == "=":
        return len(stripped) > 1
    return bool(_FORMULA_CALL.match(stripped))


# --- CSV --------------------------------------------------------------------------------------------------------------
_ZONE_SUFFIX = re.compile(r"\s*[\[(]\s*utc\s*([+-]\s*\d{1,2}(?::?\d{2})?)?\s*[\])]\s*$", re.IGNORECASE)


def column_key(name: str) -> tuple[str, str | None]:
    """A header cell as a lookup key (lowercase, single spaces) and the zone its suffix names: ``Date (UTC)`` ->
    (``date``, ``+00:00``); ``CreatedDateTime [UTC]`` -> (``createddatetime``, ``+00:00``); ``Date (UTC+02:00)`` ->
    (``date``, ``+02:00``)."""
    text = name.replace("\ufeff", "").strip().strip('"').strip()
    zone: str | None = None
    match = _ZONE_SUFFIX.search(text)
    if match:
        text = text[:match.start()]
        raw = (match.group(1) or "+00:00").replace(" ", "")
        sign, digits = raw[0], raw[1:].replace(":", "")
        digits = digits.zfill(2) if len(digits) <= 2 else digits.zfill(4)
        hours, minutes = digits[:2], digits[2:] or "00"
        zone = f"{sign}{hours}:{minutes}"
    return re.sub(r"\s+", " ", text).lower(), zone


@dataclass
class Header:
    names: list[str]
    keys: list[str]
    index: dict[str, int]
    zones: dict[str, str]
    line: int
    duplicates: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, cells: list[str], line: int) -> Header:
        keys: list[str] = []
        index: dict[str, int] = {}
        zones: dict[str, str] = {}
        duplicates: list[str] = []
        for n, cell in enumerate(cells):
            key, zone = column_key(cell)
            keys.append(key)
            if key in index:
                duplicates.append(cell.strip())
                continue
            index[key] = n
            if zone is not None:
                zones[key] = zone
        return cls([c.strip() for c in cells], keys, index, zones, line, duplicates)

    def has(self, key: str) -> bool:
        return key in self.index


@dataclass
class CsvRow:
    line: int  # the line the record starts on
    cells: list[str]
    header: Header

    def get(self, key: str) -> str | None:
        """The cell of column ``key`` (a :func:`column_key`), stripped; None when blank or absent."""
        n = self.header.index.get(key)
        if n is None or n >= len(self.cells):
            return None
        value = self.cells[n].strip()
        return value or None

    def raw(self, key: str) -> str | None:
        n = self.header.index.get(key)
        if n is None or n >= len(self.cells):
            return None
        return self.cells[n]


@contextmanager
def _field_limit(limit: int) -> Iterator[None]:
    before = csv.field_size_limit()
    csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(before)


def _delimiter(line: str) -> str:
    counts = {d: 0 for d in ",;\t"}
    quoted = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _csv_problem(exc: csv.Error) -> str:
    text = str(exc)
    if "field larger than field limit" in text:
        return (f"a cell holds more than {FIELD_LIMIT:,} characters (the limit per cell; a real export cell is far "
                "smaller): refused")
    if "unexpected end of data" in text or "EOF" in text:
        return "a quoted cell is never closed: the file is truncated, or a quote is unbalanced"
    if "expected after" in text:
        return "a quote inside a quoted cell is not doubled (\"\"): the CSV is malformed"
    if "new-line character seen in unquoted field" in text:
        return "a line break inside an unquoted cell: the CSV is malformed"
    return f"unreadable CSV ({text})"


class CsvTable:
    """A CSV export: its header (read on opening), then its rows one at a time.

    A first line ``#TYPE ...`` (Windows PowerShell 5.1 Export-Csv) and an Excel ``sep=`` line are skipped and
    remembered; the delimiter (comma, semicolon or tab) is the most frequent one in the header line.
    """

    def __init__(self, text: Text):
        self.text = text
        self.type_line: str | None = None
        self._lines = self.text.lines()
        first = self._first_line()
        self.delimiter = _delimiter(first)
        self._reader = csv.reader(self._replay(first), delimiter=self.delimiter, strict=True)
        cells = self._next_record()
        if cells is None:
            raise text.fail("the file has no header row", None)
        self.header = Header.parse(cells, self.text.line)

    @property
    def display(self) -> str:
        return self.text.display

    def _first_line(self) -> str:
        for line in self._lines:
            stripped = line.strip()
            if not stripped:
                continue
            if stripped.startswith("#TYPE") and self.type_line is None:
                self.type_line = stripped
                continue
            if stripped.lower().startswith("sep=") and len(stripped) <= 5:
                continue
            return line
        raise self.text.fail("the file holds no text (blank lines only)" if self.text.line else "the file is empty",
                             None)

    def _replay(self, first: str) -> Iterator[str]:
        yield first
        yield from self._lines

    def _next_record(self) -> list[str] | None:
        with _field_limit(FIELD_LIMIT):
            try:
                return next(self._reader)
            except StopIteration:
                return None
            except csv.Error as exc:
                raise self.text.fail(_csv_problem(exc)) from None

    def rows(self) -> Iterator[CsvRow]:
        """Every data row; a blank line is skipped, a row with the wrong number of cells is an error."""
        width = len(self.header.names)
        while True:
            start = self.text.line + 1
            cells = self._next_record()
            if cells is None:
                return
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != width:
                extra = cells[width:]
                if len(cells) > width and not any(c.strip() for c in extra):
                    cells = cells[:width]
                else:
                    raise ExportFormatError(self.display, start, f"{len(cells)} cell(s) where the header has {width}: "
                                            "the row is truncated or a cell holds an unquoted delimiter")
            if [c.strip() for c in cells] == self.header.names:
                continue  # the header again: two exports concatenated
            yield CsvRow(start, cells, self.header)


# --- JSON -------------------------------------------------------------------------------------------------------------
@dataclass
class JsonDoc:
    """The records of a JSON export and the line each starts on (None where it could not be placed)."""

    records: list[Any]
    lines: list[int | None]
    shape: str  # "array", "value" (a Graph response), "object" (one record), "lines" (JSON Lines)
    context: str | None = None  # a Graph response's @odata.context (it names the resource even with no records)


def _line_at(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _element_offsets(text: str, start: int) -> list[int] | None:
    """Where each element of the array opening at ``text[start] == '['`` begins; None if the text defeats this."""
    decoder = json.JSONDecoder()
    offsets: list[int] = []
    pos = start + 1
    size = len(text)
    while True:
        while pos < size and text[pos] in " \t\r\n":
            pos += 1
        if pos >= size:
            return None
        if text[pos] == "]":
            return offsets
        offsets.append(pos)
        try:
            _, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            return None
        while pos < size and text[pos] in " \t\r\n":
            pos += 1
        if pos < size and text[pos] == ",":
            pos += 1
        elif pos < size and text[pos] == "]":
            return offsets
        else:
            return None


def _open_at_end(text: str) -> bool:
    """Does the text end inside a string or with brackets still open (a truncated document)?"""
    depth = 0
    quoted = escaped = False
    for ch in text:
        if quoted:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
    return quoted or depth > 0


def _json_problem(text: str, exc: json.JSONDecodeError) -> str:
    if exc.pos >= len(text.rstrip()) or _open_at_end(text):
        return f"the JSON ends early ({exc.msg}): the file is truncated"
    return f"not valid JSON ({exc.msg} at column {exc.colno})"


def _json_lines(text: str, display: str) -> JsonDoc:
    records: list[Any] = []
    lines: list[int | None] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ExportFormatError(display, number, _json_problem(line, exc)) from None
        lines.append(number)
    return JsonDoc(records, lines, "lines")


def parse_json(text: str, display: str) -> JsonDoc:
    """A JSON export: an array of records, a Graph response ``{"value": [...]}``, one record (ConvertTo-Json of a
    single object), or JSON Lines."""
    body = text.lstrip("\ufeff")
    try:
        document = json.loads(body)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data" and body.lstrip().startswith("{"):
            return _json_lines(body, display)
        raise ExportFormatError(display, exc.lineno, _json_problem(body, exc)) from None
    if isinstance(document, list):
        start = body.index("[")
        offsets = _element_offsets(body, start)
        return JsonDoc(document, _lines_of(body, offsets, len(document)), "array")
    if isinstance(document, dict):
        value = document.get("value")
        if isinstance(value, list) and ("@odata.context" in document or set(document) <= {"value", "Count",
                                                                                           "@odata.nextLink",
                                                                                           "@odata.count"}):
            match = re.search(r'"value"\s*:\s*\[', body)
            offsets = _element_offsets(body, match.end() - 1) if match else None
            context = document.get("@odata.context")
            return JsonDoc(value, _lines_of(body, offsets, len(value)), "value",
                           context if isinstance(context, str) else None)
        return JsonDoc([document], [1], "object")
    raise ExportFormatError(display, 1, f"the JSON holds a {type(document).__name__}, not records (an array of "
                                        "objects or a Graph response)")


def _lines_of(text: str, offsets: list[int] | None, count: int) -> list[int | None]:
    if offsets is None or len(offsets) != count:
        return [None] * count
    lines: list[int | None] = []
    line, last = 1, 0
    for offset in offsets:
        line += text.count("\n", last, offset)
        last = offset
        lines.append(line)
    return lines


def longest_text(value: Any, path: str = "") -> tuple[str, int] | None:
    """The first text value (at any depth) longer than FIELD_LIMIT characters, with its path; None when none is."""
    if isinstance(value, str):
        return (path or "value", len(value)) if len(value) > FIELD_LIMIT else None
    if isinstance(value, dict):
        for key, inner in value.items():
            found = longest_text(inner, f"{path}.{key}" if path else str(key))
            if found:
                return found
    elif isinstance(value, list):
        for n, inner in enumerate(value):
            found = longest_text(inner, f"{path}[{n}]")
            if found:
                return found
    return None


def open_text(path: Path, display: str) -> tuple[Text, bytes]:
    """The file's text (encoding sniffed) and its first bytes; an ExportFormatError for an unreadable file."""
    try:
        with path.open("rb") as handle:
            head = handle.read(HEAD)
    except FileNotFoundError:
        raise ExportFormatError(display, None, "no such file") from None
    except IsADirectoryError:
        raise ExportFormatError(display, None, "a folder, not a file") from None
    except OSError as exc:
        raise ExportFormatError(display, None, f"cannot be read ({exc.strerror or exc})") from None
    encoding = sniff_encoding(display, head)
    return Text(path, display, encoding), head
