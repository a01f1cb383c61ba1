"""The lean write path (issue 17; adapters/postgres/recorder.py):

- A register's provenance is one `<register>_precedence` bytea, computed by the domain
  (domain/fold.py), and a row keeps the fields of the greater one. The store compares bytes
  and no longer knows the rule: stamps, claim ranks and the duration_ms function go.
- `duration` and a node run's `id` are derived when read (domain/views.py), not stored.
- No foreign key from node runs to executions: every writer writes a node run's execution in
  the same transaction or knows it is stored (the recorder), and only the pruner deletes, both
  together.
- No notification triggers: each writer calls pg_notify once per batch with the ids it wrote
  (the recorder; a later writer, or a migration that changes what readers see, must do the
  same, through notify_execution_changes() or the recorder's own chunking).
- input, output and metadata are json: kept as the writer's text, not parsed into jsonb on
  every write and printed back on every read.
- An event's own time is in its payload: `occurred_at`, which nothing read, goes.
- One index on the event log, its key (execution_id, event_key): an event is the same event
  as another when it has the same key within the same execution (domain/events.py
  Event.identity), one execution's history is one range of it (sorted by seq when read),
  and pruning deletes by it. A rollback to the global key fails if a key was since
  recorded in two executions.
- A writer may remember that an execution is stored and not write it again for a node
  report (adapters/postgres/recorder.py). Only retention deletes an execution, and its
  tombstone keeps the execution's events out while it lasts; when tombstones are deleted,
  `tombstone_generation` moves on, and executions_pruned() (now also given the generation the
  writer last saw) refuses a batch that relied on an older one (SQLSTATE ES001): the writer
  forgets, and records it again.
- Ids and statuses compare in collation "C": every index on them compares bytes instead of
  calling the locale's strcoll. Bytes of UTF-8 order as code points, as the domain and the
  fakes order ids, and as a C.UTF-8 server already did.
- The row types the recorder sends follow the new columns.

The rollback computes node run ids (uuid5 needs SHA-1, which PostgreSQL 15 has only in
pgcrypto) and events' times (as the parser read them) in Python, everything else in SQL.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from yoyo import step

__depends__ = {"0007_api_indexes"}

_TURNED = """CREATE FUNCTION pg_temp.turned(b bytea) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT
AS $$ SELECT decode(translate(encode(b, 'hex'), '0123456789abcdef', 'fedcba9876543210'), 'hex') $$;
"""

# Stamps (0003) were 18 digits of µs since 0001-01-01, then the event key.
_FORWARD = (
    _TURNED
    + """
CREATE FUNCTION pg_temp.claim(attempt int, rank smallint, stamp text) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
    SELECT int4send(attempt) || CASE WHEN rank = 0 THEN '\\x00'::bytea
        ELSE '\\x01'::bytea || int8send(left(stamp, 18)::bigint)
             || convert_to(substr(stamp, 19), 'UTF8') END $$;
CREATE FUNCTION pg_temp.earliest(stamp text) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN stamp IS NULL THEN ''::bytea
        ELSE int8send(9223372036854775807 - left(stamp, 18)::bigint)
             || pg_temp.turned(convert_to(substr(stamp, 19), 'UTF8')) || '\\xff'::bytea END $$;

DROP TRIGGER execution_logs_notify_on_update ON execution_logs;
DROP TRIGGER execution_logs_notify_on_insert ON execution_logs;
DROP TRIGGER executions_notify_on_update ON executions;
DROP TRIGGER executions_notify_on_insert ON executions;
DROP FUNCTION execution_logs_notify();
DROP FUNCTION executions_notify();
ALTER TABLE execution_logs DROP CONSTRAINT execution_logs_execution_id_fkey;

ALTER TABLE executions ADD COLUMN claim_precedence bytea,
    ADD COLUMN workflow_id_precedence bytea, ADD COLUMN user_id_precedence bytea,
    ADD COLUMN started_at_precedence bytea, ADD COLUMN input_precedence bytea,
    ADD COLUMN metadata_precedence bytea, ADD COLUMN retry_of_precedence bytea;
