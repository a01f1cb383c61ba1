-- Retention (docs/OPERATIONS.md, "Retention"): finished executions older than the retention
-- are deleted with their node runs, events and retry requests, a batch of executions per
-- transaction, and leave a tombstone so that a late event cannot bring one back.
--   * execution_counts follows deletes too, so the list's totals stay exact;
--   * executions_finished finds what a pass may delete without reading the running ones;
--   * one advisory lock per execution (namespace 1163087955) orders a pass against the
--     recorder: the recorder holds it shared for its batch's executions, a pass takes it
--     exclusively, without waiting, for the executions it deletes (adapters/postgres/pruner.py).
-- depends: 0005_change_notifications

CREATE TABLE execution_tombstones (
    execution_id text PRIMARY KEY,
    pruned_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX execution_tombstones_oldest ON execution_tombstones (pruned_at);

CREATE INDEX executions_finished ON executions (completed_at, id)
    WHERE status IN ('COMPLETED', 'FAILED', 'CANCELLED');

-- Locks the counts in status order, as the insert and update triggers do (0003).
CREATE FUNCTION execution_counts_remove() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM old_rows) THEN
        PERFORM 1 FROM execution_counts ORDER BY status FOR UPDATE;
        UPDATE execution_counts c SET n = c.n - d.n
            FROM (SELECT status, count(*) AS n FROM old_rows GROUP BY status) d
            WHERE c.status = d.status;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER executions_counted_on_delete AFTER DELETE ON executions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION execution_counts_remove();

-- The recorder's first step for a batch (ids distinct, sorted): wait until no pass is deleting
-- any of its executions, then name those already pruned. VOLATILE and plpgsql, so the lookup
-- takes its own snapshot after the wait (READ COMMITTED) and sees a tombstone committed
-- meanwhile. Shared locks never wait for each other and a pass never waits for one, so their
-- order cannot deadlock.
CREATE FUNCTION executions_pruned(ids text[]) RETURNS text[] LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(1163087955, hashtext(i)) FROM unnest(ids) i;
    RETURN ARRAY(SELECT execution_id FROM execution_tombstones WHERE execution_id = ANY (ids));
END $$;

-- A pass's claim on the executions it is about to delete: those no batch is recording now.
-- Never waits, so a pass never queues a batch behind it.
CREATE FUNCTION executions_free_to_prune(ids text[]) RETURNS text[] LANGUAGE sql VOLATILE AS $$
    SELECT coalesce(array_agg(i ORDER BY i), '{}') FROM unnest(ids) i
    WHERE pg_try_advisory_xact_lock(1163087955, hashtext(i))
$$;
