from __future__ import annotations

import pytest

from execution_service.adapters.postgres import BadDatabaseUrl, PostgresUrl


def test_asyncpg_form() -> None:
    url = PostgresUrl.parse("postgresql://u:p%40ss@db.example:6543/app")
    assert url.connect_kwargs() == {
        "host": "db.example", "port": 6543, "user": "u", "password": "p@ss", "database": "app",
    }  # fmt: skip
    assert url.yoyo_url() == "postgresql+psycopg://u:p%40ss@db.example:6543/app"
    assert url.redacted() == "postgresql://u:***@db.example:6543/app"


def test_prisma_form_selects_the_schema() -> None:
    url = PostgresUrl.parse("postgresql://u:p@h:5432/db?schema=tenant_1")
    assert url.schema == "tenant_1"
    assert url.connect_kwargs()["server_settings"] == {"search_path": "tenant_1"}
    assert url.yoyo_url() == "postgresql+psycopg://u:p@h:5432/db?schema=tenant_1"
    assert "schema" not in url.url()


def test_socket_directory_as_host_query() -> None:
    url = PostgresUrl.parse("postgresql://postgres:@/postgres?host=/tmp/pg")
    assert url.connect_kwargs() == {"host": "/tmp/pg", "user": "postgres", "database": "postgres"}
    assert PostgresUrl.parse(url.url()) == url


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("mysql://h/db", "scheme must be postgresql://"),
        ("not a url", "scheme must be postgresql://"),
        ("postgresql://h:notaport/db", "not a URL"),
        ("postgresql://h:5432/", "no database name"),
        ("postgresql://h/db?schema=a;drop", "schema must be a plain identifier"),
    ],
)
def test_a_malformed_url_is_one_clear_error(text: str, says: str) -> None:
    with pytest.raises(BadDatabaseUrl, match=says):
        PostgresUrl.parse(text)
