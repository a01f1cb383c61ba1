-- The execution service's schema: state (executions, execution_logs), the durable history and
-- de-duplication (execution_events), dead letters and retry requests.
-- depends:

CREATE TABLE executions (
    id           text PRIMARY KEY,
    workflow_id  text,
    user_id      text,
    status       text NOT NULL
                 CHECK (status IN ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED')),
    attempt      integer NOT NULL DEFAULT 1,
    started_at   timestamptz,
    completed_at timestamptz,
    duration     bigint CHECK (duration >= 0),
    error        text,
    input        jsonb,
    output       jsonb,
    metadata     jsonb,
    retry_of     text,
    -- which event set each field: what merging later events needs (then domain/snapshots.py;
    -- 0008 replaced it with precedences from domain/fold.py)
    provenance   jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX executions_newest ON executions (started_at DESC NULLS LAST, id DESC);
CREATE INDEX executions_status_newest ON executions (status, started_at DESC NULLS LAST, id DESC);
CREATE INDEX executions_workflow_newest
    ON executions (workflow_id, started_at DESC NULLS LAST, id DESC);
CREATE INDEX executions_user_newest ON executions (user_id, started_at DESC NULLS LAST, id DESC);

CREATE TABLE execution_logs (
    id           uuid NOT NULL,  -- derived from the key (domain/identity.py node_run_id)
    execution_id text NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    node_id      text NOT NULL,
    attempt      integer NOT NULL,
    node_type    text,
    node_name    text,
    status       text NOT NULL
                 CHECK (status IN ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED')),
    input        jsonb,
    output       jsonb,
    error        text,
    started_at   timestamptz,
    completed_at timestamptz,
    duration     bigint CHECK (duration >= 0),
    provenance   jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (execution_id, node_id, attempt)
);
CREATE INDEX execution_logs_in_order
    ON execution_logs (execution_id, started_at ASC NULLS LAST, node_id, attempt);

CREATE TABLE execution_events (
    seq          bigserial PRIMARY KEY,
    event_key    text NOT NULL UNIQUE,
    execution_id text NOT NULL,
    subject      text NOT NULL,
    occurred_at  timestamptz NOT NULL,
    payload      jsonb NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX execution_events_of_execution ON execution_events (execution_id, seq);

CREATE TABLE dead_letters (
    key        text PRIMARY KEY,
    subject    text NOT NULL,
    payload    bytea NOT NULL,
    headers    jsonb NOT NULL DEFAULT '{}',
    reason     text NOT NULL,
    first_seen timestamptz NOT NULL DEFAULT now(),
    last_seen  timestamptz NOT NULL DEFAULT now(),
    count      integer NOT NULL DEFAULT 1
);
CREATE INDEX dead_letters_recent ON dead_letters (last_seen DESC, key DESC);

CREATE TABLE retry_requests (
    execution_id   text NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    attempt        integer NOT NULL,
    failed_node_id text NOT NULL,
    workflow_id    text,
    user_id        text,
    requested_at   timestamptz NOT NULL,
    message_id     text NOT NULL UNIQUE,
    PRIMARY KEY (execution_id, attempt)
);
