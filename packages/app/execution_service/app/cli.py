"""execution-service: serve, migrate, dev, publish-demo, prune, verify, rebuild (CONTRACT §6)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from execution_service.app import logs
from execution_service.app.commands import migrate, print_prune, serve
from execution_service.app.settings import Settings, SettingsError
from execution_service.domain import parse_time


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="execution-service",
        description="Records workflow executions from NATS JetStream into PostgreSQL and "
        "serves them over REST.",
    )
    commands = root.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_parser(
        "serve", help="apply pending migrations, then consume events and serve HTTP"
    )
    commands.add_parser("migrate", help="apply pending migrations and exit")
    dev = commands.add_parser(
        "dev",
        help="zero set-up: embedded PostgreSQL and NATS unless DATABASE_URL / NATS_URL "
        "are given, demo executions, then serve",
    )
    dev.add_argument("--no-demo", action="store_true", help="publish no demo executions")
    dev.add_argument(
        "--data-dir", default=".execution-service", help="where embedded servers keep data"
    )
    commands.add_parser(
        "publish-demo", help="publish a realistic workflow's events to NATS_URL and exit"
    )
    prune = commands.add_parser(
        "prune",
        help="run one retention pass and print what it deleted per table (docs/OPERATIONS.md)",
    )
    prune.add_argument(
        "--dry-run", action="store_true", help="delete nothing; print what a pass would delete"
    )
    verify = commands.add_parser(
        "verify",
        help="fold each execution's events and compare with its stored rows; print each "
        "difference, exit 1 if any (docs/OPERATIONS.md)",
    )
    verify.add_argument(
        "--sample", type=_positive, metavar="N", help="only N executions, chosen at random"
    )
    rebuild = commands.add_parser(
        "rebuild",
        help="replace executions' stored rows by the fold of their events, while the service "
        "runs (docs/OPERATIONS.md); all of them unless filtered",
    )
    rebuild.add_argument(
        "--execution", action="append", default=[], metavar="ID", help="this one (repeatable)"
    )
    rebuild.add_argument("--workflow", metavar="ID", help="executions of this workflow (as stored)")
    rebuild.add_argument(
        "--since", type=parse_time, metavar="TIME",
        help="executions with an event recorded at or after this ISO 8601 time",
    )  # fmt: skip
    rebuild.add_argument(
        "--after", metavar="ID", help="only executions whose id sorts after this (resume)"
    )
    return root


def _positive(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"execution-service: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.production, settings.log_level)
    try:
        if args.command == "migrate":
            migrate(settings)
        elif args.command == "serve":
            serve(settings)
        elif args.command == "dev":
            from execution_service.app.dev import dev

            dev(settings, demo=not args.no_demo, data_dir=args.data_dir)
        elif args.command == "publish-demo":
            from execution_service.app.demo import publish_demo_cli

            publish_demo_cli(settings)
        elif args.command == "prune":
            return print_prune(settings, dry_run=args.dry_run)
        elif args.command == "verify":
            from execution_service.app.rebuilding import print_verify

            return print_verify(settings, args.sample)
        elif args.command == "rebuild":
            from execution_service.app.rebuilding import print_rebuild

            return print_rebuild(settings, args.execution, args.workflow, args.since, args.after)
    except SettingsError as exc:
        print(f"execution-service: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
