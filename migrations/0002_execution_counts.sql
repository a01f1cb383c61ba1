-- Exact totals for the executions list without counting every row on every request:
-- maintained in the same transaction as the executions they count.
-- depends: 0001_schema

CREATE TABLE execution_counts (
    status text PRIMARY KEY,
    n      bigint NOT NULL CHECK (n >= 0)
);
INSERT INTO execution_counts (status, n)
SELECT s.status, count(e.id)
FROM (VALUES ('PENDING'), ('RUNNING'), ('COMPLETED'), ('FAILED'), ('CANCELLED')) AS s (status)
LEFT JOIN executions e ON e.status = s.status AND e.provenance <> '{}'
GROUP BY s.status;
