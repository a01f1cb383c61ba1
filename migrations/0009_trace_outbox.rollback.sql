DROP TABLE trace_outbox;
ALTER TYPE event_in DROP ATTRIBUTE traceparent;
ALTER TABLE execution_events DROP COLUMN traceparent;
