-- The API's filters and sorts (issue 13): an index behind each that needs one, and the replay
-- state of dead letters.
-- Already indexed by 0001: start-time order (executions_newest; startedAfter/startedBefore are
-- ranges of its first column), status/workflow/user each with start-time order, one
-- execution's node runs (execution_logs_in_order, which also serves the logs' status, nodeId
-- and attempt filters: one execution's runs are few, read in order and filtered).
-- depends: 0006_retention

-- sort=-updatedAt, alone and by status (a UI polling "what changed among the running")
CREATE INDEX executions_last_updated ON executions (updated_at DESC, id DESC);
CREATE INDEX executions_status_last_updated ON executions (status, updated_at DESC, id DESC);

-- Cleared when the letter fails again: "replayed" means since its last failure.
ALTER TABLE dead_letters
    ADD COLUMN replayed_at timestamptz,
    ADD COLUMN replays integer NOT NULL DEFAULT 0 CHECK (replays >= 0);
-- ?subject= in the list's order; ?replayed= needs none: dead letters are few, and the
-- list's own index (dead_letters_recent) walks them in order.
CREATE INDEX dead_letters_subject_recent ON dead_letters (subject, last_seen DESC, key DESC);
