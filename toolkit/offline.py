"""Investigate from exported files: a Case built from admin-center downloads, PowerShell output and Sentinel exports.

    import toolkit
    case = toolkit.open_case("alice@contoso.com", files=["MessageTrace.csv", "SignIns.csv", "AuditLog.csv"], days=14)
    case.trace, case.signins, case.rules ...   # the same frames as a live investigation
    case.gaps()                                # which sources came from which file, and what is missing

The files' formats are told from their content (``docs/exports.md`` lists them). The ledger names, for every frame
kind, the file it came from, the rows kept, the columns that export does not carry, or that no file gave it. Any
problem in any file raises :class:`ExportFormatError` naming the file, the line and the problem: no partial case.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from toolkit.case import Case
from toolkit.sources.exports import ExportFormatError, open_files
from toolkit.sources.exports.model import Formulas

log = logging.getLogger(__name__)


def open_case(user: str, files: Iterable[str | Path], *, days: int | float | None = None,
              start: datetime | None = None, end: datetime | None = None,
              accepted_domains: Iterable[str] | None = None, formulas: Formulas = "refuse") -> Case:
    """The Case of ``user`` from exported ``files``.

    The window: ``start``/``end`` (tz-aware) when given; else the last ``days`` days up to the newest row in the
    files; else every row's time span. ``accepted_domains`` decide mail direction (else a Get-AcceptedDomain file,
    else the user's own domains). ``formulas='keep'`` imports spreadsheet-formula payloads as text instead of
    refusing the file (any CSV the toolkit writes neutralises them).
    """
    if not user or not user.strip():
        raise ValueError("give the user whose case this is (an address, UPN or object id)")
    opened = open_files(files, user=user, start=start, end=end, days=days, accepted_domains=accepted_domains,
                        formulas=formulas)
    assert opened.identity is not None
    case = Case(opened.identity, opened.tenant_id, opened.start, opened.end, dict(opened.frames), opened.ledger,
                simulated=False, accepted_domains=opened.accepted_domains)
    for gap in case.gaps():
        log.info("%s", gap)
    return case


__all__ = ["ExportFormatError", "open_case"]
