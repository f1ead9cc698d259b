"""The journal: append-only (UPDATE, DELETE and REPLACE refused by triggers), chained (an edit around the triggers
is found), owner-only, every outcome linked to its intent; and a crash between intent and outcome, in process or
a killed process, leaves a pending intent that reconcile() resolves by reading the sandbox."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests import actions_support as sx
from tests.conftest import StartTenant
from toolkit import actions
from toolkit.journal import Entry, Journal, JournalError, history

ALICE = "alice@contoso.com"


def intent(**overrides: Any) -> Entry:
    fields: dict[str, Any] = {"kind": "intent", "tenant_id": "t1", "actor_kind": "app", "actor": "app-1",
                              "action": "block_sign_in", "target": ALICE, "status": "planned",
                              "detail": "Block alice", "subject": ALICE, "subject_id": "u1",
                              "parameters": {"user": ALICE}, "note": "why", "state": {"account_enabled": True},
                              "service_time": datetime(2026, 11, 20, 12, tzinfo=UTC)}
    fields.update(overrides)
    return Entry(**fields)


def outcome_of(first: Entry, **overrides: Any) -> Entry:
    fields: dict[str, Any] = {"kind": "outcome", "intent_id": first.entry_id, "tenant_id": first.tenant_id,
                              "actor_kind": first.actor_kind, "actor": first.actor, "action": first.action,
                              "target": first.target, "status": "done", "verified": "yes", "detail": "blocked",
                              "subject": first.subject, "subject_id": first.subject_id}
    fields.update(overrides)
    return Entry(**fields)


def test_entries_chain_and_read_back_as_history(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        first = journal.append(intent())
        second = journal.append(outcome_of(first))
        other = journal.append(intent(target="bob@contoso.com", subject="bob@contoso.com", subject_id="u2"))
        assert (first.seq, second.seq, other.seq) == (1, 2, 3)
        assert second.prev_hash == first.entry_hash and other.prev_hash == second.entry_hash
        assert journal.verify() == []
        assert journal.closing(first.entry_id) == second
        assert [e.entry_id for e in journal.pending("t1")] == [other.entry_id]
        frame = history("u1", journal)
        assert list(frame["kind"]) == ["intent", "outcome"]
        assert list(frame.columns)[:6] == ["recorded_at", "service_time", "kind", "action", "target", "status"]
        assert str(frame["recorded_at"].dt.tz) == "UTC"
        assert journal.get(first.entry_id) == first


def test_update_delete_and_replace_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    with Journal(path) as journal:
        first = journal.append(intent())
    raw = sqlite3.connect(path)
    for statement in ("UPDATE entries SET detail = 'changed' WHERE seq = 1",
                      "DELETE FROM entries WHERE seq = 1",
                      "UPDATE meta SET value = '0'"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            raw.execute(statement)
    row = raw.execute("SELECT * FROM entries WHERE seq = 1").fetchone()
    columns = [d[0] for d in raw.execute("SELECT * FROM entries").description]
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        raw.execute(f"INSERT OR REPLACE INTO entries ({', '.join(columns)}) VALUES "
                    f"({', '.join('?' for _ in columns)})", row)
    raw.close()
    with Journal(path) as journal:
        assert journal.entries() == [first]


def test_an_edit_around_the_triggers_is_found(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    with Journal(path) as journal:
        first = journal.append(intent())
        journal.append(outcome_of(first))
    raw = sqlite3.connect(path)
    raw.execute("DROP TRIGGER entries_no_update")
    raw.execute("UPDATE entries SET note = 'a better reason' WHERE seq = 1")
    raw.commit()
    raw.close()
    with Journal(path) as journal:
        problems = journal.verify()
    assert problems == [f"entry 1 ({first.entry_id}) was changed after it was written"]


def test_every_outcome_links_to_one_intent(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        first = journal.append(intent())
        with pytest.raises(JournalError, match="must link to an intent"):
            journal.append(outcome_of(first, intent_id="no-such-intent"))
        journal.append(outcome_of(first))
        with pytest.raises(JournalError):
            journal.append(outcome_of(first, status="failed"))  # an intent is closed once
        with pytest.raises(JournalError):
            journal.append(intent(kind="outcome"))  # an outcome without its intent


def test_the_journal_is_owner_only(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    with Journal(store_dir=folder) as journal:
        journal.append(intent())
        files = [p for p in folder.iterdir() if p.name.startswith("journal.sqlite3")]
        assert {p.name for p in files} >= {"journal.sqlite3", "journal.sqlite3-wal"}
        assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_a_crash_in_process_leaves_a_pending_intent_that_reconcile_resolves(
        start_tenant: StartTenant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    t = start_tenant()
    conn = sx.app_connection(t)
    journal_path = tmp_path / "journal.sqlite3"
    ctx = sx.context(conn, journal_path)
    transport = conn.transport
    real_send, real_invoke = transport.graph_send, transport.invoke

    def call_then_die(*args: Any, **kwargs: Any) -> Any:
        real_send(*args, **kwargs)
        raise SystemExit("killed after the call reached the service")

    def die_before(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt("interrupted before the call")

    monkeypatch.setattr(transport, "graph_send", call_then_die)
    with pytest.raises(SystemExit):
        actions.disable_rule(ctx, ALICE, "AQAAAJ5dZqA=").run(confirm=actions.Confirmation(note="hiding rule"))
    monkeypatch.setattr(transport, "graph_send", die_before)
    with pytest.raises(KeyboardInterrupt):
        actions.block_sign_in(ctx, ALICE).run(confirm=True)
    monkeypatch.setattr(transport, "invoke", lambda cmdlet, *a, **k: die_before() if cmdlet.startswith("Remove")
                        else real_invoke(cmdlet, *a, **k))
    with pytest.raises(KeyboardInterrupt):
        actions.unblock(ctx, "bob@contoso.com").run(confirm=True)
    monkeypatch.undo()

    pending = ctx.journal.pending(ctx.tenant_id)
    assert [e.action for e in pending] == ["disable_rule", "block_sign_in", "unblock"]
    assert sx.rules(t, ALICE)["AQAAAJ5dZqA="]["isEnabled"] is False  # the first call did take effect
    ctx.journal.close()

    with Journal(journal_path) as journal:  # the next start
        resolved = actions.reconcile(journal, conn)
        assert [(r.action, r.status) for r in resolved] == [
            ("disable_rule", "applied"), ("block_sign_in", "not_applied"), ("unblock", "unknown")]
        assert "check_unblock" in resolved[2].detail
        assert journal.pending(ctx.tenant_id) == []
        for item, first in zip(resolved, pending, strict=True):
            entry = journal.get(item.entry_id or "")
            assert entry is not None and entry.kind == "reconciliation" and entry.intent_id == first.entry_id
        assert actions.reconcile(journal, conn) == []
        frame = journal.history(ALICE)
        assert list(frame["kind"]) == ["intent", "intent", "reconciliation", "reconciliation"]
        assert journal.verify() == []


CHILD = textwrap.dedent("""
    import json, os, sys
    from pathlib import Path
    from toolkit import actions
    from toolkit.connection import open_connection, sandbox_settings
    from toolkit.journal import Journal
    from toolkit.sandbox_process import SandboxEndpoints

    endpoints = SandboxEndpoints(**json.loads(os.environ["SANDBOX_ENDPOINTS"]))
    conn = open_connection(sandbox_settings(endpoints))
    real = conn.transport.graph_send

    def call_then_kill(*args, **kwargs):
        real(*args, **kwargs)
        os._exit(9)  # no finally, no atexit, no flush: as a power cut or a kill -9

    conn.transport.graph_send = call_then_kill
    ctx = actions.ActionContext(conn, Journal(Path(sys.argv[1])))
    actions.reset_password(ctx, "alice@contoso.com").run(confirm=actions.Confirmation(note="reset before unblock"))
    sys.exit(0)
