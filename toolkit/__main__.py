"""Command line of the toolkit.

    python -m toolkit triage [--tenant DIR] [--days N] [--json]

``triage`` lists every restricted user with the evidence engine's verdict, confidence, top reasons and next step;
``--json`` prints JSON Lines (``user``, ``verdict``, ``confidence``, ``reasons``, ``next_step``, plus ``block_type``,
``release_at``, ``risk`` and ``missing``). With ``--tenant`` it serves that tenant folder with the sandbox; without,
it connects as ``toolkit.connect()`` does (the configured tenant, else the default sandbox tenant).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from toolkit.errors import ToolkitError

log = logging.getLogger("toolkit")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m toolkit", description="Investigate and unblock Microsoft 365 "
                                     "users restricted for sending spam.")
    sub = parser.add_subparsers(dest="command", required=True)
    triage = sub.add_parser("triage", help="a verdict and next step for every restricted user")
    triage.add_argument("--tenant", type=Path, default=None,
                        help="a tenant snapshot folder to serve with the sandbox (default: toolkit.connect())")
    triage.add_argument("--days", type=int, default=14, help="days of evidence per user (default 14)")
    triage.add_argument("--json", action="store_true", help="JSON Lines instead of a table")
    triage.add_argument("--log-level", default="WARNING")
    return parser


def _jsonable(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if value is None or (not isinstance(value, list | str) and pd.isna(value)):
        return None
    return value


def _print_table(table: pd.DataFrame) -> None:
    if not len(table):
        sys.stdout.write("No restricted users.\n")
        return
    for row in table.to_dict("records"):
        sys.stdout.write(f"{row['user']}  {row['verdict'].upper()} ({row['confidence']:.0%})\n")
        for reason in row["reasons"][:2]:
            sys.stdout.write(f"    - {reason}\n")
        sys.stdout.write(f"    next: {row['next_step']}\n")


def _triage(args: argparse.Namespace) -> int:
    from toolkit.connection import _started
    from toolkit.evidence.triage import triage
    from toolkit.sandbox_process import SandboxStartError
    from toolkit.tenant import connect

    if args.tenant is not None and not (args.tenant / "tenant.json").is_file():
        sys.stderr.write(f"cannot triage: {args.tenant} is not a tenant snapshot folder (no tenant.json)\n")
        return 2
    try:
        tenant = connect(sandbox_tenant=args.tenant, quiet=True)
        table = triage(tenant, days=args.days)
    except (ToolkitError, SandboxStartError, OSError) as exc:
        sys.stderr.write(f"cannot triage: {exc}\n")
        return 2
    finally:
        for process in _started:
            process.stop()
        _started.clear()
    if args.json:
        for row in table.to_dict("records"):
            sys.stdout.write(json.dumps({key: _jsonable(value) for key, value in row.items()}) + "\n")
    else:
        _print_table(table)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "triage":
        return _triage(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
