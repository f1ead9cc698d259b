"""Message trace into the ``trace`` and ``trace_details`` frames: Graph messageTraces and Get-MessageTraceV2.

A tenant-wide pull is millions of rows, so ``trace`` is built column-wise: one Arrow struct conversion of the items
(C++, no Python per field), then dictionary encoding, with lowercasing, the recipient's domain, the status
vocabulary and the direction all computed on the distinct values and spread to the rows with ``take``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from toolkit.frames import build
from toolkit.frames.contract import empty
from toolkit.frames.kinds import DIRECTIONS, TRACE_STATUSES
from toolkit.frames.spec import FrameError, category_dtype

log = logging.getLogger(__name__)

#: Normalised status text (lowercase letters only) -> the frame's vocabulary.
_STATUS = {re.sub(r"[^a-z]", "", s.lower()): s for s in TRACE_STATUSES}
_UNKNOWN_STATUS = "unknownFutureValue"

#: Frame column -> (Graph exchangeMessageTrace field, Get-MessageTraceV2 property).
_TRACE_FIELDS = {
    "trace_id": ("id", "MessageTraceId"),
    "sender": ("senderAddress", "SenderAddress"),
    "recipient": ("recipientAddress", "RecipientAddress"),
    "message_id": ("messageId", "MessageId"),
    "received": ("receivedDateTime", "Received"),
    "subject": ("subject", "Subject"),
    "size": ("size", "Size"),
    "from_ip": ("fromIP", "FromIP"),
    "to_ip": ("toIP", "ToIP"),
    "status": ("status", "Status"),
}
_REQUIRED = ("trace_id", "recipient", "received")


def normalise_domains(accepted_domains: Iterable[str] | None) -> frozenset[str] | None:
    """Accepted domains, lowercased, without a leading ``@`` or ``*.``; None stays None (unknown)."""
    if accepted_domains is None:
        return None
    if isinstance(accepted_domains, str):
        accepted_domains = [accepted_domains]
    return frozenset(d.strip().lower().lstrip("@").removeprefix("*.") for d in accepted_domains if d and d.strip())


def domain_of(address: str | None) -> str | None:
    if not address or "@" not in address:
        return None
    return address.rsplit("@", 1)[1] or None


def domains_of(addresses: pa.Array) -> pa.Array:
    """The domain of each address (text after the last ``@``); null where there is no ``@`` or nothing after it."""
    if len(addresses) == 0:
        return pa.array([], pa.string())
    domains = pc.replace_substring_regex(addresses, pattern="^.*@", replacement="")
    has_domain = pc.and_(pc.match_substring(addresses, "@"), pc.not_equal(domains, ""))
    return pc.if_else(has_domain, domains, pa.scalar(None, pa.string()))


def status_vocabulary(values: Sequence[str | None]) -> list[str | None]:
    """Each raw status (Graph camelCase, V2 PascalCase, admin-center words) in the frame's vocabulary."""
    out: list[str | None] = []
    unknown: list[str] = []
    for raw in values:
        if raw is None:
            out.append(None)
            continue
        mapped = _STATUS.get(re.sub(r"[^a-z]", "", raw.lower()))
        if mapped is None:
            unknown.append(raw)
            mapped = _UNKNOWN_STATUS
        out.append(mapped)
    if unknown:
        log.warning("message trace: status value(s) %s are not in the vocabulary; kept as %s",
                    ", ".join(map(repr, unknown[:5])), _UNKNOWN_STATUS)
    return out


