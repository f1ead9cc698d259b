"""Files exported from the admin centers, PowerShell and Sentinel, read into the same frames as a live pull.

    from toolkit.sources.exports import open_files
    opened = open_files(["MTSummary.csv", "SignIns.csv", "audit.csv"], user="alice@contoso.com", days=14)
    opened.frames["trace"], opened.ledger, opened.identity

Every file's format is told from its content (``detect``); ``FORMATS`` lists them (``docs/exports.md`` explains
where each comes from and what it lacks). Any problem is an :class:`ExportFormatError` naming the file, the line and
the problem; nothing partial is returned. ``toolkit.open_case`` wraps this into a Case.

Modules: ``reading`` (encodings, lines, CSV and JSON with limits), ``dates``, ``model`` (Format, Source,
FileResult), one module per family (``trace_files``, ``signin_files``, ``audit_files``, ``object_files``),
``history`` (rules and forwarding from audit records), ``detect``, ``assemble``.
"""

from toolkit.sources.exports.assemble import CASE_KINDS, Opened, not_carried, open_files, resolve_identity
from toolkit.sources.exports.detect import FORMATS, accepted_list, detect, read_file
from toolkit.sources.exports.errors import ExportFormatError, UnknownFormatError
from toolkit.sources.exports.model import FileResult, Format
from toolkit.sources.exports.reading import FIELD_LIMIT, is_formula

__all__ = [
    "CASE_KINDS",
    "FIELD_LIMIT",
    "FORMATS",
    "ExportFormatError",
    "FileResult",
    "Format",
    "Opened",
    "UnknownFormatError",
    "accepted_list",
    "detect",
    "is_formula",
    "not_carried",
    "open_files",
    "read_file",
    "resolve_identity",
]