UPDATE executions SET claim_precedence = pg_temp.claim(attempt, claim_rank, claim_stamp),
    workflow_id_precedence = pg_temp.earliest(workflow_id_stamp),
    user_id_precedence = pg_temp.earliest(user_id_stamp),
    started_at_precedence = pg_temp.earliest(started_at_stamp),
    input_precedence = pg_temp.earliest(input_stamp),
    metadata_precedence = pg_temp.earliest(metadata_stamp),
    retry_of_precedence = pg_temp.earliest(retry_of_stamp);
ALTER TABLE executions ALTER COLUMN claim_precedence SET NOT NULL,
    ALTER COLUMN workflow_id_precedence SET NOT NULL, ALTER COLUMN user_id_precedence SET NOT NULL,
    ALTER COLUMN started_at_precedence SET NOT NULL, ALTER COLUMN input_precedence SET NOT NULL,
    ALTER COLUMN metadata_precedence SET NOT NULL, ALTER COLUMN retry_of_precedence SET NOT NULL,
    DROP COLUMN duration, DROP COLUMN claim_rank, DROP COLUMN claim_stamp,
    DROP COLUMN workflow_id_stamp, DROP COLUMN user_id_stamp, DROP COLUMN started_at_stamp,
    DROP COLUMN input_stamp, DROP COLUMN metadata_stamp, DROP COLUMN retry_of_stamp,
    ALTER COLUMN input TYPE json, ALTER COLUMN output TYPE json,
    ALTER COLUMN metadata TYPE json;
ALTER TABLE executions RENAME COLUMN claim_duration TO reported_duration;

ALTER TABLE execution_logs ADD COLUMN claim_precedence bytea,
    ADD COLUMN node_type_precedence bytea, ADD COLUMN node_name_precedence bytea,
    ADD COLUMN input_precedence bytea, ADD COLUMN started_at_precedence bytea;
UPDATE execution_logs SET claim_precedence = pg_temp.claim(attempt, claim_rank, claim_stamp),
    node_type_precedence = pg_temp.earliest(node_type_stamp),
    node_name_precedence = pg_temp.earliest(node_name_stamp),
    input_precedence = pg_temp.earliest(input_stamp),
    started_at_precedence = pg_temp.earliest(started_at_stamp);
ALTER TABLE execution_logs ALTER COLUMN claim_precedence SET NOT NULL,
    ALTER COLUMN node_type_precedence SET NOT NULL, ALTER COLUMN node_name_precedence SET NOT NULL,
    ALTER COLUMN input_precedence SET NOT NULL, ALTER COLUMN started_at_precedence SET NOT NULL,
    DROP COLUMN id, DROP COLUMN duration, DROP COLUMN claim_rank, DROP COLUMN claim_stamp,
    DROP COLUMN node_type_stamp, DROP COLUMN node_name_stamp, DROP COLUMN input_stamp,
    DROP COLUMN started_at_stamp,
    ALTER COLUMN input TYPE json, ALTER COLUMN output TYPE json;
ALTER TABLE execution_logs RENAME COLUMN claim_duration TO reported_duration;
DROP FUNCTION duration_ms(smallint, bigint, timestamptz, timestamptz);

DROP TYPE node_run_in;
DROP TYPE execution_in;
DROP TYPE event_in;
CREATE TYPE event_in AS (event_key text, execution_id text, subject text, payload bytea);
CREATE TYPE node_run_in AS (
    execution_id text, node_id text, attempt integer,
    claim_precedence bytea, status text, completed_at timestamptz, error text, output json,
    reported_duration bigint,
    node_type_precedence bytea, node_type text, node_name_precedence bytea, node_name text,
    input_precedence bytea, input json, started_at_precedence bytea, started_at timestamptz
);
CREATE TYPE execution_in AS (
    id text,
    claim_precedence bytea, status text, attempt integer, completed_at timestamptz, error text,
    output json, reported_duration bigint,
    workflow_id_precedence bytea, workflow_id text, user_id_precedence bytea, user_id text,
    started_at_precedence bytea, started_at timestamptz, input_precedence bytea, input json,
    metadata_precedence bytea, metadata json, retry_of_precedence bytea, retry_of text
);
ALTER TABLE execution_events DROP COLUMN occurred_at;
ALTER TABLE execution_events DROP CONSTRAINT execution_events_pkey;
DROP INDEX execution_events_of_execution;

