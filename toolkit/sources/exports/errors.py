"""The one error every importer raises: which file, which line, and what is wrong with it, in plain words."""

from __future__ import annotations

from pathlib import Path

from toolkit.errors import ToolkitError


class ExportFormatError(ToolkitError, ValueError):
    """A file that cannot be read as an export: ``file``, ``line`` (1-based, None when the problem is the whole
    file) and ``problem``. Nothing from the file is kept when it is raised: no partial frame."""

    def __init__(self, file: str | Path, line: int | None, problem: str):
        self.file = str(file)
        self.line = line
        self.problem = problem
        where = f"{self.file}, line {line}" if line is not None else self.file
        super().__init__(f"{where}: {problem}")


class UnknownFormatError(ExportFormatError):
    """The content matches no accepted format; the message lists the formats that are accepted."""
