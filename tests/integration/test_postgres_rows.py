"""The row types the store sends (migrations) have exactly the adapter's columns, in order:
asyncpg encodes a record by position, so a column out of place would land in another."""

from __future__ import annotations

import psycopg
import pytest

from execution_service.adapters.postgres.rows import (
    EVENT_IN,
    EXECUTION_IN,
    NODE_RUN_IN,
    event_record,
)
from execution_service.domain import Event, parse_message
from support.events import message
from support.postgres import fresh_database


@pytest.mark.parametrize(
    ("row_type", "columns"),
    [("execution_in", EXECUTION_IN), ("node_run_in", NODE_RUN_IN), ("event_in", EVENT_IN)],
)
def test_the_migrated_row_type_has_the_adapters_columns_in_order(
    row_type: str, columns: tuple[str, ...]
) -> None:
    with fresh_database() as url, psycopg.connect(url.url()) as conn:
        rows = conn.execute(
            """SELECT attname FROM pg_attribute
               WHERE attrelid = (SELECT typrelid FROM pg_type WHERE typname = %s)
                 AND attnum > 0 AND NOT attisdropped
               ORDER BY attnum""",
            (row_type,),
        ).fetchall()
    assert tuple(name for (name,) in rows) == columns


def test_an_events_record_is_its_key_execution_subject_and_payload() -> None:
    event = parse_message(message("execution.node.started", {"executionId": "e", "nodeId": "n"}))
    assert isinstance(event, Event)
    assert event_record(event) == (event.key, "e", "execution.node.started", event.payload, None)
