"""The case bundle: a folder and a zip with the report, the frames as Parquet, the journal as JSON Lines and a
manifest; it verifies as written, and a changed, missing or added file is named (in the folder and in the zip)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests import actions_support as sx
from tests.conftest import Tenant
from toolkit import actions
from toolkit.bundle import export_bundle, verify_bundle
from toolkit.case import CASE_KINDS, Case
from toolkit.journal import Journal, case_evidence
from toolkit.tenant import Tenant as ToolkitTenant

ALICE = "alice@contoso.com"


@pytest.fixture(scope="module")
def case(shared_tenant: Tenant, tmp_path_factory: pytest.TempPathFactory) -> Case:
    store = tmp_path_factory.mktemp("store")
    return ToolkitTenant(sx.app_connection(shared_tenant), store_dir=store, quiet=True).investigate(ALICE, days=14)


@pytest.fixture
def journal(shared_tenant: Tenant, case: Case, tmp_path: Path) -> Iterator[Journal]:
    ctx = sx.context(sx.app_connection(shared_tenant), tmp_path / "journal.sqlite3", case)
    note = actions.Confirmation(note="compromised")
    for action in (actions.reset_password(ctx, case.user), actions.clear_forwarding(ctx, ALICE),
                   actions.unblock(ctx, ALICE)):
        assert action.run().status == "dry_run"  # dry runs: the shared sandbox stays as it is
    actions.remove_grant(ctx, "no-such-grant").run(confirm=note)  # nothing to do, journaled as such
    yield ctx.journal
    ctx.journal.close()


def test_the_evidence_hash_survives_the_store(case: Case) -> None:
    assert case.path is not None
    assert case_evidence(Case.load(case.path)) == case_evidence(case)


def test_a_bundle_is_written_and_verifies(case: Case, journal: Journal, tmp_path: Path) -> None:
    written = journal.entries_for(case)
    assert len(written) == 8  # four actions, each an intent and an outcome
    folder = export_bundle(case, journal, tmp_path / "out")
    archive = folder.with_name(folder.name + ".zip")
    assert folder.is_dir() and archive.is_file()
    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert {"report.html", "journal.jsonl", "case.json", "manifest.json", "SHA256SUMS"} <= names
    assert {f"frames/{kind}.parquet" for kind in CASE_KINDS} | {"frames/ledger.parquet"} <= names
    trace = pd.read_parquet(folder / "frames" / "trace.parquet")
    assert len(trace) == len(case.trace)

    lines = [json.loads(line) for line in (folder / "journal.jsonl").read_text().splitlines()]
    assert [line["entry_id"] for line in lines] == [e.entry_id for e in written]
    digest, _ = case_evidence(case)
    assert {line["evidence_hash"] for line in lines} == {digest}
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["evidence_hash"] == digest
    for rel, expected in manifest["files"].items():
        assert hashlib.sha256((folder / rel).read_bytes()).hexdigest() == expected
    sums = dict(reversed(line.split("  ", 1)) for line in (folder / "SHA256SUMS").read_text().splitlines())
    assert sums == {rel: h for rel, h in manifest["files"].items() if rel != "SHA256SUMS"}

    report = (folder / "report.html").read_text()
    assert ALICE in report and digest in report and "SIMULATED" in report
    assert not re.search(r"<script|<link|<img|<iframe|\ssrc=|url\(", report, re.IGNORECASE)
    for check in (verify_bundle(folder), verify_bundle(archive), verify_bundle(folder, journal)):
        assert check.ok, str(check)
        assert check.evidence_hash == digest
    exports = journal.entries(kinds=("export",))
    assert len(exports) == 1 and exports[0].target == str(folder)
    assert journal.entries_for(case)[-1] == exports[0]  # the export is part of the case's history
    with pytest.raises(FileExistsError):
        export_bundle(case, journal, tmp_path / "out", name=folder.name)


def test_a_report_passed_in_is_the_report(case: Case, journal: Journal, tmp_path: Path) -> None:
    html = "<!DOCTYPE html><html><body><h1>Investigation of alice</h1></body></html>"
    folder = export_bundle(case, journal, tmp_path, report_html=html, name="given")
    assert (folder / "report.html").read_text() == html
    assert verify_bundle(folder).ok


def test_a_tampered_bundle_names_the_file(case: Case, journal: Journal, tmp_path: Path) -> None:
    folder = export_bundle(case, journal, tmp_path, name="bundle")
    archive = tmp_path / "bundle.zip"
    pristine = tmp_path / "pristine"
    shutil.copytree(folder, pristine)

    trace = folder / "frames" / "trace.parquet"
    frame = pd.read_parquet(trace)
    frame["subject"] = frame["subject"].astype("string")
    frame.loc[0, "subject"] = "Quarterly report"  # a plausible edit, still valid Parquet
    frame.to_parquet(trace, index=False)
    (folder / "journal.jsonl").unlink()
    (folder / "notes.txt").write_text("added later")
    check = verify_bundle(folder)
    assert not check.ok
    assert (check.changed, check.missing, check.extra) == (("frames/trace.parquet",), ("journal.jsonl",),
                                                           ("notes.txt",))
    assert "changed: frames/trace.parquet" in str(check)

    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(archive) as source, zipfile.ZipFile(tampered, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith("/report.html"):
                data = data.replace(b"alice@contoso.com", b"mallory@contoso.com")
            target.writestr(info, data)
    zipped = verify_bundle(tampered)
    assert (zipped.changed, zipped.missing, zipped.extra) == (("report.html",), (), ())

    # A manifest rewritten to match a changed frame fools the manifest, not the evidence hash nor the journal.
    trace = pristine / "frames" / "trace.parquet"
    frame = pd.read_parquet(trace)
    frame["recipient"] = frame["recipient"].astype("string")
    frame.loc[0, "recipient"] = "someone-else@example.com"
    frame.to_parquet(trace, index=False)
    manifest = json.loads((pristine / "manifest.json").read_text())
    manifest["files"]["frames/trace.parquet"] = hashlib.sha256(trace.read_bytes()).hexdigest()
    (pristine / "manifest.json").write_text(json.dumps(manifest, indent=2))
    rewritten = verify_bundle(pristine, journal)
    assert not rewritten.ok and rewritten.changed == ()
    assert any("evidence hash" in p for p in rewritten.problems)
    assert any("journal has no export" in p for p in rewritten.problems)
