-- Live updates across replicas: every statement that writes executions or node runs
-- notifies channel execution_changes of the execution ids it touched. NOTIFY is delivered
-- at commit, so a listener hears of a change only once it can read it (and never of a
-- rolled-back one). One trigger per statement, not per row: a batch of 500 events sends a
-- few notifications, not 500.
--   * payload: a JSON array of ids, in chunks of under 8000 bytes (pg_notify's limit); an
--     id is at most 256 characters (domain/events.py), so a chunk closed before 6000 bytes
--     always has room for one more;
--   * the listener is adapters/postgres/changes.py.
-- depends: 0004_codebase

CREATE FUNCTION notify_execution_changes(ids text[]) RETURNS void LANGUAGE sql AS $$
    SELECT pg_notify('execution_changes', '[' || string_agg(item, ',') || ']')
    FROM (SELECT item, (sum(octet_length(item) + 1) OVER (ORDER BY item)
                        - octet_length(item) - 1) / 6000 AS chunk
          FROM (SELECT DISTINCT to_json(id)::text AS item FROM unnest(ids) AS u (id)) d) c
    GROUP BY chunk
$$;

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
