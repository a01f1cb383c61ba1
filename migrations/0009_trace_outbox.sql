-- Traces (issue 20): each finished attempt of an execution is exported once as an
-- OpenTelemetry trace, from this outbox, by whichever replica claims it first.
-- depends: 0008_lean_write_path

-- The W3C traceparent header that came with execution.started: export happens later, perhaps
-- on another replica, and the event log is the only thing that outlives the message.
ALTER TABLE execution_events ADD COLUMN traceparent text;
ALTER TYPE event_in ADD ATTRIBUTE traceparent text;

-- One row per finished (execution, attempt), written by the batch that recorded its end
-- (adapters/postgres/upserts.py), only while export is on. due_at: when a replica may claim
-- it (the end plus OTEL_EXPORT_DELAY, later after a failed try). exported_at: when the
-- collector answered 200; the row stays, so that a repeated end does not export it again
-- and a late node event is counted. Retention deletes it with its execution.
CREATE TABLE trace_outbox (
    execution_id text COLLATE "C" NOT NULL,
    attempt integer NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    due_at timestamptz NOT NULL,
    tries integer NOT NULL DEFAULT 0,
    last_error text,
    exported_at timestamptz,
    PRIMARY KEY (execution_id, attempt)
);
-- What is waiting, in the order it falls due: claims and the backlog read only these.
CREATE INDEX trace_outbox_waiting ON trace_outbox (due_at) WHERE exported_at IS NULL;
