"""Transitional: the ExecutionStore port as one class, until the container wires
PostgresRecorder and PostgresQueries separately (then this module goes)."""

from __future__ import annotations

from execution_service.adapters.postgres.queries import PostgresQueries
from execution_service.adapters.postgres.recorder import PostgresRecorder


class PostgresStore(PostgresRecorder, PostgresQueries):
    pass
