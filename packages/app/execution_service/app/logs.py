"""One line per request and per consumed batch: JSON in production, text in development."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

from execution_service.adapters.http.redact import redacted


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure(production: bool, level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    if production:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("nats").setLevel(logging.WARNING)
    logging.getLogger("yoyo").setLevel(logging.WARNING)
    logging.getLogger("pgserver").setLevel(logging.WARNING)


class AccessLog(AbstractAccessLogger):
    """aiohttp's `%a "%r" %s %b %Tfs` line, with credential-like query values hidden
    (`?access_token=…` is refused, but a client that tries it must not leave its token in the
    log either)."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        version = request.version
        self.logger.info(
            '%s "%s %s HTTP/%d.%d" %d %d %.6fs',
            request.remote,
            request.method,
            redacted(request),
            version.major,
            version.minor,
            response.status,
            response.body_length,
            time,
        )
