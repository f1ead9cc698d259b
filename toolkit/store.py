"""The local store: pulled frames as Parquet, so a case is collected once and analysed many times, offline.

A case folder holds one ``<kind>.parquet`` per frame, ``ledger.parquet`` (the coverage ledger) and ``case.json``
(who, which tenant, which window, when pulled, and the SHA-256 of every file). Folders are written to a temporary
sibling and renamed into place, so a crash never leaves half a case; reading checks every hash.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from toolkit.errors import ToolkitError

log = logging.getLogger(__name__)

MANIFEST = "case.json"
FORMAT_VERSION = 1


class StoreError(ToolkitError):
    """A stored case that cannot be read back as written: names the folder and the problem."""


def default_store_dir() -> Path:
    explicit = os.environ.get("M365_TOOLKIT_STORE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "m365-spam-toolkit" / "cases"


def safe_name(text: str) -> str:
    """A folder name from an address or tenant id (no separators, no surprises)."""
    cleaned = re.sub(r"[^A-Za-z0-9@._+-]", "_", text.strip().lower())
    if not cleaned or cleaned in {".", ".."}:
        raise StoreError(f"cannot make a folder name from {text!r}")
    return cleaned


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class StoredCase:
    """What a case folder holds, read back."""

    path: Path
    meta: dict[str, Any]
    frames: dict[str, pd.DataFrame]
    ledger: pd.DataFrame


def write_case(folder: Path, frames: Mapping[str, pd.DataFrame], ledger: pd.DataFrame,
               meta: Mapping[str, Any]) -> Path:
    """Write a case folder atomically (replacing an older one at the same path)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        hashes: dict[str, str] = {}
        for kind, frame in frames.items():
            name = f"{safe_name(kind)}.parquet"
            frame.to_parquet(staging / name, index=False)
            hashes[name] = _sha256(staging / name)
        ledger.to_parquet(staging / "ledger.parquet", index=False)
        hashes["ledger.parquet"] = _sha256(staging / "ledger.parquet")
        manifest = {"format": FORMAT_VERSION, **meta, "kinds": sorted(frames), "files": hashes}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
        if folder.exists():
            backup = folder.with_name(f".{folder.name}.old")
            if backup.exists():
                shutil.rmtree(backup)
            folder.rename(backup)
            staging.rename(folder)
            shutil.rmtree(backup)
        else:
            staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("stored case in %s (%s)", folder, ", ".join(f"{k} {len(v)}" for k, v in frames.items()))
    return folder


def read_case(folder: Path) -> StoredCase:
    """Read a case folder back, checking every file against the manifest's hash."""
    manifest_path = folder / MANIFEST
    if not manifest_path.exists():
        raise StoreError(f"{folder}: no {MANIFEST}; not a stored case")
    try:
        meta = json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise StoreError(f"{manifest_path}: not valid JSON ({exc.msg})") from None
    if meta.get("format") != FORMAT_VERSION:
        raise StoreError(f"{folder}: stored with format {meta.get('format')!r}; this toolkit reads {FORMAT_VERSION}")
    files: dict[str, str] = meta.get("files", {})
    for name, expected in files.items():
        path = folder / name
        if not path.exists():
            raise StoreError(f"{folder}: {name} is missing")
        if _sha256(path) != expected:
            raise StoreError(f"{folder}: {name} does not match its hash in {MANIFEST}; the file was changed")
    frames = {kind: pd.read_parquet(folder / f"{safe_name(kind)}.parquet") for kind in meta.get("kinds", [])}
    ledger = pd.read_parquet(folder / "ledger.parquet")
    return StoredCase(folder, meta, frames, ledger)
