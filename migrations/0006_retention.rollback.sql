DROP FUNCTION executions_free_to_prune(text[]);
DROP FUNCTION executions_pruned(text[]);
DROP TRIGGER executions_counted_on_delete ON executions;
DROP FUNCTION execution_counts_remove();
DROP INDEX executions_finished;
DROP TABLE execution_tombstones;
