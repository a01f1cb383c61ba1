from __future__ import annotations

import pytest

from execution_service.app import Settings, SettingsError
from execution_service.app.cli import main


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
        }
    )
    assert settings.port == 8080 and settings.production and settings.batch_size == 200
    assert settings.nats_urls == ("nats://a:4222", "nats://b:4222")
    assert settings.database_url is not None and settings.database_url.schema == "public"


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
        ({"NATS_STREAM": "a.b"}, "NATS_STREAM may hold letters"),
        ({"SSE_MAX_CLIENTS": "0"}, "SSE_MAX_CLIENTS must be an integer from 1"),
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
