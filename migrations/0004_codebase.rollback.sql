-- The times set right stay right.
ALTER TABLE executions ALTER COLUMN claim_rank SET DEFAULT 0, ALTER COLUMN claim_stamp SET DEFAULT '';
ALTER TABLE execution_logs
    ALTER COLUMN claim_rank SET DEFAULT 0, ALTER COLUMN claim_stamp SET DEFAULT '';
