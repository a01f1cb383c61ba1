DROP TRIGGER execution_logs_notify_on_update ON execution_logs;
DROP TRIGGER execution_logs_notify_on_insert ON execution_logs;
DROP TRIGGER executions_notify_on_update ON executions;
DROP TRIGGER executions_notify_on_insert ON executions;
DROP FUNCTION execution_logs_notify();
DROP FUNCTION executions_notify();
DROP FUNCTION notify_execution_changes(text[]);
