"""Loading a tenant snapshot: a good one loads whole, a bad one is refused with the file, the line and why."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import SMALL_TENANT
from toolkit.sandbox.snapshot import SCHEMAS, SnapshotError, load_snapshot, served


@pytest.fixture
def tenant_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "tenant"
    shutil.copytree(SMALL_TENANT, folder)
    return folder


def count_lines(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip())


def test_small_tenant_loads_every_line() -> None:
    snapshot = load_snapshot(SMALL_TENANT)
    for name in SCHEMAS:
        path = SMALL_TENANT / f"{name}.jsonl"
        expected = count_lines(path) if path.exists() else 0
        assert len(snapshot.collections[name]) == expected, name
    assert snapshot.tenant.tenant_id == "7f3c1a52-9d4e-4b8a-a6f1-3e2d5c7b9a10"
    assert snapshot.tenant.behaviour.max_unblocks_per_sender == 2
    assert {a.client_id for a in snapshot.apps} >= {"0a1b2c3d-1111-4000-8000-000000000001"}
    times = [r["receivedDateTime"] for r in snapshot.collections["message_traces"]]
    assert times == sorted(times)


def test_missing_files_are_empty_collections(tmp_path: Path) -> None:
    folder = tmp_path / "bare"
    folder.mkdir()
    shutil.copy(SMALL_TENANT / "tenant.json", folder / "tenant.json")
    snapshot = load_snapshot(folder)
    assert all(rows == [] for rows in snapshot.collections.values())
    assert snapshot.apps == []


def test_served_objects_lose_link_keys_and_sandbox_attributes() -> None:
    snapshot = load_snapshot(SMALL_TENANT)
    hidden = next(r for r in snapshot.collections["message_rules"] if r.get("_sandbox"))
    shown = served(hidden, "message_rules")
    assert "_sandbox" not in shown and "mailbox" not in shown and shown["id"] == hidden["id"]


@pytest.mark.parametrize(
    ("file", "line_text", "reason"),
    [
        ("users.jsonl", '{"id": "u1", "userPrincipalName": ', "not valid JSON"),
        ("users.jsonl", '{"userPrincipalName": "x@contoso.com"}', "missing required field 'id'"),
        ("users.jsonl", '{"id": 5, "userPrincipalName": "x@contoso.com"}', "'id' must be str"),
        ("users.jsonl", '["not", "an", "object"]', "expected a JSON object"),
        ("message_traces.jsonl",
         '{"id": "t", "senderAddress": "a@b.c", "recipientAddress": "d@e.f", "receivedDateTime": "yesterday", '
         '"status": "delivered"}', "not an ISO 8601 date-time"),
        ("message_traces.jsonl",
         '{"id": "t", "senderAddress": "a@b.c", "recipientAddress": "d@e.f", "receivedDateTime": '
         '"2026-11-20T00:00:00Z", "status": "delivered", "size": true}', "'size' must be an integer"),
        ("message_rules.jsonl", '{"id": "r", "displayName": "x"}', "missing required field 'mailbox'"),
    ],
)
def test_bad_line_is_refused_with_file_line_and_reason(tenant_copy: Path, file: str, line_text: str,
                                                       reason: str) -> None:
    path = tenant_copy / file
    before = count_lines(path)
    with path.open("a") as handle:
        handle.write(line_text + "\n")
    with pytest.raises(SnapshotError) as caught:
        load_snapshot(tenant_copy)
    assert caught.value.file == file
    assert caught.value.line == before + 1
    assert reason in caught.value.reason
    assert f"{file}, line {before + 1}" in str(caught.value)


def test_duplicate_key_is_refused(tenant_copy: Path) -> None:
    path = tenant_copy / "users.jsonl"
    first = path.read_text().splitlines()[0]
    with path.open("a") as handle:
        handle.write(first + "\n")
    with pytest.raises(SnapshotError, match="duplicate line for id="):
        load_snapshot(tenant_copy)


def test_tenant_json_problems_are_named(tenant_copy: Path) -> None:
    (tenant_copy / "tenant.json").unlink()
    with pytest.raises(SnapshotError, match=r"tenant\.json: missing"):
        load_snapshot(tenant_copy)
    (tenant_copy / "tenant.json").write_text(json.dumps({"tenantId": "x", "defaultDomain": "x.com", "now": "soon"}))
    with pytest.raises(SnapshotError, match="'now' is not an ISO 8601"):
        load_snapshot(tenant_copy)


def test_apps_json_problems_are_named(tenant_copy: Path) -> None:
    apps = json.loads((tenant_copy / "apps.json").read_text())
    apps[0]["secrets"] = [{"displayName": "no value"}]
    (tenant_copy / "apps.json").write_text(json.dumps(apps))
    with pytest.raises(SnapshotError, match="app #1: each secret needs a 'value' or a 'sha256'"):
        load_snapshot(tenant_copy)


def test_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="not a folder"):
        load_snapshot(tmp_path / "nowhere")
