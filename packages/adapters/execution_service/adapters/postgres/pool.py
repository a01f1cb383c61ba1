"""How busy the connection pool is. `databases` keeps its asyncpg pool private; this is the
one place that reaches into it, and it answers 0 rather than fail if that ever changes."""

from __future__ import annotations

from databases import Database


def pool_in_use(database: Database) -> int:
    pool = getattr(getattr(database, "_backend", None), "_pool", None)
    if pool is None:  # not connected
        return 0
    try:
        return int(pool.get_size() - pool.get_idle_size())
    except AttributeError:
        return 0
