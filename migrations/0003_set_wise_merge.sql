-- Merging in SQL (then domain/snapshots.py; 0008 moved the rule back to domain/fold.py): the
-- provenance becomes columns a query can compare, duration a column PostgreSQL derives, and
-- the history keeps each event's bytes as received.
--   * stamps: 18 digits of µs since 0001-01-01, then the event key, compared in collation "C"
--     (bytes, so code points: the order Python compares them in); '' for a running claim;
--   * node runs of one execution are read through the primary key and sorted: with no other
--     index, updating a node run can be a HOT update in place;
--   * execution_counts is kept by triggers on executions, whoever writes them.
-- depends: 0002_execution_counts

CREATE FUNCTION pg_temp.stamp(p jsonb) RETURNS text LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT lpad(((p->>0)::bigint + 62135596800000000)::text, 18, '0') || (p->>1)
$$;

-- What domain/model.py's Claim.duration_since said (now domain/fold.py's duration; 0008
-- drops this function): the event's own duration, else the span from the start in whole ms,
-- never negative; none while running.
CREATE FUNCTION duration_ms(rank smallint, reported bigint, started timestamptz,
                            reached timestamptz)
RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN rank = 0 THEN NULL
                WHEN reported IS NOT NULL THEN reported
                ELSE greatest(0, floor(extract(epoch FROM reached - started) * 1000))::bigint
           END
$$;

ALTER TABLE executions
    ADD COLUMN claim_rank        smallint NOT NULL DEFAULT 0,
    ADD COLUMN claim_stamp       text COLLATE "C" NOT NULL DEFAULT '',
    ADD COLUMN claim_duration    bigint,
    ADD COLUMN workflow_id_stamp text COLLATE "C",
    ADD COLUMN user_id_stamp     text COLLATE "C",
    ADD COLUMN started_at_stamp  text COLLATE "C",
    ADD COLUMN input_stamp       text COLLATE "C",
    ADD COLUMN metadata_stamp    text COLLATE "C",
    ADD COLUMN retry_of_stamp    text COLLATE "C";
UPDATE executions SET
    claim_rank = (provenance->'claim'->>1)::smallint,
    claim_stamp = CASE WHEN (provenance->'claim'->>1)::int = 0 THEN ''
                       ELSE pg_temp.stamp(jsonb_build_array(provenance->'claim'->2, provenance->'claim'->3)) END,
    claim_duration = (provenance->'claim'->>4)::bigint,
    workflow_id_stamp = pg_temp.stamp(provenance->'workflow_id'),
    user_id_stamp = pg_temp.stamp(provenance->'user_id'),
    started_at_stamp = pg_temp.stamp(provenance->'started_at'),
    input_stamp = pg_temp.stamp(provenance->'input'),
    metadata_stamp = pg_temp.stamp(provenance->'metadata'),
    retry_of_stamp = pg_temp.stamp(provenance->'retry_of')
WHERE provenance ? 'claim';
DELETE FROM executions WHERE NOT provenance ? 'claim';  -- a placeholder no event filled
ALTER TABLE executions DROP COLUMN provenance, DROP COLUMN duration;
ALTER TABLE executions ADD COLUMN duration bigint
    GENERATED ALWAYS AS (duration_ms(claim_rank, claim_duration, started_at, completed_at)) STORED;

ALTER TABLE execution_logs
    ADD COLUMN claim_rank       smallint NOT NULL DEFAULT 0,
    ADD COLUMN claim_stamp      text COLLATE "C" NOT NULL DEFAULT '',
    ADD COLUMN claim_duration   bigint,
    ADD COLUMN node_type_stamp  text COLLATE "C",
    ADD COLUMN node_name_stamp  text COLLATE "C",
    ADD COLUMN input_stamp      text COLLATE "C",
    ADD COLUMN started_at_stamp text COLLATE "C";
UPDATE execution_logs SET
    claim_rank = (provenance->'claim'->>1)::smallint,
    claim_stamp = CASE WHEN (provenance->'claim'->>1)::int = 0 THEN ''
                       ELSE pg_temp.stamp(jsonb_build_array(provenance->'claim'->2, provenance->'claim'->3)) END,
    claim_duration = (provenance->'claim'->>4)::bigint,
    node_type_stamp = pg_temp.stamp(provenance->'node_type'),
    node_name_stamp = pg_temp.stamp(provenance->'node_name'),
    input_stamp = pg_temp.stamp(provenance->'input'),
    started_at_stamp = pg_temp.stamp(provenance->'started_at');
ALTER TABLE execution_logs DROP COLUMN provenance, DROP COLUMN duration;
ALTER TABLE execution_logs ADD COLUMN duration bigint
    GENERATED ALWAYS AS (duration_ms(claim_rank, claim_duration, started_at, completed_at)) STORED;
DROP INDEX execution_logs_in_order;
ALTER TABLE execution_logs SET (fillfactor = 80);
-- The store writes node runs before their execution, in the same transaction (one order of
-- row locks for every writer): the key is checked at commit.
ALTER TABLE execution_logs DROP CONSTRAINT execution_logs_execution_id_fkey;
ALTER TABLE execution_logs ADD CONSTRAINT execution_logs_execution_id_fkey
    FOREIGN KEY (execution_id) REFERENCES executions (id) ON DELETE CASCADE
    DEFERRABLE INITIALLY DEFERRED;

ALTER TABLE execution_events ALTER COLUMN payload TYPE bytea USING convert_to(payload::text, 'UTF8');
ALTER TABLE execution_events DROP CONSTRAINT execution_events_pkey;
ALTER TABLE execution_events DROP CONSTRAINT execution_events_event_key_key;
ALTER TABLE execution_events ALTER COLUMN event_key TYPE text COLLATE "C";
ALTER TABLE execution_events ADD PRIMARY KEY (event_key);

-- Both triggers fire for one INSERT … ON CONFLICT DO UPDATE: each locks all the counts, in
-- status order, before changing any, so that two writers can never take them crosswise.
CREATE FUNCTION execution_counts_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows) THEN
        PERFORM 1 FROM execution_counts ORDER BY status FOR UPDATE;
        UPDATE execution_counts c SET n = c.n + d.n
            FROM (SELECT status, count(*) AS n FROM new_rows GROUP BY status) d
            WHERE c.status = d.status;
    END IF;
    RETURN NULL;
END $$;
CREATE FUNCTION execution_counts_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows n JOIN old_rows o USING (id) WHERE n.status <> o.status)
    THEN
        PERFORM 1 FROM execution_counts ORDER BY status FOR UPDATE;
        UPDATE execution_counts c SET n = c.n + d.n
            FROM (SELECT status, sum(n) AS n FROM (
                      SELECT status, 1 AS n FROM new_rows
                      UNION ALL SELECT status, -1 FROM old_rows) moves
                  GROUP BY status HAVING sum(n) <> 0) d
            WHERE c.status = d.status;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER executions_counted_on_insert AFTER INSERT ON executions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION execution_counts_add();
CREATE TRIGGER executions_counted_on_update AFTER UPDATE ON executions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION execution_counts_move();

-- What the store sends: one array of these rows per statement (then adapters/postgres/store.py,
-- now recorder.py, which 0008 gives a type without occurred_at). JSON comes as text.
CREATE TYPE event_in AS (
    event_key text, execution_id text, subject text, occurred_at timestamptz, payload bytea
);
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
