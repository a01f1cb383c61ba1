from __future__ import annotations

import re
from datetime import timedelta

import pytest

from execution_service.app import Settings, SettingsError
from execution_service.app.cli import main
from execution_service.app.pruning import retention


def test_defaults_and_a_full_environment() -> None:
    assert Settings.from_env({}).port == 3003
    assert Settings.from_env({}).sse_max_clients == 1000
    assert Settings.from_env({"SSE_MAX_CLIENTS": "5"}).sse_max_clients == 5
    settings = Settings.from_env(
        {
            "PORT": "8080",
            "DATABASE_URL": "postgresql://u:p@db:5432/app?schema=public",
            "NATS_URL": "nats://a:4222, nats://b:4222",
            "NODE_ENV": "production",
            "NATS_STREAM": "EVENTS",
            "NATS_CONSUMER": "exec-svc",
            "BATCH_SIZE": "200",
            "NATS_STREAM_REPLICAS": "3",
        }
    )
    assert settings.port == 8080 and settings.production and settings.batch_size == 200
    assert settings.nats_urls == ("nats://a:4222", "nats://b:4222")
    assert settings.database_url is not None and settings.database_url.schema == "public"
    assert settings.nats_stream_replicas == 3 and Settings.from_env({}).nats_stream_replicas == 1


def test_several_hosts_mean_the_primary_for_writes_and_a_standby_for_reads() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://u@pg1,pg2/app",
            "DATABASE_READ_URL": "postgresql://u@pg2,pg3/app",
        }
    )
    assert settings.require_database().target_session_attrs == "read-write"
    assert settings.database_read_url is not None
    assert settings.database_read_url.target_session_attrs == "prefer-standby"
    assert Settings.from_env({}).database_read_url is None


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"PORT": "abc"}, "PORT must be an integer from 1 to 65535, not 'abc'"),
        ({"PORT": "70000"}, "PORT must be an integer from 1 to 65535"),
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL is not usable"),
        ({"NATS_URL": "localhost:4222"}, "NATS_URL is not usable"),
        ({"NATS_URL": "nats://h:port"}, "NATS_URL is not usable"),
        ({"APP_ENV": "staging"}, "APP_ENV/NODE_ENV must be development or production"),
        ({"BATCH_SIZE": "0"}, "BATCH_SIZE must be an integer from 1"),
        ({"DATABASE_READ_URL": "postgresql://h:x/db"}, "DATABASE_READ_URL is not usable"),
        ({"NATS_STREAM_REPLICAS": "7"}, "NATS_STREAM_REPLICAS must be an integer from 1 to 5"),
        (
            {"DATABASE_URL": "postgresql://h1:5432,h2:x/db"},
            "DATABASE_URL is not usable: not a URL",
        ),
        ({"NATS_STREAM": "a.b"}, "NATS_STREAM may hold letters"),
        ({"SSE_MAX_CLIENTS": "0"}, "SSE_MAX_CLIENTS must be an integer from 1"),
        ({"EXECUTION_RETENTION": "30"}, "EXECUTION_RETENTION must be a duration such as 30d"),
        ({"DEAD_LETTER_RETENTION": "0d"}, "DEAD_LETTER_RETENTION must be a duration"),
        ({"PRUNE_INTERVAL": "1w"}, "PRUNE_INTERVAL must be a duration such as 30d, 12h or 90m"),
        ({"TOMBSTONE_RETENTION": "-1h"}, "TOMBSTONE_RETENTION must be a duration"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(env: dict[str, str], says: str) -> None:
    with pytest.raises(SettingsError, match=says):
        Settings.from_env(env)


def test_the_cli_prints_one_line_and_exits_2_on_a_bad_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PORT", "abc")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "execution-service: PORT must be an integer from 1 to 65535, not 'abc'"


def test_serve_without_database_url_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert main(["migrate"]) == 2
    assert "DATABASE_URL is required" in capsys.readouterr().err


def test_retention_is_off_unless_set_and_the_others_follow_it() -> None:
    off = Settings.from_env({})
    assert off.execution_retention is off.dead_letter_retention is off.tombstone_retention is None
    assert off.prune_interval == timedelta(minutes=10)
    on = Settings.from_env({"EXECUTION_RETENTION": "30d", "PRUNE_INTERVAL": "90m"})
    assert on.execution_retention == on.dead_letter_retention == timedelta(days=30)
    assert on.tombstone_retention == timedelta(days=30)
    assert on.prune_interval == timedelta(minutes=90)
    own = Settings.from_env(
        {"EXECUTION_RETENTION": "12h", "DEAD_LETTER_RETENTION": "2d", "TOMBSTONE_RETENTION": "45s"}
    )
    assert (own.execution_retention, own.dead_letter_retention, own.tombstone_retention) == (
        timedelta(hours=12), timedelta(days=2), timedelta(seconds=45),
    )  # fmt: skip


def test_a_tombstone_outlives_the_streams_copies() -> None:
    settings = Settings.from_env({"EXECUTION_RETENTION": "1d"})
    assert retention(settings, None).tombstones == timedelta(days=1)
    assert retention(settings, timedelta(days=7)).tombstones == timedelta(days=7)
    assert retention(settings, timedelta(hours=1)).tombstones == timedelta(days=1)


def test_traces_are_exported_where_the_sdk_would_send_them() -> None:
    assert Settings.from_env({}).traces_endpoint is None
    base = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}
    assert Settings.from_env(base).traces_endpoint == "http://collector:4318/v1/traces"
    given = base | {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://t.example/otlp"}
    assert Settings.from_env(given).traces_endpoint == "https://t.example/otlp"
    assert Settings.from_env(base | {"OTEL_TRACES_EXPORTER": "none"}).traces_endpoint is None
    assert Settings.from_env(base | {"OTEL_SDK_DISABLED": "true"}).traces_endpoint is None
    settings = Settings.from_env(
        base | {"OTEL_EXPORT_DELAY": "30s", "OTEL_EXPORT_PAYLOADS": "true"}
    )
    assert (settings.export_delay, settings.export_payloads) == (timedelta(seconds=30), True)


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318", "http(s) URL"),
        ("OTEL_EXPORT_PAYLOADS", "maybe", "true or false"),
        ("TRACE_UI_URL", "https://tempo.example/trace/", "{traceId}"),
    ],
)
def test_a_bad_trace_setting_is_named(name: str, value: str, said: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(said)):
        Settings.from_env({name: value})
