"""Server-side paging: ``@odata.nextLink`` with an opaque ``$skiptoken``.

The first request materialises the matching rows (references, projected per page), so a listing stays stable
while the tenant changes underneath it and every row is served exactly once. A skiptoken names the cursor and the
offset, so asking for the same nextLink twice (a client retrying after a 5xx) returns the same page; the
``repeat_page`` fault serves the page before it instead.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

CURSOR_TTL_SECONDS = 3600.0
MAX_CURSORS = 2000


class SkipTokenInvalid(ValueError):
    """A skiptoken the sandbox never issued, or one that expired."""


@dataclass
class Cursor:
    rows: Sequence[Any]
    page_size: int
    project: Callable[[Any], dict[str, Any]]
    fingerprint: str  # what the listing was for (e.g. the path, or a cmdlet body); a nextLink must match it
    created: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    skiptoken: str | None  # for the next page; None on the last page
    offset: int


class Pager:
    """All open cursors of one sandbox."""

    def __init__(self) -> None:
        self._cursors: dict[str, Cursor] = {}
        self._lock = threading.Lock()

    def _expire(self) -> None:
        cutoff = time.monotonic() - CURSOR_TTL_SECONDS
        for key in [k for k, c in self._cursors.items() if c.created < cutoff]:
            del self._cursors[key]
        while len(self._cursors) > MAX_CURSORS:
            del self._cursors[next(iter(self._cursors))]

    def first(self, rows: Sequence[Any], page_size: int, project: Callable[[Any], dict[str, Any]],
              fingerprint: str) -> Page:
        """Open a listing and return its first page."""
        if len(rows) <= page_size:
            return Page([project(r) for r in rows], None, 0)
        cursor_id = secrets.token_urlsafe(12)
        with self._lock:
            self._expire()
            self._cursors[cursor_id] = Cursor(rows, page_size, project, fingerprint)
        return self._page(cursor_id, self._cursors[cursor_id], 0)

    def _page(self, cursor_id: str, cursor: Cursor, offset: int) -> Page:
        end = offset + cursor.page_size
        items = [cursor.project(r) for r in cursor.rows[offset:end]]
        token = f"{cursor_id}.{end}" if end < len(cursor.rows) else None
        return Page(items, token, offset)

    def _lookup(self, skiptoken: str, fingerprint: str) -> tuple[str, Cursor, int]:
        cursor_id, _, offset_text = skiptoken.rpartition(".")
        with self._lock:
            cursor = self._cursors.get(cursor_id)
        if cursor is None or not offset_text.isdigit():
            raise SkipTokenInvalid("The skip token is not valid or has expired.")
        if cursor.fingerprint != fingerprint:
            raise SkipTokenInvalid("The skip token does not belong to this request.")
        offset = int(offset_text)
        if offset % cursor.page_size or offset > len(cursor.rows):
            raise SkipTokenInvalid("The skip token is not valid or has expired.")
        return cursor_id, cursor, offset

    def next(self, skiptoken: str, fingerprint: str, repeat_previous: bool = False) -> Page:
        """The page a skiptoken points at (or, for the ``repeat_page`` fault, the one before it)."""
        cursor_id, cursor, offset = self._lookup(skiptoken, fingerprint)
        if repeat_previous and offset >= cursor.page_size:
            offset -= cursor.page_size
        return self._page(cursor_id, cursor, offset)
