-- What "attempt n is running" is, is said once, by the domain (Claim.running): the store sends
-- its claim columns with every write, so the columns need no default that repeats it.
-- updated_at (and a dead letter's last_seen) was the writing transaction's start, which could
-- precede the row's creation by another transaction: rows written so wrong are set right.
-- depends: 0003_set_wise_merge

ALTER TABLE executions ALTER COLUMN claim_rank DROP DEFAULT, ALTER COLUMN claim_stamp DROP DEFAULT;
ALTER TABLE execution_logs
    ALTER COLUMN claim_rank DROP DEFAULT, ALTER COLUMN claim_stamp DROP DEFAULT;
UPDATE executions SET updated_at = created_at WHERE updated_at < created_at;
UPDATE execution_logs SET updated_at = created_at WHERE updated_at < created_at;
UPDATE dead_letters SET last_seen = first_seen WHERE last_seen < first_seen;
