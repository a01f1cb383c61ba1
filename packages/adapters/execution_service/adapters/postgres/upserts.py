"""The two statements that join a batch's state into the stored rows: Execution.join and
NodeRun.join, column by column (rows.py says what the columns hold).

- The claim of greater precedence — (attempt, claim_rank, claim_stamp), compared as a row —
  decides every claim column; a node run's attempt is part of its key, so its claim compares
  (claim_rank, claim_stamp) only.
- Each register keeps the value of the earlier event: the batch's (`excluded`) replaces the
  stored one when the stored is unset or set by a later event.
- ON CONFLICT updates the latest committed row under its row lock, so replicas writing the
  same rows end in the state one writer would.
- updated_at is the time of the write, never earlier than the row's creation: now() is when
  the transaction began, which can precede a row another transaction created meanwhile.
"""

# $1: node_run_in[], node runs in key order.
WRITE_NODE_RUNS = """
INSERT INTO execution_logs AS l (
    id, execution_id, node_id,
    status, attempt, completed_at, error, output, claim_rank, claim_stamp, claim_duration,
    node_type, node_name, input, started_at,
    node_type_stamp, node_name_stamp, input_stamp, started_at_stamp)
SELECT u.id::uuid, u.execution_id, u.node_id,
       u.status, u.attempt, u.completed_at, u.error, u.output::jsonb,
       u.claim_rank, u.claim_stamp, u.claim_duration,
       u.node_type, u.node_name, u.input::jsonb, u.started_at,
       u.node_type_stamp, u.node_name_stamp, u.input_stamp, u.started_at_stamp
FROM unnest($1::node_run_in[]) AS u
ON CONFLICT (execution_id, node_id, attempt) DO UPDATE SET
    status = CASE WHEN (excluded.claim_rank, excluded.claim_stamp) > (l.claim_rank, l.claim_stamp)
             THEN excluded.status ELSE l.status END,
    completed_at = CASE WHEN (excluded.claim_rank, excluded.claim_stamp) > (l.claim_rank, l.claim_stamp)
             THEN excluded.completed_at ELSE l.completed_at END,
    error = CASE WHEN (excluded.claim_rank, excluded.claim_stamp) > (l.claim_rank, l.claim_stamp)
             THEN excluded.error ELSE l.error END,
    output = CASE WHEN (excluded.claim_rank, excluded.claim_stamp) > (l.claim_rank, l.claim_stamp)
             THEN excluded.output ELSE l.output END,
    claim_rank = CASE WHEN (excluded.claim_rank, excluded.claim_stamp) > (l.claim_rank, l.claim_stamp)
             THEN excluded.claim_rank ELSE l.claim_rank END,
    claim_stamp = CASE WHEN (excluded.claim_rank, excluded.claim_stamp) > (l.claim_rank, l.claim_stamp)
             THEN excluded.claim_stamp ELSE l.claim_stamp END,
    claim_duration = CASE WHEN (excluded.claim_rank, excluded.claim_stamp) > (l.claim_rank, l.claim_stamp)
             THEN excluded.claim_duration ELSE l.claim_duration END,

    node_type = CASE WHEN l.node_type_stamp IS NULL OR excluded.node_type_stamp < l.node_type_stamp
             THEN excluded.node_type ELSE l.node_type END,
    node_type_stamp = CASE WHEN l.node_type_stamp IS NULL OR excluded.node_type_stamp < l.node_type_stamp
             THEN excluded.node_type_stamp ELSE l.node_type_stamp END,
    node_name = CASE WHEN l.node_name_stamp IS NULL OR excluded.node_name_stamp < l.node_name_stamp
             THEN excluded.node_name ELSE l.node_name END,
    node_name_stamp = CASE WHEN l.node_name_stamp IS NULL OR excluded.node_name_stamp < l.node_name_stamp
             THEN excluded.node_name_stamp ELSE l.node_name_stamp END,
    input = CASE WHEN l.input_stamp IS NULL OR excluded.input_stamp < l.input_stamp
             THEN excluded.input ELSE l.input END,
    input_stamp = CASE WHEN l.input_stamp IS NULL OR excluded.input_stamp < l.input_stamp
             THEN excluded.input_stamp ELSE l.input_stamp END,
    started_at = CASE WHEN l.started_at_stamp IS NULL OR excluded.started_at_stamp < l.started_at_stamp
             THEN excluded.started_at ELSE l.started_at END,
    started_at_stamp = CASE WHEN l.started_at_stamp IS NULL OR excluded.started_at_stamp < l.started_at_stamp
             THEN excluded.started_at_stamp ELSE l.started_at_stamp END,

    updated_at = greatest(clock_timestamp(), l.created_at)
"""  # noqa: E501

