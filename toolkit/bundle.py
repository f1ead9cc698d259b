"""The case bundle: everything a reviewer needs to see what was decided and on what, in a folder and a zip.

    folder = export_bundle(case, journal, out_dir, report_html=html)   # also writes <folder>.zip
    check = verify_bundle(folder)          # or the zip; check.ok, check.changed, check.missing, check.extra

A bundle holds ``report.html`` (the caller's report, or a self-contained summary generated here), ``frames/<kind>
.parquet`` (every evidence frame and the coverage ledger), ``journal.jsonl`` (the case's journal entries, one JSON
object per line), ``case.json`` (who, which window, the evidence hash the journal entries name), ``SHA256SUMS``
(``sha256sum -c`` reads it) and ``manifest.json`` (the SHA-256 of every other file). The journal records the
export with the manifest's own hash, so a bundle whose manifest was rewritten to match altered files still
disagrees with the journal.
"""

from __future__ import annotations

import getpass
import hashlib
import html
import io
import json
import logging
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from toolkit.journal import Entry, Journal, case_evidence, evidence_hash, frame_digest
from toolkit.store import safe_name

if TYPE_CHECKING:
    from toolkit.case import Case

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
REPORT = "report.html"
JOURNAL = "journal.jsonl"
CASE = "case.json"
FRAMES = "frames"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class BundleCheck:
    """A bundle checked against its manifest: which files differ, are missing, or were added."""

    path: Path
    changed: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    evidence_hash: str | None = None

    @property
    def ok(self) -> bool:
        return not (self.changed or self.missing or self.extra or self.problems)

    def __str__(self) -> str:
        if self.ok:
            return f"{self.path}: every file matches its manifest (evidence {self.evidence_hash})."
        lines = [f"{self.path}: the bundle does not match its manifest."]
        lines += [f"  changed: {name}" for name in self.changed]
        lines += [f"  missing: {name}" for name in self.missing]
        lines += [f"  not in the manifest: {name}" for name in self.extra]
        lines += [f"  {problem}" for problem in self.problems]
        return "\n".join(lines)


# --- writing ------------------------------------------------------------------------------------------------------
def export_bundle(case: Case, journal: Journal, out_dir: Path, report_html: str | None = None, *,
                  name: str | None = None) -> Path:
    """Write the case bundle as a folder under ``out_dir`` and as ``<folder>.zip`` beside it; returns the folder."""
    out_dir = Path(out_dir)
    created = datetime.now(UTC)
    folder = out_dir / (name or f"{safe_name(case.user.upn)}-{created:%Y%m%dT%H%M%S%fZ}")
    archive = folder.with_name(folder.name + ".zip")
    if folder.exists() or archive.exists():
        raise FileExistsError(f"{folder} (or its zip) exists already; a bundle is never overwritten")
    entries = journal.entries_for(case)
    digest, digests = case_evidence(case)
    files = _contents(case, entries, digest, digests, report_html)
    sums = "".join(f"{_sha256(data)}  {rel}\n" for rel, data in sorted(files.items()))
    files[SUMS] = sums.encode()
    manifest = {
        "format": FORMAT_VERSION, "created": created.isoformat(), "tenant_id": case.tenant_id,
        "user": case.user.upn, "evidence_hash": digest, "journal_entries": len(entries),
        "files": {rel: _sha256(data) for rel, data in sorted(files.items())},
    }
    files[MANIFEST] = json.dumps(manifest, indent=2).encode()
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=out_dir))
    try:
        for rel, data in files.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        _write_zip(archive, folder.name, files, created)
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        archive.unlink(missing_ok=True)
        raise
    manifest_hash = _sha256(files[MANIFEST])
    journal.append(Entry(
        kind="export", tenant_id=case.tenant_id, actor_kind="local", actor=_local_user(), action="export_bundle",
        target=str(folder), status="written", subject=case.user.upn, subject_id=case.user.user_id,
        detail=f"case bundle written: {len(files)} files, manifest SHA-256 {manifest_hash}",
        parameters={"manifest_sha256": manifest_hash, "zip": str(archive), "files": len(files)},
        evidence_hash=digest, evidence=digests, case_path=str(case.path) if case.path else None))
    log.info("case bundle for %s written to %s and %s", case.user.upn, folder, archive)
    return folder


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container): the journal still says it was local
        return "unknown"


