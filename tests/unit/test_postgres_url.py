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


def test_several_hosts_reach_the_primary_whichever_it_is() -> None:
    url = PostgresUrl.parse("postgresql://u:pw@h1:5432,h2:5433/db?target_session_attrs=read-write")
    assert url.connect_kwargs() == {
        "host": ["h1", "h2"], "port": [5432, 5433], "user": "u", "password": "pw",
        "database": "db", "target_session_attrs": "read-write",
    }  # fmt: skip
    assert url.url() == "postgresql://u:pw@h1:5432,h2:5433/db?target_session_attrs=read-write"
    assert PostgresUrl.parse(url.url()) == url
    # yoyo's parser takes one host:port; the lists reach psycopg (libpq) through the query
    assert url.yoyo_url() == (
        "postgresql+psycopg://u:pw@/db?target_session_attrs=read-write&host=h1,h2&port=5432,5433"
    )
    assert url.redacted() == "postgresql://u:***@h1:5432,h2:5433/db?target_session_attrs=read-write"


def test_several_hosts_without_session_attrs_mean_the_writable_one() -> None:
    url = PostgresUrl.parse("postgresql://u@h1,h2:5433,[::1]:6000/db")
    assert url.connect_kwargs()["host"] == ["h1", "h2", "::1"]
    assert url.connect_kwargs()["port"] == [5432, 5433, 6000]
    assert url.connect_kwargs()["target_session_attrs"] == "read-write"
    assert url.url() == "postgresql://u@h1,h2:5433,[::1]:6000/db?target_session_attrs=read-write"
    one = PostgresUrl.parse("postgresql://u@h1/db")
    assert "target_session_attrs" not in one.connect_kwargs()


def test_socket_directories_and_ports_in_the_query() -> None:
    url = PostgresUrl.parse("postgresql://u@/db?host=/run/a,/run/b&port=5432,5433")
    assert url.connect_kwargs()["host"] == ["/run/a", "/run/b"]
    assert url.connect_kwargs()["port"] == [5432, 5433]
    assert PostgresUrl.parse(url.url()) == url


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("postgresql://h1:5432,h2:x/db", "not a URL"),
        ("postgresql://h1,h2/db?target_session_attrs=master", "target_session_attrs must be"),
        ("postgresql://u@/db?host=/a,/b&port=1,2,3", "2 hosts but 3 ports"),
    ],
)
def test_a_malformed_host_list_is_one_clear_error(text: str, says: str) -> None:
    with pytest.raises(BadDatabaseUrl, match=says):
        PostgresUrl.parse(text)
