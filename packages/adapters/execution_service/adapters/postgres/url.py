"""DATABASE_URL in asyncpg's form or Prisma's (`…?schema=public`), parsed once.

Several hosts are libpq's form, `postgresql://u@h1:5432,h2:5433/db?target_session_attrs=…`:
every connection (the pool's, LISTEN's, yoyo's) tries them in order and keeps the first whose
session fits `target_session_attrs`. A primary and its standbys named so are found again
after a failover by reconnecting, with no restart."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import attrs

_SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg", "postgresql+psycopg")
# libpq's values; asyncpg knows the same ones
_SESSION_ATTRS = ("any", "primary", "standby", "prefer-standby", "read-write", "read-only")
_HOST_PORT = re.compile(r"(?:\[(?P<v6>[^\]]+)\]|(?P<name>[^:\[\]]*))(?::(?P<port>[^:]*))?")
DEFAULT_PORT = 5432


class BadDatabaseUrl(ValueError):
    pass


@attrs.frozen
class Host:
    name: str | None  # a name, an address, or a socket directory; None: libpq's default
    port: int | None = None


@attrs.frozen
class PostgresUrl:
    database: str
    user: str | None = None
    password: str | None = None
    hosts: tuple[Host, ...] = ()
    schema: str | None = None
    target_session_attrs: str | None = None
    options: tuple[tuple[str, str], ...] = ()

    @property
    def host(self) -> str | None:
        return self.hosts[0].name if self.hosts else None

    @property
    def port(self) -> int | None:
        return self.hosts[0].port if self.hosts else None

    @classmethod
    def parse(cls, text: str, several_hosts: str = "read-write") -> PostgresUrl:
        """several_hosts: the target_session_attrs when several hosts are named without one."""
        try:
            parts = urlsplit(text.strip())
        except ValueError as exc:
            raise BadDatabaseUrl(f"not a URL ({exc})") from None
        if parts.scheme not in _SCHEMES:
            got = f"{parts.scheme}://" if parts.scheme else "none"
            raise BadDatabaseUrl(f"scheme must be postgresql:// (got {got})")
        database = unquote(parts.path.lstrip("/"))
        if not database:
            raise BadDatabaseUrl("no database name in the path")
        user, password, hosts = _netloc(parts.netloc)
        query = dict(parse_qsl(parts.query))
        if "host" in query:  # socket directories (or names), as libpq reads them
            hosts = _query_hosts(query.pop("host"), query.pop("port", None), hosts)
        schema = query.pop("schema", None)
        if schema is not None and not schema.replace("_", "").isalnum():
            raise BadDatabaseUrl(f"schema must be a plain identifier, not {schema!r}")
        attrs_wanted = query.pop("target_session_attrs", None)
        if attrs_wanted is not None and attrs_wanted not in _SESSION_ATTRS:
            raise BadDatabaseUrl(
                f"target_session_attrs must be one of {', '.join(_SESSION_ATTRS)},"
                f" not {attrs_wanted!r}"
            )
        if attrs_wanted is None and len(hosts) > 1:
            # several hosts are a primary and its standbys: libpq's `any` would let a writer
            # settle on a standby, which refuses every write
            attrs_wanted = several_hosts
        return cls(
            database=database,
            user=user,
            password=password,
            hosts=hosts,
            schema=schema,
            target_session_attrs=attrs_wanted,
            options=tuple(sorted(query.items())),
        )

    def connect_kwargs(self) -> dict[str, Any]:
        """For asyncpg.connect / create_pool."""
        kwargs: dict[str, Any] = {
            "user": self.user,
            "password": self.password,
            "database": self.database,
            "target_session_attrs": self.target_session_attrs,
        }
        if len(self.hosts) == 1:
            kwargs["host"], kwargs["port"] = self.hosts[0].name, self.hosts[0].port
        elif self.hosts:
            kwargs["host"] = [h.name for h in self.hosts]
            kwargs["port"] = [h.port or DEFAULT_PORT for h in self.hosts]
        if self.schema:
            kwargs["server_settings"] = {"search_path": self.schema}
        return {k: v for k, v in kwargs.items() if v is not None}

    def url(self, scheme: str = "postgresql", **extra: str) -> str:
        """libpq's form (psycopg reads it as it is)."""
        auth = ""
        if self.user:
            auth = quote(self.user, safe="")
            if self.password:
                auth += ":" + quote(self.password, safe="")
            auth += "@"
        query = dict(self.options)
        sockets = any(h.name and h.name.startswith("/") for h in self.hosts)
        if sockets:
            query["host"] = ",".join(h.name or "" for h in self.hosts)
            if any(h.port for h in self.hosts):
                query["port"] = ",".join(str(h.port or DEFAULT_PORT) for h in self.hosts)
            netloc = auth
        else:
            netloc = auth + ",".join(_host_text(h) for h in self.hosts)
        if self.target_session_attrs:
            query["target_session_attrs"] = self.target_session_attrs
        query |= extra
        tail = f"?{urlencode(query, safe=',/')}" if query else ""
        return f"{scheme}://{netloc}/{quote(self.database, safe='')}{tail}"

    def yoyo_url(self) -> str:
        """yoyo-migrations through psycopg 3. yoyo's own parser takes one host:port, but hands
        the query to psycopg.connect as it is: several hosts go there, in libpq's lists."""
        extra = {"schema": self.schema} if self.schema else {}
        if len(self.hosts) <= 1:
            return self.url("postgresql+psycopg", **extra)
        single = attrs.evolve(self, hosts=())
        extra["host"] = ",".join(h.name or "" for h in self.hosts)
        extra["port"] = ",".join(str(h.port or DEFAULT_PORT) for h in self.hosts)
        return single.url("postgresql+psycopg", **extra)

    def with_database(self, database: str) -> PostgresUrl:
        return attrs.evolve(self, database=database)

    def redacted(self) -> str:
        """For logs: the URL without its password."""
        text = attrs.evolve(self, password="PASSWORD" if self.password else None).url()
        return text.replace(":PASSWORD@", ":***@")