def _contents(case: Case, entries: list[Entry], digest: str, digests: Mapping[str, str],
              report_html: str | None) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for kind, frame in sorted(case.frames.items()):
        files[f"{FRAMES}/{safe_name(kind)}.parquet"] = _parquet(frame)
    files[f"{FRAMES}/ledger.parquet"] = _parquet(case.ledger.to_frame())
    files[JOURNAL] = "".join(json.dumps(e.to_json(), sort_keys=True, default=str) + "\n"
                             for e in entries).encode()
    meta = {**case.meta(), "evidence_hash": digest, "evidence": dict(digests),
            "rows": {kind: len(frame) for kind, frame in sorted(case.frames.items())}, "gaps": case.gaps()}
    files[CASE] = json.dumps(meta, indent=2, default=str).encode()
    files[REPORT] = (report_html if report_html is not None else summary_html(case, entries, digest)).encode()
    return files


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _write_zip(archive: Path, top: str, files: Mapping[str, bytes], created: datetime) -> None:
    stamp = created.timetuple()[:6]
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        for rel in sorted(files):
            info = zipfile.ZipInfo(f"{top}/{rel}", date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            zipped.writestr(info, files[rel])


# --- the generated summary ----------------------------------------------------------------------------------------
_STYLE = ("body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0}"
          "td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top;font-size:.9em}"
          "th{background:#f3f3f3}.banner{background:#fff3cd;border:1px solid #e0c060;padding:.5em}"
          "code{font-size:.85em}")


def _table(headers: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def summary_html(case: Case, entries: list[Entry], digest: str) -> str:
    """A self-contained HTML summary of the case and its journal (no scripts, no external resources)."""
    user = case.user
    banner = ('<p class="banner">SIMULATED DATA: this case was collected from the sandbox tenant.</p>'
              if case.simulated else "")
    who = _table(("", ""), [("User", user.upn), ("Display name", user.display_name), ("Object id", user.user_id),
                            ("Addresses", ", ".join(user.addresses)), ("Tenant", case.tenant_id),
                            ("Window (UTC)", f"{case.start:%Y-%m-%d %H:%M} to {case.end:%Y-%m-%d %H:%M}"),
                            ("Collected (UTC)", f"{case.collected:%Y-%m-%d %H:%M:%S}"),
                            ("Evidence SHA-256", digest)])
    frames = _table(("frame", "rows", "columns", "SHA-256"),
                    [(kind, len(frame), len(frame.columns), frame_digest(frame))
                     for kind, frame in sorted(case.frames.items())])
    gaps = case.gaps()
    gap_list = ("<ul>" + "".join(f"<li>{html.escape(g)}</li>" for g in gaps) + "</ul>" if gaps
                else "<p>None: every source answered completely.</p>")
    journal = _table(("recorded (UTC)", "entry", "action", "target", "status", "verified", "dry run", "who", "note",
                      "justification", "detail"),
                     [(f"{e.recorded_at:%Y-%m-%d %H:%M:%S}", e.kind, e.action, e.target, e.status, e.verified or "",
                       "yes" if e.dry_run else "", f"{e.actor_kind} {e.actor}", e.note, e.justification, e.detail)
                      for e in entries]) if entries else "<p>No journal entries for this case.</p>"
    title = html.escape(f"Case bundle: {user.upn}")
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{title}</h1>{banner}{who}<h2>Evidence frames</h2>{frames}"
            f"<h2>What could not be collected</h2>{gap_list}<h2>Journal</h2>{journal}</body></html>")


# --- checking -----------------------------------------------------------------------------------------------------
def _read_folder(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def _read_zip(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zipped:
        names = [n for n in zipped.namelist() if not n.endswith("/")]
        tops = {n.split("/", 1)[0] for n in names}
        strip = len(tops) == 1 and all("/" in n for n in names)
        return {(n.split("/", 1)[1] if strip else n): zipped.read(n) for n in names}


def verify_bundle(path: Path, journal: Journal | None = None) -> BundleCheck:
    """Check a bundle folder or zip against its manifest; with ``journal``, also against the export it recorded."""
    path = Path(path)
    if not path.exists():
        return BundleCheck(path, problems=(f"{path} does not exist",))
    try:
        files = _read_zip(path) if path.is_file() else _read_folder(path)
    except zipfile.BadZipFile as exc:
        return BundleCheck(path, problems=(f"not a readable zip: {exc}",))
    if MANIFEST not in files:
        return BundleCheck(path, problems=(f"no {MANIFEST}: not a case bundle, or its manifest was removed",))
    try:
        manifest = json.loads(files[MANIFEST])
        listed: dict[str, str] = dict(manifest["files"])
    except (ValueError, KeyError, TypeError) as exc:
        return BundleCheck(path, problems=(f"{MANIFEST} is not readable: {exc}",))
    changed = tuple(sorted(rel for rel, digest in listed.items() if rel in files and _sha256(files[rel]) != digest))
    missing = tuple(sorted(rel for rel in listed if rel not in files))
    extra = tuple(sorted(rel for rel in files if rel not in listed and rel != MANIFEST))
    problems = list(_evidence_problems(files, listed, manifest, changed))
    if journal is not None:
        problems += _journal_problems(journal, _sha256(files[MANIFEST]), manifest)
    return BundleCheck(path, changed, missing, extra, tuple(problems), manifest.get("evidence_hash"))


def _evidence_problems(files: Mapping[str, bytes], listed: Mapping[str, str], manifest: Mapping[str, Any],
                       changed: tuple[str, ...]) -> list[str]:
    """The frames, read back, must give the evidence hash the manifest (and the journal entries) name."""
    frame_files = sorted(rel for rel in listed if rel.startswith(f"{FRAMES}/") and rel in files)
    if not frame_files or any(rel in changed for rel in frame_files):
        return []
    digests = {rel.removeprefix(f"{FRAMES}/").removesuffix(".parquet"): frame_digest(pd.read_parquet(
        io.BytesIO(files[rel]))) for rel in frame_files}
    if evidence_hash(digests) != manifest.get("evidence_hash"):
        return ["the frames do not give the evidence hash the manifest records"]
    return []


def _journal_problems(journal: Journal, manifest_hash: str, manifest: Mapping[str, Any]) -> list[str]:
    exports = [e for e in journal.entries(kinds=("export",), tenant_id=manifest.get("tenant_id"))
               if e.parameters.get("manifest_sha256") == manifest_hash]
    if exports:
        return []
    return ["the journal has no export of this bundle with this manifest: the manifest was changed, or the bundle "
            "comes from another journal"]


__all__ = ["BundleCheck", "export_bundle", "summary_html", "verify_bundle"]