def _direction(sender_codes: np.ndarray, sender_dict: pa.Array, domain_codes: np.ndarray, domain_dict: pa.Array,
               accepted: frozenset[str] | None) -> pd.Categorical:
    """outbound / inbound / internal from the distinct senders and recipient domains."""
    rows = len(domain_codes)
    if accepted is None:
        return build.categorical_from_codes(np.full(rows, -1, dtype=np.int32), pa.array([], pa.string()), DIRECTIONS)
    accepted_arr = pa.array(sorted(accepted), pa.string())
    sender_in = np.append(pc.is_in(domains_of(sender_dict), value_set=accepted_arr).to_numpy(zero_copy_only=False),
                          False)
    domain_in = np.append(pc.is_in(domain_dict, value_set=accepted_arr).to_numpy(zero_copy_only=False), False)
    recipient_internal = domain_in[domain_codes]
    sender_internal = sender_in[sender_codes]
    # 0 outbound, 1 inbound, 2 internal (DIRECTIONS order); no recipient domain: unknown
    codes = np.where(recipient_internal, np.where(sender_internal, 2, 1), 0).astype(np.int8)
    codes[domain_codes < 0] = -1
    return pd.Categorical.from_codes(codes, dtype=category_dtype(DIRECTIONS), validate=False)


def _trace(kind: str, items: Iterable[Any] | pa.Table, source_index: int, source: str,
           accepted_domains: Iterable[str] | None, dedupe: bool) -> pd.DataFrame:
    names = {column: fields[source_index] for column, fields in _TRACE_FIELDS.items()}
    struct = pa.struct([(name, pa.int64() if column == "size" else pa.string()) for column, name in names.items()])
    listed: Sequence[Any]
    if isinstance(items, pa.Table):  # items already read by Arrow (a JSON Lines file through pyarrow.json)
        listed = build.TableRows(items)
        if not len(listed):
            return empty(kind)
        arr = build.struct_from_table(kind, items, struct)
    else:
        listed = build.listed(kind, items)
        if not listed:
            return empty(kind)
        arr = build.struct_array(kind, listed, struct)
    cols = {column: arr.field(name) for column, name in names.items()}
    for column in _REQUIRED:
        build.first_null(kind, listed, cols[column], names[column])
    rows = len(listed)

    sender_codes, sender_dict = build.encode(cols["sender"], lower=True)
    recipient_codes, recipient_dict = build.encode(cols["recipient"], lower=True)
    domain_by_recipient, domain_dict = build.encode(domains_of(recipient_dict))
    domain_codes = np.append(domain_by_recipient, -1)[recipient_codes]
    status_codes, status_dict = build.encode(cols["status"])
    status_mapped = status_vocabulary(status_dict.to_pylist())

    columns: build.Columns = {
        "received": build.timestamps(kind, cols["received"], names["received"]),
        "trace_id": build.string(cols["trace_id"], lower=True),
        "message_id": build.string(cols["message_id"]),
        "sender": build.categorical_from_codes(sender_codes, sender_dict),
        "recipient": build.categorical_from_codes(recipient_codes, recipient_dict),
        "recipient_domain": build.categorical_from_codes(domain_codes, domain_dict),
        "direction": _direction(sender_codes, sender_dict, domain_codes, domain_dict,
                                normalise_domains(accepted_domains)),
        "subject": build.category(cols["subject"], blank=False),
        "status": build.categorical_from_codes(status_codes, status_mapped, TRACE_STATUSES),
        "size": build.ints(cols["size"]),
        "from_ip": build.category(cols["from_ip"], lower=True),
        "to_ip": build.category(cols["to_ip"], lower=True),
    }
    return build.frame(kind, columns, rows=rows, dedupe=dedupe, constant={"source": source})


def trace_from_graph(items: Iterable[Mapping[str, Any]] | pa.Table, *,
                     accepted_domains: Iterable[str] | None = None, dedupe: bool = False) -> pd.DataFrame:
    """Graph ``admin/exchange/tracing/messageTraces`` items (``value[]``) as the ``trace`` frame.

    ``accepted_domains`` (the tenant's domains) decide ``direction``; without them it is left empty. ``items`` may
    also be an Arrow table of those objects (e.g. a JSON Lines file read with ``pyarrow.json``): the same frame,
    without a Python object per row.
    """
    return _trace("trace", items, 0, "graph", accepted_domains, dedupe)


def trace_from_exchange(items: Iterable[Mapping[str, Any]] | pa.Table, *,
                        accepted_domains: Iterable[str] | None = None, dedupe: bool = False) -> pd.DataFrame:
    """Get-MessageTraceV2 objects (InvokeCommand ``value[]``, or an Arrow table of them) as the ``trace`` frame."""
    return _trace("trace", items, 1, "exchange_v2", accepted_domains, dedupe)


