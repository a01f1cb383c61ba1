"""How busy the connection pool is: connections checked out now."""

from __future__ import annotations

from execution_service.adapters.postgres.database import Database


def pool_in_use(database: Database) -> int:
    return database.in_use()