# $1: execution_in[]; $2, $3: ids and attempts of the executions of which the batch says only
# that the attempt runs (most node reports: sent as two arrays, at a fraction of the cost),
# whose claim columns are $4, $5, $6 (rows.py: Claim.running's columns, sent once).
# An execution whose row already holds all the batch says (the join would change nothing) is
# left alone, unlocked: a row that dominates the batch's state once always will (the join
# only grows), so reading it outside the upsert's lock is safe. u's stamps come out of a
# UNION, which loses the columns' collation: COLLATE "C" gives it back.
WRITE_EXECUTIONS = """
INSERT INTO executions AS e (
    id,
    status, attempt, completed_at, error, output, claim_rank, claim_stamp, claim_duration,
    workflow_id, user_id, started_at, input, metadata, retry_of,
    workflow_id_stamp, user_id_stamp, started_at_stamp, input_stamp, metadata_stamp,
    retry_of_stamp)
SELECT * FROM (
    SELECT u.id,
           u.status, u.attempt, u.completed_at, u.error, u.output::jsonb,
           u.claim_rank, u.claim_stamp, u.claim_duration,
           u.workflow_id, u.user_id, u.started_at, u.input::jsonb, u.metadata::jsonb,
           u.retry_of,
           u.workflow_id_stamp, u.user_id_stamp, u.started_at_stamp, u.input_stamp,
           u.metadata_stamp, u.retry_of_stamp
    FROM unnest($1::execution_in[]) AS u
    UNION ALL
    SELECT r.id,
           $4::text, r.attempt, NULL, NULL, NULL, $5::smallint, $6::text, NULL,
           NULL, NULL, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL, NULL
    FROM unnest($2::text[], $3::int[]) AS r (id, attempt)
) u
WHERE NOT EXISTS (
    SELECT 1 FROM executions d
    WHERE d.id = u.id
      AND (d.attempt, d.claim_rank, d.claim_stamp)
          >= (u.attempt, u.claim_rank, u.claim_stamp COLLATE "C")
      AND (u.workflow_id_stamp IS NULL OR d.workflow_id_stamp <= u.workflow_id_stamp COLLATE "C")
      AND (u.user_id_stamp IS NULL OR d.user_id_stamp <= u.user_id_stamp COLLATE "C")
      AND (u.started_at_stamp IS NULL OR d.started_at_stamp <= u.started_at_stamp COLLATE "C")
      AND (u.input_stamp IS NULL OR d.input_stamp <= u.input_stamp COLLATE "C")
      AND (u.metadata_stamp IS NULL OR d.metadata_stamp <= u.metadata_stamp COLLATE "C")
      AND (u.retry_of_stamp IS NULL OR d.retry_of_stamp <= u.retry_of_stamp COLLATE "C"))
ORDER BY u.id
ON CONFLICT (id) DO UPDATE SET
    status = CASE WHEN (excluded.attempt, excluded.claim_rank, excluded.claim_stamp)
                       > (e.attempt, e.claim_rank, e.claim_stamp)
             THEN excluded.status ELSE e.status END,
    attempt = CASE WHEN (excluded.attempt, excluded.claim_rank, excluded.claim_stamp)
                        > (e.attempt, e.claim_rank, e.claim_stamp)
             THEN excluded.attempt ELSE e.attempt END,
    completed_at = CASE WHEN (excluded.attempt, excluded.claim_rank, excluded.claim_stamp)
                             > (e.attempt, e.claim_rank, e.claim_stamp)
             THEN excluded.completed_at ELSE e.completed_at END,
    error = CASE WHEN (excluded.attempt, excluded.claim_rank, excluded.claim_stamp)
                      > (e.attempt, e.claim_rank, e.claim_stamp)
             THEN excluded.error ELSE e.error END,
    output = CASE WHEN (excluded.attempt, excluded.claim_rank, excluded.claim_stamp)
                       > (e.attempt, e.claim_rank, e.claim_stamp)
             THEN excluded.output ELSE e.output END,
    claim_rank = CASE WHEN (excluded.attempt, excluded.claim_rank, excluded.claim_stamp)
                           > (e.attempt, e.claim_rank, e.claim_stamp)
             THEN excluded.claim_rank ELSE e.claim_rank END,
    claim_stamp = CASE WHEN (excluded.attempt, excluded.claim_rank, excluded.claim_stamp)
                            > (e.attempt, e.claim_rank, e.claim_stamp)
             THEN excluded.claim_stamp ELSE e.claim_stamp END,
    claim_duration = CASE WHEN (excluded.attempt, excluded.claim_rank, excluded.claim_stamp)
                               > (e.attempt, e.claim_rank, e.claim_stamp)
             THEN excluded.claim_duration ELSE e.claim_duration END,

    workflow_id = CASE WHEN e.workflow_id_stamp IS NULL OR excluded.workflow_id_stamp < e.workflow_id_stamp
             THEN excluded.workflow_id ELSE e.workflow_id END,
    workflow_id_stamp = CASE WHEN e.workflow_id_stamp IS NULL OR excluded.workflow_id_stamp < e.workflow_id_stamp
             THEN excluded.workflow_id_stamp ELSE e.workflow_id_stamp END,
    user_id = CASE WHEN e.user_id_stamp IS NULL OR excluded.user_id_stamp < e.user_id_stamp
             THEN excluded.user_id ELSE e.user_id END,
    user_id_stamp = CASE WHEN e.user_id_stamp IS NULL OR excluded.user_id_stamp < e.user_id_stamp
             THEN excluded.user_id_stamp ELSE e.user_id_stamp END,
    started_at = CASE WHEN e.started_at_stamp IS NULL OR excluded.started_at_stamp < e.started_at_stamp
             THEN excluded.started_at ELSE e.started_at END,
    started_at_stamp = CASE WHEN e.started_at_stamp IS NULL OR excluded.started_at_stamp < e.started_at_stamp
             THEN excluded.started_at_stamp ELSE e.started_at_stamp END,
    input = CASE WHEN e.input_stamp IS NULL OR excluded.input_stamp < e.input_stamp
             THEN excluded.input ELSE e.input END,
    input_stamp = CASE WHEN e.input_stamp IS NULL OR excluded.input_stamp < e.input_stamp
             THEN excluded.input_stamp ELSE e.input_stamp END,
    metadata = CASE WHEN e.metadata_stamp IS NULL OR excluded.metadata_stamp < e.metadata_stamp
             THEN excluded.metadata ELSE e.metadata END,
    metadata_stamp = CASE WHEN e.metadata_stamp IS NULL OR excluded.metadata_stamp < e.metadata_stamp
             THEN excluded.metadata_stamp ELSE e.metadata_stamp END,
    retry_of = CASE WHEN e.retry_of_stamp IS NULL OR excluded.retry_of_stamp < e.retry_of_stamp
             THEN excluded.retry_of ELSE e.retry_of END,
    retry_of_stamp = CASE WHEN e.retry_of_stamp IS NULL OR excluded.retry_of_stamp < e.retry_of_stamp
             THEN excluded.retry_of_stamp ELSE e.retry_of_stamp END,

    updated_at = greatest(clock_timestamp(), e.created_at)
"""  # noqa: E501
