"""DATABASE_URL in asyncpg's form or Prisma's (`…?schema=public`), parsed once."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import attrs

_SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg", "postgresql+psycopg")


class BadDatabaseUrl(ValueError):
    pass


@attrs.frozen
class PostgresUrl:
    database: str
    user: str | None = None
    password: str | None = None
    host: str | None = None  # a name, an address, or a socket directory
    port: int | None = None
    schema: str | None = None
    options: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> PostgresUrl:
        try:
            parts = urlsplit(text.strip())
            port = parts.port
        except ValueError as exc:
            raise BadDatabaseUrl(f"not a URL ({exc})") from None
        if parts.scheme not in _SCHEMES:
            got = f"{parts.scheme}://" if parts.scheme else "none"
            raise BadDatabaseUrl(f"scheme must be postgresql:// (got {got})")
        database = unquote(parts.path.lstrip("/"))
        if not database:
            raise BadDatabaseUrl("no database name in the path")
        query = dict(parse_qsl(parts.query))
        host = query.pop("host", None) or parts.hostname
        schema = query.pop("schema", None)
        if schema is not None and not schema.replace("_", "").isalnum():
            raise BadDatabaseUrl(f"schema must be a plain identifier, not {schema!r}")
        return cls(
            database=database,
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            host=host,
            port=port,
            schema=schema,
            options=tuple(sorted(query.items())),
        )

    def connect_kwargs(self) -> dict[str, Any]:
        """For asyncpg.connect / create_pool."""
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "database": self.database,
        }
        if self.schema:
            kwargs["server_settings"] = {"search_path": self.schema}
        return {k: v for k, v in kwargs.items() if v is not None}

    def url(self, scheme: str = "postgresql", **extra: str) -> str:
        auth = ""
        if self.user:
            auth = quote(self.user, safe="")
            if self.password:
                auth += ":" + quote(self.password, safe="")
            auth += "@"
        netloc = auth
        query = dict(self.options) | extra
        if self.host and self.host.startswith("/"):
            query["host"] = self.host
        elif self.host:
            netloc += self.host
        if self.port:
            netloc += f":{self.port}"
        tail = f"?{urlencode(query)}" if query else ""
        return f"{scheme}://{netloc}/{quote(self.database, safe='')}{tail}"

    def yoyo_url(self) -> str:
        """yoyo-migrations through psycopg 3; yoyo sets search_path from `schema`."""
        extra = {"schema": self.schema} if self.schema else {}
        return self.url("postgresql+psycopg", **extra)

    def with_database(self, database: str) -> PostgresUrl:
        return attrs.evolve(self, database=database)

    def redacted(self) -> str:
        """For logs: the URL without its password."""
        text = attrs.evolve(self, password="PASSWORD" if self.password else None).url()
        return text.replace(":PASSWORD@", ":***@")
