"""Which format a file is, told from its content (never its name), and reading it with that format's reader.

CSV or JSON is told by the first character of the text; then the header's columns (CSV) or the first records' keys
(JSON) are matched against every format's signature. No match is an :class:`UnknownFormatError` listing the accepted
formats; a near match (most of one format's columns) names the columns that are missing, so a renamed or dropped
required column reads as exactly that.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from toolkit.sources.exports import audit_files, object_files, signin_files, trace_files
from toolkit.sources.exports.errors import ExportFormatError, UnknownFormatError
from toolkit.sources.exports.model import FileResult, Format, Formulas, Keep, Source
from toolkit.sources.exports.reading import JSON_LIMIT, CsvTable, JsonDoc, open_text, parse_json

log = logging.getLogger(__name__)

FORMATS: tuple[Format, ...] = (*trace_files.FORMATS, *signin_files.FORMATS, *audit_files.FORMATS,
                               *object_files.FORMATS)
BY_NAME: dict[str, Format] = {f.name: f for f in FORMATS}
#: What a Graph response's @odata.context names -> its format (how an empty response is told apart).
CONTEXTS: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p, re.IGNORECASE), name) for p, name in (
    (r"messageRules", "graph_message_rules_json"), (r"authentication/methods", "graph_auth_methods_json"),
    (r"oauth2PermissionGrants", "graph_grants_json"), (r"servicePrincipals", "graph_service_principals_json"),
    (r"riskDetections", "graph_risk_detections_json"), (r"riskyUsers", "graph_risky_users_json"),
    (r"alerts_v2", "graph_alerts_json"), (r"auditLogs/signIns", "graph_signins_json"),
    (r"messageTraces", "graph_trace_json"), (r"#users", "graph_users_json"),
))


def accepted_list() -> str:
    """The accepted formats, one per line, for error messages."""
    return "\n".join(f"  - {f.title}" for f in FORMATS)


def _best(candidates: list[Format], keys: set[str], first: object) -> Format | None:
    matching = [f for f in candidates if f.matches(keys, first)]
    if not matching:
        return None
    return max(matching, key=lambda f: (len(f.signature), -FORMATS.index(f)))


def _near_miss(display: str, line: int | None, candidates: list[Format], keys: set[str], names: list[str],
               what: str) -> ExportFormatError:
    def score(f: Format) -> tuple[float, int]:
        return (f.matched(keys) / len(f.signature), f.matched(keys))

    best = max(candidates, key=score)
    ratio, matched = score(best)
    if matched >= 2 and ratio >= 0.5 and not any(a in keys for a in best.absent):
        missing = [" or ".join(repr(k) for k in group) for group in best.signature
                   if not any(k in keys for k in group)]
        known = {k for group in best.signature for k in group}
        others = [n for n in names if n and n.lower() not in known][:8]
        extra = f"; the {what}s it has besides: {', '.join(map(repr, others))}" if others else ""
        return ExportFormatError(display, line, f"looks like {best.title} but has no {', '.join(missing)} "
                                                f"{what} (missing or renamed){extra}")
    shown = ", ".join(repr(n) for n in names[:10]) + (", ..." if len(names) > 10 else "")
    return UnknownFormatError(display, line, f"not an export this toolkit reads (its {what}s: {shown}). Accepted "
                                             f"formats:\n{accepted_list()}")


def open_source(path: str | Path, *, formulas: Formulas = "refuse", display: str | None = None) -> Source:
    """Detect the format of one file (a CSV's header is read, a JSON document parsed) and return it ready to read.
    Every problem is an ExportFormatError naming the file and line."""
    file = Path(path)
    shown = display or str(path)
    text, head = open_text(file, shown)
    sample = head[text.encoding.bom:].decode(text.encoding.codec, errors="replace").lstrip("\ufeff \t\r\n")
    if not sample:
        raise ExportFormatError(shown, None, "the file holds no text (blank lines only)")
    if sample[0] in "[{":
        doc = parse_json(text.read_all(JSON_LIMIT), shown)
        if not doc.records:
            named = next((BY_NAME[n] for p, n in CONTEXTS if doc.context and p.search(doc.context)), None)
            if named is None:
                raise ExportFormatError(shown, 1, "the JSON holds no records, and nothing in it says what it would "
                                                  "have held")
            return Source(file, shown, text.encoding, named, formulas, doc=doc)
        records = [r for r in doc.records[:20] if isinstance(r, dict)]
        if not records:
            raise ExportFormatError(shown, doc.lines[0], "the JSON records are not objects")
        keys = {str(k).lower() for r in records for k in r}
        json_formats = [f for f in FORMATS if f.container == "json"]
        chosen = _best(json_formats, keys, records[0])
        if chosen is None:
            names = list(dict.fromkeys(str(k) for r in records for k in r))
            raise _near_miss(shown, doc.lines[0], json_formats, keys, names, "key")
        return Source(file, shown, text.encoding, chosen, formulas, doc=doc)
    table = CsvTable(text)
    keys = set(table.header.keys)
    csv_formats = [f for f in FORMATS if f.container == "csv"]
    chosen = _best(csv_formats, keys, None)
    if chosen is None:
        raise _near_miss(shown, table.header.line, csv_formats, keys, table.header.names, "column")
    used = {k for group in chosen.signature for k in group}
    repeated = [d for d in table.header.duplicates if d.lower() in used]
    if repeated:
        raise ExportFormatError(shown, table.header.line, f"column {repeated[0]!r} appears more than once")
    return Source(file, shown, text.encoding, chosen, formulas, table=table)


def read_source(source: Source, keep: Keep | None = None) -> FileResult:
    """Read an opened file with its format's reader; ``keep`` drops the items it refuses as they are read."""
    source.keep = keep
    result = source.format.reader(source)
    if source.kept_formulas:
        result.notes.append(f"{source.kept_formulas} value(s) are spreadsheet-formula payloads, kept as text "
                            "(formulas='keep'); any CSV the toolkit writes neutralises them")
    log.info("%s: %s, %s, %d record(s)", source.display, source.format.title, source.encoding.label, result.records)
    return result


def read_file(path: str | Path, *, formulas: Formulas = "refuse", display: str | None = None,
              keep: Keep | None = None) -> FileResult:
    """Detect the format of one file and read it. Every problem is an ExportFormatError naming the file and line."""
    return read_source(open_source(path, formulas=formulas, display=display), keep)


def detect(path: str | Path) -> Format:
    """The format of one file (reading it whole, so a malformed file is refused here too)."""
    return read_file(path).format


__all__ = ["BY_NAME", "FORMATS", "JsonDoc", "accepted_list", "detect", "open_source", "read_file", "read_source"]