def _netloc(netloc: str) -> tuple[str | None, str | None, tuple[Host, ...]]:
    userinfo, _, hostlist = netloc.rpartition("@")
    user = password = None
    if userinfo:
        name, colon, secret = userinfo.partition(":")
        user = unquote(name) or None
        password = unquote(secret) if colon and secret else None
    if not hostlist:
        return user, password, ()
    hosts = []
    for spec in hostlist.split(","):
        match = _HOST_PORT.fullmatch(spec)
        if match is None:
            raise BadDatabaseUrl(f"not a URL (host {spec!r} is not host[:port])")
        host: str | None = match["v6"] or unquote(match["name"] or "") or None
        hosts.append(Host(host, _port(match["port"] or "", spec)))
    return user, password, tuple(hosts)


def _query_hosts(names: str, ports: str | None, netloc: tuple[Host, ...]) -> tuple[Host, ...]:
    listed = names.split(",")
    if ports is not None:
        numbers = [_port(p, ports) for p in ports.split(",")]
        if len(numbers) == 1:
            numbers *= len(listed)
        if len(numbers) != len(listed):
            raise BadDatabaseUrl(f"{len(listed)} hosts but {len(numbers)} ports in the query")
    else:  # `postgresql://u@:5433/db?host=/sockets`: the port from where it usually is
        numbers = [netloc[0].port if len(netloc) == 1 else None] * len(listed)
    return tuple(Host(name or None, port) for name, port in zip(listed, numbers, strict=True))


def _port(text: str, spec: str) -> int | None:
    if text == "":
        return None
    if text.isdigit() and 0 < int(text) < 65536:
        return int(text)
    raise BadDatabaseUrl(f"not a URL (port {text!r} of {spec!r} is not a port)")


def _host_text(host: Host) -> str:
    name = host.name or ""
    name = f"[{name}]" if ":" in name else quote(name, safe="")
    return f"{name}:{host.port}" if host.port else name
