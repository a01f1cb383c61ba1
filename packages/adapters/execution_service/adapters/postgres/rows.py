"""The domain's states as the rows the tables hold: one column per slot of fold.EXECUTION and
fold.NODE_RUN, of the same name, after the row's key. The *_IN tuples are the attributes of
migration 0008's row types, in order (tests/integration/test_postgres_rows.py checks them).
A row is sent as the state is: its status is text already (a StrEnum), and asyncpg encodes its
JSON fields with the connection's json codec (database.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from operator import itemgetter
from typing import Any

from execution_service.domain import EXECUTION, NODE_RUN, Event, NodeRunKey, State

EXECUTION_KEY = ("id",)
NODE_RUN_KEY = ("execution_id", "node_id", "attempt")
EXECUTION_IN = (*EXECUTION_KEY, *EXECUTION.slots)
NODE_RUN_IN = (*NODE_RUN_KEY, *NODE_RUN.slots)
EVENT_IN = ("event_key", "execution_id", "subject", "payload", "traceparent")


# An event's fields in EVENT_IN order, picked in C: the kind is its subject (a StrEnum).
# tests/integration/test_postgres_rows.py holds the positions to the names.
event_record: Callable[[Event], tuple[Any, ...]] = itemgetter(0, 2, 1, 19, 20)


def execution_rows(states: Iterable[tuple[str, State]]) -> list[tuple[Any, ...]]:
    """(id, state) pairs as execution_in rows."""
    return [(execution_id, *state) for execution_id, state in states]


def node_run_rows(states: Iterable[tuple[NodeRunKey, State]]) -> list[tuple[Any, ...]]:
    """(key, state) pairs as node_run_in rows."""
    return [(*key, *state) for key, state in states]
