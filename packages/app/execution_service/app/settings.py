"""Settings from the environment (CONTRACT §3). A bad value is one clear line naming it."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import timedelta
from urllib.parse import urlsplit

import attrs

from execution_service.adapters.postgres import BadDatabaseUrl, PostgresUrl


class SettingsError(ValueError):
    pass


@attrs.frozen
class Settings:
    database_url: PostgresUrl | None = None
    database_read_url: PostgresUrl | None = None  # a streaming replica for the query side
    nats_urls: tuple[str, ...] = ("nats://localhost:4222",)
    nats_urls_given: bool = False  # NATS_URL was set (dev starts its own server otherwise)
    port: int = 3003
    host: str = "0.0.0.0"
    production: bool = False
    nats_stream: str = "EXECUTIONS"
    nats_consumer: str = "execution-service"
    nats_stream_replicas: int = 1  # only for a stream the service creates
    nats_subject_prefix: str = ""
    batch_size: int = 500
    batches_in_flight: int = 2
    ack_wait_seconds: int = 60
    log_level: str = "INFO"
    cors_origins: tuple[str, ...] = ("*",)
    api_tokens: tuple[str, ...] = ()  # POST and DELETE need one when set
    read_tokens: tuple[str, ...] = ()  # GETs need one (or an API token) when set
    sse_max_clients: int = 1000
    # Retention (docs/OPERATIONS.md): None keeps forever.
    execution_retention: timedelta | None = None
    dead_letter_retention: timedelta | None = None
    tombstone_retention: timedelta | None = None  # at least the stream's max age, if it has one
    prune_interval: timedelta = timedelta(minutes=10)
    # Traces (CONTRACT §7): exported while an OTLP endpoint is set.
    traces_endpoint: str | None = None  # the full URL of OTLP/HTTP's traces
    export_delay: timedelta = timedelta(seconds=5)
    export_payloads: bool = False
    trace_ui_url: str | None = None  # a template with {traceId}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        production = _environment(env) == "production"
        cors_origins = tuple(
            o.strip() for o in (env.get("CORS_ORIGINS") or "*").split(",") if o.strip()
        )
        api_tokens, read_tokens = _tokens(env, "API_TOKENS"), _tokens(env, "READ_TOKENS")
        _check_guard(api_tokens, read_tokens, cors_origins)
        kept = _duration(env, "EXECUTION_RETENTION")
        return cls(
            database_url=_database_url(env.get("DATABASE_URL")),
            database_read_url=_database_url(
                env.get("DATABASE_READ_URL"), "DATABASE_READ_URL", several_hosts="prefer-standby"
            ),
            nats_urls=_nats_urls(env.get("NATS_URL") or "nats://localhost:4222"),
            nats_urls_given=bool(env.get("NATS_URL")),
            port=_int(env, "PORT", 3003, 1, 65535),
            host=env.get("HOST") or "0.0.0.0",
            production=production,
            nats_stream=_name(env, "NATS_STREAM", "EXECUTIONS"),
            nats_consumer=_name(env, "NATS_CONSUMER", "execution-service"),
            nats_stream_replicas=_int(env, "NATS_STREAM_REPLICAS", 1, 1, 5),
            nats_subject_prefix=env.get("NATS_SUBJECT_PREFIX", ""),
            batch_size=_int(env, "BATCH_SIZE", 500, 1, 10_000),
            batches_in_flight=_int(env, "BATCHES_IN_FLIGHT", 2, 1, 8),
            ack_wait_seconds=_int(env, "ACK_WAIT_SECONDS", 60, 1, 3600),
            log_level=_log_level(env.get("LOG_LEVEL") or "INFO"),
            cors_origins=cors_origins,
            api_tokens=api_tokens,
            read_tokens=read_tokens,
            sse_max_clients=_int(env, "SSE_MAX_CLIENTS", 1000, 1, 100_000),
            execution_retention=kept,
            dead_letter_retention=_duration(env, "DEAD_LETTER_RETENTION") or kept,
            # A tombstone costs well under 1% of the execution it stands for: kept as long as
            # executions are, an event has to come twice the retention late to be recorded.
            tombstone_retention=_duration(env, "TOMBSTONE_RETENTION") or kept,
            prune_interval=_duration(env, "PRUNE_INTERVAL") or timedelta(minutes=10),
            traces_endpoint=_traces_endpoint(env),
            export_delay=_duration(env, "OTEL_EXPORT_DELAY") or timedelta(seconds=5),
            export_payloads=_bool(env, "OTEL_EXPORT_PAYLOADS"),
            trace_ui_url=_trace_ui_url(env.get("TRACE_UI_URL")),
        )

    def require_database(self) -> PostgresUrl:
        if self.database_url is None:
            raise SettingsError("DATABASE_URL is required (e.g. postgresql://u:p@host:5432/db)")
        return self.database_url


def _environment(env: Mapping[str, str]) -> str:
    value = (env.get("APP_ENV") or env.get("NODE_ENV") or "development").lower()
    if value not in ("development", "production", "test"):
        raise SettingsError(f"APP_ENV/NODE_ENV must be development or production, not {value!r}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = env.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise SettingsError(
            f"{name} must be an integer from {low} to {high}, not {text!r}"
        ) from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be an integer from {low} to {high}, not {value}")
    return value


def _name(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name) or default
    if not value.replace("-", "").replace("_", "").isalnum():
        raise SettingsError(f"{name} may hold letters, digits, - and _ only, not {value!r}")
    return value


def _database_url(
    text: str | None, name: str = "DATABASE_URL", several_hosts: str = "read-write"
) -> PostgresUrl | None:
    if not text:
        return None
    try:
        return PostgresUrl.parse(text, several_hosts)
    except BadDatabaseUrl as exc:
        raise SettingsError(f"{name} is not usable: {exc}") from None


def _nats_urls(text: str) -> tuple[str, ...]:
    urls = tuple(u.strip() for u in text.split(",") if u.strip())
    for url in urls:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError as exc:
            raise SettingsError(f"NATS_URL is not usable: {url!r} ({exc})") from None
        if parts.scheme not in ("nats", "tls", "ws", "wss") or not parts.hostname:
            raise SettingsError(f"NATS_URL is not usable: {url!r} (want nats://host:port)")
    if not urls:
        raise SettingsError("NATS_URL is empty")
    return urls


_DURATION = re.compile(r"([1-9][0-9]{0,8})([smhd])")
_UNIT = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def _duration(env: Mapping[str, str], name: str) -> timedelta | None:
    text = (env.get(name) or "").strip()
    if not text:
        return None
    match = _DURATION.fullmatch(text)
    if match is None:
        raise SettingsError(f"{name} must be a duration such as 30d, 12h or 90m, not {text!r}")
    return timedelta(**{_UNIT[match[2]]: int(match[1])})


def _traces_endpoint(env: Mapping[str, str]) -> str | None:
    """As the OpenTelemetry SDK reads them: the traces endpoint as given, else the base
    endpoint with /v1/traces; none when the SDK or its trace exporter is turned off."""
    exporter = (env.get("OTEL_TRACES_EXPORTER") or "").strip()
    if _bool(env, "OTEL_SDK_DISABLED") or exporter == "none":
        return None
    endpoint = (env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or "").strip()
    if not endpoint:
        base = (env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "").strip()
        endpoint = base.rstrip("/") + "/v1/traces" if base else ""
    if not endpoint:
        return None
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(
            "the OTLP endpoint must be an http(s) URL, e.g. http://collector:4318, "
            f"not {endpoint!r}"
        )
    return endpoint


def _bool(env: Mapping[str, str], name: str) -> bool:
    text = (env.get(name) or "").strip().lower()
    if text in ("", "false", "0", "no"):
        return False
    if text in ("true", "1", "yes"):
        return True
    raise SettingsError(f"{name} must be true or false, not {text!r}")


def _trace_ui_url(text: str | None) -> str | None:
    if not text:
        return None
    if "{traceId}" not in text:
        raise SettingsError(
            "TRACE_UI_URL must hold {traceId}, e.g. https://tempo.example/trace/{traceId}"
        )
    return text


def _log_level(text: str) -> str:
    level = text.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise SettingsError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {text!r}")
    return level


MIN_TOKEN_LENGTH = 16
# RFC 6750's b64token: what an `Authorization: Bearer` header can carry.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def _tokens(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Messages name the token's position, never the token: it is a secret."""
    tokens = tuple(t.strip() for t in (env.get(name) or "").split(",") if t.strip())
    for position, token in enumerate(tokens, 1):
        if not _B64TOKEN.fullmatch(token):
            raise SettingsError(
                f"{name}: token {position} holds characters a Bearer header cannot carry "
                "(letters, digits and -._~+/ only, then optional =)"
            )
        if len(token) < MIN_TOKEN_LENGTH:
            raise SettingsError(
                f"{name}: token {position} is shorter than {MIN_TOKEN_LENGTH} characters"
            )
    return tokens


def _check_guard(
    api_tokens: tuple[str, ...], read_tokens: tuple[str, ...], cors_origins: tuple[str, ...]
) -> None:
    if read_tokens and not api_tokens:
        raise SettingsError(
            "READ_TOKENS is set but API_TOKENS is not: reads would be guarded and retries open"
        )
    if (api_tokens or read_tokens) and "*" in cors_origins:
        raise SettingsError(
            "CORS_ORIGINS must list the browser origins allowed to call the API (not '*', "
            "its default) when API_TOKENS is set, e.g. CORS_ORIGINS=https://app.example.com"
        )
