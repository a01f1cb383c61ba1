"""execution-service: serve, migrate, dev, publish-demo (CONTRACT §4)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from aiohttp import web

from execution_service.adapters.postgres import apply_migrations
from execution_service.app import logs
from execution_service.app.container import Container
from execution_service.app.settings import Settings, SettingsError
from execution_service.app.web import create_app, with_runtime

log = logging.getLogger("execution_service")


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
    return root


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
            migrate(settings)
            serve(settings)
        elif args.command == "dev":
            from execution_service.app.dev import dev

            dev(settings, demo=not args.no_demo, data_dir=args.data_dir)
        elif args.command == "publish-demo":
            from execution_service.app.demo import publish_demo_cli

            publish_demo_cli(settings)
    except SettingsError as exc:
        print(f"execution-service: {exc}", file=sys.stderr)
        return 2
    return 0


def migrate(settings: Settings) -> None:
    url = settings.require_database()
    applied = apply_migrations(url)
    log.info("migrations: %s on %s", ", ".join(applied) or "none pending", url.redacted())


def serve(settings: Settings, container: Container | None = None) -> None:
    container = container or Container(settings=settings)
    app = with_runtime(create_app(container), container)
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        access_log_class=logs.AccessLog,
        print=None,
        shutdown_timeout=10,
    )


if __name__ == "__main__":
    sys.exit(main())