# --- details ---------------------------------------------------------------------------------------------------------
def _details(kind: str, items: Sequence[Mapping[str, Any]], fields: Mapping[str, str], source: str,
             trace_id: str | Sequence[str] | None, recipient: str | Sequence[str] | None,
             dedupe: bool) -> pd.DataFrame:
    ids: list[str | None] = []
    recipients: list[str | None] = []
    seq: list[int] = []
    counter: dict[tuple[str, str], int] = {}
    given_ids = build.aligned(kind, "trace_id", trace_id, len(items))
    given_recipients = build.aligned(kind, "recipient", recipient, len(items))
    for n, item in enumerate(items):
        tid = item.get(fields["trace_id"]) or given_ids[n]
        rcpt = item.get(fields["recipient"]) or given_recipients[n]
        if not tid:
            raise FrameError(f"{kind}: item {n} has no {fields['trace_id']!r} and no trace_id was given")
        if not rcpt:
            raise FrameError(f"{kind}: item {n} has no {fields['recipient']!r} and no recipient was given "
                             "(getDetailsByRecipient items do not repeat it: pass recipient=)")
        if not isinstance(tid, str) or not isinstance(rcpt, str):
            raise FrameError(f"{kind}: item {n} has a trace id or recipient that is not text")
        group = (tid.lower(), rcpt.lower())
        position = counter.get(group, 0)
        counter[group] = position + 1
        ids.append(tid)
        recipients.append(rcpt)
        seq.append(position)
    build.require(kind, items, fields["time"])
    columns: build.Columns = {
        "trace_id": ids,
        "recipient": recipients,
        "seq": seq,
        "time": build.timestamps_of(kind, items, fields["time"]),
        "event": build.field(items, fields["event"]),
        "action": build.field(items, fields["action"]),
        "description": build.string(build.text_array(kind, build.field(items, fields["description"]),
                                                     fields["description"]), blank=False),
        "data": build.string(build.text_array(kind, build.field(items, fields["data"]), fields["data"]),
                             blank=False),
        "message_id": build.field(items, fields["message_id"]),
    }
    return build.frame(kind, columns, rows=len(items), dedupe=dedupe, constant={"source": source})


_GRAPH_DETAIL = {"trace_id": "id", "recipient": "recipientAddress", "time": "dateTime", "event": "event",
                 "action": "action", "description": "description", "data": "data", "message_id": "messageId"}
_V2_DETAIL = {"trace_id": "MessageTraceId", "recipient": "RecipientAddress", "time": "Date", "event": "Event",
              "action": "Action", "description": "Detail", "data": "Data", "message_id": "MessageId"}


def trace_details_from_graph(items: Iterable[Mapping[str, Any]], *, recipient: str | Sequence[str] | None = None,
                             trace_id: str | Sequence[str] | None = None, dedupe: bool = False) -> pd.DataFrame:
    """``messageTraces/{id}/getDetailsByRecipient(recipientAddress='...')`` items as ``trace_details``.

    The items do not repeat the recipient they were asked for: pass it as ``recipient`` (one for all, or one per
    item when several calls' answers are converted together).
    """
    listed = build.as_items("trace_details", items)
    return _details("trace_details", listed, _GRAPH_DETAIL, "graph", trace_id, recipient, dedupe)


def trace_details_from_exchange(items: Iterable[Mapping[str, Any]], *, dedupe: bool = False) -> pd.DataFrame:
    """Get-MessageTraceDetailV2 objects as ``trace_details``."""
    listed = build.as_items("trace_details", items)
    return _details("trace_details", listed, _V2_DETAIL, "exchange_v2", None, None, dedupe)


def accepted(domains: Collection[str] | None, address: str | None) -> bool | None:
    """Is ``address`` inside the accepted domains? None when the domains are unknown or there is no address."""
    if domains is None or not address:
        return None
    return domain_of(address.lower()) in domains
