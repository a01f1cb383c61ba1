"""PostgreSQL: the recorder and queries, their schema migrations, and DATABASE_URL handling."""

from execution_service.adapters.postgres.changes import PostgresChanges
from execution_service.adapters.postgres.database import Database, create_database
from execution_service.adapters.postgres.embedded import EmbeddedPostgres
from execution_service.adapters.postgres.event_log import PostgresEventLog
from execution_service.adapters.postgres.migrations import (
    apply_migrations,
    rollback_migrations,
)
from execution_service.adapters.postgres.outbox import PostgresTraceOutbox
from execution_service.adapters.postgres.pool import pool_in_use
from execution_service.adapters.postgres.pruner import PostgresPruner
from execution_service.adapters.postgres.queries import PostgresQueries
from execution_service.adapters.postgres.recorder import PostgresRecorder
from execution_service.adapters.postgres.url import BadDatabaseUrl, PostgresUrl

__all__ = [
    "BadDatabaseUrl",
    "Database",
    "EmbeddedPostgres",
    "PostgresEventLog",
    "PostgresChanges",
    "PostgresPruner",
    "PostgresQueries",
    "PostgresRecorder",
    "PostgresTraceOutbox",
    "PostgresUrl",
    "apply_migrations",
    "create_database",
    "pool_in_use",
    "rollback_migrations",
]
