"""Merging the rows of one kind from several files into its frame: the richer format wins a repeated key, summary rows
(made-up ids) give way to files with trace ids, and a converter's complaint names the file and line it came from."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pandas as pd

from toolkit import frames
from toolkit.sources.exports.dates import DateError, parse_instant
from toolkit.sources.exports.errors import ExportFormatError
from toolkit.sources.exports.model import Item
from toolkit.sources.exports.selection import Contribution, lower

_ITEM = re.compile(r"\b(?:item|record) (\d+)\b")


def merge(kind: str, contributions: list[Contribution], convert: Callable[[list[Item]], pd.DataFrame]
          ) -> pd.DataFrame:
    """Convert the merged items (richer formats last, so they win a repeated key); a converter's complaint about an
    item becomes an ExportFormatError naming its file and line."""
    ordered = sorted(contributions, key=lambda c: c.result.format.rank)
    items = [i for c in ordered for i in c.items]
    origins = [(c.result.display, line) for c in ordered for line in c.lines]
    try:
        return convert(items)
    except frames.FrameError as exc:
        found = _ITEM.search(str(exc))
        if found and int(found.group(1)) < len(origins):
            display, line = origins[int(found.group(1))]
            problem = _ITEM.sub("this row", str(exc)).removeprefix(f"{kind}: ")
            raise ExportFormatError(display, line, problem) from None
        files = ", ".join(sorted({c.result.display for c in contributions}))
        raise ExportFormatError(files, None, str(exc)) from None


def drop_summary_duplicates(contributions: list[Contribution]) -> dict[int, str]:
    """Leave out summary rows (made-up ids) of messages a file with real ids also gives; a note per summary file."""
    real = {(_iso_second(i.get("receivedDateTime")), lower(i.get("senderAddress")), lower(i.get("recipientAddress")))
            for c in contributions if c.result.format.name != "eac_summary_csv" for i in c.items}
    notes: dict[int, str] = {}
    if not real:
        return notes
    for n, c in enumerate(contributions):
        if c.result.format.name != "eac_summary_csv" or "trace_id" not in c.result.missing.get("trace", ()):
            continue
        kept = [(i, line) for i, line in zip(c.items, c.lines, strict=True)
                if (_iso_second(i.get("receivedDateTime")), lower(i.get("senderAddress")),
                    lower(i.get("recipientAddress"))) not in real]
        dropped = len(c.items) - len(kept)
        c.items = [i for i, _ in kept]
        c.lines = [line for _, line in kept]
        if dropped:
            notes[n] = f"{dropped} row(s) left out: a file with trace ids gives the same messages"
    return notes


def _iso_second(text: Any) -> str:
    try:
        return parse_instant(str(text)).strftime("%Y-%m-%dT%H:%M:%S")
    except DateError:
        return str(text)[:19]


def hidden_rule_ids(contributions: list[Contribution]) -> set[str] | None:
    """Two Get-InboxRule listings of one mailbox, one with -IncludeHidden: the extra rules are the hidden ones."""
    listings = [{str(i.get("RuleIdentity") or i.get("Identity")) for i in c.items}
                for c in contributions if c.result.format.name == "exo_inbox_rules_json"]
    if len(listings) < 2:
        return None
    largest = max(listings, key=len)
    smallest = min(listings, key=len)
    if not smallest <= largest:
        return None  # listings of different mailboxes or times: nothing can be told
    return {str(r).rsplit("\\", 1)[-1] for r in largest - smallest}
