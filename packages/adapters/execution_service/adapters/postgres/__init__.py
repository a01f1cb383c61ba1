"""PostgreSQL: the ExecutionStore, its schema migrations, and DATABASE_URL handling."""

from execution_service.adapters.postgres.changes import PostgresChanges
from execution_service.adapters.postgres.embedded import EmbeddedPostgres
from execution_service.adapters.postgres.migrations import (
    apply_migrations,
    rollback_migrations,
)
from execution_service.adapters.postgres.store import PostgresStore, create_database
from execution_service.adapters.postgres.url import BadDatabaseUrl, PostgresUrl

__all__ = [
    "BadDatabaseUrl",
    "EmbeddedPostgres",
    "PostgresChanges",
    "PostgresStore",
    "PostgresUrl",
    "apply_migrations",
    "create_database",
    "rollback_migrations",
]
