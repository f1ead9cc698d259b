"""The benchmark's data, generated once and kept under ``bench/.cache`` (keyed by generator version and seed):

- the 50,000-user tenant (the scenario generator, 30 days: about 5 million trace rows);
- its Parquet cache: ``trace.parquet`` and ``restricted.parquet`` built from the snapshot files through the same frame
  converters the client uses (``toolkit.frames``; the JSON Lines file is read by Arrow, not one dict per row);
- the pull tenant: that tenant's last days of message trace, served by the sandbox (a 5-million-row tenant is too
  big for the sandbox, which keeps one dict per row);
- the triage store: every restricted user's case, investigated through the client against a sandbox that serves
  the whole directory and those users' own mail and sign-ins, and stored as the toolkit stores cases.
"""

from __future__ import annotations

import json
import logging
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import CACHE, DAYS, SEED, USERS

log = logging.getLogger(__name__)

TRACE_FIELDS = ("id", "senderAddress", "recipientAddress", "messageId", "receivedDateTime", "subject", "size",
                "fromIP", "toIP", "status")
CACHE_VERSION = 1  # bump when what the cache holds changes


def big_tenant(users: int = USERS, days: int = DAYS) -> Path:
    from toolkit.sandbox.generate import ensure_tenant

    return ensure_tenant(CACHE / "tenants", seed=SEED, users=users, days=days)


def demo_tenant() -> Path:
    """The default sandbox tenant (``toolkit.sandbox_process.default_tenant`` generates the same: seed 1, 300 users,
    30 days)."""
    from toolkit.sandbox.generate import ensure_tenant

    return ensure_tenant(CACHE / "tenants", seed=SEED, users=300, days=30)


def tenant_info(tenant: Path) -> dict[str, Any]:
    return json.loads((tenant / "tenant.json").read_text(encoding="utf-8"))


def domains(tenant: Path) -> list[str]:
    return list(tenant_info(tenant)["domains"])


def read_trace_table(path: Path) -> Any:
    """message_traces.jsonl as an Arrow table (C++ JSON reader; unknown fields ignored)."""
    import pyarrow as pa
    import pyarrow.json as pj

    schema = pa.schema([(n, pa.int64() if n == "size" else pa.string()) for n in TRACE_FIELDS])
    return pj.read_json(path, parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
                        read_options=pj.ReadOptions(block_size=32 << 20))