ALTER TABLE executions ALTER COLUMN id TYPE text COLLATE "C",
    ALTER COLUMN status TYPE text COLLATE "C", ALTER COLUMN workflow_id TYPE text COLLATE "C",
    ALTER COLUMN user_id TYPE text COLLATE "C";
ALTER TABLE execution_logs ALTER COLUMN execution_id TYPE text COLLATE "C",
    ALTER COLUMN node_id TYPE text COLLATE "C", ALTER COLUMN status TYPE text COLLATE "C";
ALTER TABLE execution_events ALTER COLUMN execution_id TYPE text COLLATE "C";
ALTER TABLE retry_requests ALTER COLUMN execution_id TYPE text COLLATE "C";
ALTER TABLE execution_tombstones ALTER COLUMN execution_id TYPE text COLLATE "C";
ALTER TABLE execution_events ADD PRIMARY KEY (execution_id, event_key);

CREATE SEQUENCE tombstone_generation;
DROP FUNCTION executions_pruned(text[]);
CREATE FUNCTION executions_pruned(ids text[], known_generation bigint,
                                  OUT pruned text[], OUT generation bigint)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(1163087955, hashtext(i)) FROM unnest(ids) i;
    generation := (SELECT CASE WHEN is_called THEN last_value ELSE 0 END
                   FROM tombstone_generation);
    IF known_generation >= 0 AND generation <> known_generation THEN
        RAISE EXCEPTION 'tombstones were deleted since this writer last looked'
            USING ERRCODE = 'ES001';
    END IF;
    pruned := ARRAY(SELECT execution_id FROM execution_tombstones WHERE execution_id = ANY (ids));
END $$;
"""
)

_MICROSECONDS = "('x' || encode(substring({p} FROM {at} FOR 8), 'hex'))::bit(64)::bigint"
_BACK = (
    _TURNED
    + f"""
DROP FUNCTION executions_pruned(text[], bigint);
DROP SEQUENCE tombstone_generation;
CREATE FUNCTION executions_pruned(ids text[]) RETURNS text[] LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(1163087955, hashtext(i)) FROM unnest(ids) i;
    RETURN ARRAY(SELECT execution_id FROM execution_tombstones WHERE execution_id = ANY (ids));
END $$;
ALTER TABLE execution_events DROP CONSTRAINT execution_events_pkey;
ALTER TABLE execution_tombstones ALTER COLUMN execution_id TYPE text COLLATE "default";
ALTER TABLE retry_requests ALTER COLUMN execution_id TYPE text COLLATE "default";
ALTER TABLE execution_events ALTER COLUMN execution_id TYPE text COLLATE "default";
ALTER TABLE execution_logs ALTER COLUMN execution_id TYPE text COLLATE "default",
    ALTER COLUMN node_id TYPE text COLLATE "default",
    ALTER COLUMN status TYPE text COLLATE "default";
ALTER TABLE executions ALTER COLUMN id TYPE text COLLATE "default",
    ALTER COLUMN status TYPE text COLLATE "default",
    ALTER COLUMN workflow_id TYPE text COLLATE "default",
    ALTER COLUMN user_id TYPE text COLLATE "default";

CREATE FUNCTION pg_temp.claim_stamp(p bytea) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN get_byte(p, 4) = 0 THEN ''
        ELSE lpad({_MICROSECONDS.format(p="p", at=6)}::text, 18, '0')
             || convert_from(substring(p FROM 14), 'UTF8') END $$;
CREATE FUNCTION pg_temp.stamp(p bytea) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p = '' THEN NULL
        ELSE lpad((9223372036854775807 - {_MICROSECONDS.format(p="p", at=1)})::text, 18, '0')
             || convert_from(pg_temp.turned(substring(p FROM 9 FOR length(p) - 9)), 'UTF8')
        END $$;

CREATE FUNCTION duration_ms(rank smallint, reported bigint, started timestamptz,
                            reached timestamptz)
RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN rank = 0 THEN NULL
                WHEN reported IS NOT NULL THEN reported
                ELSE greatest(0, floor(extract(epoch FROM reached - started) * 1000))::bigint
           END
$$;

ALTER TABLE executions RENAME COLUMN reported_duration TO claim_duration;
ALTER TABLE executions ADD COLUMN claim_rank smallint, ADD COLUMN claim_stamp text COLLATE "C",
    ADD COLUMN workflow_id_stamp text COLLATE "C", ADD COLUMN user_id_stamp text COLLATE "C",
    ADD COLUMN started_at_stamp text COLLATE "C", ADD COLUMN input_stamp text COLLATE "C",
    ADD COLUMN metadata_stamp text COLLATE "C", ADD COLUMN retry_of_stamp text COLLATE "C";
UPDATE executions SET claim_rank = get_byte(claim_precedence, 4),
    claim_stamp = pg_temp.claim_stamp(claim_precedence),
    workflow_id_stamp = pg_temp.stamp(workflow_id_precedence),
    user_id_stamp = pg_temp.stamp(user_id_precedence),
    started_at_stamp = pg_temp.stamp(started_at_precedence),
    input_stamp = pg_temp.stamp(input_precedence),
    metadata_stamp = pg_temp.stamp(metadata_precedence),
    retry_of_stamp = pg_temp.stamp(retry_of_precedence);
ALTER TABLE executions ALTER COLUMN claim_rank SET NOT NULL,
    ALTER COLUMN claim_stamp SET NOT NULL,
    DROP COLUMN claim_precedence, DROP COLUMN workflow_id_precedence,
    DROP COLUMN user_id_precedence, DROP COLUMN started_at_precedence,
    DROP COLUMN input_precedence, DROP COLUMN metadata_precedence,
    DROP COLUMN retry_of_precedence,
    ALTER COLUMN input TYPE jsonb, ALTER COLUMN output TYPE jsonb,
    ALTER COLUMN metadata TYPE jsonb,
    ADD COLUMN duration bigint GENERATED ALWAYS AS
        (duration_ms(claim_rank, claim_duration, started_at, completed_at)) STORED;

ALTER TABLE execution_logs RENAME COLUMN reported_duration TO claim_duration;
ALTER TABLE execution_logs ADD COLUMN id uuid, ADD COLUMN claim_rank smallint,
    ADD COLUMN claim_stamp text COLLATE "C", ADD COLUMN node_type_stamp text COLLATE "C",
    ADD COLUMN node_name_stamp text COLLATE "C", ADD COLUMN input_stamp text COLLATE "C",
    ADD COLUMN started_at_stamp text COLLATE "C";
UPDATE execution_logs SET claim_rank = get_byte(claim_precedence, 4),
    claim_stamp = pg_temp.claim_stamp(claim_precedence),
    node_type_stamp = pg_temp.stamp(node_type_precedence),
    node_name_stamp = pg_temp.stamp(node_name_precedence),
    input_stamp = pg_temp.stamp(input_precedence),
    started_at_stamp = pg_temp.stamp(started_at_precedence);
ALTER TABLE execution_logs ALTER COLUMN claim_rank SET NOT NULL,
    ALTER COLUMN claim_stamp SET NOT NULL,
    DROP COLUMN claim_precedence, DROP COLUMN node_type_precedence,
    DROP COLUMN node_name_precedence, DROP COLUMN input_precedence,
    DROP COLUMN started_at_precedence,
    ALTER COLUMN input TYPE jsonb, ALTER COLUMN output TYPE jsonb,
    ADD COLUMN duration bigint GENERATED ALWAYS AS
        (duration_ms(claim_rank, claim_duration, started_at, completed_at)) STORED;

CREATE FUNCTION executions_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM notify_execution_changes(ARRAY(SELECT id FROM changed_rows));
    RETURN NULL;
END $$;
CREATE FUNCTION execution_logs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM notify_execution_changes(ARRAY(SELECT execution_id FROM changed_rows));
    RETURN NULL;
