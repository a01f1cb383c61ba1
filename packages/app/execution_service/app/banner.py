"""What `dev` prints so that a newcomer knows where to look, and what to paste next."""

from __future__ import annotations

import shlex
from datetime import timedelta

from execution_service.app.settings import Settings

TARGET = "packages/app/execution_service/app:execution-service"
RUN = f"./pants --concurrent run {TARGET} --"


def banner(settings: Settings, stand_in: bool) -> str:
    base = f"http://localhost:{settings.port}"
    nats_url = settings.nats_urls[0]
    database = settings.require_database()
    if database.password:  # a secret stays out of the terminal and its scroll-back
        shown, env = database.redacted(), ""
    else:
        shown = database.url()
        env = f"DATABASE_URL={shlex.quote(shown)} "
    retention = _duration(settings.execution_retention or timedelta(days=30))
    lines = [
        "",
        "Execution Service (dev) — Ctrl-C stops it and the servers it started",
        f"  Page        {base}/ui/",
        f"  API         {base}/api/executions",
        f"  Swagger UI  {base}/api/docs",
        f"  Health      {base}/api/health",
        f"  Metrics     {base}/metrics",
        f"  NATS        {nats_url}",
        f"  Database    {shown}",
    ]
    if stand_in:
        lines += [
            "  Retries     no orchestrator runs here: the demo stands in for one and answers a",
            "              retry of a demo execution with its next attempt (try Retry on",
            f"              {base}/ui/executions/demo-failed)",
        ]
    lines += [
        "Publish a demo workflow's events:",
        f"  NATS_URL={nats_url} {RUN} publish-demo",
        "What a retention pass would delete (nothing is deleted), and the migrations:",
        f"  {env}EXECUTION_RETENTION={retention} {RUN} prune --dry-run",
        f"  {env}{RUN} migrate",
    ]
    if database.password:
        lines.append("  (with DATABASE_URL as you set it: it holds a password, not printed)")
    return "\n".join(lines) + "\n"


def _duration(value: timedelta) -> str:
    """As EXECUTION_RETENTION is written: 30d, 12h, 90m, 45s."""
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