# --- the Parquet cache ----------------------------------------------------------------------------------------------
def fresh_staging(out: Path) -> Path:
    """An empty folder beside ``out`` to build it in; renamed to ``out`` when complete, so an interrupted build
    never leaves a half-made cache behind."""
    staging = out.with_name(out.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def frames_dir(tenant: Path) -> Path:
    return CACHE / f"frames-{tenant.name}-c{CACHE_VERSION}"


def build_frames(tenant: str) -> dict[str, float]:
    """(child process) trace.parquet and restricted.parquet, plus the triage subset's trace lines."""
    import time

    from toolkit import frames

    folder = Path(tenant)
    out = frames_dir(folder)
    staging = fresh_staging(out)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    table = read_trace_table(folder / "message_traces.jsonl")
    timings["read_json_s"] = time.perf_counter() - t
    t = time.perf_counter()
    trace = frames.from_graph("trace", table, accepted_domains=domains(folder))
    timings["convert_s"] = time.perf_counter() - t
    t = time.perf_counter()
    trace.to_parquet(staging / "trace.parquet", index=False, row_group_size=1_000_000)
    timings["write_s"] = time.perf_counter() - t
    blocked = [json.loads(x) for x in (folder / "blocked_senders.jsonl").read_text().splitlines() if x.strip()]
    frames.from_exchange("restricted", blocked).to_parquet(staging / "restricted.parquet", index=False)
    # The restricted users' own trace rows, for the triage tenant (every address they send from).
    addresses = restricted_addresses(folder)
    import pyarrow as pa
    import pyarrow.compute as pc

    mask = pc.is_in(pc.utf8_lower(table.column("senderAddress")), value_set=pa.array(sorted(addresses)))
    rows = table.filter(mask).to_pylist()
    with (staging / "restricted_traces.jsonl").open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    (staging / "meta.json").write_text(json.dumps({"rows": len(trace), "tenant": folder.name, **timings}))
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return {"rows": float(len(trace)), **timings}


def restricted_addresses(tenant: Path) -> set[str]:
    """Every address of every user on the Restricted entities list (lowercased)."""
    blocked = {json.loads(x)["SenderAddress"].lower() for x in (tenant / "blocked_senders.jsonl").read_text()
               .splitlines() if x.strip()}
    found = set(blocked)
    with (tenant / "users.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            user = json.loads(line)
            names = {str(user.get("userPrincipalName", "")).lower(), str(user.get("mail") or "").lower()}
            names |= {str(p).split(":", 1)[-1].lower() for p in user.get("proxyAddresses") or []}
            if names & blocked:
                found |= {n for n in names if n}
    return found


# --- the pull tenant ------------------------------------------------------------------------------------------------
def pull_tenant(tenant: Path, days: float) -> Path:
    """The tenant's last ``days`` days of message trace (a time-ordered file's tail), with what a pull needs."""
    out = CACHE / f"pull-{tenant.name}-d{days:g}-c{CACHE_VERSION}"
    if (out / "tenant.json").exists():
        return out
    staging = fresh_staging(out)
    for name in ("tenant.json", "apps.json", "service_principals.jsonl"):
        shutil.copy(tenant / name, staging / name)
    now = datetime.fromisoformat(tenant_info(tenant)["now"].replace("Z", "+00:00"))
    since = now - timedelta(days=days, hours=1)
    source = tenant / "message_traces.jsonl"
    offset = _first_line_at_or_after(source, since)
    with source.open("rb") as src, (staging / "message_traces.jsonl").open("wb") as dst:
        src.seek(offset)
        shutil.copyfileobj(src, dst, 16 << 20)
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return out


def _received(line: bytes) -> datetime:
    text = json.loads(line)["receivedDateTime"]
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _first_line_at_or_after(path: Path, when: datetime) -> int:
    """The byte offset of the first line received at or after ``when`` in a time-ordered JSON Lines file."""
    with path.open("rb") as handle:
        lo, hi = 0, path.stat().st_size
        while hi - lo > 1 << 16:
            mid = (lo + hi) // 2
            handle.seek(mid)
            handle.readline()
            line = handle.readline()
            if not line or _received(line) >= when:
                hi = mid
            else:
                lo = mid
        handle.seek(lo)
        if lo:
            handle.readline()
        while True:
            position = handle.tell()
            line = handle.readline()
            if not line or _received(line) >= when:
                return position


# --- the triage store -----------------------------------------------------------------------------------------------
def triage_tenant(tenant: Path) -> Path:
    """A snapshot with the whole directory and policies, and only the restricted users' own trace and sign-ins."""
    out = CACHE / f"triage-{tenant.name}-c{CACHE_VERSION}"
    if (out / "tenant.json").exists():
        return out
    staging = fresh_staging(out)
    skip = {"message_traces.jsonl", "message_trace_details.jsonl", "sign_ins.jsonl", "truth.json"}
    for path in tenant.iterdir():
        if path.is_file() and path.name not in skip:
            shutil.copy(path, staging / path.name)
    shutil.copy(frames_dir(tenant) / "restricted_traces.jsonl", staging / "message_traces.jsonl")
    addresses = restricted_addresses(tenant)
    needles = [f'"userprincipalname": "{a}"'.encode() for a in addresses]
    with (tenant / "sign_ins.jsonl").open("rb") as src, (staging / "sign_ins.jsonl").open("wb") as dst:
        for line in src:
            lowered = line.lower()
            if any(n in lowered for n in needles):
                dst.write(line)
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return out


def store_dir(tenant: Path) -> Path:
    return CACHE / f"store-{tenant.name}-c{CACHE_VERSION}"


def build_triage_store(tenant: str) -> dict[str, Any]:
    """(child process) Investigate every restricted user through the client and store the cases."""
    import time

    from toolkit.connection import open_connection, sandbox_settings
    from toolkit.sandbox_process import SandboxProcess
    from toolkit.tenant import Tenant

    folder = Path(tenant)
    subset = triage_tenant(folder)
    store = store_dir(folder)
    staging = store.with_name(store.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    seconds: dict[str, float] = {}
    with SandboxProcess.start(subset, quota_scale=0.01, state_dir=CACHE / "sandbox-home", timeout=300) as process:
        client = Tenant(open_connection(sandbox_settings(process.endpoints)), store_dir=staging, quiet=True)
        senders = [str(s) for s in client.restricted_users().frame["sender"]]
        for sender in senders:
            t = time.perf_counter()
            client.investigate(sender, days=14, save=True)
            seconds[sender] = time.perf_counter() - t
    shutil.rmtree(store, ignore_errors=True)
    staging.rename(store)
    (store / "investigated.json").write_text(json.dumps(seconds))
    return {"users": len(senders), "investigate_seconds": seconds}
