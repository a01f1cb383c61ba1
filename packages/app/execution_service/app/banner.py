"""What `dev` prints so that a newcomer knows where to look."""

from __future__ import annotations

from execution_service.app.settings import Settings

TARGET = "packages/app/execution_service/app:execution-service"


def banner(settings: Settings) -> str:
    base = f"http://localhost:{settings.port}"
    nats_url = settings.nats_urls[0]
    return f"""
Execution Service (dev) — Ctrl-C stops it and the servers it started
  Page        {base}/ui/
  API         {base}/api/executions
  Swagger UI  {base}/api/docs
  Health      {base}/api/health
  Metrics     {base}/metrics
  NATS        {nats_url}
Publish a demo workflow's events:
  NATS_URL={nats_url} ./pants --concurrent run {TARGET} -- publish-demo
"""