""")


def test_a_killed_process_leaves_a_pending_intent_that_reconcile_resolves(start_tenant: StartTenant,
                                                                          tmp_path: Path) -> None:
    t = start_tenant()
    journal_path = tmp_path / "journal.sqlite3"
    before = sx.user(t, ALICE)["lastPasswordChangeDateTime"]
    env = {**os.environ, "SANDBOX_ENDPOINTS": json.dumps(asdict(t.ep))}
    child = subprocess.run([sys.executable, "-c", CHILD, str(journal_path)], env=env, capture_output=True,
                           text=True, timeout=120, cwd=Path(__file__).resolve().parent.parent)
    assert child.returncode == 9, child.stderr
    assert sx.user(t, ALICE)["lastPasswordChangeDateTime"] > before  # the reset reached the service
    with Journal(journal_path) as journal:
        pending = journal.pending()
        assert [(e.action, e.note) for e in pending] == [("reset_password", "reset before unblock")]
        resolved = actions.reconcile(journal, sx.app_connection(t))
        assert [(r.action, r.status) for r in resolved] == [("reset_password", "applied")]
        assert "nobody knows it" in resolved[0].detail and "Reset the password again" in resolved[0].detail
        assert journal.pending() == []
        # The lost password is not "done": the next reset is not skipped as nothing to do.
        ctx = sx.context(sx.app_connection(t), tmp_path / "unused.sqlite3")
        ctx.journal = journal
        assert actions.reset_password(ctx, ALICE).run().status == "dry_run"