END $$;
CREATE TRIGGER executions_notify_on_insert AFTER INSERT ON executions
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION executions_notify();
CREATE TRIGGER executions_notify_on_update AFTER UPDATE ON executions
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION executions_notify();
CREATE TRIGGER execution_logs_notify_on_insert AFTER INSERT ON execution_logs
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION execution_logs_notify();
CREATE TRIGGER execution_logs_notify_on_update AFTER UPDATE ON execution_logs
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION execution_logs_notify();

ALTER TABLE execution_events ADD COLUMN occurred_at timestamptz;

DROP TYPE event_in;
CREATE TYPE event_in AS (
    event_key text, execution_id text, subject text, occurred_at timestamptz, payload bytea
);
DROP TYPE node_run_in;
DROP TYPE execution_in;
CREATE TYPE node_run_in AS (
    id text, execution_id text, node_id text,
    status text, attempt integer, completed_at timestamptz, error text, output text,
    claim_rank smallint, claim_stamp text, claim_duration bigint,
    node_type text, node_name text, input text, started_at timestamptz,
    node_type_stamp text, node_name_stamp text, input_stamp text, started_at_stamp text
);
CREATE TYPE execution_in AS (
    id text,
    status text, attempt integer, completed_at timestamptz, error text, output text,
    claim_rank smallint, claim_stamp text, claim_duration bigint,
    workflow_id text, user_id text, started_at timestamptz, input text, metadata text,
    retry_of text,
    workflow_id_stamp text, user_id_stamp text, started_at_stamp text, input_stamp text,
    metadata_stamp text, retry_of_stamp text
);
"""
)

_RESTORED = """
ALTER TABLE execution_events ALTER COLUMN occurred_at SET NOT NULL;
ALTER TABLE execution_events ADD PRIMARY KEY (event_key);
CREATE INDEX execution_events_of_execution ON execution_events (execution_id, seq);
ALTER TABLE execution_logs ALTER COLUMN id SET NOT NULL;
ALTER TABLE execution_logs ADD CONSTRAINT execution_logs_execution_id_fkey
    FOREIGN KEY (execution_id) REFERENCES executions (id) ON DELETE CASCADE
    DEFERRABLE INITIALLY DEFERRED;
"""

# domain/identity.py's node_run_id, kept here as it was when the ids were stored
_NODE_RUN_IDS = uuid.UUID("0b0e3a36-8e55-4f0e-a1d2-6a3b8d0c9e17")


def _node_run_ids(conn: Any) -> None:
    cursor = conn.cursor()
    cursor.execute("SELECT execution_id, node_id, attempt FROM execution_logs")
    keys = cursor.fetchall()
    cursor.executemany(
        "UPDATE execution_logs SET id = %s WHERE execution_id = %s AND node_id = %s"
        " AND attempt = %s",
        [(str(uuid.uuid5(_NODE_RUN_IDS, f"{x}\0{n}\0{a}")), x, n, a) for x, n, a in keys],
    )


# domain/events.py as it was (its parsing is parsing.py now): the envelope's timestamp, else
# the subject's own time field, ISO 8601, UTC when it names no zone. Every stored event was
# accepted, so both parse.
_TIME_FIELDS = {"started": "startedAt", "completed": "completedAt", "failed": "failedAt",
                "cancelled": "cancelledAt"}  # fmt: skip


def _occurred_at(subject: str, payload: bytes) -> datetime:
    envelope = json.loads(payload.decode(json.detect_encoding(payload)))
    value = envelope.get("timestamp") or envelope["data"][_TIME_FIELDS[subject.split(".")[-1]]]
    at = datetime.fromisoformat(value)
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _occurred_ats(conn: Any) -> None:
    cursor = conn.cursor()
    cursor.execute("SELECT event_key, subject, payload FROM execution_events")
    rows = cursor.fetchall()
    cursor.executemany(
        "UPDATE execution_events SET occurred_at = %s WHERE event_key = %s",
        [(_occurred_at(subject, bytes(payload)), key) for key, subject, payload in rows],
    )


def _backward(conn: Any) -> None:
    conn.cursor().execute(_BACK)
    _node_run_ids(conn)
    _occurred_ats(conn)
    conn.cursor().execute(_RESTORED)


steps = [step(_FORWARD, _backward)]
