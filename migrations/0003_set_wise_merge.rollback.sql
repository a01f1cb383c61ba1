DROP TYPE execution_in;
DROP TYPE node_run_in;
DROP TYPE event_in;
DROP TRIGGER executions_counted_on_update ON executions;
DROP TRIGGER executions_counted_on_insert ON executions;
DROP FUNCTION execution_counts_move();
DROP FUNCTION execution_counts_add();

ALTER TABLE execution_events DROP CONSTRAINT execution_events_pkey;
ALTER TABLE execution_events ALTER COLUMN event_key TYPE text COLLATE "default";
ALTER TABLE execution_events ADD CONSTRAINT execution_events_event_key_key UNIQUE (event_key);
ALTER TABLE execution_events ADD PRIMARY KEY (seq);
ALTER TABLE execution_events
    ALTER COLUMN payload TYPE jsonb USING convert_from(payload, 'UTF8')::jsonb;

-- [µs since the epoch, key] from a stamp
CREATE FUNCTION pg_temp.unstamp(s text) RETURNS jsonb LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT jsonb_build_array(left(s, 18)::bigint - 62135596800000000, substr(s, 19))
$$;
CREATE FUNCTION pg_temp.claim(attempt int, rank int, s text, duration bigint)
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN rank = 0 THEN jsonb_build_array(attempt, 0, 0, '', duration)
                ELSE jsonb_build_array(attempt, rank) || pg_temp.unstamp(s)
                     || jsonb_build_array(duration) END
$$;

ALTER TABLE execution_logs DROP CONSTRAINT execution_logs_execution_id_fkey;
ALTER TABLE execution_logs ADD CONSTRAINT execution_logs_execution_id_fkey
    FOREIGN KEY (execution_id) REFERENCES executions (id) ON DELETE CASCADE;
ALTER TABLE execution_logs RESET (fillfactor);
CREATE INDEX execution_logs_in_order
    ON execution_logs (execution_id, started_at ASC NULLS LAST, node_id, attempt);
ALTER TABLE execution_logs ADD COLUMN provenance jsonb NOT NULL DEFAULT '{}',
                           ADD COLUMN kept_duration bigint;
UPDATE execution_logs SET kept_duration = duration, provenance = jsonb_strip_nulls(jsonb_build_object(
    'claim', pg_temp.claim(attempt, claim_rank, claim_stamp, claim_duration),
    'node_type', pg_temp.unstamp(node_type_stamp),
    'node_name', pg_temp.unstamp(node_name_stamp),
    'input', pg_temp.unstamp(input_stamp),
    'started_at', pg_temp.unstamp(started_at_stamp)));
ALTER TABLE execution_logs DROP COLUMN duration, DROP COLUMN claim_rank, DROP COLUMN claim_stamp,
    DROP COLUMN claim_duration, DROP COLUMN node_type_stamp, DROP COLUMN node_name_stamp,
    DROP COLUMN input_stamp, DROP COLUMN started_at_stamp;
ALTER TABLE execution_logs RENAME COLUMN kept_duration TO duration;
ALTER TABLE execution_logs ADD CHECK (duration >= 0);

ALTER TABLE executions ADD COLUMN provenance jsonb NOT NULL DEFAULT '{}',
                       ADD COLUMN kept_duration bigint;
UPDATE executions SET kept_duration = duration, provenance = jsonb_strip_nulls(jsonb_build_object(
    'claim', pg_temp.claim(attempt, claim_rank, claim_stamp, claim_duration),
    'workflow_id', pg_temp.unstamp(workflow_id_stamp),
    'user_id', pg_temp.unstamp(user_id_stamp),
    'started_at', pg_temp.unstamp(started_at_stamp),
    'input', pg_temp.unstamp(input_stamp),
    'metadata', pg_temp.unstamp(metadata_stamp),
    'retry_of', pg_temp.unstamp(retry_of_stamp)));
ALTER TABLE executions DROP COLUMN duration, DROP COLUMN claim_rank, DROP COLUMN claim_stamp,
    DROP COLUMN claim_duration, DROP COLUMN workflow_id_stamp, DROP COLUMN user_id_stamp,
    DROP COLUMN started_at_stamp, DROP COLUMN input_stamp, DROP COLUMN metadata_stamp,
    DROP COLUMN retry_of_stamp;
ALTER TABLE executions RENAME COLUMN kept_duration TO duration;
ALTER TABLE executions ADD CHECK (duration >= 0);
DROP FUNCTION duration_ms(smallint, bigint, timestamptz, timestamptz);
