-- `execution-service verify` (issue 22): each pass's outcome, the last of which every serving
-- replica reports on /metrics, so that an alert catches stored rows drifting from the fold of
-- their events. A few rows a day at most: no pruning, no index beyond the key.
-- depends: 0009_trace_outbox

CREATE TABLE verifications (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    executions bigint NOT NULL CHECK (executions >= 0),
    differences bigint NOT NULL CHECK (differences >= 0),
    sample integer CHECK (sample > 0)
);
