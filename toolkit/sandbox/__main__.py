"""Command line of the sandbox tenant.

    python -m toolkit.sandbox serve --tenant DIR [--port 0] [--latency-ms N] [--latency-ms-per-mb N]
                                    [--faults SPEC] [--quota-scale X]
    python -m toolkit.sandbox check --tenant DIR
    python -m toolkit.sandbox generate --out DIR [--seed N] [--users N] [--days N] [--scenarios a,b,...]
    python -m toolkit.sandbox export --tenant DIR --out DIR2 [--user UPN] [--start ISO] [--end ISO]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from toolkit.sandbox.faults import FaultSpecError, load_spec
from toolkit.sandbox.snapshot import SnapshotError, load_snapshot, parse_instant
from toolkit.sandbox.tls import default_state_dir


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m toolkit.sandbox",
                                     description="The simulated Microsoft 365 tenant.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve a tenant snapshot over HTTPS on 127.0.0.1")
    serve.add_argument("--tenant", required=True, type=Path, help="the snapshot folder")
    serve.add_argument("--port", type=int, default=0, help="TCP port (0: any free port)")
    serve.add_argument("--latency-ms", type=float, default=0.0, help="added to every response")
    serve.add_argument("--latency-ms-per-mb", type=float, default=0.0,
                       help="added per megabyte of response body (a 5,000-row page takes longer than a 10-row one)")
    serve.add_argument("--faults", default=None, help="fault spec: inline JSON or a JSON file")
    serve.add_argument("--quota-scale", type=float, default=1.0,
                       help="multiply every quota window by this (0.01: 100 requests per 3 s, not per 5 min)")
    serve.add_argument("--state-dir", type=Path, default=None,
                       help="where the CA and the token-signing key live (default: the user's cache folder)")
    serve.add_argument("--log-level", default="WARNING")
    check = sub.add_parser("check", help="validate a tenant snapshot and exit")
    check.add_argument("--tenant", required=True, type=Path)
    gen = sub.add_parser("generate", help="write a realistic tenant snapshot with labelled incidents")
    gen.add_argument("--out", required=True, type=Path, help="a new (or empty) folder")
    gen.add_argument("--seed", type=int, default=1)
    gen.add_argument("--users", type=int, default=300)
    gen.add_argument("--days", type=int, default=30)
    gen.add_argument("--scenarios", default=None,
                     help="comma-separated scenario names, or 'all' (default: every scenario except the "
                          "tenant-wide evidence_missing); 'list' prints them")
    gen.add_argument("--log-level", default="WARNING")
    exp = sub.add_parser("export", help="write a tenant snapshot as the files the admin centers would give")
    exp.add_argument("--tenant", required=True, type=Path, help="the snapshot folder")
    exp.add_argument("--out", required=True, type=Path, help="a new (or empty) folder")
    exp.add_argument("--user", default=None, help="only this user's part (UPN, address or object id)")
    exp.add_argument("--start", default=None, help="ISO 8601 (default: 30 days before --end)")
    exp.add_argument("--end", default=None, help="ISO 8601 (default: the snapshot's now)")
    exp.add_argument("--archive-lag-hours", type=float, default=4.0,
                     help="hours the enhanced and extended reports lack at the end (default 4)")
    exp.add_argument("--log-level", default="WARNING")
    return parser


def _export(args: argparse.Namespace) -> int:
    from toolkit.sandbox.export import ExportError, export_snapshot

    try:
        start = parse_instant(args.start) if args.start else None
        end = parse_instant(args.end) if args.end else None
        report = export_snapshot(args.tenant, args.out, user=args.user, start=start, end=end,
                                 archive_lag_hours=args.archive_lag_hours)
    except (ValueError, ExportError, SnapshotError) as exc:
        sys.stderr.write(f"cannot export: {exc}\n")
        return 2
    sys.stdout.write(f"{args.out}:\n{report}\n")
    return 0


def _generate(args: argparse.Namespace) -> int:
    from toolkit.sandbox.generate import SCENARIOS, GenerationError, generate_tenant

    if args.scenarios == "list":
        sys.stdout.write("\n".join(sorted(SCENARIOS)) + "\n")
        return 0
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()] if args.scenarios else None
    try:
        report = generate_tenant(args.out, seed=args.seed, users=args.users, days=args.days, scenarios=scenarios)
    except (ValueError, FileExistsError, GenerationError) as exc:
        sys.stderr.write(f"cannot generate: {exc}\n")
        return 2
    sys.stdout.write(f"{args.out}: {report}\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=getattr(args, "log_level", "WARNING").upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "generate":
        return _generate(args)
    if args.command == "export":
        return _export(args)
    if args.command == "check":
        try:
            snapshot = load_snapshot(args.tenant)
        except SnapshotError as exc:
            sys.stderr.write(f"bad tenant snapshot: {exc}\n")
            return 2
        counts = ", ".join(f"{k} {len(v)}" for k, v in snapshot.collections.items() if v)
        sys.stdout.write(f"{args.tenant}: tenant {snapshot.tenant.tenant_id}, {counts}\n")
        return 0
    if args.quota_scale <= 0:
        sys.stderr.write(f"--quota-scale must be positive, got {args.quota_scale}\n")
        return 2
    if args.latency_ms < 0 or args.latency_ms_per_mb < 0:
        sys.stderr.write("--latency-ms and --latency-ms-per-mb cannot be negative\n")
        return 2
    if args.port < 0 or args.port > 65535:
        sys.stderr.write(f"--port must be 0..65535, got {args.port}\n")
        return 2
    try:
        faults = load_spec(args.faults) if args.faults else []
    except FaultSpecError as exc:
        sys.stderr.write(f"bad fault spec: {exc}\n")
        return 2
    from toolkit.sandbox.server import serve

    try:
        serve(args.tenant, args.state_dir or default_state_dir(), port=args.port, latency_ms=args.latency_ms,
              quota_scale=args.quota_scale, faults=faults, latency_ms_per_mb=args.latency_ms_per_mb)
    except SnapshotError as exc:
        sys.stderr.write(f"bad tenant snapshot: {exc}\n")
        return 2
    except OSError as exc:
        sys.stderr.write(f"cannot serve: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
