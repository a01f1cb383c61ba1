"""The statement that joins a batch's state into the stored rows, written out from the
domain's layouts (fold.EXECUTION, fold.NODE_RUN): for each register, the fields of the side
whose precedence is greater. The comparison is on bytes the domain computed; which event wins,
and why, is decided there alone.

- ON CONFLICT updates the latest committed row under its row lock, so replicas writing the
  same rows end in the state one writer would.
- A row that would not change is not updated (no new row version, no WAL for it).
- updated_at is the time of the write, never earlier than the row's creation: now() is when
  the transaction began, which can precede a row another transaction created meanwhile.
- One pg_notify per chunk of the changed executions' ids (adapters/postgres/changes.py
  listens): chunks the recorder made, each under pg_notify's 8000 bytes.
"""

from __future__ import annotations

from execution_service.adapters.postgres.rows import EXECUTION_KEY, NODE_RUN_KEY
from execution_service.domain import EXECUTION, NODE_RUN, Layout

CHANNEL = "execution_changes"


def _upsert(
    table: str, key: tuple[str, ...], layout: Layout, row_type: str, rows: str, execution: str
) -> str:
    columns = (*key, *layout.slots)
    values = [f"u.{c}" for c in columns]
    sets, changes = [], []
    for register in layout.registers:
        precedence = f"{register.name}_precedence"
        wins = f"excluded.{precedence} > t.{precedence}"
        changes.append(wins)
        sets += [
            f"{f} = CASE WHEN {wins} THEN excluded.{f} ELSE t.{f} END" for f in register.fields
        ]
        sets.append(f"{precedence} = greatest(excluded.{precedence}, t.{precedence})")
    assignments = ",\n        ".join(sets)
    return f"""INSERT INTO {table} AS t ({", ".join(columns)})
    SELECT {", ".join(values)} FROM unnest({rows}::{row_type}[]) AS u
    WHERE {execution} <> ALL ((SELECT ids FROM pruned)::text[])
    ON CONFLICT ({", ".join(key)}) DO UPDATE SET
        {assignments},
        updated_at = greatest(clock_timestamp(), t.created_at)
    WHERE {" OR ".join(changes)}"""


# $1: node_run_in[] in key order; $2: execution_in[] in id order; $3: notification payloads;
# $4: the tombstone generation the writer last saw (-1: none, it remembers nothing).
# WRITE_STATE_TRACED, while traces are exported (migrations/0009), also takes $5, $6: the
# (execution, attempt) pairs whose end the batch recorded, and $7: OTEL_EXPORT_DELAY in s.
# First, executions_pruned (migrations/0006, 0008) waits for any retention pass deleting one of
# the batch's executions, names those pruned, and fails the statement if tombstones were
# deleted since the writer last looked (recorder.py KnownExecutions): their rows are left
# out and the events just stored for them taken out. The executions are those of the node
# runs and the rows sent. Returns the ids of those pruned, and the generation.
WRITE_STATE = f"""
WITH checked AS (
    SELECT * FROM executions_pruned(ARRAY(
        SELECT r.execution_id FROM unnest($1::node_run_in[]) AS r
        UNION SELECT x.id FROM unnest($2::execution_in[]) AS x ORDER BY 1), $4)
), pruned AS (
    SELECT pruned AS ids FROM checked
), left_out AS (
    DELETE FROM execution_events WHERE execution_id = ANY ((SELECT ids FROM pruned)::text[])
), node_runs AS (
    {_upsert("execution_logs", NODE_RUN_KEY, NODE_RUN, "node_run_in", "$1", "u.execution_id")}
), executions AS (
    {_upsert("executions", EXECUTION_KEY, EXECUTION, "execution_in", "$2", "u.id")}
), notified AS (
    SELECT count(pg_notify('{CHANNEL}', payload)) FROM unnest($3::text[]) AS payload
)
SELECT pruned, generation FROM checked, notified
"""

# Each finished attempt goes into the outbox once, due after the grace period for late node
# events; node runs the batch reports of an attempt already exported are counted, not
# exported again (adapters/postgres/outbox.py). An execution pruned meanwhile gets no row.
WRITE_STATE_TRACED = WRITE_STATE.replace(
    """
SELECT pruned, generation FROM checked, notified""",
    """, finished AS (
    INSERT INTO trace_outbox (execution_id, attempt, due_at)
    SELECT f.x, f.a, clock_timestamp() + make_interval(secs => $7)
    FROM unnest($5::text[], $6::int[]) AS f(x, a)
    WHERE f.x <> ALL ((SELECT ids FROM pruned)::text[])
    ON CONFLICT (execution_id, attempt) DO NOTHING
)
SELECT pruned, generation, (
    SELECT count(*) FROM unnest($1::node_run_in[]) AS r JOIN trace_outbox AS o
        ON o.execution_id = r.execution_id AND o.attempt = r.attempt
    WHERE o.exported_at IS NOT NULL) AS late
FROM checked, notified""",
)

# Text, not json, where rows are compared: json has no equality.
_JSON_FIELDS = frozenset({"input", "output", "metadata"})


def _replace(
    table: str,
    key: tuple[str, ...],
    layout: Layout,
    row_type: str,
    rows: str,
    first: str,
    last: str,
) -> str:
    """Each row becomes the one given, whatever it held; unchanged ones are not written. A
    row new to the table was first heard of, and last changed, when its events were recorded."""
    columns = (*key, *layout.slots)

    def compared(side: str) -> str:
        return ", ".join(
            f"{side}.{c}::text" if c in _JSON_FIELDS else f"{side}.{c}" for c in layout.slots
        )

    assignments = ",\n        ".join(f"{c} = excluded.{c}" for c in layout.slots)
    return f"""INSERT INTO {table} AS t ({", ".join(columns)}, created_at, updated_at)
    SELECT u.* FROM ROWS FROM (unnest({rows}::{row_type}[]), unnest({first}), unnest({last}))
        AS u ({", ".join(columns)}, first, last)
    ON CONFLICT ({", ".join(key)}) DO UPDATE SET
        {assignments},
        updated_at = greatest(clock_timestamp(), t.created_at)
    WHERE ({compared("t")}) IS DISTINCT FROM ({compared("excluded")})
    RETURNING t.{key[0]} AS execution_id"""


# rebuild (event_log.py), under the executions' advisory locks: $1-$3 node_run_in[] in key
# order with each run's first and last recorded times, $4-$6 the same of execution_in[], $7
# the executions replaced. Node runs the fold has not are deleted. Returns the ids of the
# executions that changed, sorted.
REPLACE_STATE = f"""
WITH node_runs AS (
    {_replace("execution_logs", NODE_RUN_KEY, NODE_RUN, "node_run_in", "$1",
              "$2::timestamptz[]", "$3::timestamptz[]")}
), gone AS (
    DELETE FROM execution_logs l WHERE l.execution_id = ANY ($7::text[])
    AND NOT EXISTS (SELECT 1 FROM unnest($1::node_run_in[]) AS r
                    WHERE (r.execution_id, r.node_id, r.attempt)
                        = (l.execution_id, l.node_id, l.attempt))
    RETURNING l.execution_id
), executions AS (
    {_replace("executions", EXECUTION_KEY, EXECUTION, "execution_in", "$4",
              "$5::timestamptz[]", "$6::timestamptz[]")}
)
SELECT ARRAY(SELECT execution_id FROM node_runs UNION SELECT execution_id FROM gone
             UNION SELECT execution_id FROM executions ORDER BY 1)
"""  # fmt: skip
